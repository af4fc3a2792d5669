/**
 * Webhooks: when a job with a `webhook_url` becomes finished or failed, its
 * JSON is POSTed there, signed with the user's secret, and retried with
 * exponential backoff until it is answered 2xx or the retry window closes.
 * Deliveries are rows in the store, so a restart loses none. Hosts that
 * resolve to private, loopback or link-local addresses are refused, at
 * create and again at connect time (DNS may change in between), unless the
 * operator allows them.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { lookup as dnsLookupAsync } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { toWireTime, uuidv7, type WebhookDelivery } from '@bsubio/protocol';
import type { JobRow } from '../store/job-repository.js';
import type { DeliveryRow, WebhookRepository } from '../store/webhook-repository.js';
import { ApiError } from './api-error.js';
import type { JobEvents } from './job-events.js';
import { toWireJob } from './job-service.js';
import { isPrivateAddress } from './public-address.js';

export { isPrivateAddress };

export interface WebhookOptions {
  allowPrivate: boolean;
  retryBaseMs: number;
  retryWindowMs: number;
  timeoutMs: number;
  userAgent: string;
  /** Signing secrets are stored encrypted with the server key (ServerKey). */
  secrets: { encrypt(plain: string): string; decrypt(stored: string): string };
}

export const SIGNATURE_HEADER = 'bsubio-signature';
const MAX_BACKOFF_MS = 60 * 60 * 1000;
/** Longest sleep between looks at the queue while nothing of ours is due. */
const IDLE_RECHECK_MS = 5_000;

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export function signPayload(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/** The wire form of a delivery (`GET /v1/jobs/{id}/deliveries`). */
export function toWireDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    job_id: row.job_id,
    // The store holds only these (written by this service).
    event: row.event as WebhookDelivery['event'],
    url: row.url,
    status: row.status as WebhookDelivery['status'],
    attempts: Number(row.attempts),
    last_status_code: row.last_status_code === null ? null : Number(row.last_status_code),
    last_error: row.last_error,
    next_attempt_at:
      row.status === 'pending' && row.next_attempt_at !== null
        ? toWireTime(Number(row.next_attempt_at))
        : null,
    created_at: toWireTime(Number(row.created_at)),
    delivered_at: row.delivered_at === null ? null : toWireTime(Number(row.delivered_at)),
  };
}

export class WebhookService {
  private started = false;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private wakeAgain = false;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly onChange = (row: JobRow) => {
    if ((row.status === 'finished' || row.status === 'failed') && row.webhook_url) {
      this.track(this.enqueue(row).catch((err) => this.onError(err)));
    }
  };

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    work.finally(() => this.inFlight.delete(work));
  }

  constructor(
    private readonly repo: WebhookRepository,
    private readonly events: JobEvents,
    private readonly options: WebhookOptions,
    private readonly onError: (err: unknown) => void,
  ) {}

  /**
   * Check a webhook URL a user gives (create's `webhook_url`, the default):
   * http(s), a host that resolves, and not to a private address unless allowed.
   */
  async checkUrl(value: unknown, field: string): Promise<string> {
    if (typeof value !== 'string' || value.length > 2000) {
      throw new ApiError(
        'bad_request',
        `The ${field} must be an http or https URL of at most 2000 characters.`,
      );
    }
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ApiError(
        'bad_request',
        `The ${field} "${value}" is not a URL; use one like https://example.com/hook.`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ApiError(
        'bad_request',
        `The ${field} must use http or https, not ${url.protocol.slice(0, -1)}.`,
      );
    }
    if (url.username || url.password) {
      throw new ApiError('bad_request', `The ${field} must not carry a user name or password.`);
    }
    if (!this.options.allowPrivate) {
      const host = url.hostname.replace(/^\[|\]$/g, '');
      let addresses: string[];
      if (isIP(host)) {
        addresses = [host];
      } else {
        try {
          addresses = (await dnsLookupAsync(host, { all: true })).map((a) => a.address);
        } catch {
          throw new ApiError('bad_request', `The ${field} host "${host}" does not resolve; check the name.`);
        }
      }
      const bad = addresses.find(isPrivateAddress);
      if (bad !== undefined) {
        throw new ApiError(
          'bad_request',
          `The ${field} host "${host}" is a private, loopback or link-local address (${bad}); this server delivers webhooks only to public addresses unless its operator sets BSUBIO_WEBHOOK_ALLOW_PRIVATE=1.`,
        );
      }
    }
    return url.toString();
  }

  /** The user's signing secret, made on first use. */
  async secret(userId: string): Promise<string> {
    const settings = await this.repo.userSettings(userId);
    const { secrets } = this.options;
    if (settings?.webhook_secret) return secrets.decrypt(settings.webhook_secret);
    const candidate = secrets.encrypt(`whsec_${randomBytes(24).toString('base64url')}`);
    return secrets.decrypt(await this.repo.ensureSecret(userId, candidate));
  }

  async settings(userId: string): Promise<{ url: string | null; secret: string }> {
    const secret = await this.secret(userId);
    const settings = await this.repo.userSettings(userId);
    return { url: settings?.webhook_url ?? null, secret };
  }

  async setDefaultUrl(userId: string, value: unknown): Promise<{ url: string | null; secret: string }> {
    const url = value === null ? null : await this.checkUrl(value, 'url');
    await this.repo.setUserUrl(userId, url);
    return this.settings(userId);
  }

  /** The URL a new job reports to: create's `webhook_url`, else the user's default, else none. */
  async urlForCreate(userId: string, body: unknown): Promise<string | null> {
    const given =
      typeof body === 'object' && body !== null ? (body as Record<string, unknown>).webhook_url : undefined;
    if (given !== undefined && given !== null) return this.checkUrl(given, 'webhook_url');
    return (await this.repo.userSettings(userId))?.webhook_url ?? null;
  }

  async deliveries(jobId: string): Promise<DeliveryRow[]> {
    return this.repo.forJob(jobId);
  }

  start(): void {
    this.events.on('change', this.onChange);
    this.started = true;
    this.wake();
    // Jobs that ended while no delivery was recorded (a stop in between).
    this.repo
      .undelivered(Date.now() - this.options.retryWindowMs)
      .then(async (rows) => {
        for (const row of rows) await this.enqueue(row);
      })
      .catch((err) => this.onError(err));
  }

  /** Stop sending; deliveries under way finish (each is bounded by the timeout). */
  async stop(): Promise<void> {
    this.events.off('change', this.onChange);
    this.started = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.all([...this.inFlight]);
  }

  async enqueue(row: JobRow): Promise<void> {
    if (!row.webhook_url) return;
    const now = Date.now();
    await this.repo.insert({
      id: uuidv7(now),
      job_id: row.id,
      user_id: row.user_id,
      url: row.webhook_url,
      event: `job.${row.status}`,
      payload: JSON.stringify(toWireJob(row)),
      status: 'pending',
      next_attempt_at: now,
      last_status_code: null,
      last_error: null,
      created_at: now,
      updated_at: now,
      delivered_at: null,
    });
    this.wake();
  }

  private wake(): void {
    if (!this.started) return;
    if (this.running) {
      this.wakeAgain = true;
      return;
    }
    this.running = true;
    this.tick()
      .catch((err) => {
        this.onError(err);
        // The store failed before the next wake was set (e.g. PostgreSQL
        // restarting): try again later rather than never.
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.wake(), IDLE_RECHECK_MS);
        this.timer.unref();
      })
      .finally(() => {
        this.running = false;
        if (this.wakeAgain) {
          this.wakeAgain = false;
          this.wake();
        }
      });
  }

  /**
   * Sleep until the earliest pending delivery is due, instead of polling: an
   * idle server does no work. Deliveries queued by this process wake it at
   * once; the recheck bound catches those queued by other processes sharing
   * the store and attempts whose hold lapsed.
   */
  private async scheduleNextWake(): Promise<void> {
    const next = await this.repo.nextDueAt();
    if (!this.started) return;
    const delay =
      next === undefined ? IDLE_RECHECK_MS : Math.min(Math.max(next - Date.now(), 0), IDLE_RECHECK_MS);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), delay);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    for (const row of await this.repo.due(now, 20)) {
      // Held for the length of one attempt; if this process dies, the row is due again after it.
      if (!(await this.repo.take(row, now + this.options.timeoutMs + 5000, now))) continue;
      // After the attempt its retry time is known: wake to schedule for it.
      this.track(
        this.attempt(row)
          .catch((err) => this.onError(err))
          .finally(() => this.wake()),
      );
    }
    await this.scheduleNextWake();
  }

  private async attempt(row: DeliveryRow): Promise<void> {
    const secret = await this.secret(row.user_id);
    const timestamp = Math.floor(Date.now() / 1000);
    const result = await this.post(row, {
      'content-type': 'application/json',
      'user-agent': this.options.userAgent,
      'bsubio-event': row.event,
      'bsubio-delivery': row.id,
      [SIGNATURE_HEADER]: signPayload(secret, timestamp, row.payload),
    });
    const now = Date.now();
    const attempts = Number(row.attempts) + 1;
    if (result.status !== undefined && result.status >= 200 && result.status < 300) {
      await this.repo.record(
        row.id,
        {
          status: 'delivered',
          attempts,
          next_attempt_at: null,
          last_status_code: result.status,
          last_error: null,
          delivered_at: now,
        },
        now,
      );
      return;
    }
    const delay = Math.min(this.options.retryBaseMs * 2 ** (attempts - 1), MAX_BACKOFF_MS);
    const giveUp = now + delay > Number(row.created_at) + this.options.retryWindowMs;
    await this.repo.record(
      row.id,
      {
        status: giveUp ? 'failed' : 'pending',
        attempts,
        next_attempt_at: giveUp ? null : now + delay,
        last_status_code: result.status ?? null,
        last_error: result.error ?? `The receiver answered ${result.status}.`,
        delivered_at: null,
      },
      now,
    );
  }

  private post(
    row: DeliveryRow,
    headers: Record<string, string>,
  ): Promise<{ status?: number; error?: string }> {
    return new Promise((resolve) => {
      let url: URL;
      try {
        url = new URL(row.url);
      } catch {
        resolve({ error: 'The URL is not valid.' });
        return;
      }
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (!this.options.allowPrivate && isIP(host) && isPrivateAddress(host)) {
        resolve({ error: `${host} is a private address; delivery refused.` });
        return;
      }
      const body = Buffer.from(row.payload);
      const client = url.protocol === 'https:' ? https : http;
      const request = client.request(
        url,
        {
          method: 'POST',
          headers: { ...headers, 'content-length': String(body.length) },
          timeout: this.options.timeoutMs,
          lookup: this.options.allowPrivate ? undefined : guardedLookup,
        },
        (response) => {
          // Only the status matters; the body is read and dropped.
          response.resume();
          response.on('end', () => resolve({ status: response.statusCode }));
          response.on('error', () => resolve({ status: response.statusCode }));
        },
      );
      request.on('timeout', () => {
        request.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`));
      });
      request.on('error', (err) => resolve({ error: `The request failed: ${err.message}.` }));
      request.end(body);
    });
  }
}

/** DNS lookup for deliveries that refuses private addresses, so a name cannot be re-pointed after the check. */
function guardedLookup(
  hostname: string,
  options: LookupOptions,
  callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
): void {
  const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
  dnsLookup(hostname, { family, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const bad = addresses.find((a) => isPrivateAddress(a.address));
    if (bad) return callback(new Error(`${hostname} resolves to the private address ${bad.address}`), []);
    if (options.all) return callback(null, addresses);
    const first = addresses[0]!;
    return callback(null, first.address, first.family);
  });
}
