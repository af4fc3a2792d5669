/** Row types of the store, as Kysely sees them. Times are Unix milliseconds. */
import type { ColumnType, Generated } from 'kysely';

export interface UsersTable {
  id: string;
  email: string;
  created_at: number;
  /** Where this user's jobs report their end when create names no webhook_url. */
  webhook_url: string | null;
  /** Key of the HMAC that signs this user's webhook deliveries. */
  webhook_secret: string | null;
  /** argon2id hash for dashboard sign-in; null: API-key sign-in only. */
  password_hash: string | null;
}

export interface ApiKeysTable {
  id: string;
  user_id: string;
  /** The public part of the key (`bsub_<prefix>_...`), used to find the row and to revoke. */
  prefix: string;
  /** SHA-256 of the whole key, hex. Keys are random, so a fast hash is enough. */
  hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  /** What the key is for, e.g. "dashboard" or "bsubio register on laptop". */
  label: string | null;
}

export interface SessionsTable {
  /** SHA-256 of the cookie's token, hex: a leaked database opens no session. */
  id_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
  /**
   * The API key a session was opened with (null: email and password). Such a
   * session lives only while its key does, and cannot manage keys.
   */
  api_key_id: string | null;
}

export interface DeviceCodesTable {
  /** SHA-256 of the device code, hex. */
  device_code_hash: string;
  user_code: string;
  hostname: string;
  /** pending | approved | denied | consumed */
  status: string;
  user_id: string | null;
  created_at: number;
  expires_at: number;
  last_poll_at: number | null;
}

export interface JobsTable {
  id: string;
  user_id: string;
  type: string;
  status: string;
  name: string | null;
  /** JSON object of validated parameters. */
  params: string;
  /** Cleared once the upload is stored: the token dies with the upload. */
  upload_token: string | null;
  data_size: number;
  input_name: string | null;
  input_type: string | null;
  /** Blob keys; unique per upload/attempt so racing writers never clobber each other. */
  input_key: string | null;
  output_key: string | null;
  log_key: string | null;
  output_size: number | null;
  claimed_by: string | null;
  lease_expires_at: number | null;
  attempts: Generated<number>;
  error_code: string | null;
  error_message: string | null;
  created_at: number;
  updated_at: number;
  /** When the input was stored (migration 0007; null before it, and for older jobs). */
  uploaded_at: ColumnType<number | null, number | null | undefined, number | null>;
  /** When the job was first submitted (a retry keeps it). */
  submitted_at: ColumnType<number | null, number | null | undefined, number | null>;
  claimed_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  /** Set when a delete has begun; such a job is invisible and its blobs are being removed. */
  deleted_at: number | null;
  /** Where the job's end is POSTed (create's webhook_url or the user's default then). */
  webhook_url: string | null;
  /** The sandbox's peak memory in bytes and CPU time in ms, from its cgroup (migration 0010). */
  peak_memory_bytes: ColumnType<number | null, number | null | undefined, number | null>;
  cpu_ms: ColumnType<number | null, number | null | undefined, number | null>;
  /**
   * A pipeline's steps, JSON `[{type, params}, ...]` with the first (the
   * job's own type and params) included; null for an ordinary job
   * (migration 0011). services/pipeline.ts reads it.
   */
  steps: ColumnType<string | null, string | null | undefined, string | null>;
  /** The step a pipeline is on, from 1; null for an ordinary job. */
  step: ColumnType<number | null, number | null | undefined, number | null>;
  /** JSON `[{output, logs}, ...]`: blob keys of the finished steps' results, until the job ends. */
  step_outputs: ColumnType<string | null, string | null | undefined, string | null>;
  /** SHA-256 of the input, hex, once uploaded (migration 0012; null before it). */
  input_sha256: ColumnType<string | null, string | null | undefined, string | null>;
  /** The result cache's key (services/result-cache.ts); null when the job is not cached. */
  cache_key: ColumnType<string | null, string | null | undefined, string | null>;
  /** 1 when create asked `"cache": false`. */
  cache_opt_out: ColumnType<number, number | undefined, number>;
  /** 1 when the job was served from the cache at submit, without running. */
  cached: ColumnType<number, number | undefined, number>;
  /** The job whose result it was served, when that job is the same user's. */
  cached_from: ColumnType<string | null, string | null | undefined, string | null>;
}

/** Which jobs refer to a blob besides the job whose directory holds it (migration 0012). */
export interface BlobRefsTable {
  key: string;
  job_id: string;
}

export interface IdempotencyKeysTable {
  user_id: string;
  key: string;
  /** SHA-256 of the create body (keys sorted), hex. */
  body_hash: string;
  job_id: string;
  created_at: number;
}

export interface WebhookDeliveriesTable {
  id: string;
  job_id: string;
  user_id: string;
  url: string;
  /** `job.finished` or `job.failed`. */
  event: string;
  /** The exact body sent, every attempt. */
  payload: string;
  /** `pending` (will be tried at next_attempt_at), `delivered` or `failed` (gave up). */
  status: string;
  attempts: Generated<number>;
  next_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  delivered_at: number | null;
}

export interface WorkerTokensTable {
  id: string;
  /** What the token is for (a machine, a fleet); shown by `worker-token add`. */
  name: string;
  /** The public part of the token (`bsubw_<prefix>_...`), used to find the row and to revoke. */
  prefix: string;
  /** SHA-256 of the whole token, hex. */
  hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

/**
 * How many live jobs (not being deleted) a user has of a type in a status.
 * Kept by triggers on jobs (migration 0006); never written by the code.
 */
export interface JobCountsTable {
  user_id: string;
  type: string;
  status: string;
  n: number;
}

/** Cluster mode without BSUBIO_SECRET_KEY: the server key, so replicas agree (services/server-key.ts). */
export interface ServerSecretsTable {
  name: string;
  value: string;
}

export interface Database {
  users: UsersTable;
  job_counts: JobCountsTable;
  api_keys: ApiKeysTable;
  jobs: JobsTable;
  idempotency_keys: IdempotencyKeysTable;
  webhook_deliveries: WebhookDeliveriesTable;
  sessions: SessionsTable;
  device_codes: DeviceCodesTable;
  worker_tokens: WorkerTokensTable;
  server_secrets: ServerSecretsTable;
  blob_refs: BlobRefsTable;
}
