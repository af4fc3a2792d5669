/**
 * Where the server's log lines go: a file descriptor (stderr), written in
 * batches, never with a write(2) per line.
 *
 * - A write per line was 13 % of the server's time under load.
 * - Lines are gathered in one string (a cheap append per line) and written
 *   16 KiB at a time, with one write(2) of the whole batch.
 * - That write is synchronous: one every ~50 access lines costs little, and
 *   nothing is ever in flight. An asynchronous write goes through libuv's
 *   thread pool (a thread wake-up and a completion callback per batch), and
 *   at an exit a batch still in flight there may be lost or land after the
 *   lines written out at exit. A full pipe makes the server wait, as pino's
 *   own default destination and Node's stderr do.
 * - A quiet server's log stays current: what is gathered is written every
 *   200 ms.
 * - Nothing is lost at the end: close() writes out the rest, and so does the
 *   process's exit, also one that an uncaught error causes.
 */
import { writeSync } from 'node:fs';

/** What writes log lines (pino's stream, the access log) needs. */
export interface LogSink {
  write(line: string): void;
  /** Writes out what is gathered. */
  flush(): void;
  /** The same (pino calls this one at its final lines). */
  flushSync(): void;
}

export interface LogSinkOptions {
  /** Characters gathered before they are written (default 16 Ki). */
  batch?: number;
  /** At the latest this often, what is gathered is written (default 200 ms). */
  intervalMs?: number;
}

export interface OpenLogSink extends LogSink {
  /** Writes out what is gathered and stops the timer; later lines are written at the next batch or at exit. */
  close(): void;
}

/** A sink onto `fd`, written out every `intervalMs` and at the process's exit. */
export function openLogSink(fd: number, options: LogSinkOptions = {}): OpenLogSink {
  const batch = options.batch ?? 16 * 1024;
  let pending = '';
  const writeOut = () => {
    if (pending === '') return;
    const bytes = Buffer.from(pending);
    pending = '';
    writeAll(fd, bytes);
  };
  const timer = setInterval(writeOut, options.intervalMs ?? 200);
  timer.unref();
  process.once('exit', writeOut);
  return {
    write(line) {
      pending += line;
      if (pending.length >= batch) writeOut();
    },
    flush: writeOut,
    flushSync: writeOut,
    close() {
      clearInterval(timer);
      writeOut();
    },
  };
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * All of `bytes`, though write(2) may take part of them, or none while a
 * non-blocking descriptor (a pipe) is full. A descriptor that fails (stderr
 * closed) loses the batch, not the server.
 */
function writeAll(fd: number, bytes: Buffer): void {
  let done = 0;
  while (done < bytes.length) {
    try {
      done += writeSync(fd, bytes, done);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      Atomics.wait(pause, 0, 0, 10);
    }
  }
}
