/**
 * Upload files: each gets a type, proposed from the kind its bytes show, and
 * that type's parameters. A file its type cannot take is refused here, with
 * the reason, before anything is uploaded. The SDK's createAndSubmit uploads
 * each; when an upload fails it cancels and deletes the job it created, so no
 * half-made job is left in the list. The chosen files live in a module
 * signal, so a trip to the sign-in page (session lost) does not lose them.
 */
import { signal } from '@preact/signals';
import type { ProcessingType } from 'bsubio';
import { useEffect, useRef } from 'preact/hooks';
import { client, describe, jobInput } from '../api.js';
import { PageTitle } from '../components/page-title.js';
import { ParamsForm, type ParamValues, paramsToSend } from '../components/params-form.js';
import { formatBytes, plural } from '../format.js';
import { remember } from '../live.js';
import { say } from '../messages.js';
import { navigate, route, withQuery } from '../router.js';
import { acceptAttribute, accepts, describeAccepted, proposeType, type Sniffed, sniff } from '../sniff.js';
import { findType, isAvailable, loadTypes, types } from '../types.js';

interface Entry {
  key: number;
  file: File;
  sniffed: Sniffed | undefined;
  type: string;
  params: ParamValues;
  state: 'ready' | 'uploading' | 'done' | 'failed';
  message?: string;
  jobId?: string;
}

const entries = signal<Entry[]>([]);
let nextKey = 1;
const PARALLEL = 3;

function update(key: number, change: Partial<Entry>): void {
  entries.value = entries.value.map((e) => (e.key === key ? { ...e, ...change } : e));
}

/** Why `entry` cannot be sent as it is, or undefined when it can. */
function refusal(entry: Entry): string | undefined {
  const type = findType(entry.type);
  if (!entry.type) return 'Choose a processing type for this file.';
  if (!type) return `There is no type ${entry.type} on this server.`;
  if (!isAvailable(type)) return `${type.type} is not installed on this server.`;
  if (entry.sniffed && !accepts(type, entry.sniffed.mime)) {
    return `${entry.file.name} is ${entry.sniffed.label}; ${type.type} takes ${describeAccepted(type.input.mime_in)}.`;
  }
  return undefined;
}

export function UploadPage() {
  const chosenType = route.value.query.get('type') ?? '';
  const fileInput = useRef<HTMLInputElement>(null);
  useEffect(() => void loadTypes().catch(() => {}), []);

  const addFiles = async (files: FileList | File[] | null | undefined) => {
    const list = [...(files ?? [])];
    if (list.length === 0) return;
    const added: Entry[] = list.map((file) => ({
      key: nextKey++,
      file,
      sniffed: undefined,
      type: chosenType,
      params: {},
      state: 'ready',
    }));
    entries.value = [...entries.value.filter((e) => e.state !== 'done'), ...added];
    say(`${plural(list.length, 'file')} added.`);
    await loadTypes().catch(() => {});
    for (const entry of added) {
      const sniffed = await sniff(entry.file);
      const proposed = chosenType || proposeType(types.value ?? [], sniffed.mime)?.type || '';
      update(entry.key, { sniffed, type: proposed });
    }
  };

  // "Run again" from a job page: /upload?from=<job id> brings that job's
  // input back as a chosen file, for the same or another type and parameters.
  const from = route.value.query.get('from') ?? '';
  useEffect(() => {
    if (!from) return;
    navigate(withQuery({ from: undefined }), { replace: true });
    void (async () => {
      try {
        const { data: job } = await client.jobs.getJob(from);
        await addFiles([await jobInput(job.id, job.input_name ?? `${job.id}.bin`)]);
      } catch (err) {
        say(`Could not bring back the input of job ${from}: ${describe(err)}`, 'error');
      }
    })();
  }, [from]);

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const ready = entries.value.filter((e) => e.state === 'ready' || e.state === 'failed');
    const refused = ready.filter((e) => refusal(e));
    for (const entry of refused) update(entry.key, { state: 'failed', message: refusal(entry) });
    const sendable = ready.filter((e) => !refusal(e));
    let sent = 0;
    const queue = [...sendable];
    const worker = async () => {
      for (let entry = queue.shift(); entry; entry = queue.shift()) {
        update(entry.key, { state: 'uploading', message: undefined });
        try {
          const job = await client.createAndSubmit(entry.type, entry.file, {
            fileName: entry.file.name,
            params: paramsToSend(findType(entry.type), entry.params),
          });
          remember(job);
          update(entry.key, { state: 'done', jobId: job.id });
          sent++;
        } catch (err) {
          update(entry.key, { state: 'failed', message: describe(err) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, queue.length) }, worker));
    const total = sendable.length + refused.length;
    say(
      `${sent} of ${plural(total, 'file')} submitted${refused.length ? `; ${refused.length} refused before upload` : ''}.`,
      sent === total ? 'info' : 'error',
    );
  };

  const list = entries.value;
  const topType = findType(chosenType);
  const pending = list.filter((e) => e.state === 'ready' || e.state === 'failed');

  return (
    <>
      <PageTitle title="Upload files" />
      <form class="upload" onSubmit={submit}>
        <label for="upload-type">Processing type</label>
        <select
          id="upload-type"
          value={chosenType}
          aria-describedby="type-help"
          onChange={(e) => {
            const type = e.currentTarget.value;
            navigate(withQuery({ type }), { replace: true });
            if (type) entries.value = entries.value.map((x) => (x.state === 'done' ? x : { ...x, type }));
          }}
        >
          <option value="">Propose one for each file from its kind</option>
          {chosenType && !topType && <option value={chosenType}>{chosenType}</option>}
          {types.value?.map((t) => (
            <option key={t.type} value={t.type} disabled={!isAvailable(t)}>
              {t.type} — {t.name}
              {isAvailable(t) ? '' : ' (not installed)'}
            </option>
          ))}
        </select>
        <p id="type-help" class="hint">
          {topType
            ? `${topType.description} Takes ${describeAccepted(topType.input.mime_in)}.`
            : 'Each file gets the type that fits its kind; change it per file below.'}
        </p>
        {/* biome-ignore lint/a11y/noStaticElementInteractions: dropping is a mouse shortcut; the file button inside does the same by keyboard */}
        <div
          class="drop"
          id="drop"
          onDragOver={(e) => {
            e.preventDefault();
            e.currentTarget.classList.add('over');
          }}
          onDragLeave={(e) => e.currentTarget.classList.remove('over')}
          onDrop={(e) => {
            e.preventDefault();
            e.currentTarget.classList.remove('over');
            void addFiles(e.dataTransfer?.files);
          }}
        >
          <p>Drop files here, or</p>
          <label for="files" class="button">
            Choose files…
          </label>
          <input
            id="files"
            ref={fileInput}
            type="file"
            multiple
            accept={acceptAttribute(topType)}
            class="visually-hidden"
            onChange={(e) => {
              const input = e.currentTarget;
              void addFiles([...(input.files ?? [])]);
              // Emptied so that choosing the same file again is a change too.
              input.value = '';
            }}
          />
        </div>
        {list.length > 0 && (
          <ul class="files" aria-label="Chosen files">
            {list.map((entry) => (
              <FileEntry key={entry.key} entry={entry} types={types.value ?? []} />
            ))}
          </ul>
        )}
        <button type="submit" disabled={pending.length === 0}>
          Upload and submit
        </button>
      </form>
    </>
  );
}

function FileEntry({ entry, types: all }: { entry: Entry; types: ProcessingType[] }) {
  const reason = entry.state === 'ready' ? refusal(entry) : undefined;
  const type = findType(entry.type);
  const id = `file-${entry.key}`;
  return (
    <li data-file={entry.key} class={`file-entry entry-${entry.state}`}>
      <div class="file-head">
        <span class="name">
          {entry.file.name}{' '}
          <span class="meta">
            ({formatBytes(entry.file.size)}
            {entry.sniffed ? `, ${entry.sniffed.label}` : ''})
          </span>
        </span>
        {entry.state !== 'uploading' && entry.state !== 'done' && (
          <button
            type="button"
            class="small"
            aria-label={`Remove ${entry.file.name}`}
            onClick={() => {
              entries.value = entries.value.filter((e) => e.key !== entry.key);
            }}
          >
            Remove
          </button>
        )}
      </div>
      {entry.state !== 'done' && (
        <>
          <label for={`${id}-type`}>Type for {entry.file.name}</label>
          <select
            id={`${id}-type`}
            value={entry.type}
            disabled={entry.state === 'uploading'}
            onChange={(e) =>
              update(entry.key, {
                type: e.currentTarget.value,
                params: {},
                state: 'ready',
                message: undefined,
              })
            }
          >
            <option value="">Choose a type…</option>
            {all.map((t) => (
              <option key={t.type} value={t.type} disabled={!isAvailable(t)}>
                {t.type}
              </option>
            ))}
          </select>
          <ParamsForm
            type={type}
            values={entry.params}
            idPrefix={id}
            onChange={(params) => update(entry.key, { params })}
          />
        </>
      )}
      {entry.state === 'uploading' && <progress aria-label={`Upload of ${entry.file.name}`} />}
      {entry.state === 'done' && (
        <>
          <progress max={1} value={1} aria-label={`Upload of ${entry.file.name}`} />
          <a href={`/jobs/${entry.jobId}`} class="outcome">
            submitted — view job
          </a>
        </>
      )}
      {(reason || entry.message) && (
        <p
          class={`outcome ${entry.state === 'failed' || reason ? 'error' : ''}`}
          role={entry.state === 'failed' ? 'alert' : undefined}
        >
          {entry.message ?? reason}
        </p>
      )}
    </li>
  );
}
