/**
 * A job's stderr: the last MiB of what is stored, then live lines from the
 * one event stream while the job runs. Search filters the lines; "Follow"
 * keeps the newest line in view.
 */
import { useSignal } from '@preact/signals';
import type { Job } from 'bsubio';
import { useEffect, useRef } from 'preact/hooks';
import { describe, partialApi } from '../api.js';
import { isTerminal } from '../job-model.js';
import { followLogs } from '../live.js';

const LOG_BYTES = 1024 * 1024;

export function LogsPanel({ job }: { job: Job }) {
  const text = useSignal('');
  const cut = useSignal(false);
  const error = useSignal('');
  const query = useSignal('');
  const follow = useSignal(true);
  const box = useRef<HTMLPreElement>(null);
  const ended = isTerminal(job);

  // Live text first (held back), then the stored log, so nothing written in between is lost;
  // each live piece says where it starts in the log, so what the stored part has is not shown twice.
  useEffect(() => {
    const encoder = new TextEncoder();
    let held: { text: string; offset: number }[] = [];
    let haveBytes = -1;
    const add = (piece: string, offset: number) => {
      const bytes = encoder.encode(piece);
      if (offset >= 0 && offset + bytes.byteLength <= haveBytes) return;
      const fresh =
        offset >= 0 && offset < haveBytes
          ? new TextDecoder().decode(bytes.subarray(haveBytes - offset))
          : piece;
      text.value += fresh;
      haveBytes = offset >= 0 ? offset + bytes.byteLength : haveBytes + bytes.byteLength;
    };
    const stop = ended
      ? () => {}
      : followLogs(job.id, (piece, offset) => {
          if (haveBytes < 0) held.push({ text: piece, offset });
          else add(piece, offset);
        });
    partialApi.logsTail(job.id, LOG_BYTES).then(
      (part) => {
        const stored = new TextDecoder().decode(part.bytes);
        // A run that was killed (cancelled) may leave less in store than was shown
        // live: keep what was seen rather than blank it.
        const shownLonger =
          part.start === 0 && text.value.length > stored.length && text.value.startsWith(stored);
        if (!shownLonger) text.value = stored;
        cut.value = part.start > 0;
        haveBytes = shownLonger ? encoder.encode(text.value).byteLength : part.start + part.bytes.byteLength;
        for (const piece of held) add(piece.text, piece.offset);
        held = [];
      },
      (err: unknown) => {
        error.value = describe(err);
        haveBytes = 0;
        for (const piece of held) add(piece.text, piece.offset);
        held = [];
      },
    );
    return stop;
  }, [job.id, ended]);

  useEffect(() => {
    if (follow.value && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [text.value, follow.value]);

  const needle = query.value.toLowerCase();
  const lines = text.value.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const shown = needle ? lines.filter((l) => l.toLowerCase().includes(needle)) : lines;

  return (
    <section aria-labelledby="logs-title" class="logs-section">
      <div class="section-head">
        <h2 id="logs-title">Logs (stderr)</h2>
        <div class="log-tools">
          <label for="log-search" class="visually-hidden">
            Search the logs
          </label>
          <input
            id="log-search"
            type="search"
            placeholder="Search the logs"
            value={query.value}
            onInput={(e) => {
              query.value = e.currentTarget.value;
            }}
          />
          {!ended && (
            <label class="check-label">
              <input
                type="checkbox"
                checked={follow.value}
                onChange={(e) => {
                  follow.value = e.currentTarget.checked;
                }}
              />{' '}
              Follow
            </label>
          )}
        </div>
      </div>
      {error.value && <p class="error">{error.value}</p>}
      {cut.value && <p class="hint">Showing the last {LOG_BYTES / 1024 / 1024} MiB of the logs.</p>}
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling box must take focus so keyboards can scroll it */}
      <pre class="logs" id="logs" ref={box} tabIndex={0}>
        {shown.length
          ? shown.join('\n')
          : needle
            ? `(no line contains “${query.value}”)`
            : ended
              ? '(no log lines)'
              : '(waiting for log lines…)'}
      </pre>
      {needle && (
        <p class="hint" aria-live="polite">
          {shown.length} of {lines.length} lines match.
        </p>
      )}
    </section>
  );
}
