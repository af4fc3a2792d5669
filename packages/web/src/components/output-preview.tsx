/**
 * A finished job's output, shown by the type's `display` hint, fetching only
 * what is shown: the first MiB of text or JSON (a ranged read), images, audio
 * and video straight from the output URL (the browser streams them), a PDF
 * whole, and HTML in a sandboxed frame that runs nothing and keeps its own
 * styles without loosening the dashboard's Content-Security-Policy.
 */
import { useSignal } from '@preact/signals';
import type { Job, PartialBody } from 'bsubio';
import { useEffect } from 'preact/hooks';
import { describe, partialApi } from '../api.js';
import { formatBytes } from '../format.js';
import { jobTitle } from '../job-model.js';
import { findType } from '../types.js';
import { CopyButton } from './copy-button.js';
import { JsonTree } from './json-tree.js';
import { outputTypeOf } from './pipeline-steps.js';

export const PREVIEW_BYTES = 1024 * 1024;

export function OutputPreview({ job }: { job: Job }) {
  // A pipeline's output is its last step's.
  const display = findType(outputTypeOf(job))?.output.display ?? 'download';
  const url = `/v1/jobs/${job.id}/output`;
  const title = jobTitle(job);
  if (display === 'text' || display === 'json') return <TextPreview job={job} json={display === 'json'} />;
  if (display === 'image') return <img class="output-image" src={url} alt={`Output of ${title}`} />;
  // biome-ignore lint/a11y/useMediaCaption: a tool's output comes with no captions track
  if (display === 'audio') return <audio src={url} controls aria-label={`Audio output of ${title}`} />;
  // biome-ignore lint/a11y/useMediaCaption: a tool's output comes with no captions track
  if (display === 'video') return <video src={url} controls aria-label={`Video output of ${title}`} />;
  if (display === 'pdf') return <BlobFrame job={job} kind="PDF" />;
  if (display === 'html') return <HtmlFrame job={job} />;
  return <p>This output is not shown here; download it.</p>;
}

function TextPreview({ job, json }: { job: Job; json: boolean }) {
  const part = useSignal<PartialBody | undefined>(undefined);
  const error = useSignal('');
  useEffect(() => {
    const abort = new AbortController();
    partialApi.outputHead(job.id, PREVIEW_BYTES, { signal: abort.signal }).then(
      (got) => {
        part.value = got;
      },
      (err: unknown) => {
        if (!abort.signal.aborted) error.value = describe(err);
      },
    );
    return () => abort.abort();
  }, [job.id]);
  if (error.value) return <p class="error">The output could not be read: {error.value}</p>;
  if (!part.value) return <p class="loading">Loading the output…</p>;
  const { bytes, complete, total } = part.value;
  const text = new TextDecoder().decode(bytes);
  let tree: unknown;
  if (json && complete) {
    try {
      tree = JSON.parse(text);
    } catch {}
  }
  return (
    <>
      {tree !== undefined ? (
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling box must take focus so keyboards can scroll it
        <div class="json-tree output" tabIndex={0}>
          <JsonTree value={tree as never} />
        </div>
      ) : (
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling box must take focus so keyboards can scroll it
        <pre class="output" tabIndex={0}>
          {text || '(empty output)'}
        </pre>
      )}
      {complete && text && (
        <p class="preview-tools">
          <CopyButton value={text} what="Output" />
        </p>
      )}
      {!complete && (
        <p class="hint" id="preview-cut">
          Showing the first {formatBytes(bytes.byteLength)}
          {total !== null ? ` of ${formatBytes(total)}` : ''}; download the output for all of it.
        </p>
      )}
    </>
  );
}

/** A PDF needs the whole file; it is fetched once into a blob the frame shows. */
function BlobFrame({ job, kind }: { job: Job; kind: string }) {
  const src = useSignal<string | undefined>(undefined);
  useEffect(() => {
    let url: string | undefined;
    const abort = new AbortController();
    void fetch(`/v1/jobs/${job.id}/output`, { signal: abort.signal })
      .then((r) => r.blob())
      .then((blob) => {
        url = URL.createObjectURL(blob);
        src.value = url;
      })
      .catch(() => {});
    return () => {
      abort.abort();
      if (url) URL.revokeObjectURL(url);
    };
  }, [job.id]);
  if (!src.value) return <p class="loading">Loading the {kind}…</p>;
  return <iframe class="pdf" src={src.value} title={`${kind} output of ${jobTitle(job)}`} />;
}

/**
 * HTML output in a frame with an empty sandbox (no scripts, no same-origin
 * rights), loaded from the server's inline output address: that response
 * carries its own CSP allowing the document's styles, so the dashboard's own
 * `style-src 'self'` stays as strict as it is.
 */
function HtmlFrame({ job }: { job: Job }) {
  return (
    <iframe
      class="html"
      sandbox=""
      src={`/v1/jobs/${job.id}/output?inline=1`}
      title={`HTML output of ${jobTitle(job)}`}
    />
  );
}
