/**
 * The Overview: jobs per state now, throughput and failures over the last
 * hour or day (a chart), queue wait p50/p95, the workers that ran jobs and
 * when each was last seen, and counts per type — for this person's jobs.
 */
import { useMemo } from 'preact/hooks';
import { PageTitle } from '../components/page-title.js';
import { RelativeTime } from '../components/time.js';
import { formatDuration } from '../format.js';
import { STATES } from '../job-model.js';
import { indexState, jobs } from '../live.js';
import { computeOverview, type Overview, RANGES, type RangeName } from '../overview-stats.js';
import { route, withQuery } from '../router.js';

export function OverviewPage() {
  const range: RangeName = route.value.query.get('range') === 'day' ? 'day' : 'hour';
  const list = jobs.value;
  const stats = useMemo(() => computeOverview(list.values(), range), [list, range]);
  if (indexState.value === 'loading' && list.size === 0) {
    return (
      <>
        <PageTitle title="Overview" />
        <p class="loading">Loading…</p>
      </>
    );
  }
  return (
    <>
      <PageTitle title="Overview" />
      <section aria-labelledby="now-title">
        <h2 id="now-title">Jobs now</h2>
        <ul class="tiles">
          {STATES.map((state) => (
            <li key={state}>
              <a href={`/?state=${state}`} class={`tile state-${state}`}>
                <span class="tile-count">{stats.byState[state]}</span>
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
                  <a href={withQuery({ range: name === 'hour' ? undefined : name })} aria-current={name === range ? 'page' : undefined}>
                    {RANGES[name].label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        </div>
        <Chart stats={stats} range={range} />
        <dl class="figures">
          <div>
            <dt>Finished</dt>
            <dd>{stats.finished}</dd>
          </div>
          <div>
            <dt>Failed</dt>
            <dd>{stats.failed}</dd>
          </div>
          <div>
            <dt>Queue wait p50</dt>
            <dd>{formatDuration(stats.waitP50)}</dd>
          </div>
          <div>
            <dt>Queue wait p95</dt>
            <dd>{formatDuration(stats.waitP95)}</dd>
          </div>
        </dl>
      </section>
      <div class="two-columns">
        <section aria-labelledby="workers-title">
          <h2 id="workers-title">Workers seen</h2>
          {stats.workers.length === 0 ? (
            <p class="empty">No worker has run a job of yours yet.</p>
          ) : (
            <table class="cards-on-phone">
              <caption class="visually-hidden">Workers that ran your jobs</caption>
              <thead>
                <tr>
                  <th scope="col">Worker</th>
                  <th scope="col">Last seen</th>
                  <th scope="col">Jobs</th>
                </tr>
              </thead>
              <tbody>
                {stats.workers.map((w) => (
                  <tr key={w.id}>
                    <td data-label="Worker">
                      <code>{w.id}</code>
                    </td>
                    <td data-label="Last seen">
                      <RelativeTime iso={w.lastSeen} />
                    </td>
                    <td data-label="Jobs">{w.jobs}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section aria-labelledby="types-title">
          <h2 id="types-title">By type</h2>
          {stats.byType.length === 0 ? (
            <p class="empty">No jobs yet.</p>
          ) : (
            <table class="cards-on-phone">
              <caption class="visually-hidden">Your jobs per processing type</caption>
              <thead>
                <tr>
                  <th scope="col">Type</th>
                  <th scope="col">Jobs</th>
                  <th scope="col">Failed</th>
                </tr>
              </thead>
              <tbody>
                {stats.byType.map((t) => (
                  <tr key={t.type}>
                    <td data-label="Type">
                      <a href={`/?type=${encodeURIComponent(t.type)}`}>{t.type}</a>
                    </td>
                    <td data-label="Jobs">{t.total}</td>
                    <td data-label="Failed">{t.failed}</td>
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

/** Stacked bars per bucket, in SVG (no script, no chart library). */
function Chart({ stats, range }: { stats: Overview; range: RangeName }) {
  const max = Math.max(1, ...stats.buckets.map((b) => b.finished + b.failed));
  const width = 600;
  const height = 140;
  const slot = width / stats.buckets.length;
  const bar = Math.max(2, slot - 3);
  const y = (n: number) => (n / max) * (height - 16);
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="chart-desc" preserveAspectRatio="none">
        <desc id="chart-desc">
          {stats.finished} finished and {stats.failed} failed in the {RANGES[range].label}, per {RANGES[range].bucketLabel}; at most {max} in one.
        </desc>
        {stats.buckets.map((b, i) => (
          <g key={b.start}>
            <title>
              {new Date(b.start).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}: {b.finished} finished, {b.failed} failed
            </title>
            <rect class="bar-finished" x={i * slot} y={height - y(b.finished)} width={bar} height={y(b.finished)} />
            <rect class="bar-failed" x={i * slot} y={height - y(b.finished) - y(b.failed)} width={bar} height={y(b.failed)} />
          </g>
        ))}
      </svg>
      <figcaption>
        <span class="key key-finished">finished</span> <span class="key key-failed">failed</span> per {RANGES[range].bucketLabel}
      </figcaption>
    </figure>
  );
}
