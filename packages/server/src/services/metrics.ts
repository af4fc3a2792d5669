/**
 * Prometheus metrics, in the text exposition format, without a client
 * library: jobs by state and type and the queue depth (read from the store
 * at scrape time), histograms of queue wait and run time (from job changes
 * seen by this process) and of HTTP latency.
 */
import type { JobRow } from '../store/job-repository.js';
import type { JobEvents } from './job-events.js';

type Labels = Record<string, string>;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (labels: Labels) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};

export class Histogram {
  private readonly series = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}

  observe(labels: Labels, value: number): void {
    const key = JSON.stringify(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((le, i) => {
        lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(le) })} ${s.counts[i]}`);
      });
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

const JOB_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
const MEMORY_BUCKETS = [4, 16, 64, 128, 256, 512, 1024, 2048, 4096, 8192].map((mib) => mib * 1024 * 1024);
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface StoreCounts {
  /** Jobs not deleted, by state and type. */
  jobs: { status: string; type: string; n: number }[];
  /** Webhook deliveries by status. */
  deliveries: { status: string; n: number }[];
}

export class Metrics {
  readonly http = new Histogram(
    'bsubio_http_request_duration_seconds',
    'Time to answer an HTTP request (streams: until they end), by method, route and status.',
    HTTP_BUCKETS,
  );
  readonly wait = new Histogram(
    'bsubio_job_wait_seconds',
    'Time a job waited in the queue, from submit to a worker claiming it, by type.',
    JOB_BUCKETS,
  );
  readonly run = new Histogram(
    'bsubio_job_run_seconds',
    'Time the tool ran, from processing to finished or failed, by type and final state.',
    JOB_BUCKETS,
  );
  readonly peakMemory = new Histogram(
    'bsubio_job_peak_memory_bytes',
    "Most memory a job's sandbox held (its cgroup: tmpfs and page cache included), by type.",
    MEMORY_BUCKETS,
  );
  readonly cpu = new Histogram(
    'bsubio_job_cpu_seconds',
    "CPU time of all a job's processes (its cgroup), by type and final state.",
    JOB_BUCKETS,
  );
  /** More series, from parts of the server that keep their own counts (the event streams). */
  readonly more: (() => string)[] = [];
  /** When jobs became pending, to time their wait. */
  private readonly pendingSince = new Map<string, number>();

  attach(events: JobEvents): void {
    events.on('change', (row: JobRow) => this.onChange(row));
  }

  private onChange(row: JobRow): void {
    const now = Date.now();
    if (row.status === 'pending') {
      this.pendingSince.set(row.id, Number(row.updated_at));
    } else if (row.status === 'claimed') {
      const since = this.pendingSince.get(row.id);
      this.pendingSince.delete(row.id);
      if (since !== undefined) this.wait.observe({ type: row.type }, Math.max(0, now - since) / 1000);
    } else if (row.status === 'finished' || row.status === 'failed') {
      this.pendingSince.delete(row.id);
      if (row.started_at !== null && row.finished_at !== null) {
        this.run.observe(
          { type: row.type, status: row.status },
          Math.max(0, Number(row.finished_at) - Number(row.started_at)) / 1000,
        );
      }
      if (row.peak_memory_bytes !== null)
        this.peakMemory.observe({ type: row.type }, Number(row.peak_memory_bytes));
      if (row.cpu_ms !== null)
        this.cpu.observe({ type: row.type, status: row.status }, Number(row.cpu_ms) / 1000);
    }
  }

  render(counts: StoreCounts): string {
    const out: string[] = [];
    out.push('# HELP bsubio_jobs Jobs in the store, by state and type.', '# TYPE bsubio_jobs gauge');
    for (const { status, type, n } of counts.jobs)
      out.push(`bsubio_jobs${labelText({ state: status, type })} ${n}`);
    const pending = counts.jobs.filter((j) => j.status === 'pending').reduce((a, j) => a + j.n, 0);
    out.push(
      '# HELP bsubio_queue_depth Jobs pending, waiting for a worker.',
      '# TYPE bsubio_queue_depth gauge',
      `bsubio_queue_depth ${pending}`,
    );
    out.push(
      '# HELP bsubio_webhook_deliveries Webhook deliveries, by status.',
      '# TYPE bsubio_webhook_deliveries gauge',
    );
    for (const { status, n } of counts.deliveries) {
      out.push(`bsubio_webhook_deliveries${labelText({ status })} ${n}`);
    }
    out.push(
      this.wait.render(),
      this.run.render(),
      this.peakMemory.render(),
      this.cpu.render(),
      this.http.render(),
      ...this.more.map((m) => m()),
    );
    const memory = process.memoryUsage();
    out.push(
      '# HELP process_resident_memory_bytes Resident memory of the server process.',
      '# TYPE process_resident_memory_bytes gauge',
      `process_resident_memory_bytes ${memory.rss}`,
      '# HELP process_uptime_seconds Seconds since the server process started.',
      '# TYPE process_uptime_seconds gauge',
      `process_uptime_seconds ${process.uptime()}`,
    );
    return `${out.join('\n')}\n`;
  }
}
