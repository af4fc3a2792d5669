/**
 * The jobs the dashboard knows, kept current by ONE event stream per tab
 * (`GET /v1/events`), whatever the number of jobs: every page reads from here
 * instead of opening its own connection (a browser allows 6 per host, and the
 * old dashboard's one-per-row streams froze every tab of the site).
 *
 * The index holds the newest MAX_JOBS jobs; filters, counts and sorting of
 * the Jobs page work on it. On a job page the same connection is reopened to
 * also carry that job's log lines, resuming from the last event seen.
 * A server without `/v1/events` is polled instead, every POLL_MS.
 */
import { batch, signal } from '@preact/signals';
import type { Job, JobStreamEvent, StreamState } from 'bsubio';
import { BsubError, client, eventsApi } from './api.js';

export const MAX_JOBS = 1000;
const POLL_MS = 4_000;

export const jobs = signal<ReadonlyMap<string, Job>>(new Map());
export const indexState = signal<'loading' | 'ready' | 'error'>('loading');
/** More jobs exist than the index holds. */
export const truncated = signal(false);
export const linkState = signal<StreamState | 'polling' | 'off'>('off');

/** `offset`: where `text` starts in the job's log (-1 when the server did not say). */
type LogListener = (text: string, offset: number) => void;
const logListeners = new Map<string, Set<LogListener>>();
let logsJob: string | undefined;
let connection: AbortController | undefined;
let lastEventId: string | undefined;
let running = false;
let pollTimer: ReturnType<typeof setTimeout> | undefined;
/** The index was listed since the stream went live; a resumed stream needs no new list. */
let listedOnThisStream = false;

/** Changes arrive in bursts (40 jobs submitted at once): apply them together. */
let pending = new Map<string, Job | null>();
let flushQueued = false;
function queue(id: string, job: Job | null): void {
  pending.set(id, job);
  if (flushQueued) return;
  flushQueued = true;
  setTimeout(() => {
    flushQueued = false;
    const changes = pending;
    pending = new Map();
    const next = new Map(jobs.value);
    for (const [key, value] of changes) {
      const known = next.get(key);
      // Events may overtake a list fetched a moment earlier: keep the newer.
      if (value && known && Date.parse(known.updated_at) > Date.parse(value.updated_at)) continue;
      if (value) next.set(key, value);
      else next.delete(key);
    }
    jobs.value = next;
  }, 30);
}

async function loadIndex(): Promise<void> {
  const next = new Map<string, Job>();
  let more = false;
  try {
    for await (const job of client.listAllJobs({ pageSize: 100 })) {
      if (next.size >= MAX_JOBS) {
        more = true;
        break;
      }
      next.set(job.id, job);
    }
    batch(() => {
      jobs.value = next;
      truncated.value = more;
      indexState.value = 'ready';
    });
  } catch (error) {
    if (indexState.value !== 'ready') indexState.value = 'error';
    throw error;
  }
}

function onEvent(event: JobStreamEvent): void {
  if (event.id) lastEventId = event.id;
  if (event.event === 'job') queue(event.job.id, event.job);
  else if (event.event === 'deleted') queue(event.jobId, null);
  else if (event.event === 'log') {
    for (const listener of logListeners.get(event.jobId) ?? []) listener(event.text, event.offset);
  }
  // `ready` comes once the stream is live (and has replayed what a resume missed): listing
  // now, not before, means no change falls between the list and the stream.
  else if (event.event === 'ready' && !listedOnThisStream) {
    listedOnThisStream = true;
    void loadIndex().catch(() => {});
  } else if (event.event === 'reset') void loadIndex().catch(() => {});
}

function connect(): void {
  connection?.abort();
  const controller = new AbortController();
  connection = controller;
  eventsApi
    .follow({
      signal: controller.signal,
      lastEventId,
      logs: logsJob !== undefined,
      job: logsJob,
      onEvent,
      onState: (state) => {
        if (!controller.signal.aborted) linkState.value = state;
      },
    })
    .catch((error: unknown) => {
      if (controller.signal.aborted) return;
      if (error instanceof BsubError && error.kind === 'unsupported') poll();
      else if (error instanceof BsubError && error.kind === 'not_found' && logsJob) {
        // The job whose logs we followed is gone: go on without them.
        logsJob = undefined;
        connect();
      } else linkState.value = 'off';
    });
}

/** Without the stream: the newest page again, every few seconds. */
function poll(): void {
  linkState.value = 'polling';
  void loadIndex().catch(() => {});
  const tick = async () => {
    if (!running) return;
    try {
      const { data } = await client.jobs.listJobs({ limit: 100 });
      for (const job of data.jobs) queue(job.id, job);
      if (logsJob) {
        const job = (await client.jobs.getJob(logsJob)).data;
        queue(job.id, job);
      }
    } catch {}
    pollTimer = setTimeout(tick, POLL_MS);
  };
  pollTimer = setTimeout(tick, POLL_MS);
}

/** Start once signed in. */
export function startLive(): void {
  if (running) return;
  running = true;
  listedOnThisStream = false;
  indexState.value = 'loading';
  connect();
}

export function stopLive(): void {
  running = false;
  connection?.abort();
  connection = undefined;
  clearTimeout(pollTimer);
  lastEventId = undefined;
  listedOnThisStream = false;
  batch(() => {
    jobs.value = new Map();
    indexState.value = 'loading';
    linkState.value = 'off';
  });
}

export function reloadIndex(): Promise<void> {
  return loadIndex();
}

/** A job seen by a page (e.g. fetched by id): keep it in the index too. */
export function remember(job: Job): void {
  queue(job.id, job);
}

export function forget(id: string): void {
  queue(id, null);
}

/**
 * Receive `jobId`'s log lines live. The one connection is reopened with
 * `?logs=1&job=` (resuming where it was), and reopened without when done.
 */
export function followLogs(jobId: string, listener: LogListener): () => void {
  const set = logListeners.get(jobId) ?? new Set<LogListener>();
  logListeners.set(jobId, set);
  set.add(listener);
  if (logsJob !== jobId && running && linkState.value !== 'polling') {
    logsJob = jobId;
    connect();
  }
  return () => {
    set.delete(listener);
    if (set.size === 0) logListeners.delete(jobId);
    if (logsJob === jobId && !logListeners.has(jobId)) {
      logsJob = undefined;
      if (running && linkState.value !== 'polling') connect();
    }
  };
}
