/**
 * Following one job as it runs: its state changes and its stderr, in order,
 * from a byte offset of the log. Used by the event stream and by
 * `logs?follow=1`. While the job runs, log bytes come from the live copy;
 * when it ends, the rest comes from its logs blob (the same bytes), then the
 * final state, then the end.
 */
import type { JobService } from '../services/job-service.js';
import type { JobRow } from '../store/job-repository.js';

export interface FollowHandlers {
  /** A state change (the current state first, unless told to skip it); `offset` is the log offset sent so far. */
  status(row: JobRow, offset: number): void;
  /** Log bytes; `endOffset` is the log offset right after them. */
  log(bytes: Buffer, endOffset: number): void;
  /** The job is terminal (after its last log bytes and state), gone, or the server stops. */
  end(): void;
}

export interface FollowOptions {
  /** Log offset already seen by the client. */
  offset: number;
  /** Send the current state first (false when the client already has it). */
  sendCurrent: boolean;
  /** While running, send only whole lines (a long line without end goes out past this size). */
  wholeLines: boolean;
}

const LONG_LINE_BYTES = 16 * 1024;

/** Start following; returns a function that stops it (e.g. when the client goes away). */
export function followJob(
  jobs: JobService,
  first: JobRow,
  options: FollowOptions,
  handlers: FollowHandlers,
): () => void {
  const id = first.id;
  let sent = options.offset;
  let attempt = Number(first.attempts);
  let done = false;

  const pumpLive = () => {
    if (done) return;
    const data = jobs.live.read(id, sent);
    if (data.length === 0) return;
    let cut = data.length;
    if (options.wholeLines) {
      const newline = data.lastIndexOf(10);
      if (newline >= 0) cut = newline + 1;
      else if (data.length < LONG_LINE_BYTES) return;
    }
    sent += cut;
    handlers.log(data.subarray(0, cut), sent);
  };

  const stop = () => {
    done = true;
    unsubscribeLog();
    jobs.events.off('change', onChange);
    jobs.events.off('remoteChange', onChange);
    jobs.events.off('shutdown', onShutdown);
  };

  const finish = async (row: JobRow) => {
    stop();
    try {
      const rest = await jobs.readLogFrom(row, sent);
      if (rest.length > 0) {
        sent += rest.length;
        handlers.log(rest, sent);
      }
      handlers.status(row, sent);
    } finally {
      handlers.end();
    }
  };

  const fail = () => {
    if (done) return;
    stop();
    handlers.end();
  };

  /** Takes in a fresh row of the job; true when the job has ended (and the follow with it). */
  const observe = (row: JobRow): boolean => {
    if (Number(row.attempts) !== attempt) {
      // A new attempt writes a new log from its start.
      attempt = Number(row.attempts);
      sent = 0;
    }
    if (!jobs.isTerminal(row)) return false;
    finish(row).catch(fail);
    return true;
  };

  const onChange = (row: JobRow) => {
    if (row.id !== id || done) return;
    if (observe(row)) return;
    pumpLive();
    handlers.status(row, sent);
  };
  const onShutdown = fail;

  const unsubscribeLog = jobs.live.subscribe(id, pumpLive);
  jobs.events.on('change', onChange);
  // Cluster mode: a job run through another replica changes there.
  jobs.events.on('remoteChange', onChange);
  jobs.events.on('shutdown', onShutdown);

  // Read again now that we listen: nothing can slip between the two.
  jobs.get(first.user_id, id).then(
    (row) => {
      if (done || observe(row)) return;
      if (options.sendCurrent || row.updated_at !== first.updated_at) handlers.status(row, sent);
      pumpLive();
    },
    // Deleted meanwhile.
    fail,
  );
  return () => {
    if (!done) stop();
  };
}
