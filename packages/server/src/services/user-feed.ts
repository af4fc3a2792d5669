/**
 * What `GET /v1/events` streams: every change of a user's jobs that this
 * replica learns of (made here, or on another replica and told by the
 * cluster notifier), each numbered in the order this replica learned of it,
 * kept for a while for resuming, and handed to the user's open streams.
 *
 * Why a bounded ring in memory and not a table of events: resuming is for a
 * dropped link (seconds, minutes). A durable event log would cost a write on
 * every transition of every job, the queue's hot path, for that. A cursor
 * this replica cannot serve (too old, from before a restart, from another
 * replica) is answered with `reset`, and the client refetches its lists:
 * one request more, never a wrong view. Rings are kept only for users who
 * have a stream open here or had one in the last few minutes.
 */
import { randomBytes } from 'node:crypto';
import type { UserEventName } from '@bsubio/protocol';
import type { JobRow } from '../store/job-repository.js';
import type { DeletedJob, JobEvents } from './job-events.js';
import { type JobService, toWireJob } from './job-service.js';

/** One event, already framed for the wire (`id`, `event`, `data` lines). */
export interface FeedEvent {
  seq: number;
  name: UserEventName;
  jobId: string;
  frame: string;
}

export interface FeedSubscriber {
  /** Log events too (`?logs=1`). */
  logs: boolean;
  /** Only this job's events (`?job=`). */
  job: string | undefined;
  deliver(event: FeedEvent): void;
}

export interface Subscription {
  /** Events after the client's cursor, in order; `reset` when they cannot all be given. */
  replay: FeedEvent[] | 'reset';
  unsubscribe(): void;
}

export interface FeedLimits {
  /** Job and deleted events kept per user for resuming. */
  ringEvents: number;
  ringBytes: number;
  /** Log text kept per user for resuming (logs are bulky; they get their own ring). */
  logRingBytes: number;
  /** How long a user's ring outlives their last stream here. */
  keepMs: number;
}

export const DEFAULT_FEED_LIMITS: FeedLimits = {
  ringEvents: 2000,
  ringBytes: 2 * 1024 * 1024,
  logRingBytes: 1024 * 1024,
  keepMs: 5 * 60_000,
};

/** One log event carries at most this much text; more goes in several. */
const LOG_EVENT_BYTES = 64 * 1024;
/** Per user, the jobs whose newest state is remembered (to drop late news from other replicas). */
const LATEST_JOBS = 10_000;

class Ring {
  readonly events: FeedEvent[] = [];
  private bytes = 0;
  /** Every event of this kind after this sequence number is in `events`. */
  since: number;

  constructor(
    since: number,
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {
    this.since = since;
  }

  add(event: FeedEvent): void {
    this.events.push(event);
    this.bytes += event.frame.length;
    while (this.events.length > this.maxEvents || this.bytes > this.maxBytes) {
      const old = this.events.shift()!;
      this.bytes -= old.frame.length;
      this.since = old.seq;
    }
  }

  after(seq: number): FeedEvent[] {
    // Events are in order: search from the end, where a resuming client usually is.
    let i = this.events.length;
    while (i > 0 && this.events[i - 1]!.seq > seq) i--;
    return this.events.slice(i);
  }
}

class UserState {
  readonly subscribers = new Set<FeedSubscriber>();
  readonly jobs: Ring;
  /** Made when a stream first asks for logs: no one pays for logs that no one reads. */
  logs: Ring | undefined;
  /** When the last stream closed (undefined while one is open). */
  idleSince: number | undefined;
  /** How far along each job was last sent (progress rank, updated_at), to drop older news. */
  readonly latest = new Map<string, { rank: number; updatedAt: number }>();
  /** Per running job, how much of its live log was published. */
  readonly logSent = new Map<string, number>();

  constructor(
    seq: number,
    private readonly limits: FeedLimits,
  ) {
    this.jobs = new Ring(seq, limits.ringEvents, limits.ringBytes);
  }

  wantLogs(seq: number): void {
    this.logs ??= new Ring(seq, Number.POSITIVE_INFINITY, this.limits.logRingBytes);
  }
}

export class UserFeed {
  /** Part of every cursor: a cursor from another process (restart, other replica) is unknown here. */
  private readonly epoch = randomBytes(4).toString('hex');
  private seq = 0;
  private readonly users = new Map<string, UserState>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly detach: () => void;

  constructor(
    private readonly jobs: JobService,
    private readonly limits: FeedLimits = DEFAULT_FEED_LIMITS,
  ) {
    const events: JobEvents = jobs.events;
    const onChange = (row: JobRow) => this.onChange(row);
    const onDeleted = (job: DeletedJob) => this.onDeleted(job);
    events.on('change', onChange);
    events.on('remoteChange', onChange);
    events.on('deleted', onDeleted);
    const unsubscribeLogs = jobs.live.subscribeAll((jobId, userId, start) =>
      this.onLog(jobId, userId, start),
    );
    this.detach = () => {
      events.off('change', onChange);
      events.off('remoteChange', onChange);
      events.off('deleted', onDeleted);
      unsubscribeLogs();
    };
    this.sweeper = setInterval(() => this.sweep(Date.now()), 60_000);
    this.sweeper.unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.detach();
    this.users.clear();
  }

  /** The cursor of the newest event: what `reset` and `ready` carry. */
  cursor(): string {
    return `${this.epoch}-${this.seq}`;
  }

  /**
   * Open a stream for `userId`, resuming after `lastEventId` when given. The
   * replay and the subscription happen at once, so nothing falls between.
   */
  subscribe(userId: string, subscriber: FeedSubscriber, lastEventId: string | undefined): Subscription {
    let user = this.users.get(userId);
    if (!user) {
      user = new UserState(this.seq, this.limits);
      this.users.set(userId, user);
    }
    if (subscriber.logs) user.wantLogs(this.seq);
    const replay = lastEventId === undefined ? [] : this.replay(user, subscriber, lastEventId);
    user.subscribers.add(subscriber);
    user.idleSince = undefined;
    const state = user;
    return {
      replay,
      unsubscribe: () => {
        state.subscribers.delete(subscriber);
        if (state.subscribers.size === 0) state.idleSince = Date.now();
      },
    };
  }

  private replay(user: UserState, subscriber: FeedSubscriber, lastEventId: string): FeedEvent[] | 'reset' {
    const match = /^([0-9a-f]{8})-(\d{1,15})$/.exec(lastEventId.trim());
    if (!match || match[1] !== this.epoch) return 'reset';
    const after = Number(match[2]);
    if (after > this.seq || after < user.jobs.since) return 'reset';
    if (subscriber.logs && after < user.logs!.since) return 'reset';
    const events = user.jobs.after(after);
    if (subscriber.logs) events.push(...user.logs!.after(after));
    return events.filter((e) => matches(subscriber, e)).sort((a, b) => a.seq - b.seq);
  }

  private onChange(row: JobRow): void {
    const user = this.users.get(row.user_id);
    if (!user) return;
    const updatedAt = Number(row.updated_at);
    const terminal = this.jobs.isTerminal(row);
    const rank = progressRank(row);
    const seen = user.latest.get(row.id);
    // Another replica's news can arrive after our own newer change: never
    // step back. By the state machine's order, not by the clock, which
    // differs between machines.
    if (seen && (rank < seen.rank || (rank === seen.rank && updatedAt < seen.updatedAt))) return;
    user.latest.delete(row.id);
    user.latest.set(row.id, { rank, updatedAt });
    if (user.latest.size > LATEST_JOBS) user.latest.delete(user.latest.keys().next().value!);
    // A claim starts a new attempt, whose log starts again at byte 0.
    if (row.status === 'claimed') user.logSent.set(row.id, 0);
    else if (terminal) user.logSent.delete(row.id);
    this.publish(user, 'job', row.id, JSON.stringify(toWireJob(row)));
  }

  private onDeleted(job: DeletedJob): void {
    const user = this.users.get(job.user_id);
    if (!user) return;
    user.latest.delete(job.id);
    user.logSent.delete(job.id);
    this.publish(user, 'deleted', job.id, JSON.stringify({ id: job.id }));
  }

  /**
   * The job's live log grew: publish the new text, whole UTF-8 characters
   * only. A job first heard of now (its claim came before anyone here asked
   * for logs) starts at the new bytes: what came before is in GET /logs.
   */
  private onLog(jobId: string, userId: string, start: number): void {
    const user = this.users.get(userId);
    if (!user?.logs) return;
    let sent = user.logSent.get(jobId) ?? start;
    const bytes = this.jobs.live.read(jobId, sent);
    let at = 0;
    while (at < bytes.length) {
      const end = utf8Boundary(bytes, Math.min(bytes.length, at + LOG_EVENT_BYTES));
      if (end <= at) break;
      const text = bytes.toString('utf8', at, end);
      this.publish(user, 'log', jobId, JSON.stringify({ id: jobId, text, offset: sent }));
      sent += end - at;
      at = end;
    }
    user.logSent.set(jobId, sent);
  }

  private publish(user: UserState, name: 'job' | 'deleted' | 'log', jobId: string, data: string): void {
    const seq = ++this.seq;
    const event: FeedEvent = {
      seq,
      name,
      jobId,
      frame: `id: ${this.epoch}-${seq}\nevent: ${name}\ndata: ${data}\n\n`,
    };
    (name === 'log' ? user.logs! : user.jobs).add(event);
    for (const subscriber of user.subscribers) if (matches(subscriber, event)) subscriber.deliver(event);
  }

  /** Forget users whose last stream closed long enough ago. */
  sweep(now: number): void {
    for (const [userId, user] of this.users) {
      if (user.idleSince !== undefined && now - user.idleSince >= this.limits.keepMs)
        this.users.delete(userId);
    }
  }
}

/**
 * How far along the state machine a row is; it only grows over a job's
 * life. A retry goes back to `pending`, which ranks after the attempt it
 * ended (attempts only grow) and before the next claim.
 */
export function progressRank(row: Pick<JobRow, 'status' | 'attempts'>): number {
  const attempt = Number(row.attempts) * 10;
  switch (row.status) {
    case 'created':
      return 1;
    case 'loaded':
      return 2;
    case 'pending':
      return attempt + 4;
    case 'claimed':
      return attempt + 1;
    case 'preparing':
      return attempt + 2;
    case 'processing':
      return attempt + 3;
    default:
      return Number.MAX_SAFE_INTEGER;
  }
}

function matches(subscriber: FeedSubscriber, event: FeedEvent): boolean {
  if (event.name === 'log' && !subscriber.logs) return false;
  return subscriber.job === undefined || subscriber.job === event.jobId;
}

/**
 * The largest end ≤ `end` that does not split a UTF-8 character (the rest
 * waits for its other bytes). At the buffer's end only a character still
 * incomplete is held back.
 */
function utf8Boundary(bytes: Buffer, end: number): number {
  // Step back over continuation bytes (10xxxxxx) to the lead byte of the last character.
  let lead = end - 1;
  while (lead >= 0 && end - lead <= 4 && (bytes[lead]! & 0xc0) === 0x80) lead--;
  if (lead < 0) return end;
  const byte = bytes[lead]!;
  const length = byte < 0x80 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
  return lead + length <= end ? end : lead;
}
