/**
 * The Overview, from the server's own numbers (`GET /v1/overview`): jobs per
 * state now, finished and failed over the last hour or day (a chart), queue
 * wait p50/p95, the workers heard from and when, and counts per type —
 * what bull-board shows, for this person's jobs. Refreshed as the event
 * stream reports changes, at most every few seconds.
 */
import { useSignal } from '@preact/signals';
import type { Overview } from 'bsubio';
import { useEffect } from 'preact/hooks';
import { describe, insightApi } from '../api.js';
import { PageTitle } from '../components/page-title.js';
import { RelativeTime } from '../components/time.js';
import { formatDuration } from '../format.js';
import { STATES } from '../job-model.js';
import { jobs } from '../live.js';
import { route, withQuery } from '../router.js';

const RANGES = {
  hour: { label: 'last hour', bucket: '5 minutes' },
  day: { label: 'last day', bucket: 'hour' },
} as const;
type RangeName = keyof typeof RANGES;
const REFRESH_MS = 3_000;
const ACTIVE = ['created', 'loaded', 'pending', 'claimed', 'preparing', 'processing'];
/** A state's count (the schema lists all eight; a missing one is none). */
const of = (counts: Record<string, number | undefined>, state: string) => counts[state] ?? 0;

const TILES = STATES;

export function OverviewPage() {
  const range: RangeName = route.value.query.get('range') === 'day' ? 'day' : 'hour';
  const overview = useSignal<Overview | undefined>(undefined);
  const error = useSignal('');
  const changes = jobs.value;

  // Fetched on open, then again after job changes, never more often than REFRESH_MS.
  const lastFetch = useSignal(0);
  useEffect(() => {
    const wait = Math.max(0, lastFetch.value + REFRESH_MS - Date.now());
    const timer = setTimeout(() => {
      lastFetch.value = Date.now();
      insightApi.overview().then(
        (data) => {
          overview.value = data;
          error.value = '';
        },
        (err: unknown) => {
          error.value = describe(err);
        },
      );
    }, wait);
    return () => clearTimeout(timer);
  }, [changes]);

  const data = overview.value;
  return (
    <>
      <PageTitle title="Overview" />
      {error.value && <p class="error">The overview could not be loaded: {error.value}</p>}
      {!data ? !error.value && <p class="loading">Loading…</p> : <OverviewBody data={data} range={range} />}
    </>
  );
}

function OverviewBody({ data, range }: { data: Overview; range: RangeName }) {
  const counts = (state: (typeof TILES)[number]) => {
    if (state === 'cancelled') return data.cancelled;
    if (state === 'failed') return of(data.jobs, 'failed') - data.cancelled;
    return of(data.jobs, state);
  };
  const buckets = range === 'hour' ? data.throughput.last_hour : data.throughput.last_day;
  const wait = range === 'hour' ? data.queue_wait.last_hour : data.queue_wait.last_day;
  const finished = buckets.reduce((n, b) => n + b.finished, 0);
  const failed = buckets.reduce((n, b) => n + b.failed, 0);
  return (
    <>
      <section aria-labelledby="now-title">
        <h2 id="now-title">Jobs now</h2>
        <ul class="tiles">
          {TILES.map((state) => (
            <li key={state}>
              <a href={`/?state=${state}`} class={`tile state-${state}`}>
                <span class="tile-count">{counts(state)}</span>
                <span class="tile-label">{state}</span>
              </a>
            </li>
          ))}
        </ul>
      </section>
      <section aria-labelledby="throughput-title">
        <div class="section-head">
          <h2 id="throughput-title">Finished and failed, {RANGES[range].label}</h2>
          <nav class="tabs small" aria-label="Time range">
            <ul>
              {(Object.keys(RANGES) as RangeName[]).map((name) => (
                <li key={name}>
                  <a
                    href={withQuery({ range: name === 'hour' ? undefined : name })}
                    aria-current={name === range ? 'page' : undefined}
                  >
                    {RANGES[name].label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        </div>
        <Chart buckets={buckets} range={range} finished={finished} failed={failed} />
        <dl class="figures">
          <div>
            <dt>Finished</dt>
            <dd>{finished}</dd>
          </div>
          <div>
            <dt>Failed (cancelled included)</dt>
            <dd>{failed}</dd>
          </div>
          <div>
            <dt>Queue wait p50</dt>
            <dd>{formatDuration(wait.p50_ms)}</dd>
          </div>
          <div>
            <dt>Queue wait p95</dt>
            <dd>{formatDuration(wait.p95_ms)}</dd>
          </div>
        </dl>
        <p class="hint">
          Queue wait: from submit to a worker's claim, over the {wait.jobs} jobs claimed in the{' '}
          {RANGES[range].label}.
        </p>
      </section>
      <div class="two-columns">
        <section aria-labelledby="workers-title">
          <h2 id="workers-title">Workers</h2>
          {data.workers.length === 0 ? (
            <p class="empty">No worker heard from in the last hour.</p>
          ) : (
            <table class="cards-on-phone">
              <caption class="visually-hidden">Workers heard from lately</caption>
              <thead>
                <tr>
                  <th scope="col">Worker</th>
                  <th scope="col">Last heartbeat</th>
                  <th scope="col">Your jobs on it</th>
                </tr>
              </thead>
              <tbody>
                {data.workers.map((w) => (
                  <tr key={w.id}>
                    <td data-label="Worker">
                      <code>{w.id}</code>
                    </td>
                    <td data-label="Last heartbeat">
                      {w.last_seen ? <RelativeTime iso={w.last_seen} /> : 'not lately'}
                    </td>
                    <td data-label="Your jobs on it">{w.running}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section aria-labelledby="types-title">
          <h2 id="types-title">By type</h2>
          {data.types.length === 0 ? (
            <p class="empty">No jobs yet.</p>
          ) : (
            <table class="cards-on-phone">
              <caption class="visually-hidden">Your jobs per processing type</caption>
              <thead>
                <tr>
                  <th scope="col">Type</th>
                  <th scope="col">Jobs</th>
                  <th scope="col">Waiting or running</th>
                  <th scope="col">Failed</th>
                </tr>
              </thead>
              <tbody>
                {data.types.map((t) => (
                  <tr key={t.type}>
                    <td data-label="Type">
                      <a href={`/?type=${encodeURIComponent(t.type)}`}>{t.type}</a>
                    </td>
                    <td data-label="Jobs">{t.total}</td>
                    <td data-label="Waiting or running">
                      {ACTIVE.reduce((n, state) => n + of(t.jobs, state), 0)}
                    </td>
                    <td data-label="Failed">{of(t.jobs, 'failed')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
    </>
  );
}

/** Stacked bars per window, in SVG (no script, no chart library). */
function Chart({
  buckets,
  range,
  finished,
  failed,
}: {
  buckets: Overview['throughput']['last_hour'];
  range: RangeName;
  finished: number;
  failed: number;
}) {
  const max = Math.max(1, ...buckets.map((b) => b.finished + b.failed));
  const width = 600;
  const height = 140;
  const slot = width / Math.max(1, buckets.length);
  const bar = Math.max(2, slot - 4);
  const y = (n: number) => (n / max) * (height - 16);
  const time = (iso: string) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-labelledby="chart-desc"
        preserveAspectRatio="none"
      >
        <desc id="chart-desc">
          {finished} finished and {failed} failed in the {RANGES[range].label}, per {RANGES[range].bucket}; at
          most {max} in one.
        </desc>
        {buckets.map((b, i) => (
          <g key={b.start}>
            <title>
              {time(b.start)}: {b.finished} finished, {b.failed} failed
            </title>
            <rect
              class="bar-finished"
              x={i * slot + 2}
              y={height - y(b.finished)}
              width={bar}
              height={y(b.finished)}
            />
            <rect
              class="bar-failed"
              x={i * slot + 2}
              y={height - y(b.finished) - y(b.failed)}
              width={bar}
              height={y(b.failed)}
            />
          </g>
        ))}
      </svg>
      <figcaption>
        <span class="key key-finished">finished</span> <span class="key key-failed">failed</span> per{' '}
        {RANGES[range].bucket}
        {buckets[0] && `, from ${time(buckets[0].start)}`}
      </figcaption>
    </figure>
  );
}
