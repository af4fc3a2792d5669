/**
 * Cluster mode: the job events other replicas must hear, over PostgreSQL
 * LISTEN/NOTIFY. A job submitted on one replica wakes remote workers
 * long-polling another; a cancel reaches the replica whose worker runs the
 * job; a job ending answers `?wait` requests on every replica. Events that
 * arrived from elsewhere are not sent on again (their origin is `remote`).
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { JobEvents } from './job-events.js';

const CHANNEL = 'bsubio_jobs';
const TERMINAL = new Set(['finished', 'failed']);

interface Message {
  from: string;
  kind: 'pending' | 'cancel' | 'end';
  id?: string;
}

export class ClusterNotifier {
  private readonly replica = randomUUID();
  private listener: pg.PoolClient | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly events: JobEvents,
    private readonly onError: (err: unknown) => void,
  ) {}

  async start(): Promise<void> {
    this.events.on('pending', this.onPending);
    this.events.on('cancel', this.onCancel);
    this.events.on('change', this.onChange);
    await this.listen();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    this.events.off('pending', this.onPending);
    this.events.off('cancel', this.onCancel);
    this.events.off('change', this.onChange);
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
    if (message.kind === 'pending') this.events.emit('pending', 'remote');
    else if (message.kind === 'cancel' && message.id) this.events.emit('cancel', message.id, 'remote');
    else if (message.kind === 'end' && message.id) this.events.emit('remoteEnd', message.id);
  }

  private send(kind: Message['kind'], id?: string): void {
    const payload = JSON.stringify({ from: this.replica, kind, id } satisfies Message);
    this.pool.query('select pg_notify($1, $2)', [CHANNEL, payload]).catch(this.onError);
  }

  private readonly onPending = (origin?: string) => {
    if (origin !== 'remote') this.send('pending');
  };

  private readonly onCancel = (id: string, origin?: string) => {
    if (origin !== 'remote') this.send('cancel', id);
  };

  private readonly onChange = (row: { id: string; status: string }) => {
    if (TERMINAL.has(row.status)) this.send('end', row.id);
  };
}
