/**
 * The bsubio dashboard: one small script, no framework. Each view is a
 * function that fills <main> and returns how to stop what it started (event
 * streams). The session is an HttpOnly cookie the script never sees; every
 * request that changes something sends the CSRF header the server requires.
 * Types come from @bsubio/protocol (erased at build: nothing is imported at
 * run time, so the file is served as it is compiled).
 */
import type { Account, ApiKeyInfo, Job, ProcessingType } from '@bsubio/protocol';

/** protocol's CSRF_HEADER (a value, so not importable without a bundler). */
const CSRF_HEADER = 'x-bsubio-csrf';
const STATES = ['created', 'loaded', 'pending', 'claimed', 'preparing', 'processing', 'finished', 'failed'];
const TERMINAL = new Set(['finished', 'failed']);
const PAGE_SIZE = 20;
const PREVIEW_BYTES = 1_000_000;

type Cleanup = () => void;
type Child = Node | string | null | undefined | false;

const main = document.getElementById('main') as HTMLElement;
const statusBox = document.getElementById('status') as HTMLElement;
let account: Account | undefined;
let stopView: Cleanup | undefined;
let typesCache: Promise<ProcessingType[]> | undefined;

// ---- small helpers ---------------------------------------------------------------

/** Builds an element; text is always text, never parsed as HTML. */
function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | number | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** Says something to screen readers (and shows it) without moving focus. */
function announce(message: string, kind: 'info' | 'error' = 'info'): void {
  statusBox.textContent = '';
  statusBox.className = `status ${kind}`;
  // A fresh text node after clearing makes screen readers read repeats too.
  setTimeout(() => {
    statusBox.textContent = message;
  }, 50);
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function api<T>(path: string, init: { method?: string; json?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = { [CSRF_HEADER]: '1' };
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method: init.method ?? 'GET',
    headers,
    credentials: 'same-origin',
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
  });
  if (response.status === 204) return undefined as T;
  const body = (await response.json().catch(() => ({}))) as { error?: string };
  if (!response.ok) {
    if (response.status === 401 && account && !path.startsWith('/v1/auth/session')) {
      account = undefined;
      go(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    }
    throw new HttpError(response.status, body.error ?? `The server answered ${response.status}.`);
  }
  return body as T;
}

function types(): Promise<ProcessingType[]> {
  typesCache ??= fetch('/v1/types')
    .then((r) => r.json() as Promise<{ types: ProcessingType[] }>)
    .then((r) => r.types);
  return typesCache;
}

function formatTime(value: string | null | undefined): string {
  if (!value) return '—';
  return new Date(value).toLocaleString();
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function stateBadge(state: string): HTMLElement {
  return h('span', { class: `badge state-${state}` }, state);
}

function jobTitle(job: Job): string {
  return job.name || job.input_name || job.id.slice(0, 8);
}

/** Sets the view's heading and moves focus there, so a screen reader announces the new page. */
function heading(text: string): HTMLHeadingElement {
  const h1 = h('h1', { tabindex: -1 }, text);
  queueMicrotask(() => h1.focus());
  return h1;
}

// ---- routing ----------------------------------------------------------------------

function go(path: string): void {
  history.pushState(null, '', path);
  void render();
}

document.addEventListener('click', (event) => {
  const link = (event.target as Element).closest?.('a[data-link]') as HTMLAnchorElement | null;
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  go(link.getAttribute('href') ?? '/');
});
window.addEventListener('popstate', () => void render());

document.getElementById('signout')?.addEventListener('click', async () => {
  await api('/v1/auth/session', { method: 'DELETE' }).catch(() => undefined);
  account = undefined;
  announce('Signed out.');
  go('/login');
});

async function render(): Promise<void> {
  stopView?.();
  stopView = undefined;
  const path = location.pathname;
  if (!account && path !== '/login') {
    try {
      account = (await api<{ data: Account }>('/v1/auth/session')).data;
    } catch {
      go(`/login?next=${encodeURIComponent(path + location.search)}`);
      return;
    }
  }
  const nav = document.getElementById('nav') as HTMLElement;
  nav.hidden = !account;
  (document.getElementById('who') as HTMLElement).textContent = account?.email ?? '';
  for (const link of nav.querySelectorAll('a')) {
    const here = link.getAttribute('href') === path;
    if (here) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  main.replaceChildren();
  const jobMatch = /^\/jobs\/([0-9a-f-]{36})$/.exec(path);
  if (path === '/login') stopView = loginView();
  else if (path === '/upload') stopView = uploadView();
  else if (path === '/keys') stopView = keysView();
  else if (path === '/device') stopView = deviceView();
  else if (jobMatch) stopView = jobView(jobMatch[1]!);
  else stopView = jobsView();
}

// ---- sign in ------------------------------------------------------------------------

function loginView(): Cleanup {
  document.title = 'Sign in · bsubio';
  const next = new URLSearchParams(location.search).get('next');
  const target = next?.startsWith('/') && !next.startsWith('//') ? next : '/';
  const error = h('p', { class: 'error', id: 'login-error', hidden: true });

  const signIn = async (body: object, form: HTMLFormElement) => {
    const button = form.querySelector('button') as HTMLButtonElement;
    button.disabled = true;
    error.hidden = true;
    try {
      account = (await api<{ data: Account }>('/v1/auth/session', { method: 'POST', json: body })).data;
      announce(`Signed in as ${account.email}.`);
      go(target);
    } catch (err) {
      error.textContent = (err as Error).message;
      error.hidden = false;
      announce((err as Error).message, 'error');
    } finally {
      button.disabled = false;
    }
  };

  const passwordForm = h(
    'form',
    { 'aria-labelledby': 'pw-title', 'aria-describedby': 'login-error' },
    h('h2', { id: 'pw-title' }, 'With email and password'),
    h('label', { for: 'email' }, 'Email'),
    h('input', { id: 'email', name: 'email', type: 'email', autocomplete: 'username', required: true }),
    h('label', { for: 'password' }, 'Password'),
    h('input', {
      id: 'password',
      name: 'password',
      type: 'password',
      autocomplete: 'current-password',
      required: true,
    }),
    h('button', { type: 'submit' }, 'Sign in'),
  );
  passwordForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(passwordForm);
    void signIn({ email: data.get('email'), password: data.get('password') }, passwordForm);
  });

  const keyForm = h(
    'form',
    { 'aria-labelledby': 'key-title' },
    h('h2', { id: 'key-title' }, 'With an API key'),
    h('label', { for: 'api-key' }, 'API key'),
    h('input', {
      id: 'api-key',
      name: 'api_key',
      type: 'password',
      autocomplete: 'off',
      placeholder: 'bsub_…',
      required: true,
    }),
    h('button', { type: 'submit' }, 'Sign in with key'),
  );
  keyForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void signIn({ api_key: new FormData(keyForm).get('api_key') }, keyForm);
  });

  main.append(
    heading('Sign in to bsubio'),
    error,
    h('div', { class: 'cards' }, passwordForm, keyForm),
    h(
      'p',
      { class: 'hint' },
      'An operator sets a password with ',
      h('code', {}, 'bsubio-server user add <email> --password'),
      '.',
    ),
  );
  return () => {};
}

// ---- jobs table -------------------------------------------------------------------------

function jobsView(): Cleanup {
  document.title = 'Jobs · bsubio';
  const params = new URLSearchParams(location.search);
  const streams = new Map<string, EventSource>();
  const closeStreams = () => {
    for (const stream of streams.values()) stream.close();
    streams.clear();
  };
  /** Cursors of the pages before this one, for "Newer". */
  const cursors: (string | null)[] = [];
  let cursor: string | null = null;

  const statusSelect = h(
    'select',
    { id: 'filter-status', name: 'status' },
    h('option', { value: '' }, 'Any state'),
    ...STATES.map((s) => h('option', { value: s, selected: params.get('status') === s }, s)),
  );
  const typeSelect = h('select', { id: 'filter-type', name: 'type' }, h('option', { value: '' }, 'Any type'));
  void types().then((list) => {
    for (const t of list) {
      typeSelect.append(h('option', { value: t.type, selected: params.get('type') === t.type }, t.type));
    }
  });
  const filters = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter jobs' },
    h('label', { for: 'filter-status' }, 'State'),
    statusSelect,
    h('label', { for: 'filter-type' }, 'Type'),
    typeSelect,
  );
  const onFilter = () => {
    const query = new URLSearchParams();
    if (statusSelect.value) query.set('status', statusSelect.value);
    if (typeSelect.value) query.set('type', typeSelect.value);
    history.replaceState(null, '', query.size ? `/?${query}` : '/');
    cursors.length = 0;
    cursor = null;
    void load();
  };
  statusSelect.addEventListener('change', onFilter);
  typeSelect.addEventListener('change', onFilter);

  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'jobs' },
    h('caption', { class: 'visually-hidden' }, 'Your jobs, newest first'),
    h(
      'thead',
      {},
      h('tr', {}, ...['Job', 'Type', 'State', 'Created', 'Size'].map((c) => h('th', { scope: 'col' }, c))),
    ),
    tbody,
  );
  const summary = h('p', { class: 'summary' });
  const newer = h('button', { type: 'button', disabled: true }, '← Newer');
  const older = h('button', { type: 'button', disabled: true }, 'Older →');
  newer.addEventListener('click', () => {
    cursor = cursors.pop() ?? null;
    void load();
  });
  let nextCursor: string | null = null;
  older.addEventListener('click', () => {
    cursors.push(cursor);
    cursor = nextCursor;
    void load();
  });

  const row = (job: Job) => {
    const stateCell = h('td', { 'data-label': 'State' }, stateBadge(job.status));
    const tr = h(
      'tr',
      { 'data-job': job.id },
      h('td', { 'data-label': 'Job' }, h('a', { href: `/jobs/${job.id}`, 'data-link': true }, jobTitle(job))),
      h('td', { 'data-label': 'Type' }, job.type),
      stateCell,
      h('td', { 'data-label': 'Created' }, formatTime(job.created_at)),
      h('td', { 'data-label': 'Size' }, formatBytes(job.data_size)),
    );
    if (!TERMINAL.has(job.status)) {
      // Live state: the job's event stream, closed once it ends.
      const stream = new EventSource(`/v1/jobs/${job.id}/events`);
      stream.addEventListener('status', (event) => {
        const changed = JSON.parse((event as MessageEvent).data as string) as Job;
        stateCell.replaceChildren(stateBadge(changed.status));
        if (TERMINAL.has(changed.status)) {
          stream.close();
          streams.delete(job.id);
          announce(`Job ${jobTitle(changed)} ${changed.status}.`);
        }
      });
      streams.set(job.id, stream);
    }
    return tr;
  };

  const load = async () => {
    closeStreams();
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (statusSelect.value) query.set('status', statusSelect.value);
    if (typeSelect.value) query.set('type', typeSelect.value);
    if (cursor) query.set('cursor', cursor);
    try {
      const { data } = await api<{ data: { jobs: Job[]; total: number; next_cursor: string | null } }>(
        `/v1/jobs?${query}`,
      );
      tbody.replaceChildren(...data.jobs.map(row));
      if (data.jobs.length === 0) {
        tbody.append(
          h(
            'tr',
            {},
            h(
              'td',
              { colspan: 5 },
              'No jobs here yet. ',
              h('a', { href: '/upload', 'data-link': true }, 'Upload files'),
            ),
          ),
        );
      }
      nextCursor = data.next_cursor;
      const first = cursors.length * PAGE_SIZE;
      summary.textContent = data.total
        ? `Jobs ${first + 1}–${first + data.jobs.length} of ${data.total}`
        : 'No jobs match.';
      newer.disabled = cursors.length === 0;
      older.disabled = !nextCursor;
    } catch (err) {
      announce((err as Error).message, 'error');
    }
  };

  main.append(
    h(
      'div',
      { class: 'title-row' },
      heading('Jobs'),
      h('a', { href: '/upload', 'data-link': true, class: 'button' }, 'Upload'),
    ),
    filters,
    h('div', { class: 'table-wrap' }, table),
    h('div', { class: 'pager' }, summary, h('div', {}, newer, older)),
  );
  void load();
  return closeStreams;
}

// ---- upload -----------------------------------------------------------------------------

function uploadFile(jobId: string, token: string, file: File, progress: HTMLProgressElement): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/v1/upload/${jobId}?token=${encodeURIComponent(token)}`);
    xhr.setRequestHeader(CSRF_HEADER, '1');
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) {
        progress.max = event.total;
        progress.value = event.loaded;
      }
    });
    xhr.addEventListener('load', () => {
      if (xhr.status === 200) {
        progress.value = progress.max;
        resolve();
      } else {
        let message = `The upload failed with ${xhr.status}.`;
        try {
          message = (JSON.parse(xhr.responseText) as { error: string }).error;
        } catch {}
        reject(new Error(message));
      }
    });
    xhr.addEventListener('error', () => reject(new Error('The upload was interrupted (network error).')));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

function uploadView(): Cleanup {
  document.title = 'Upload · bsubio';
  let files: File[] = [];
  const typeSelect = h('select', {
    id: 'upload-type',
    name: 'type',
    required: true,
    'aria-describedby': 'type-help',
  });
  const typeHelp = h('p', { id: 'type-help', class: 'hint' });
  void types().then((list) => {
    for (const t of list) {
      const available = (t as { available?: boolean }).available !== false;
      typeSelect.append(
        h(
          'option',
          { value: t.type, disabled: !available },
          `${t.type} — ${t.name}${available ? '' : ' (not installed)'}`,
        ),
      );
    }
    const describe = () => {
      const t = list.find((x) => x.type === typeSelect.value);
      typeHelp.textContent = t ? `${t.description} Accepts ${t.input.mime_in.join(', ')}.` : '';
    };
    typeSelect.addEventListener('change', describe);
    describe();
  });

  const fileInput = h('input', {
    id: 'files',
    name: 'files',
    type: 'file',
    multiple: true,
    class: 'visually-hidden',
  });
  const list = h('ul', { class: 'files', 'aria-label': 'Chosen files' });
  const showFiles = () => {
    list.replaceChildren(
      ...files.map((file, i) =>
        h(
          'li',
          { 'data-file': i },
          h('span', { class: 'name' }, `${file.name} (${formatBytes(file.size)})`),
          h('progress', { max: 1, value: 0, 'aria-label': `Upload of ${file.name}` }),
          h('span', { class: 'outcome' }),
        ),
      ),
    );
    submit.disabled = files.length === 0;
  };
  const addFiles = (chosen: FileList | null) => {
    if (!chosen) return;
    files = [...files, ...chosen];
    showFiles();
    announce(`${files.length} file${files.length === 1 ? '' : 's'} chosen.`);
  };
  fileInput.addEventListener('change', () => addFiles(fileInput.files));

  const drop = h(
    'div',
    { class: 'drop', id: 'drop' },
    h('p', {}, 'Drop files here, or'),
    h('label', { for: 'files', class: 'button' }, 'Choose files…'),
    fileInput,
  );
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    addFiles(event.dataTransfer?.files ?? null);
  });

  const submit = h('button', { type: 'submit', disabled: true }, 'Upload and submit');
  const form = h(
    'form',
    { class: 'upload' },
    h('label', { for: 'upload-type' }, 'Processing type'),
    typeSelect,
    typeHelp,
    drop,
    list,
    submit,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    const type = typeSelect.value;
    let done = 0;
    await Promise.all(
      files.map(async (file, i) => {
        const item = list.querySelector(`[data-file="${i}"]`) as HTMLElement;
        const progress = item.querySelector('progress') as HTMLProgressElement;
        const outcome = item.querySelector('.outcome') as HTMLElement;
        try {
          const { data: job } = await api<{ data: Job }>('/v1/jobs', { method: 'POST', json: { type } });
          await uploadFile(job.id, job.upload_token!, file, progress);
          await api(`/v1/jobs/${job.id}/submit`, { method: 'POST' });
          outcome.replaceChildren(
            h('a', { href: `/jobs/${job.id}`, 'data-link': true }, 'submitted — view job'),
          );
          done++;
        } catch (err) {
          outcome.textContent = (err as Error).message;
          outcome.classList.add('error');
        }
      }),
    );
    announce(
      `${done} of ${files.length} file${files.length === 1 ? '' : 's'} submitted as ${type}.`,
      done === files.length ? 'info' : 'error',
    );
    files = [];
  });

  main.append(heading('Upload files'), form);
  return () => {};
}

// ---- one job --------------------------------------------------------------------------------

function jobView(id: string): Cleanup {
  document.title = 'Job · bsubio';
  let stream: EventSource | undefined;
  let objectUrl: string | undefined;
  const title = heading('Job');
  const details = h('dl', { class: 'details' });
  const actions = h('div', { class: 'actions' });
  const preview = h(
    'section',
    { 'aria-labelledby': 'output-title', class: 'preview' },
    h('h2', { id: 'output-title' }, 'Output'),
  );
  const logs = h('pre', { class: 'logs', id: 'logs', tabindex: 0, 'aria-label': 'Logs' });
  main.append(
    title,
    details,
    actions,
    preview,
    h('section', { 'aria-labelledby': 'logs-title' }, h('h2', { id: 'logs-title' }, 'Logs (stderr)'), logs),
  );

  const show = async (job: Job) => {
    title.textContent = jobTitle(job);
    document.title = `${jobTitle(job)} · bsubio`;
    const fields: [string, Node | string][] = [
      ['State', stateBadge(job.status)],
      ['Type', job.type],
      ['Id', job.id],
      ['Input', `${job.input_name ?? '—'} (${formatBytes(job.data_size)})`],
      ['Created', formatTime(job.created_at)],
      ['Finished', formatTime(job.finished_at)],
    ];
    if (job.error_code) fields.push(['Error', `${job.error_code}: ${job.error_message ?? ''}`]);
    details.replaceChildren(...fields.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));

    actions.replaceChildren();
    if (!TERMINAL.has(job.status)) {
      const cancel = h('button', { type: 'button', class: 'danger' }, 'Cancel job');
      cancel.addEventListener('click', async () => {
        cancel.disabled = true;
        try {
          await api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
          announce('Job cancelled.');
          await refresh();
        } catch (err) {
          announce((err as Error).message, 'error');
          cancel.disabled = false;
        }
      });
      actions.append(cancel);
    } else {
      if (job.status === 'finished') {
        actions.append(
          h('a', { class: 'button', href: `/v1/jobs/${id}/output`, download: true }, 'Download output'),
        );
      }
      const remove = h('button', { type: 'button', class: 'danger' }, 'Delete job');
      remove.addEventListener('click', async () => {
        if (!confirm('Delete this job with its input, output and logs?')) return;
        try {
          await api(`/v1/jobs/${id}`, { method: 'DELETE' });
          announce('Job deleted.');
          go('/');
        } catch (err) {
          announce((err as Error).message, 'error');
        }
      });
      actions.append(remove);
    }
    if (job.status === 'finished') await showOutput(job);
    else {
      preview.replaceChildren(
        preview.firstChild!,
        h(
          'p',
          {},
          job.status === 'failed'
            ? 'Failed jobs have no output; see the logs.'
            : 'The output shows here when the job finishes.',
        ),
      );
    }
  };

  const showOutput = async (job: Job) => {
    const type = (await types()).find((t) => t.type === job.type);
    const display = type?.output.display ?? 'download';
    const url = `/v1/jobs/${id}/output`;
    const body: Node[] = [];
    const response = await fetch(url, { credentials: 'same-origin' });
    if (!response.ok) {
      preview.replaceChildren(
        preview.firstChild!,
        h('p', { class: 'error' }, `The output could not be read (${response.status}).`),
      );
      return;
    }
    if (display === 'text' || display === 'json') {
      let text = await response.text();
      const cut = text.length > PREVIEW_BYTES;
      if (cut) text = text.slice(0, PREVIEW_BYTES);
      if (display === 'json' && !cut) {
        try {
          text = JSON.stringify(JSON.parse(text), null, 2);
        } catch {}
      }
      body.push(h('pre', { class: 'output', tabindex: 0, 'aria-label': 'Output' }, text));
      if (cut)
        body.push(
          h('p', { class: 'hint' }, 'Only the first megabyte is shown; download the output for all of it.'),
        );
    } else if (['image', 'pdf', 'audio', 'video', 'html'].includes(display)) {
      const blob = await response.blob();
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      objectUrl = URL.createObjectURL(blob);
      if (display === 'image') body.push(h('img', { src: objectUrl, alt: `Output of ${jobTitle(job)}` }));
      else if (display === 'pdf')
        body.push(h('iframe', { src: objectUrl, title: `PDF output of ${jobTitle(job)}`, class: 'pdf' }));
      else if (display === 'audio') body.push(h('audio', { src: objectUrl, controls: true }));
      else if (display === 'video') body.push(h('video', { src: objectUrl, controls: true }));
      // HTML output runs nothing: a sandboxed frame with no scripts and no same-origin rights.
      else
        body.push(
          h('iframe', {
            src: objectUrl,
            sandbox: '',
            title: `HTML output of ${jobTitle(job)}`,
            class: 'html',
          }),
        );
    } else {
      body.push(h('p', {}, 'This output is not shown here; download it.'));
    }
    preview.replaceChildren(preview.firstChild!, ...body);
  };

  const loadLogs = async () => {
    const response = await fetch(`/v1/jobs/${id}/logs`, { credentials: 'same-origin' });
    if (!response.ok) return;
    const text = await response.text();
    // Keep the lines already streamed if the stored log is shorter (a cancelled run's tail).
    if (text.length >= (logs.textContent ?? '').length) logs.textContent = text;
    if (!logs.textContent) logs.textContent = '(no log lines)';
  };

  const refresh = async () => {
    try {
      const { data: job } = await api<{ data: Job }>(`/v1/jobs/${id}`);
      await show(job);
      return job;
    } catch (err) {
      announce((err as Error).message, 'error');
      if ((err as HttpError).status === 404)
        main.replaceChildren(heading('No such job'), h('p', {}, 'It may have been deleted.'));
      return undefined;
    }
  };

  void refresh().then(async (job) => {
    if (!job) return;
    if (TERMINAL.has(job.status)) return loadLogs();
    logs.textContent = '';
    stream = new EventSource(`/v1/jobs/${id}/events`);
    stream.addEventListener('log', (event) => {
      logs.append(`${(event as MessageEvent).data as string}\n`);
    });
    stream.addEventListener('status', (event) => {
      const changed = JSON.parse((event as MessageEvent).data as string) as Job;
      if (TERMINAL.has(changed.status)) {
        stream?.close();
        announce(`Job ${changed.status}.`);
        void loadLogs();
      }
      void show(changed);
    });
  });
  return () => {
    stream?.close();
    if (objectUrl) URL.revokeObjectURL(objectUrl);
  };
}

// ---- API keys -------------------------------------------------------------------------------

function keysView(): Cleanup {
  document.title = 'API keys · bsubio';
  const tbody = h('tbody');
  const created = h('div', { id: 'new-key', hidden: true, class: 'new-key' });
  const load = async () => {
    const { data } = await api<{ data: { keys: ApiKeyInfo[] } }>('/v1/auth/keys');
    tbody.replaceChildren(
      ...data.keys.map((key) => {
        const revoke = h(
          'button',
          { type: 'button', class: 'danger', 'aria-label': `Revoke key bsub_${key.prefix}` },
          'Revoke',
        );
        revoke.addEventListener('click', async () => {
          if (!confirm(`Revoke bsub_${key.prefix}_…? Programs using it stop working.`)) return;
          try {
            await api(`/v1/auth/keys/${key.id}`, { method: 'DELETE' });
            announce(`Key bsub_${key.prefix} revoked.`);
            await load();
          } catch (err) {
            announce((err as Error).message, 'error');
          }
        });
        return h(
          'tr',
          { 'data-key': key.prefix },
          h('td', { 'data-label': 'Key' }, h('code', {}, `bsub_${key.prefix}_…`)),
          h('td', { 'data-label': 'Label' }, key.label ?? '—'),
          h('td', { 'data-label': 'Created' }, formatTime(key.created_at)),
          h('td', { 'data-label': 'Last used' }, key.last_used_at ? formatTime(key.last_used_at) : 'never'),
          h('td', {}, revoke),
        );
      }),
    );
  };
  const form = h(
    'form',
    { class: 'inline' },
    h('label', { for: 'key-label' }, 'Label'),
    h('input', { id: 'key-label', name: 'label', placeholder: 'e.g. laptop, CI', maxlength: 100 }),
    h('button', { type: 'submit' }, 'Create key'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const { data } = await api<{ data: { api_key: string } }>('/v1/auth/keys', {
        method: 'POST',
        json: { label: new FormData(form).get('label') },
      });
      const value = h('input', {
        id: 'new-key-value',
        readonly: true,
        value: data.api_key,
        'aria-label': 'New API key',
      });
      const copy = h('button', { type: 'button' }, 'Copy');
      copy.addEventListener('click', () => {
        void navigator.clipboard?.writeText(data.api_key).then(() => announce('Key copied.'));
      });
      created.replaceChildren(
        h('h2', {}, 'Your new key'),
        h('p', {}, 'It is shown only this once: copy it now.'),
        h('div', { class: 'copy-row' }, value, copy),
      );
      created.hidden = false;
      form.reset();
      announce('Key created. It is shown only once.');
      value.focus();
      value.select();
      await load();
    } catch (err) {
      announce((err as Error).message, 'error');
    }
  });
  main.append(
    heading('API keys'),
    form,
    created,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        {},
        h('caption', { class: 'visually-hidden' }, 'Your active API keys'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['Key', 'Label', 'Created', 'Last used', ''].map((c) => h('th', { scope: 'col' }, c)),
          ),
        ),
        tbody,
      ),
    ),
  );
  void load().catch((err: Error) => announce(err.message, 'error'));
  return () => {};
}

// ---- device approval --------------------------------------------------------------------------

function deviceView(): Cleanup {
  document.title = 'Approve a device · bsubio';
  const input = h('input', {
    id: 'user-code',
    name: 'code',
    autocomplete: 'off',
    autocapitalize: 'characters',
    placeholder: 'ABCD-EFGH',
    required: true,
    value: new URLSearchParams(location.search).get('code') ?? '',
  });
  const result = h('div', { id: 'device-result' });
  const form = h(
    'form',
    { class: 'inline' },
    h('label', { for: 'user-code' }, 'Code shown by bsubio register'),
    input,
    h('button', { type: 'submit' }, 'Look up'),
  );
  const decide = async (code: string, approve: boolean) => {
    try {
      await api('/v1/auth/device/approve', { method: 'POST', json: { user_code: code, approve } });
      const message = approve
        ? 'Approved. The command line is signed in; you can close this page.'
        : 'Denied. The command line was not signed in.';
      result.replaceChildren(h('p', { class: approve ? 'ok' : 'error' }, message));
      announce(message);
    } catch (err) {
      announce((err as Error).message, 'error');
    }
  };
  const lookUp = async () => {
    try {
      const { data } = await api<{ data: { user_code: string; hostname: string; created_at: string } }>(
        `/v1/auth/device?code=${encodeURIComponent(input.value)}`,
      );
      const approve = h('button', { type: 'button' }, 'Approve');
      const deny = h('button', { type: 'button', class: 'danger' }, 'Deny');
      approve.addEventListener('click', () => void decide(data.user_code, true));
      deny.addEventListener('click', () => void decide(data.user_code, false));
      result.replaceChildren(
        h(
          'p',
          {},
          'Sign in ',
          h('strong', {}, data.hostname),
          ` as ${account?.email ?? 'you'}? It asked at ${formatTime(data.created_at)} with code `,
          h('code', {}, data.user_code),
          '. Approve only if you started bsubio register there.',
        ),
        h('div', { class: 'actions' }, approve, deny),
      );
      approve.focus();
    } catch (err) {
      result.replaceChildren(h('p', { class: 'error' }, (err as Error).message));
      announce((err as Error).message, 'error');
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void lookUp();
  });
  main.append(
    heading('Approve a device'),
    h(
      'p',
      {},
      'Run ',
      h('code', {}, 'bsubio register'),
      ' on the machine to sign in, then enter the code it shows.',
    ),
    form,
    result,
  );
  if (input.value) void lookUp();
  return () => {};
}

void render();
