/**
 * The Jobs list: live from the one event stream, with state tabs that count
 * (cancelled among them), search by file name, a date range, sortable
 * columns, bulk actions, and j/k, / and Enter on the keyboard. What it shows
 * is the address bar's query; every control changes the query.
 */
import type { Job } from 'bsubio';
import { useEffect, useMemo, useRef } from 'preact/hooks';
import { client, describe } from '../api.js';
import { now } from '../clock.js';
import { PageTitle } from '../components/page-title.js';
import { chainOf } from '../components/pipeline-steps.js';
import { StateBadge } from '../components/state-badge.js';
import { RelativeTime } from '../components/time.js';
import { formatBytes, formatDuration, plural } from '../format.js';
import {
  canCancel,
  failureReason,
  isTerminal,
  jobTitle,
  ranMs,
  STATES,
  totalMs,
  waitedMs,
} from '../job-model.js';
import { applyView, hasFilters, type JobsView, readView, type SortKey } from '../jobs-query.js';
import { forget, indexState, jobs, MAX_JOBS, reloadIndex, truncated } from '../live.js';
import { say, sayError } from '../messages.js';
import { navigate, route, withQuery } from '../router.js';
import { loadTypes, types } from '../types.js';

const COLUMNS: { key: SortKey | null; label: string }[] = [
  { key: 'name', label: 'Job' },
  { key: 'type', label: 'Type' },
  { key: 'state', label: 'State' },
  { key: 'created', label: 'Created' },
  { key: null, label: 'Waited' },
  { key: null, label: 'Ran' },
  { key: 'duration', label: 'Duration' },
  { key: 'size', label: 'Input' },
];

export function JobsPage() {
  const view = readView(route.value.query);
  const list = jobs.value;
  const result = useMemo(() => applyView(list.values(), view, Date.now()), [list, route.value]);
  const search = useRef<HTMLInputElement>(null);
  const table = useRef<HTMLTableElement>(null);
  useEffect(() => void loadTypes().catch(() => {}), []);

  const go = (changes: Record<string, string | undefined>, replace = false) =>
    navigate(withQuery(changes), { replace });

  // j/k move between rows, / goes to the search, Enter (on a row's link) opens it.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (target.closest('input, select, textarea, [contenteditable]')) return;
      if (event.key === '/') {
        event.preventDefault();
        search.current?.focus();
        return;
      }
      if (event.key !== 'j' && event.key !== 'k') return;
      const links = [...(table.current?.querySelectorAll<HTMLAnchorElement>('tbody a.job-link') ?? [])];
      if (links.length === 0) return;
      const at = links.indexOf(document.activeElement as HTMLAnchorElement);
      const next = at === -1 ? 0 : Math.max(0, Math.min(links.length - 1, at + (event.key === 'j' ? 1 : -1)));
      event.preventDefault();
      links[next]!.focus();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  const selected = new Set(view.selected.filter((id) => list.has(id)));
  const setSelection = (ids: Iterable<string>) => go({ sel: [...ids].join(',') || undefined }, true);
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelection(next);
  };
  const pageIds = result.rows.map((j) => j.id);
  const allOnPage = pageIds.length > 0 && pageIds.every((id) => selected.has(id));

  return (
    <>
      <div class="title-row">
        <PageTitle title="Jobs" />
        <a href="/upload" class="button">
          Upload
        </a>
      </div>
      <StateTabs view={view} counts={result.counts} />
      <search>
        <form class="filters" aria-label="Filter jobs" onSubmit={(e) => e.preventDefault()}>
          <div class="field">
            <label for="filter-q">File name</label>
            <input
              id="filter-q"
              ref={search}
              type="search"
              placeholder="Search  ( / )"
              value={view.q}
              onInput={(e) => go({ q: e.currentTarget.value, page: undefined, sel: undefined }, true)}
            />
          </div>
          <div class="field">
            <label for="filter-type">Type</label>
            <select
              id="filter-type"
              value={view.type}
              onChange={(e) => go({ type: e.currentTarget.value, page: undefined, sel: undefined })}
            >
              <option value="">Any type</option>
              {/* The URL's type is an option even before /v1/types answers, so a deep link keeps it. */}
              {view.type && !types.value?.some((t) => t.type === view.type) && (
                <option value={view.type}>{view.type}</option>
              )}
              {types.value?.map((t) => (
                <option key={t.type} value={t.type}>
                  {t.type}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="filter-from">From</label>
            <input
              id="filter-from"
              type="date"
              value={view.from}
              max={view.to || undefined}
              onChange={(e) => go({ from: e.currentTarget.value, page: undefined })}
            />
          </div>
          <div class="field">
            <label for="filter-to">To</label>
            <input
              id="filter-to"
              type="date"
              value={view.to}
              min={view.from || undefined}
              onChange={(e) => go({ to: e.currentTarget.value, page: undefined })}
            />
          </div>
          {hasFilters(view) && (
            <a class="clear" href="/">
              Clear filters
            </a>
          )}
        </form>
      </search>

      {selected.size > 0 && (
        <BulkBar selected={[...selected].map((id) => list.get(id)!)} clear={() => setSelection([])} />
      )}

      {indexState.value === 'loading' && list.size === 0 ? (
        <p class="loading">Loading jobs…</p>
      ) : indexState.value === 'error' && list.size === 0 ? (
        <p class="error">
          The jobs could not be loaded.{' '}
          <button type="button" class="link" onClick={() => void reloadIndex().catch(sayError)}>
            Try again
          </button>
        </p>
      ) : result.rows.length === 0 ? (
        <EmptyState view={view} anyJobs={list.size > 0} />
      ) : (
        <div class="table-wrap">
          <table class="jobs cards-on-phone" ref={table}>
            <caption class="visually-hidden">Your jobs</caption>
            <thead>
              <tr>
                <th scope="col" class="check">
                  <input
                    type="checkbox"
                    aria-label="Select all jobs on this page"
                    checked={allOnPage}
                    onChange={() =>
                      setSelection(
                        allOnPage
                          ? [...selected].filter((id) => !pageIds.includes(id))
                          : new Set([...selected, ...pageIds]),
                      )
                    }
                  />
                </th>
                {COLUMNS.map((column) => (
                  <SortHeader key={column.label} column={column} view={view} />
                ))}
              </tr>
            </thead>
            <tbody>
              {result.rows.map((job) => (
                <JobRow key={job.id} job={job} selected={selected.has(job.id)} toggle={toggle} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager view={view} pages={result.pages} page={result.page} total={result.matching.length} />
      {truncated.value && (
        <p class="hint">
          Only your newest {MAX_JOBS} jobs are listed and counted here; older ones are on the command line
          (bsubio jobs).
        </p>
      )}
    </>
  );
}

function StateTabs({ view, counts }: { view: JobsView; counts: ReturnType<typeof applyView>['counts'] }) {
  const tabs = [
    { state: '', label: 'All', count: counts.all },
    ...STATES.map((s) => ({ state: s, label: s, count: counts[s] })),
  ];
  return (
    <nav class="tabs" aria-label="Jobs by state">
      <ul>
        {tabs.map((tab) => (
          <li key={tab.state}>
            <a
              href={withQuery({ state: tab.state, page: undefined, sel: undefined })}
              aria-current={view.state === tab.state ? 'page' : undefined}
              data-state={tab.state || 'all'}
            >
              {tab.label} <span class="count">{tab.count}</span>
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

function SortHeader({ column, view }: { column: (typeof COLUMNS)[number]; view: JobsView }) {
  if (!column.key) return <th scope="col">{column.label}</th>;
  const active = view.sort === column.key;
  const descending = active
    ? !view.descending
    : column.key === 'created' || column.key === 'duration' || column.key === 'size';
  const next = `${descending ? '-' : ''}${column.key}`;
  return (
    <th scope="col" aria-sort={active ? (view.descending ? 'descending' : 'ascending') : undefined}>
      <a href={withQuery({ sort: next === '-created' ? undefined : next, page: undefined })} class="sort">
        {column.label}
        <span aria-hidden="true">{active ? (view.descending ? ' ▾' : ' ▴') : ''}</span>
        <span class="visually-hidden">, sort {descending ? 'descending' : 'ascending'}</span>
      </a>
    </th>
  );
}

function JobRow({ job, selected, toggle }: { job: Job; selected: boolean; toggle: (id: string) => void }) {
  const at = isTerminal(job) ? 0 : now.value;
  const reason = failureReason(job);
  return (
    <tr data-job={job.id} class={selected ? 'selected' : undefined}>
      <td class="check">
        <input
          type="checkbox"
          checked={selected}
          onChange={() => toggle(job.id)}
          aria-label={`Select ${jobTitle(job)}`}
        />
      </td>
      <td data-label="Job" class="job-cell">
        <a href={`/jobs/${job.id}`} class="job-link">
          {jobTitle(job)}
        </a>
        {reason && <span class="reason">{reason}</span>}
      </td>
      <td data-label="Type">{chainOf(job)}</td>
      <td data-label="State">
        <StateBadge job={job} />
      </td>
      <td data-label="Created">
        <RelativeTime iso={job.created_at} />
      </td>
      <td data-label="Waited">{formatDuration(waitedMs(job, at || Date.now()))}</td>
      <td data-label="Ran">{formatDuration(ranMs(job, at || Date.now()))}</td>
      <td data-label="Duration">{formatDuration(totalMs(job, at || Date.now()))}</td>
      <td data-label="Input">{formatBytes(job.data_size)}</td>
    </tr>
  );
}

function EmptyState({ view, anyJobs }: { view: JobsView; anyJobs: boolean }) {
  if (!anyJobs) {
    return (
      <div class="empty">
        <p>No jobs yet.</p>
        <p>
          <a href="/upload">Upload files</a> here, or from a terminal:{' '}
          <code>bsubio submit pdf/extract report.pdf</code>
        </p>
      </div>
    );
  }
  const what = [
    view.state && `${view.state}`,
    view.type && `of type ${view.type}`,
    view.q && `named like “${view.q}”`,
    (view.from || view.to) &&
      `created ${view.from ? `from ${view.from}` : ''}${view.to ? ` to ${view.to}` : ''}`,
  ].filter(Boolean);
  return (
    <div class="empty">
      <p>No {what.length ? `jobs ${what.join(', ')}` : 'jobs on this page'}.</p>
      <p>
        <a href="/">Clear filters</a>
      </p>
    </div>
  );
}

function Pager({ view, pages, page, total }: { view: JobsView; pages: number; page: number; total: number }) {
  if (total === 0) return null;
  const first = (page - 1) * 25 + 1;
  const last = Math.min(total, page * 25);
  return (
    <div class="pager">
      <p class="summary">
        {first}–{last} of {plural(total, 'job')}
      </p>
      {pages > 1 && (
        <nav aria-label="Pages">
          {page > 1 ? (
            <a
              class="button"
              href={withQuery({ page: page - 1 === 1 ? undefined : String(page - 1) })}
              rel="prev"
            >
              ← Newer
            </a>
          ) : null}
          <span class="page-no">
            Page {page} of {pages}
          </span>
          {page < pages ? (
            <a class="button" href={withQuery({ page: String(page + 1) })} rel="next">
              Older →
            </a>
          ) : null}
        </nav>
      )}
      {view.page > pages && <p class="hint">There is no page {view.page}; this is the last.</p>}
    </div>
  );
}

function BulkBar({ selected, clear }: { selected: Job[]; clear: () => void }) {
  const running = selected.filter(canCancel);
  const ended = selected.filter(isTerminal);
  const finished = selected.filter((j) => j.status === 'finished');

  const cancel = async () => {
    const results = await Promise.allSettled(running.map((j) => client.jobs.cancelJob(j.id)));
    report('cancelled', results);
  };
  const remove = async () => {
    if (!confirm(`Delete ${plural(ended.length, 'job')} with their input, output and logs?`)) return;
    const results = await Promise.allSettled(
      ended.map(async (j) => {
        await client.jobs.deleteJob(j.id);
        forget(j.id);
      }),
    );
    report('deleted', results);
    clear();
  };
  const download = () => {
    // One download per output; the browser may ask once to allow several.
    for (const job of finished) {
      const a = document.createElement('a');
      a.href = `/v1/jobs/${job.id}/output`;
      a.download = '';
      document.body.append(a);
      a.click();
      a.remove();
    }
    say(`Downloading ${plural(finished.length, 'output')}.`);
  };
  const report = (verb: string, results: PromiseSettledResult<unknown>[]) => {
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    if (failed.length === 0) say(`${plural(results.length, 'job')} ${verb}.`);
    else
      sayError(
        `${results.length - failed.length} of ${results.length} ${verb}; ${describe(failed[0]!.reason)}`,
      );
  };

  return (
    <section class="bulk" aria-label="Selected jobs">
      <span>{plural(selected.length, 'job')} selected</span>
      <button type="button" disabled={running.length === 0} onClick={() => void cancel()}>
        Cancel {running.length || ''}
      </button>
      <button type="button" class="danger" disabled={ended.length === 0} onClick={() => void remove()}>
        Delete {ended.length || ''}
      </button>
      <button type="button" disabled={finished.length === 0} onClick={download}>
        Download {finished.length || ''}
      </button>
      <button type="button" class="link" onClick={clear}>
        Clear selection
      </button>
    </section>
  );
}
