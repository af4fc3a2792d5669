/** Row types of the store, as Kysely sees them. Times are Unix milliseconds. */
import type { Generated } from 'kysely';

export interface UsersTable {
  id: string;
  email: string;
  created_at: number;
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
  claimed_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  /** Set when a delete has begun; such a job is invisible and its blobs are being removed. */
  deleted_at: number | null;
}

export interface Database {
  users: UsersTable;
  api_keys: ApiKeysTable;
  jobs: JobsTable;
}
