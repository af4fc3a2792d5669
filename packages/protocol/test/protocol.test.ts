/**
 * The protocol package on its own: ids, wire times, the wire schemas (what
 * they accept and refuse) and the table of moves.
 */
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import {
  CreateJobRequestSchema,
  canMove,
  ErrorBodySchema,
  isCancellable,
  isCanonicalUuid,
  isJobState,
  JOB_STATES,
  JobSchema,
  LEASED_STATES,
  ListJobsQuerySchema,
  MOVES,
  NON_TERMINAL_STATES,
  TERMINAL_STATES,
  toWireTime,
  uuidv7,
} from '../src/index.js';

describe('ids and times', () => {
  it('makes UUIDv7s: canonical, version 7, variant 10, sorted by their time', () => {
    const ids = [uuidv7(1_700_000_000_000), uuidv7(1_700_000_000_001), uuidv7(1_800_000_000_000)];
    for (const id of ids) {
      expect(isCanonicalUuid(id)).toBe(true);
      expect(id[14]).toBe('7');
      expect('89ab').toContain(id[19]);
    }
    expect([...ids].sort()).toEqual(ids);
    expect(ids[0]!.slice(0, 13).replace('-', '')).toBe((1_700_000_000_000).toString(16).padStart(12, '0'));
  });

  it('takes only the lower-case canonical form as a job id', () => {
    const id = uuidv7();
    expect(isCanonicalUuid(id.toUpperCase())).toBe(false);
    expect(isCanonicalUuid(id.replaceAll('-', ''))).toBe(false);
    expect(isCanonicalUuid(`${id} `)).toBe(false);
  });

  it('writes times as RFC 3339 UTC with milliseconds', () => {
    expect(toWireTime(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(toWireTime(1_700_000_000_123)).toBe('2023-11-14T22:13:20.123Z');
  });
});

describe('wire schemas', () => {
  const job = {
    id: uuidv7(),
    status: 'created',
    type: 'passthru',
    user_id: 'u',
    data_size: 0,
    claimed_by: null,
    error_code: null,
    error_message: null,
    created_at: toWireTime(0),
    updated_at: toWireTime(0),
    claimed_at: null,
    finished_at: null,
  };

  it('accept a job as the official clients know it, and its extensions', () => {
    expect(Value.Check(JobSchema, job)).toBe(true);
    expect(Value.Check(JobSchema, { ...job, name: 'x', attempts: 1, some_later_field: true })).toBe(true);
  });

  it('refuse a state the official clients do not know, and a missing field', () => {
    expect(Value.Check(JobSchema, { ...job, status: 'cancelled' })).toBe(false);
    const { claimed_by: _, ...without } = job;
    expect(Value.Check(JobSchema, without)).toBe(false);
    expect(Value.Check(JobSchema, { ...job, error_code: 'EWHATEVER' })).toBe(false);
  });

  it('shape errors as {success: false, error, code?}', () => {
    expect(Value.Check(ErrorBodySchema, { success: false, error: 'Say why.' })).toBe(true);
    expect(Value.Check(ErrorBodySchema, { success: true, error: 'x' })).toBe(false);
  });

  it('take a create request with a type, and leave unknown fields to the server', () => {
    expect(Value.Check(CreateJobRequestSchema, { type: 'passthru', from_a_newer_client: 1 })).toBe(true);
    expect(Value.Check(CreateJobRequestSchema, { type: '' })).toBe(false);
    expect(Value.Check(CreateJobRequestSchema, { type: 'a', params: { n: 1, s: 'x' } })).toBe(true);
    expect(Value.Check(CreateJobRequestSchema, { type: 'a', params: 'n=1' })).toBe(false);
  });

  it('list by any of the eight states, with a limit of 1 to 100', () => {
    for (const status of JOB_STATES) expect(Value.Check(ListJobsQuerySchema, { status })).toBe(true);
    expect(Value.Check(ListJobsQuerySchema, { status: 'cancelled' })).toBe(false);
    expect(Value.Check(ListJobsQuerySchema, { limit: 0 })).toBe(false);
    expect(Value.Check(ListJobsQuerySchema, { limit: 100 })).toBe(true);
  });
});

describe('states and moves', () => {
  it('has the eight states, two of them terminal', () => {
    expect(JOB_STATES).toHaveLength(8);
    expect(TERMINAL_STATES).toEqual(['finished', 'failed']);
    expect([...NON_TERMINAL_STATES, ...TERMINAL_STATES].sort()).toEqual([...JOB_STATES].sort());
    expect(isJobState('pending')).toBe(true);
    expect(isJobState('cancelled')).toBe(false);
  });

  it('moves every state but the terminal ones somewhere, and takes every state but created from somewhere', () => {
    for (const state of NON_TERMINAL_STATES) expect(JOB_STATES.some((to) => canMove(state, to))).toBe(true);
    for (const state of JOB_STATES.filter((s) => s !== 'created')) {
      expect(JOB_STATES.some((from) => canMove(from, state))).toBe(true);
    }
  });

  it('lets the user cancel any job not ended, and only the worker or the sweeper move a leased one on', () => {
    for (const state of JOB_STATES) expect(isCancellable(state)).toBe(!TERMINAL_STATES.includes(state));
    for (const state of LEASED_STATES) {
      expect(canMove(state, 'finished', 'worker')).toBe(true);
      expect(canMove(state, 'finished', 'user')).toBe(false);
      expect(canMove(state, 'pending', 'sweeper')).toBe(true);
    }
    expect(canMove('pending', 'claimed', 'worker')).toBe(true);
    expect(canMove('loaded', 'pending', 'user')).toBe(true);
    expect(canMove('created', 'pending')).toBe(false);
    expect(MOVES.cancel.to).toBe('failed');
  });
});
