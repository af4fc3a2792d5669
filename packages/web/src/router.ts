/**
 * The router: the address bar is the only source of truth for what a page
 * shows (filters, type, page, selection). Pages read `route.value` and change
 * the view by changing the URL, so reload, deep links and Back/Forward always
 * give the same view. Links are ordinary <a href> elements; a click on one
 * inside the app is turned into pushState here, once, for every page.
 */
import { computed, signal } from '@preact/signals';

export interface Location {
  path: string;
  query: URLSearchParams;
}

const current = signal(read());

export const route = computed<Location>(() => current.value);

function read(): Location {
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/** Listeners told before the view changes (e.g. to clear the last page's messages). */
const beforeChange = new Set<() => void>();
export function onNavigate(listener: () => void): () => void {
  beforeChange.add(listener);
  return () => beforeChange.delete(listener);
}

/** Go to a same-origin address; `replace` keeps one history entry (typing in a search box). */
export function navigate(href: string, { replace = false } = {}): void {
  const url = new URL(href, location.origin);
  if (url.origin !== location.origin) throw new Error(`Not an address of this site: ${href}`);
  const target = url.pathname + url.search + url.hash;
  if (target === location.pathname + location.search + location.hash) return;
  const pathChanged = url.pathname !== location.pathname;
  if (replace) history.replaceState(null, '', target);
  else history.pushState(null, '', target);
  if (pathChanged) for (const listener of beforeChange) listener();
  current.value = read();
}

/** The same page with some query parameters changed (`undefined` or '' removes one). */
export function withQuery(changes: Record<string, string | undefined>, base = route.value): string {
  const query = new URLSearchParams(base.query);
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined || value === '') query.delete(key);
    else query.set(key, value);
  }
  const text = queryText(query);
  return text ? `${base.path}?${text}` : base.path;
}

/** A query string that leaves `/` and `,` readable (`type=pdf/extract`, `sel=a,b`): both are allowed there. */
export function queryText(query: URLSearchParams): string {
  return query.toString().replace(/%2F/gi, '/').replace(/%2C/gi, ',');
}

/**
 * Where to go after signing in: only a path of this site. `next` comes from
 * the address bar, so anyone can craft it: `//evil.example` and
 * `/\evil.example` are other hosts to a browser, and must not be followed.
 */
export function safeNext(next: string | null): string {
  if (!next?.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  try {
    // Encoded, the same tricks (`/%5Cevil.example`, `/%2F%2Fevil`) may be decoded by something later.
    const decoded = decodeURIComponent(next);
    if (decoded.startsWith('//') || decoded.startsWith('/\\')) return '/';
    const url = new URL(next, location.origin);
    if (url.origin !== location.origin) return '/';
    if (url.pathname === '/login') return '/';
    return url.pathname + url.search + url.hash;
  } catch {
    return '/';
  }
}

export function startRouter(): void {
  window.addEventListener('popstate', () => {
    const pathChanged = location.pathname !== current.value.path;
    if (pathChanged) for (const listener of beforeChange) listener();
    current.value = read();
  });
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    const link = (event.target as Element).closest?.('a[href]') as HTMLAnchorElement | null;
    if (!link || link.target || link.hasAttribute('download')) return;
    // In-page anchors (the skip link) are the browser's: it scrolls and moves focus.
    if (link.getAttribute('href')?.startsWith('#')) return;
    const url = new URL(link.href);
    // The API and its files (downloads, the OpenAPI document) are not pages.
    if (
      url.origin !== location.origin ||
      url.pathname.startsWith('/v1/') ||
      url.pathname.startsWith('/static/')
    )
      return;
    event.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
}
