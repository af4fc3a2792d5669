/**
 * Checkpoints of the embedded SQLite database's WAL, in a thread of their
 * own. SQLite's automatic checkpoint runs inside the COMMIT that crosses
 * its threshold (1000 pages), on the committing thread: here the event
 * loop, which then copied pages into the database file and waited for two
 * fsyncs while every request and worker waited for it. Measured on the
 * queue's hot path, checkpoints were half the cost of COMMIT (95-156 against
 * 48-72 µs per job with them off).
 *
 * So a second connection in a worker thread looks every CHECKPOINT_EVERY_MS
 * and runs a PASSIVE checkpoint once CHECKPOINT_PAGES wait: it copies what
 * is committed without taking the write lock, so the event loop never waits
 * for it. The main connection keeps an automatic checkpoint with a far
 * higher threshold as a backstop: under writes that never pause, a
 * checkpoint running beside them cannot let the WAL start over (new frames
 * keep arriving behind it), and then the writer checkpoints itself at
 * WAL_BACKSTOP_PAGES, cheaply, since the thread has copied nearly
 * everything already. If the thread fails, the main
 * connection goes back to SQLite's default threshold. The thread's cost:
 * about 14 MiB of RSS (a V8 isolate), and the WAL file grows to the
 * backstop's 32 MiB under sustained writes instead of about 4.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type SQLite from 'better-sqlite3';

export const CHECKPOINT_EVERY_MS = 50;
/** The thread copies the WAL into the database file once this many pages wait (SQLite's own default threshold). */
export const CHECKPOINT_PAGES = 1000;
/** The main connection's own threshold while the thread runs (pages; 32 MiB of WAL). */
export const WAL_BACKSTOP_PAGES = 8192;

// The thread's code. Plain CommonJS given as a string, so it runs the same
// from the built package and from the TypeScript sources under test.
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
// state: 0 starting, 1 open, 2 closed, 3 stopped before it opened (see stop()).
const state = new Int32Array(workerData.state);
if (Atomics.compareExchange(state, 0, 0, 1) !== 0) {
  parentPort.close();
} else {
  const SQLite = require(workerData.driver);
  const db = new SQLite(workerData.path);
  const timer = setInterval(() => {
    try {
      // NOOP only reads how far the WAL is ahead of the database file; the
      // copy (and its two fsyncs) waits for as many pages as SQLite's own
      // automatic checkpoint would, so a quiet server does not sync 20 times a second.
      const [{ log, checkpointed }] = db.pragma('wal_checkpoint(NOOP)');
      if (log - checkpointed >= workerData.pages) db.pragma('wal_checkpoint(PASSIVE)');
    } catch (err) {
      // SQLITE_BUSY: another checkpoint runs (the writer's backstop); try again next time.
      if (err.code !== 'SQLITE_BUSY') throw err;
    }
  }, workerData.everyMs);
  parentPort.on('message', () => {
    clearInterval(timer);
    db.close();
    Atomics.store(state, 0, 2);
    Atomics.notify(state, 0);
    parentPort.close();
  });
}
`;

/** How long closing the store waits for the thread to close its connection. */
const STOP_WAIT_MS = 5000;

export class SqliteCheckpointer {
  private readonly worker: Worker;
  private readonly state = new Int32Array(new SharedArrayBuffer(4));
  private stopped = false;

  constructor(
    private readonly main: SQLite.Database,
    path: string,
  ) {
    main.pragma(`wal_autocheckpoint = ${WAL_BACKSTOP_PAGES}`);
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(THREAD, {
      eval: true,
      workerData: {
        driver,
        path,
        everyMs: CHECKPOINT_EVERY_MS,
        pages: CHECKPOINT_PAGES,
        state: this.state.buffer,
      },
    });
    // The thread never keeps the process alive; a store left open is the caller's to close.
    this.worker.unref();
    this.worker.on('error', (err) => this.fellBack(err));
    this.worker.on('exit', () => this.fellBack());
  }

  /**
   * Stop the thread, synchronously, before the main connection closes: its
   * connection is closed when this returns, so a caller that removes the
   * database's directory next finds no file still in use (closing the last
   * connection removes the -wal and -shm files). A thread that has not
   * opened its connection yet never will.
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (Atomics.compareExchange(this.state, 0, 0, 3) === 0) return;
    if (Atomics.load(this.state, 0) !== 1) return;
    this.worker.postMessage('stop');
    Atomics.wait(this.state, 0, 1, STOP_WAIT_MS);
  }

  private fellBack(err?: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.main.open) this.main.pragma(`wal_autocheckpoint = ${CHECKPOINT_PAGES}`);
    if (err) process.emitWarning(`SQLite checkpoints are back on the main thread: ${err.message}`);
  }
}
