/**
 * Cluster mode: the job events other replicas must hear, over PostgreSQL
 * LISTEN/NOTIFY. A job submitted on one replica wakes remote workers
 * long-polling another; a cancel reaches the replica whose worker runs the
 * job; every change of a job (with its row), every deletion and every piece
 * of live log reaches the event streams, `?wait` requests and log followers
 * on every replica. Events that arrived from elsewhere are not sent on again
 * (their origin is `remote`).
 *
 * Order matters (a client must not see `processing` after `finished`), so
 * this replica's messages go out one batch at a time, each batch one
 * transaction: PostgreSQL delivers a transaction's notifications in the order
 * they were sent, and transactions in commit order. Received messages are
 * handled one after another for the same reason.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { JobRow } from '../store/job-repository.js';
import type { DeletedJob, JobEvents } from './job-events.js';
import type { WorkerRegistry } from './worker-registry.js';

const CHANNEL = 'bsubio_jobs';
/** PostgreSQL refuses payloads of 8000 bytes or more; stay clear of it. */
const MAX_PAYLOAD_BYTES = 7800;
/** Raw log bytes per message: base64 makes them 4/3 as long. */
const LOG_PIECE_BYTES = 5000;
/** Messages per NOTIFY transaction. */
const BATCH = 50;
/** How often the workers heard from are shared. */
const WORKERS_SHARE_MS = 5000;
/** Messages waiting while the database is unreachable; more are dropped (and said so once). */
const MAX_WAITING = 20_000;

type Message =
  | { from: string; kind: 'pending' }
  | { from: string; kind: 'cancel'; id: string }
  /** `row` is left out when it would not fit; the receiver reads it. */
  | { from: string; kind: 'change'; id: string; row?: JobRow }
  /** From replicas older than 'change': a job became terminal. */
  | { from: string; kind: 'end'; id: string }
  | { from: string; kind: 'deleted'; id: string; user_id: string }
  | { from: string; kind: 'log'; id: string; offset: number; data: string }
  /** Workers this replica heard from, and when (the overview lists them on every replica). */
  | { from: string; kind: 'workers'; seen: [string, number][] };

type Outgoing = Message extends infer M ? (M extends { from: string } ? Omit<M, 'from'> : never) : never;

export class ClusterNotifier {
  private readonly replica = randomUUID();
  private listener: pg.PoolClient | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private shareWorkers: NodeJS.Timeout | undefined;
  private readonly waiting: string[] = [];
  private sending = false;
  private droppedSaid = false;
  /** Received messages, handled in order. */
  private handling: Promise<void> = Promise.resolve();

  constructor(
    private readonly pool: pg.Pool,
    private readonly events: JobEvents,
    /** Reads a job whose row did not fit in its message. */
    private readonly loadJob: (id: string) => Promise<JobRow | undefined>,
    private readonly workers: WorkerRegistry,
    private readonly onError: (err: unknown) => void,
  ) {}

  async start(): Promise<void> {
    this.events.on('pending', this.onPending);
    this.events.on('cancel', this.onCancel);
    this.events.on('change', this.onChange);
    this.events.on('deleted', this.onDeleted);
    this.events.on('log', this.onLog);
    await this.listen();
    this.shareWorkers = setInterval(() => this.sendWorkers(), WORKERS_SHARE_MS);
    this.shareWorkers.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.shareWorkers);
    this.events.off('pending', this.onPending);
    this.events.off('cancel', this.onCancel);
    this.events.off('change', this.onChange);
    this.events.off('deleted', this.onDeleted);
    this.events.off('log', this.onLog);
    const client = this.listener;
    this.listener = undefined;
    client?.release(true);
  }

  /** One connection of the pool is kept for LISTEN; when it breaks, a new one listens. */
  private async listen(): Promise<void> {
    const client = await this.pool.connect();
    client.on('notification', (msg) => this.received(msg.payload));
    client.on('error', (err) => {
      this.onError(err);
      if (this.listener !== client) return;
      this.listener = undefined;
      client.release(true);
      this.relisten();
    });
    await client.query(`LISTEN ${CHANNEL}`);
    this.listener = client;
    // Something may have become pending while no one listened.
    this.events.emit('pending', 'remote');
  }

  private relisten(): void {
    if (this.stopped) return;
    this.retry = setTimeout(() => {
      this.listen().catch((err) => {
        this.onError(err);
        this.relisten();
      });
    }, 1000);
  }

  private received(payload: string | undefined): void {
    let message: Message;
    try {
      message = JSON.parse(payload ?? '') as Message;
    } catch {
      return;
    }
    if (message.from === this.replica) return;
    this.handling = this.handling.then(() => this.handle(message)).catch(this.onError);
  }

  private async handle(message: Message): Promise<void> {
    switch (message.kind) {
      case 'pending':
        this.events.emit('pending', 'remote');
        return;
      case 'cancel':
        this.events.emit('cancel', message.id, 'remote');
        return;
      case 'change':
      case 'end': {
        const row = (message.kind === 'change' && message.row) || (await this.loadJob(message.id));
        if (row) this.events.emit('remoteChange', row);
        return;
      }
      case 'deleted':
        this.events.emit('deleted', { id: message.id, user_id: message.user_id }, 'remote');
        return;
      case 'log':
        this.events.emit('log', message.id, message.offset, Buffer.from(message.data, 'base64'), 'remote');
        return;
      case 'workers':
        this.workers.merge(message.seen);
        return;
    }
  }

  private send(message: Outgoing): void {
    let payload = JSON.stringify({ from: this.replica, ...message });
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES && message.kind === 'change') {
      payload = JSON.stringify({ from: this.replica, kind: 'change', id: message.id });
    }
    if (this.waiting.length >= MAX_WAITING) {
      if (!this.droppedSaid) this.onError(new Error('cluster notifications are piling up; dropping some'));
      this.droppedSaid = true;
      return;
    }
    this.waiting.push(payload);
    if (!this.sending) this.flush();
  }

  /** One batch at a time, in order; the next batch waits for this one's commit. */
  private flush(): void {
    const batch = this.waiting.splice(0, BATCH);
    if (batch.length === 0) {
      this.sending = false;
      return;
    }
    this.sending = true;
    const calls = batch.map((_, i) => `pg_notify($1, $${i + 2})`).join(', ');
    this.pool
      .query(`select ${calls}`, [CHANNEL, ...batch])
      .then(
        () => {
          this.droppedSaid = false;
        },
        (err) => this.onError(err),
      )
      .finally(() => this.flush());
  }

  /** Worker ids are at most 128 characters: 40 of them fit in one message. */
  private sendWorkers(): void {
    const seen = this.workers.takeRecent();
    for (let i = 0; i < seen.length; i += 40) this.send({ kind: 'workers', seen: seen.slice(i, i + 40) });
  }

  private readonly onPending = (origin?: string) => {
    if (origin !== 'remote') this.send({ kind: 'pending' });
  };

  private readonly onCancel = (id: string, origin?: string) => {
    if (origin !== 'remote') this.send({ kind: 'cancel', id });
  };

  private readonly onChange = (row: JobRow) => {
    this.send({ kind: 'change', id: row.id, row });
  };

  private readonly onDeleted = (job: DeletedJob, origin?: string) => {
    if (origin !== 'remote') this.send({ kind: 'deleted', id: job.id, user_id: job.user_id });
  };

  private readonly onLog = (id: string, offset: number, chunk: Buffer, origin?: string) => {
    if (origin === 'remote') return;
    for (let at = 0; at < chunk.length; at += LOG_PIECE_BYTES) {
      const piece = chunk.subarray(at, at + LOG_PIECE_BYTES);
      this.send({ kind: 'log', id, offset: offset + at, data: piece.toString('base64') });
    }
  };
}
