/**
 * WAL checkpoints in a thread of their own (store/sqlite-checkpointer.ts):
 * what the main connection commits is copied into the database file
 * without the main connection checkpointing; under writes that never pause
 * the WAL still stays bounded; and a thread that cannot work hands the
 * checkpoints back to the main connection.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CHECKPOINT_EVERY_MS,
  CHECKPOINT_PAGES,
  SqliteCheckpointer,
  WAL_BACKSTOP_PAGES,
} from '../src/store/sqlite-checkpointer.js';

let dir: string;
let path: string;
let main: SQLite.Database;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bsubio-checkpointer-'));
  path = join(dir, 'db.sqlite');
  main = new SQLite(path);
  main.pragma('journal_mode = WAL');
  main.pragma('synchronous = NORMAL');
  main.exec('create table t (id integer primary key, body text)');
});
afterEach(() => {
  if (main.open) main.close();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const insert = (n: number) => {
  const statement = main.prepare('insert into t (body) values (?)');
  for (let i = 0; i < n; i++) statement.run('x'.repeat(1500));
};
/**
 * Frames in the WAL and how many of them are copied into the database file,
 * read from the WAL index (the -shm file: mxFrame at byte 16, nBackfill at
 * byte 96, native byte order), so that looking checkpoints nothing.
 */
const wal = () => {
  const shm = readFileSync(`${path}-shm`);
  return { frames: shm.readUInt32LE(16), copied: shm.readUInt32LE(96) };
};

describe('SqliteCheckpointer', () => {
  it("copies the main connection's commits into the database file on its own thread", async () => {
    const checkpointer = new SqliteCheckpointer(main, path);
    try {
      // The main connection's own threshold is the backstop, far above what is written here.
      expect(main.pragma('wal_autocheckpoint', { simple: true })).toBe(WAL_BACKSTOP_PAGES);
      insert(700); // about 1,400 frames: past the thread's threshold, below the backstop
      expect(wal().frames).toBeGreaterThan(CHECKPOINT_PAGES);
      // The thread starts in a moment, or a few on a loaded machine.
      for (let i = 0; i < 200 && wal().copied < wal().frames; i++) await sleep(CHECKPOINT_EVERY_MS);
      expect(wal().copied).toBe(wal().frames);
    } finally {
      checkpointer.stop();
    }
  });

  it('leaves a WAL below its threshold alone, as SQLite would (no copy and two fsyncs 20 times a second)', async () => {
    const checkpointer = new SqliteCheckpointer(main, path);
    try {
      insert(200);
      await sleep(CHECKPOINT_EVERY_MS * 8);
      expect(wal().frames).toBeGreaterThan(100);
      expect(wal().frames).toBeLessThan(CHECKPOINT_PAGES);
      expect(wal().copied).toBe(0);
    } finally {
      checkpointer.stop();
    }
  });

  it('without it, the same commits stay in the WAL under the backstop threshold (the control)', async () => {
    main.pragma(`wal_autocheckpoint = ${WAL_BACKSTOP_PAGES}`);
    insert(700);
    await sleep(CHECKPOINT_EVERY_MS * 8);
    expect(wal().frames).toBeGreaterThan(CHECKPOINT_PAGES);
    expect(wal().copied).toBe(0);
  });

  it('keeps the WAL bounded under writes that never pause', async () => {
    const checkpointer = new SqliteCheckpointer(main, path);
    try {
      // About 20,000 pages of commits in one synchronous loop: the thread
      // checkpoints beside them on the other core, but new frames keep
      // arriving behind it, so the WAL could never start over without the
      // main connection's backstop.
      for (let i = 0; i < 6000; i++) insert(4);
      const walBytes = statSync(`${path}-wal`).size;
      const pageSize = main.pragma('page_size', { simple: true }) as number;
      // Past the backstop the writer checkpoints at its next commit, unless the
      // thread's checkpoint runs just then (SQLITE_BUSY): a little over, never
      // far (without the backstop this loop grows it past 200 MB).
      expect(walBytes).toBeLessThan(2 * WAL_BACKSTOP_PAGES * (pageSize + 24));
      expect((main.prepare('select count(*) as n from t').get() as { n: number }).n).toBe(24_000);
    } finally {
      checkpointer.stop();
    }
  });

  it("closes its connection before the store's own closes: nothing of the database is left in use", async () => {
    const checkpointer = new SqliteCheckpointer(main, path);
    insert(700);
    // Once the thread has its connection open (it copied the WAL)...
    for (let i = 0; i < 200 && wal().copied < wal().frames; i++) await sleep(CHECKPOINT_EVERY_MS);
    expect(wal().copied).toBe(wal().frames);
    // ...stop() returns with it closed, so the main connection is the last
    // one and its close removes the WAL and its index, and the directory can go.
    checkpointer.stop();
    main.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    expect(existsSync(`${path}-shm`)).toBe(false);
    rmSync(dir, { recursive: true });
  });

  it('stops a thread that has not opened its connection yet, which then never does', () => {
    const checkpointer = new SqliteCheckpointer(main, path);
    checkpointer.stop();
    main.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  it('hands the checkpoints back to the main connection when its thread cannot work', async () => {
    const warned = new Promise<string>((resolve) =>
      process.once('warning', (warning) => resolve(warning.message)),
    );
    new SqliteCheckpointer(main, join(dir, 'missing', 'db.sqlite'));
    expect(await warned).toMatch(/SQLite checkpoints are back on the main thread/);
    expect(main.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });
});
