/**
 * The Jobs page's view, read from and written to the address bar:
 * `state`, `type`, `q` (file name), `from`/`to` (creation dates), `sort`
 * (a column, `-` first for descending), `page` and `sel` (selected ids).
 * Filtering, counting and sorting of the known jobs happen here, apart from
 * any rendering, so that they read as what the page promises.
 */
import type { Job } from 'bsubio';
import { type ShownState, STATES, shownState, totalMs } from './job-model.js';

export const PAGE_SIZE = 25;
export const SORT_KEYS = ['created', 'name', 'type', 'state', 'duration', 'size'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface JobsView {
  state: ShownState | '';
  type: string;
  q: string;
  from: string;
  to: string;
  sort: SortKey;
  descending: boolean;
  page: number;
  selected: string[];
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function readView(query: URLSearchParams): JobsView {
  const state = query.get('state') ?? '';
  const sortText = query.get('sort') ?? '-created';
  const descending = sortText.startsWith('-');
  const sort = sortText.replace(/^-/, '') as SortKey;
  const page = Number(query.get('page') ?? '1');
  const date = (name: string) => {
    const value = query.get(name) ?? '';
    return DATE.test(value) ? value : '';
  };
  return {
    state: (STATES as readonly string[]).includes(state) ? (state as ShownState) : '',
    type: query.get('type') ?? '',
    q: query.get('q') ?? '',
    from: date('from'),
    to: date('to'),
    sort: SORT_KEYS.includes(sort) ? sort : 'created',
    descending: SORT_KEYS.includes(sort) ? descending : true,
    page: Number.isInteger(page) && page >= 1 ? page : 1,
    selected: (query.get('sel') ?? '').split(',').filter((id) => /^[0-9a-f-]{36}$/.test(id)),
  };
}

export function hasFilters(view: JobsView): boolean {
  return Boolean(view.state || view.type || view.q || view.from || view.to);
}

/** Start of a local calendar day, in ms. */
function dayStart(date: string): number {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(y!, m! - 1, d!).getTime();
}

/** Every filter but the state: the state tabs count what these leave. */
export function matchesFilters(job: Job, view: JobsView): boolean {
  if (view.type && job.type !== view.type) return false;
  if (view.q) {
    const needle = view.q.toLowerCase();
    const haystack = [job.input_name, job.name, job.id].filter(Boolean).join(' ').toLowerCase();
    if (!haystack.includes(needle)) return false;
  }
  const created = Date.parse(job.created_at);
  if (view.from && created < dayStart(view.from)) return false;
  if (view.to && created >= dayStart(view.to) + 24 * 3600e3) return false;
  return true;
}

export function countByState(jobs: Job[]): Record<ShownState | 'all', number> {
  const counts = Object.fromEntries([...STATES, 'all'].map((s) => [s, 0])) as Record<
    ShownState | 'all',
    number
  >;
  for (const job of jobs) {
    counts[shownState(job)]++;
    counts.all++;
  }
  return counts;
}

const STATE_ORDER = new Map(STATES.map((s, i) => [s, i]));

function compare(a: Job, b: Job, key: SortKey, now: number): number {
  switch (key) {
    case 'name':
      return (a.input_name ?? a.name ?? '').localeCompare(b.input_name ?? b.name ?? '');
    case 'type':
      return a.type.localeCompare(b.type);
    case 'state':
      return STATE_ORDER.get(shownState(a))! - STATE_ORDER.get(shownState(b))!;
    case 'duration':
      return totalMs(a, now) - totalMs(b, now);
    case 'size':
      return a.data_size - b.data_size;
    default:
      return a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id);
  }
}

export interface ViewResult {
  counts: Record<ShownState | 'all', number>;
  /** All that match, sorted. */
  matching: Job[];
  /** This page of them. */
  rows: Job[];
  pages: number;
  page: number;
}

export function applyView(all: Iterable<Job>, view: JobsView, now = Date.now()): ViewResult {
  const filtered = [...all].filter((job) => matchesFilters(job, view));
  const counts = countByState(filtered);
  const matching = view.state ? filtered.filter((job) => shownState(job) === view.state) : filtered;
  // Ties keep the newest first whatever the column.
  matching.sort((a, b) => {
    const order = compare(a, b, view.sort, now) || b.created_at.localeCompare(a.created_at);
    return view.descending ? -order : order;
  });
  const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
  const page = Math.min(view.page, pages);
  return { counts, matching, rows: matching.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE), pages, page };
}
