/**
 * Every SQL statement about jobs lives here, readable on its own. State
 * changes are single guarded UPDATEs (`WHERE id = ? AND status IN (...)`),
 * so of two racing requests exactly one changes the row.
 */
import { type JobState, LEASED_STATES, MOVES } from '@bsubio/protocol';
import { type CompiledQuery, type Selectable, sql, type Updateable } from 'kysely';
import { type Db, type Dialect, dialectOf, groupCommitOf, readFirst } from './database.js';
import { QueryShapes, type ValueOf } from './query-shapes.js';
import type { JobsTable } from './schema.js';
import type { SqliteGroupCommit } from './sqlite-group-commit.js';
import { type TypeSet, TypeSets } from './type-sets.js';

export type JobRow = Selectable<JobsTable>;
type PipelineColumn = 'steps' | 'step' | 'step_outputs';
/** The result cache's columns (migration 0012): null or 0 unless given. */
type CacheColumn = 'input_sha256' | 'cache_key' | 'cache_opt_out' | 'cached' | 'cached_from';
export type JobPatch = Updateable<JobsTable>;

/** Submit's guard, from the protocol's table of moves (built once, written into the SQL as literals). */
const SUBMIT_FROM = MOVES.submit.from.map((state) => sql.lit<JobState>(state));

/**
 * Job states written into the SQL as literals, not bound as parameters, in
 * the queue's statements. SQLite plans a statement when it is prepared, and
 * with `status = ?` it cannot tell that an index range holds few rows: the
 * oldest pending job of a user took 26 µs with the state bound and 7 µs with
 * it written out, once the front of the queue had been worked off. There are
 * few states, so this adds no statement shapes.
 */
function literal(states: readonly JobState[]) {
  return states.map((state) => sql.lit(state));
}
/** Claim's guard: the one state a claim takes a job from (the protocol's table of moves). */
const PENDING = sql.lit<JobState>(MOVES.claim.from[0]);

/**
 * The predicate of jobs_user_live_status_id (migration 0014), which leaves
 * the running states out so that a job's moves between them write none of
 * its pages. SQLite uses a partial index only for a query whose WHERE holds
 * the index's predicate as it is, so every query meant to use the index
 * adds this term (true of every state it asks for anyway).
 */
const NOT_RUNNING = sql<boolean>`${sql.ref('status')} not in (${sql.join(literal(LEASED_STATES))})`;

/** Pending or running: the jobs BSUBIO_MAX_ACTIVE_JOBS counts. */
const ACTIVE: readonly JobState[] = ['pending', ...LEASED_STATES];

/** Caps on running jobs (claimed, preparing, processing) that a claim respects; 0 or absent: none. */
export interface ClaimLimits {
  maxRunningPerUser: number;
  maxRunningPerType: Readonly<Record<string, number>>;
}

export const NO_CLAIM_LIMITS: ClaimLimits = { maxRunningPerUser: 0, maxRunningPerType: {} };

export interface TransitionGuard {
  id: string;
  from: readonly JobState[];
  /** Only this user's job. */
  userId?: string;
  /** Only while this worker holds it. */
  claimedBy?: string;
}

export class JobRepository {
  /**
   * `leaseDb` carries the lease bookkeeping: claims, moves between the
   * working states (claimed, preparing, processing) and renewals. On
   * PostgreSQL its commits do not wait for the disk (openPostgres), which
   * makes a job cost one flushed commit (its end) instead of four. Losing
   * such a move in a database crash is safe: every move is guarded, so the
   * job's worker finds at its next move or renewal that the job is not in
   * the state it expects, stops, and the job runs again under the usual
   * lease rules; an end (finished, failed), a return to pending and every
   * user-facing write go through `db`, durably. Defaults to `db`.
   */
  private readonly leaseDb: Db;
  private readonly dialect: Dialect;
  /** SQLite: the queue's writes are committed in batches (SqliteGroupCommit). */
  private readonly groupCommit: SqliteGroupCommit | undefined;
  /** Lists of types for `type in`: on SQLite, indexed temp tables (TypeSets). */
  private readonly typeSets: TypeSets;
  /** The queue's statements, compiled once per shape (QueryShapes). */
  private readonly shapes = new QueryShapes();

  constructor(
    private readonly db: Db,
    leaseDb?: Db,
  ) {
    this.leaseDb = leaseDb ?? db;
    this.dialect = dialectOf(db);
    this.groupCommit = groupCommitOf(db);
    // On the connection the claims run on: a temp table is its connection's own.
    this.typeSets = new TypeSets(this.leaseDb, this.dialect);
  }

  /**
   * Run one of the queue's writes: on SQLite in the next group commit, with
   * the other writes of this turn, and without waiting for a commit when it
   * is lease bookkeeping (`durable` false: what goes through leaseDb on
   * PostgreSQL); on PostgreSQL as it is: concurrent commits there are
   * flushed together already (batching durable writes into one transaction
   * was measured no faster with four workers: 265-287 vs 278-304 jobs/s).
   */
  private async write<Row>(query: CompiledQuery<Row>, db: Db, durable: boolean): Promise<Row[]> {
    if (this.groupCommit) return this.groupCommit.run(query, durable);
    return (await db.executeQuery(query)).rows;
  }

  /**
   * A pipeline's columns (migration 0011) may be left out: an ordinary job's
   * are null; so may the result cache's (0012).
   */
  async insert(
    row: Omit<
      JobRow,
      | 'attempts'
      | 'uploaded_at'
      | 'submitted_at'
      | 'peak_memory_bytes'
      | 'cpu_ms'
      | PipelineColumn
      | CacheColumn
    > &
      Partial<Pick<JobRow, PipelineColumn | CacheColumn>>,
  ): Promise<JobRow> {
    return this.db.insertInto('jobs').values(row).returningAll().executeTakeFirstOrThrow();
  }

  /** A job its owner can see: not deleted, not someone else's. */
  async findForUser(userId: string, id: string): Promise<JobRow | undefined> {
    // Every GET of a job (and every ?wait poll) is this read: compiled once,
    // and on SQLite run without Kysely's executor.
    const query = this.shapes.compile(
      'findForUser',
      (value: ValueOf) =>
        this.db
          .selectFrom('jobs')
          .selectAll()
          .where('id', '=', value('id'))
          .where('user_id', '=', value('userId'))
          .where('deleted_at', 'is', null),
      { id, userId },
    );
    return readFirst(this.db, query);
  }

  async findById(id: string): Promise<JobRow | undefined> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
  }

  /**
   * A user's jobs, newest first, and how many match before the limit (and
   * regardless of the cursor). `before`: only jobs older than this id (the
   * last of the previous page); `more` says whether older ones remain.
   */
  async list(
    userId: string,
    status: JobState | undefined,
    limit: number,
    before?: string,
    type?: string,
  ): Promise<{ rows: JobRow[]; total: number; more: boolean }> {
    let query = this.db.selectFrom('jobs').where('user_id', '=', userId).where('deleted_at', 'is', null);
    if (status) query = query.where('status', '=', status).where(this.byStatusIndex(status));
    if (type) query = query.where('type', '=', type);
    const page = before === undefined ? query : query.where('id', '<', before);
    const [rows, total] = await Promise.all([
      page
        .selectAll()
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute(),
      this.count(userId, status ? [status] : undefined, type),
    ]);
    const more = rows.length > limit;
    return { rows: more ? rows.slice(0, limit) : rows, total, more };
  }

  /**
   * The term that lets a query of a user's jobs in `status` find them by an
   * index: jobs_user_live_status_id for the states it holds, and for the
   * running ones (which it leaves out) the jobs holding a lease, all of
   * which jobs_lease has; there are as many as jobs running, however many
   * the user has in all.
   */
  private byStatusIndex(status: JobState) {
    return LEASED_STATES.includes(status) ? this.holdingLease() : NOT_RUNNING;
  }

  /** Jobs holding a lease (every running job does), from jobs_lease. */
  private holdingLease() {
    return sql<boolean>`${sql.ref('id')} in (${this.db
      .selectFrom('jobs as leased')
      .select('leased.id')
      .where('leased.lease_expires_at', 'is not', null)})`;
  }

  /**
   * How many live jobs a user has (in these statuses, of this type), from
   * the counters the database keeps (job_counts): a sum over at most one row
   * per type and status, however many jobs there are.
   */
  async count(userId: string, statuses?: readonly JobState[], type?: string): Promise<number> {
    let query = this.db
      .selectFrom('job_counts')
      .select((eb) => eb.fn.sum<number>('n').as('n'))
      .where('user_id', '=', userId);
    if (statuses) query = query.where('status', 'in', [...statuses]);
    if (type) query = query.where('type', '=', type);
    const row = await query.executeTakeFirstOrThrow();
    return Number(row.n ?? 0);
  }

  // ---- idempotent create ---------------------------------------------------

  async findIdempotencyKey(userId: string, key: string) {
    return this.db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('user_id', '=', userId)
      .where('key', '=', key)
      .executeTakeFirst();
  }

  /** Record the key; false when a racing request recorded it first. */
  async insertIdempotencyKey(row: {
    user_id: string;
    key: string;
    body_hash: string;
    job_id: string;
    created_at: number;
  }): Promise<boolean> {
    const result = await this.db
      .insertInto('idempotency_keys')
      .values(row)
      .onConflict((oc) => oc.columns(['user_id', 'key']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /** Forget keys older than `before` (they no longer bind). */
  async deleteIdempotencyKeys(userId: string | undefined, key: string | undefined, before: number) {
    let query = this.db.deleteFrom('idempotency_keys').where('created_at', '<', before);
    if (userId !== undefined) query = query.where('user_id', '=', userId);
    if (key !== undefined) query = query.where('key', '=', key);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** The one guarded state change: the row when it moved, undefined when the guard did not hold. */
  async transition(
    guard: TransitionGuard,
    to: JobState,
    patch: JobPatch,
    now: number,
  ): Promise<JobRow | undefined> {
    const leased = LEASED_STATES.includes(to);
    const db = leased ? this.leaseDb : this.db;
    const columns = Object.keys(patch) as (keyof JobPatch)[];
    const { userId, claimedBy } = guard;
    const shape = `transition ${guard.from.join(',')} > ${to} set ${columns.join(',')} user ${userId !== undefined} worker ${claimedBy !== undefined}`;
    const values: Record<string, unknown> = { id: guard.id, now, userId, claimedBy };
    for (const column of columns) values[`set.${column}`] = patch[column];
    const query = this.shapes.compile(
      shape,
      (value: ValueOf) => {
        const set: Record<string, unknown> = {};
        for (const column of columns) set[column] = value(`set.${column}`);
        return db
          .updateTable('jobs')
          .set({ ...set, status: to, updated_at: value('now') })
          .where('id', '=', value('id'))
          .where('status', 'in', literal(guard.from))
          .where('deleted_at', 'is', null)
          .$if(userId !== undefined, (q) => q.where('user_id', '=', value('userId')))
          .$if(claimedBy !== undefined, (q) => q.where('claimed_by', '=', value('claimedBy')))
          .returningAll();
      },
      values,
    );
    const [row] = await this.write(query, db, !leased);
    return row;
  }

  /**
   * Claim a pending job of the given types under a lease, fairly between
   * users: the next job is the oldest of the user who has the fewest jobs
   * running now (ties: whose oldest pending job is oldest), so one user's
   * queue of long jobs does not hold every worker while another user waits.
   * With `limits`, users and types at their cap of running jobs are passed
   * over. One user alone gets plain FIFO.
   *
   * On PostgreSQL the candidate row is locked with SKIP LOCKED, so concurrent
   * claimers each take a different job instead of queueing on the same one
   * (SQLite has one writer at a time, so there the guard alone suffices).
   * If the fair pick finds nothing there (its user's jobs all locked by other
   * claimers at that moment), the oldest job of any user under the caps is
   * taken instead, so no worker idles while work waits.
   */
  async claimNext(
    workerId: string,
    types: readonly string[],
    leaseMs: number,
    now: number,
    limits: ClaimLimits = NO_CLAIM_LIMITS,
    onlyRunnablePipelines = false,
  ): Promise<JobRow | undefined> {
    const open = await this.typesUnderCap(types, limits.maxRunningPerType);
    if (open.length === 0) return undefined;
    const pick = { types: open, typeSet: await this.typeSets.of(open), limits, onlyRunnablePipelines };
    const fair = await this.claimWhere(workerId, leaseMs, now, pick, 'fair');
    // On SQLite (one writer) a miss means there is nothing to take, unless
    // the fair pick's user has only pipelines this worker cannot run.
    if (fair || (this.dialect !== 'postgres' && !onlyRunnablePipelines)) return fair;
    return this.claimWhere(workerId, leaseMs, now, pick, 'any-under-cap');
  }

  /**
   * Jobs whose every step is of these types: ordinary jobs, and pipelines
   * (steps JSON) a worker of only these types can run to the end. Only for
   * workers that do not take every type (remote workers of some types).
   */
  private everyStepOf(typeSet: TypeSet) {
    const foreignStep =
      this.dialect === 'postgres'
        ? sql`select 1 from json_array_elements(steps::json) s where s->>'type' not in ${typeSet}`
        : sql`select 1 from json_each(steps) s where json_extract(s.value, '$.type') not in ${typeSet}`;
    return sql<boolean>`(steps is null or not exists (${foreignStep}))`;
  }

  /** Types whose running jobs (all users) are below their cap; all of them when there are no caps. */
  private async typesUnderCap(
    types: readonly string[],
    caps: Readonly<Record<string, number>>,
  ): Promise<string[]> {
    const capped = types.filter((t) => (caps[t] ?? 0) > 0);
    if (capped.length === 0) return [...types];
    const running = await this.db
      .selectFrom('job_counts')
      .select(['type', (eb) => eb.fn.sum<number>('n').as('n')])
      .where('type', 'in', capped)
      .where('status', 'in', [...LEASED_STATES])
      .groupBy('type')
      .execute();
    const now = new Map(running.map((r) => [r.type, Number(r.n)]));
    return types.filter((t) => !((caps[t] ?? 0) > 0 && (now.get(t) ?? 0) >= caps[t]!));
  }

  /** How many jobs this user runs now, from the counters. */
  private runningOf(userId: 'c.user_id') {
    return sql<number>`coalesce((select sum(r.n) from job_counts r where r.user_id = ${sql.ref(userId)} and r.status in (${sql.join(literal(LEASED_STATES))})), 0)`;
  }

  /**
   * The user whose job goes next: of those with pending jobs of these types,
   * the one running fewest jobs now, then the one waiting longest. From the
   * job_counts counters (a row per user, type and state), not from the jobs.
   */
  private nextUserToServe(typeSet: TypeSet, limits: ClaimLimits) {
    const running = this.runningOf('c.user_id');
    const oldestPending = sql<string>`(select min(p.id) from jobs p where p.user_id = c.user_id and p.deleted_at is null and p.status = 'pending' and ${NOT_RUNNING} and p.type in ${typeSet})`;
    return this.db
      .selectFrom('job_counts as c')
      .select('c.user_id')
      .where('c.status', '=', PENDING)
      .where(sql<boolean>`c.type in ${typeSet}`)
      .where('c.n', '>', sql.lit(0))
      .groupBy('c.user_id')
      .$if(limits.maxRunningPerUser > 0, (q) => q.having(running, '<', limits.maxRunningPerUser))
      .orderBy(running)
      .orderBy(oldestPending)
      .limit(1);
  }

  /**
   * On PostgreSQL, the user to serve next whom no concurrent claim is
   * serving. Claims run at once there, each on its own snapshot: two slots
   * freed together both saw the same user running nothing and both took her
   * jobs, round after round, while another user waited
   * (fair-claim-race.test.ts). So a claim tries the waiting users in the fair
   * order with fair_claim_try_user (migration 0015): it takes an advisory
   * lock on the user, held until the claim commits, and with the lock held
   * rereads how many jobs she runs; a user another claim holds, or one
   * served since this claim's snapshot, is passed over. `offset 0` keeps the
   * planner from pushing that filter into the grouping, where it locked
   * every waiting user at once. A lone waiting user is served without the
   * lock (there is no one to be fair to), and if every waiting user is
   * passed over, the plain fair pick is taken: no slot idles while work
   * waits.
   */
  private nextUserNotBeingServed(typeSet: TypeSet, limits: ClaimLimits) {
    const candidates = this.nextUserToServe(typeSet, limits)
      .clearLimit()
      .select(sql<number>`${this.runningOf('c.user_id')}`.as('running'))
      .select(sql<number>`count(*) over ()`.as('waiting'));
    return sql<string>`coalesce(
      (select f.user_id from (${candidates} offset 0) f
        where case when f.waiting = 1 then true else fair_claim_try_user(f.user_id, f.running) end
        limit 1),
      (${this.nextUserToServe(typeSet, limits)}))`;
  }

  /**
   * PostgreSQL: the caps on running jobs, held by the claim itself. What
   * claimNext and the fair pick read of the counters is this claim's
   * snapshot, and concurrent claims each saw a type with a cap of 1 running
   * nothing and all took a job of it (fair-claim-race.test.ts). So the job a
   * claim takes must pass claim_under_cap (migration 0015) for its user and,
   * if its type is capped, its type: an advisory lock, then a fresh count
   * against the cap. SQLite's claims are serial and need none of this.
   */
  private capsHeld(types: readonly string[], limits: ClaimLimits) {
    const terms = [];
    if (limits.maxRunningPerUser > 0) {
      terms.push(sql<boolean>`claim_under_cap('user', user_id, ${sql.lit(limits.maxRunningPerUser)})`);
    }
    const capped = types.filter((t) => (limits.maxRunningPerType[t] ?? 0) > 0);
    if (capped.length > 0) {
      const capOf = sql.join(
        capped.map((t) => sql`when ${sql.lit(t)} then ${sql.lit(limits.maxRunningPerType[t]!)}`),
        sql` `,
      );
      terms.push(
        sql<boolean>`(type not in (${sql.join(capped.map((t) => sql.lit(t)))}) or claim_under_cap('type', type, case type ${capOf} end))`,
      );
    }
    return terms.length === 0 ? undefined : sql<boolean>`${sql.join(terms, sql` and `)}`;
  }

  /** Users running `cap` jobs or more. */
  private usersAtCap(cap: number) {
    return this.db
      .selectFrom('job_counts')
      .select('user_id')
      .where('status', 'in', [...LEASED_STATES])
      .groupBy('user_id')
      .having((eb) => eb.fn.sum('n'), '>=', cap);
  }

  /**
   * Claim the oldest pending job of these types: of the user to serve next
   * (`fair`), or of any user under the running cap.
   */
  private async claimWhere(
    workerId: string,
    leaseMs: number,
    now: number,
    pick: { types: readonly string[]; typeSet: TypeSet; limits: ClaimLimits; onlyRunnablePipelines: boolean },
    whose: 'fair' | 'any-under-cap',
  ): Promise<JobRow | undefined> {
    const { types, typeSet, limits, onlyRunnablePipelines } = pick;
    const postgres = this.dialect === 'postgres';
    const cap = limits.maxRunningPerUser;
    const typeCaps = JSON.stringify(limits.maxRunningPerType);
    const shape = `claim ${whose} cap ${cap} ${typeCaps} pipelines ${onlyRunnablePipelines} of ${types.join(' ')}`;
    const query = this.shapes.compile(
      shape,
      (value: ValueOf) => {
        const user =
          whose !== 'fair'
            ? undefined
            : postgres
              ? this.nextUserNotBeingServed(typeSet, limits)
              : this.nextUserToServe(typeSet, limits);
        const notUsers = whose === 'any-under-cap' && cap > 0 ? this.usersAtCap(cap) : undefined;
        const steps = onlyRunnablePipelines ? this.everyStepOf(typeSet) : undefined;
        const caps = postgres ? this.capsHeld(types, limits) : undefined;
        return this.leaseDb
          .updateTable('jobs')
          .set((eb) => ({
            status: 'claimed',
            claimed_by: value('workerId'),
            claimed_at: value('now'),
            lease_expires_at: value('leaseUntil'),
            attempts: eb('attempts', '+', 1),
            updated_at: value('now'),
          }))
          .where('id', '=', (eb) =>
            eb
              .selectFrom('jobs')
              .select('id')
              .where('status', '=', PENDING)
              .where(sql<boolean>`${sql.ref('type')} in ${typeSet}`)
              .where('deleted_at', 'is', null)
              .$if(user !== undefined, (q) => q.where('user_id', '=', user!).where(NOT_RUNNING))
              .$if(notUsers !== undefined, (q) => q.where('user_id', 'not in', notUsers!))
              .$if(steps !== undefined, (q) => q.where(steps!))
              .$if(caps !== undefined, (q) => q.where(caps!))
              .orderBy('id')
              .limit(sql.lit(1))
              .$if(postgres, (q) => q.forUpdate().skipLocked()),
          )
          .where('status', '=', PENDING)
          .returningAll();
      },
      { workerId, now, leaseUntil: now + leaseMs },
    );
    const [row] = await this.write(query, this.leaseDb, false);
    return row;
  }

  async renewLease(id: string, workerId: string, until: number): Promise<boolean> {
    const query = this.shapes.compile(
      'renew',
      (value: ValueOf) =>
        this.leaseDb
          .updateTable('jobs')
          .set({ lease_expires_at: value('until') })
          .where('id', '=', value('id'))
          .where('claimed_by', '=', value('workerId'))
          .where('status', 'in', literal(LEASED_STATES))
          .where('deleted_at', 'is', null)
          .returning('id'),
      { id, workerId, until },
    );
    const renewed = await this.write(query, this.leaseDb, false);
    return renewed.length === 1;
  }

  /** Leased jobs whose lease ran out (their worker died), or held by the given worker-id prefix. */
  async findLapsed(now: number, claimedByPrefix?: string): Promise<JobRow[]> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('status', 'in', ['claimed', 'preparing', 'processing'])
      .where('deleted_at', 'is', null)
      .where((eb) => {
        const lapsed = eb('lease_expires_at', '<', now);
        return claimedByPrefix === undefined
          ? lapsed
          : eb.or([lapsed, eb('claimed_by', 'like', `${claimedByPrefix}%`)]);
      })
      .execute();
  }

  /** Start a delete: the job disappears for its owner at once; blobs go next. */
  async markDeleted(userId: string, id: string, now: number): Promise<JobRow | undefined> {
    return this.db
      .updateTable('jobs')
      .set({ deleted_at: now })
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .where('status', 'in', ['finished', 'failed'])
      .where('deleted_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * `loaded` → `pending`, only while the user has fewer than `maxActive`
   * jobs pending or running (0: no limit), in one statement.
   */
  async submitWithin(
    userId: string,
    id: string,
    maxActive: number,
    now: number,
  ): Promise<JobRow | undefined> {
    let query = this.db
      .updateTable('jobs')
      .set({ status: MOVES.submit.to, updated_at: now, submitted_at: now })
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .where('status', 'in', SUBMIT_FROM)
      .where('deleted_at', 'is', null);
    if (maxActive > 0) {
      query = query.where(
        (eb) =>
          eb
            .selectFrom('job_counts')
            .select((e) => e.fn.coalesce(e.fn.sum<number>('n'), e.lit(0)).as('n'))
            .where('job_counts.user_id', '=', userId)
            .where('job_counts.status', 'in', [...ACTIVE]),
        '<',
        maxActive,
      );
    }
    return query.returningAll().executeTakeFirst();
  }

  /** Jobs pending or running: what BSUBIO_MAX_ACTIVE_JOBS limits. */
  async countActive(userId: string): Promise<number> {
    return this.count(userId, ACTIVE);
  }

  /** Bytes a user keeps: inputs and outputs of jobs not deleted. */
  async storedBytes(userId: string): Promise<number> {
    const row = await this.db
      .selectFrom('jobs')
      .select((eb) =>
        eb.fn.sum<number>(eb('data_size', '+', eb.fn.coalesce('output_size', eb.lit(0)))).as('n'),
      )
      .where('user_id', '=', userId)
      .where('deleted_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n ?? 0);
  }

  /**
   * Jobs past retention: finished or failed before `endedBefore`, never
   * submitted (loaded) and created before `createdBefore`, or never uploaded
   * (created) and created before `uploadBefore` (default `createdBefore`).
   */
  async findExpired(
    endedBefore: number,
    createdBefore: number,
    limit: number,
    uploadBefore = createdBefore,
  ): Promise<JobRow[]> {
    // Three queries, each served by its own partial index (0013), with the
    // states written as literals so SQLite sees the index apply; as one OR
    // it scanned the whole table in id order.
    const live = this.db.selectFrom('jobs').selectAll().where('deleted_at', 'is', null);
    // Jobs still `created` (never uploaded) or `loaded` (never submitted), made before `before`.
    const stillIn = (status: 'created' | 'loaded', before: number) =>
      live
        .where('status', '=', sql.lit(status))
        .where('created_at', '<', before)
        .orderBy('created_at')
        .limit(limit)
        .execute();
    const [ended, loaded, created] = await Promise.all([
      live
        .where('finished_at', '<', endedBefore)
        .where('status', 'in', literal(['finished', 'failed']))
        .orderBy('finished_at')
        .limit(limit)
        .execute(),
      stillIn('loaded', createdBefore),
      stillIn('created', uploadBefore),
    ]);
    return [...ended, ...loaded, ...created].sort((a, b) => (a.id < b.id ? -1 : 1)).slice(0, limit);
  }

  /** Start removing an expired job, unless it moved on since it was found. */
  async markExpired(id: string, status: string, now: number): Promise<JobRow | undefined> {
    return this.db
      .updateTable('jobs')
      .set({ deleted_at: now })
      .where('id', '=', id)
      .where('status', '=', status)
      .where('deleted_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
  }

  /** Deletes that began (before `startedBefore`, when given) but did not finish (the process stopped half-way). */
  async findDeleted(startedBefore?: number): Promise<JobRow[]> {
    let query = this.db.selectFrom('jobs').selectAll().where('deleted_at', 'is not', null);
    if (startedBefore !== undefined) query = query.where('deleted_at', '<', startedBefore);
    return query.execute();
  }

  async purge(id: string): Promise<void> {
    await this.db.deleteFrom('jobs').where('id', '=', id).execute();
  }

  // ---- pipelines ------------------------------------------------------------

  /**
   * A pipeline's step `step` finished: the job moves to the next step with
   * the finished steps' results (`stepOutputs`, JSON). Guarded by the worker
   * and the step, so a step is counted once; durable (`db`), since a crash
   * resumes from here.
   */
  async advanceStep(
    id: string,
    workerId: string,
    step: number,
    stepOutputs: string,
    now: number,
  ): Promise<JobRow | undefined> {
    return this.db
      .updateTable('jobs')
      .set({ step: step + 1, step_outputs: stepOutputs, updated_at: now })
      .where('id', '=', id)
      .where('claimed_by', '=', workerId)
      .where('status', '=', 'processing')
      .where('step', '=', step)
      .where('deleted_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
  }

  /** A pipeline ended: its finished steps' results are no longer kept. */
  async clearStepOutputs(id: string): Promise<void> {
    await this.db.updateTable('jobs').set({ step_outputs: null }).where('id', '=', id).execute();
  }

  // ---- the overview, the queue position and the timeline -----------------

  /** A user's live jobs by type and status, from the counters. */
  async countsByTypeAndStatus(userId: string): Promise<{ type: string; status: string; n: number }[]> {
    const rows = await this.db
      .selectFrom('job_counts')
      .select(['type', 'status', (eb) => eb.fn.sum<number>('n').as('n')])
      .where('user_id', '=', userId)
      .groupBy(['type', 'status'])
      .having((eb) => eb.fn.sum('n'), '>', 0)
      .execute();
    return rows.map((r) => ({ type: r.type, status: r.status, n: Number(r.n) }));
  }

  /** The user's failed jobs that were cancelled (failed with ECANCELED). */
  async countCancelled(userId: string): Promise<number> {
    const row = await this.db
      .selectFrom('jobs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .where('deleted_at', 'is', null)
      .where('status', '=', 'failed')
      .where(NOT_RUNNING)
      .where('error_code', '=', 'ECANCELED')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Jobs of the user that ended (finished or failed) since `since`, counted
   * per window of `bucketMs` (bucket = floor(finished_at / bucketMs)) and
   * final state. Integer division in both dialects.
   */
  async endedPerBucket(
    userId: string,
    since: number,
    bucketMs: number,
  ): Promise<{ bucket: number; status: string; n: number }[]> {
    const bucket = sql<number>`finished_at / ${sql.lit(bucketMs)}`;
    const rows = await this.db
      .selectFrom('jobs')
      .select([bucket.as('bucket'), 'status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('user_id', '=', userId)
      .where('deleted_at', 'is', null)
      .where('status', 'in', ['finished', 'failed'])
      .where(NOT_RUNNING)
      .where('finished_at', '>=', since)
      .groupBy([bucket, 'status'])
      .execute();
    return rows.map((r) => ({ bucket: Number(r.bucket), status: r.status, n: Number(r.n) }));
  }

  /** How long the user's jobs claimed since `since` waited after their submit (newest `limit`). */
  async queueWaits(
    userId: string,
    since: number,
    limit: number,
  ): Promise<{ claimedAt: number; waitMs: number }[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .select(['claimed_at', 'submitted_at'])
      .where('user_id', '=', userId)
      .where('deleted_at', 'is', null)
      .where('claimed_at', '>=', since)
      .where('submitted_at', 'is not', null)
      .orderBy('claimed_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      claimedAt: Number(r.claimed_at),
      waitMs: Math.max(0, Number(r.claimed_at) - Number(r.submitted_at)),
    }));
  }

  /** The workers holding the user's jobs now, with how many each holds. */
  async heldByWorker(userId: string): Promise<{ worker: string; n: number }[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .select(['claimed_by', (eb) => eb.fn.countAll<number>().as('n')])
      .where('user_id', '=', userId)
      .where('deleted_at', 'is', null)
      .where('status', 'in', [...LEASED_STATES])
      .where('claimed_by', 'is not', null)
      .where(this.holdingLease())
      .groupBy('claimed_by')
      .execute();
    return rows.map((r) => ({ worker: r.claimed_by!, n: Number(r.n) }));
  }

  /**
   * Pending jobs of `type` (any user's) that a worker takes before the job
   * `id`: claimNext takes the oldest id first. Served by jobs_pending_type_id.
   */
  async pendingBefore(type: string, id: string): Promise<number> {
    const row = await this.db
      .selectFrom('jobs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', '=', PENDING)
      .where('id', '<', id)
      .where('type', '=', type)
      .where('deleted_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Pending jobs of `type`, all users, from the counters. */
  async countPendingOfType(type: string): Promise<number> {
    const row = await this.db
      .selectFrom('job_counts')
      .select((eb) => eb.fn.sum<number>('n').as('n'))
      .where('status', '=', 'pending')
      .where('type', '=', type)
      .executeTakeFirstOrThrow();
    return Number(row.n ?? 0);
  }

  /** Live jobs of all users by status and type (the metrics), from the counters. */
  async countByStatusAndType(): Promise<{ status: string; type: string; n: number }[]> {
    const rows = await this.db
      .selectFrom('job_counts')
      .select(['status', 'type', (eb) => eb.fn.sum<number>('n').as('n')])
      .groupBy(['status', 'type'])
      .having((eb) => eb.fn.sum('n'), '>', 0)
      .execute();
    return rows.map((r) => ({ status: r.status, type: r.type, n: Number(r.n) }));
  }
}
