/**
 * The dashboard's view of the queue (extensions, each its own route so that
 * the Job object stays as the official clients know it): the caller's
 * overview, a pending job's place in the queue, and a job's timeline.
 */
import type { JobTimeline, Overview, QueuePosition } from '@bsubio/protocol';
import type { BaseConfiguration } from './configuration.js';
import { type RequestOptions, Transport } from './transport.js';

const hasData = (value: unknown) =>
  typeof value === 'object' &&
  value !== null &&
  (value as { success?: unknown }).success === true &&
  typeof (value as { data?: unknown }).data === 'object';

export class InsightApi {
  private readonly transport: Transport;
  constructor(readonly configuration: BaseConfiguration) {
    this.transport = new Transport(configuration);
  }

  /** `GET /v1/overview`: jobs per state, throughput, queue wait, workers and types. */
  async overview(options?: RequestOptions): Promise<Overview> {
    return (
      await this.transport.json<{ data: Overview }>({ method: 'GET', path: '/v1/overview' }, options, hasData)
    ).data;
  }

  /** `GET /v1/jobs/{id}/position`: where a pending job stands among the pending jobs of its type. */
  async position(jobId: string, options?: RequestOptions): Promise<QueuePosition> {
    const path = `/v1/jobs/${encodeURIComponent(jobId)}/position`;
    return (await this.transport.json<{ data: QueuePosition }>({ method: 'GET', path }, options, hasData))
      .data;
  }

  /** `GET /v1/jobs/{id}/timeline`: when each step happened, with durations, attempts and the worker. */
  async timeline(jobId: string, options?: RequestOptions): Promise<JobTimeline> {
    const path = `/v1/jobs/${encodeURIComponent(jobId)}/timeline`;
    return (await this.transport.json<{ data: JobTimeline }>({ method: 'GET', path }, options, hasData)).data;
  }
}
