/**
 * One job: its state live, a timeline, its place in the queue while it
 * waits, actions (cancel, delete, download, run again, copy), the output
 * preview and the logs.
 */
import { useSignal } from '@preact/signals';
import type { Job, JobTimeline, QueuePosition as Position } from 'bsubio';
import { useEffect } from 'preact/hooks';
import { BsubError, client, describe, insightApi } from '../api.js';
import { CopyButton } from '../components/copy-button.js';
import { LogsPanel } from '../components/logs-panel.js';
import { OutputPreview } from '../components/output-preview.js';
import { PageTitle } from '../components/page-title.js';
import { chainOf, outputTypeOf, PipelineSteps } from '../components/pipeline-steps.js';
import { StateBadge } from '../components/state-badge.js';
import { RelativeTime } from '../components/time.js';
import { Timeline } from '../components/timeline.js';
import { formatBytes } from '../format.js';
import { canCancel, isTerminal, jobTitle, shownState } from '../job-model.js';
import { forget, jobs, remember } from '../live.js';
import { say, sayError } from '../messages.js';
import { navigate } from '../router.js';
import { findType, loadTypes } from '../types.js';

export function JobPage({ id }: { id: string }) {
  const missing = useSignal(false);
  const job = jobs.value.get(id);

  useEffect(() => {
    void loadTypes().catch(() => {});
    client.jobs.getJob(id).then(
      ({ data }) => remember(data),
      (err: unknown) => {
        if (err instanceof BsubError && err.kind === 'not_found') missing.value = true;
        else sayError(describe(err));
      },
    );
  }, [id]);

  // Said once when the job ends while the page is open.
  const lastState = useSignal<string | undefined>(undefined);
  useEffect(() => {
    if (!job) return;
    const state = shownState(job);
    if (lastState.value && lastState.value !== state && isTerminal(job)) say(`Job ${state}.`);
    lastState.value = state;
  }, [job?.status]);

  if (missing.value) {
    return (
      <>
        <PageTitle title="No such job" />
        <p>There is no job {id} among yours; it may have been deleted.</p>
        <p>
          <a href="/">Go to your jobs</a>
        </p>
      </>
    );
  }
  if (!job) return <p class="loading">Loading the job…</p>;
  return <JobDetails job={job} />;
}

function JobDetails({ job }: { job: Job }) {
  const busy = useSignal(false);
  const command = cliCommand(job);
  const timeline = useSignal<JobTimeline | undefined>(undefined);
  // Each change of the job (from the stream) moves the timeline on.
  useEffect(() => {
    insightApi.timeline(job.id).then(
      (t) => {
        timeline.value = t;
      },
      () => {},
    );
  }, [job.id, job.status, job.attempts]);
  const title = jobTitle(job);
  const ended = isTerminal(job);

  const cancel = async () => {
    busy.value = true;
    try {
      await client.jobs.cancelJob(job.id);
      remember((await client.jobs.getJob(job.id)).data);
      say('Job cancelled.');
    } catch (err) {
      sayError(describe(err));
    } finally {
      busy.value = false;
    }
  };
  const remove = async () => {
    if (!confirm('Delete this job with its input, output and logs?')) return;
    try {
      await client.jobs.deleteJob(job.id);
      forget(job.id);
      navigate('/');
      say('Job deleted.');
    } catch (err) {
      sayError(describe(err));
    }
  };

  return (
    <>
      <div class="title-row">
        <PageTitle title={title} />
        <StateBadge job={job} />
      </div>
      <Timeline job={job} timeline={timeline.value} />
      <QueuePosition job={job} />
      <PipelineSteps job={job} />
      <dl class="details">
        <dt>Id</dt>
        <dd>
          <code>{job.id}</code> <CopyButton value={job.id} what="Job id" />
        </dd>
        <dt>Type</dt>
        <dd>{chainOf(job)}</dd>
        <dt>Input</dt>
        <dd>
          {job.input_name ?? '—'} ({formatBytes(job.data_size)})
        </dd>
        {job.output_size !== undefined && job.output_size !== null && (
          <>
            <dt>Output</dt>
            <dd>{formatBytes(job.output_size)}</dd>
          </>
        )}
        {job.cached && (
          <>
            <dt>Result</dt>
            <dd>
              From the result cache, nothing ran
              {job.cached_from && (
                <>
                  {' '}
                  (the result of <a href={`/jobs/${job.cached_from}`}>job {job.cached_from}</a>)
                </>
              )}
            </dd>
          </>
        )}
        <dt>Created</dt>
        <dd>
          <RelativeTime iso={job.created_at} />
        </dd>
        {job.finished_at && (
          <>
            <dt>Ended</dt>
            <dd>
              <RelativeTime iso={job.finished_at} />
            </dd>
          </>
        )}
        {job.error_code && (
          <>
            <dt>Error</dt>
            <dd class="error-text">
              {job.error_code}: {job.error_message ?? ''}
            </dd>
          </>
        )}
        <dt>Command line</dt>
        <dd>
          <code>{command}</code> <CopyButton value={command} what="Command" />
        </dd>
      </dl>
      <div class="actions">
        {canCancel(job) && (
          <button type="button" class="danger" disabled={busy.value} onClick={() => void cancel()}>
            Cancel job
          </button>
        )}
        {job.status === 'finished' && (
          <a class="button" href={`/v1/jobs/${job.id}/output`} download>
            Download output
          </a>
        )}
        <a class="button" href={`/v1/jobs/${job.id}/logs`} download={`${job.id}.log`}>
          Download logs
        </a>
        {job.input_name && job.status !== 'created' && (
          <a class="button" href={`/v1/jobs/${job.id}/input`} download>
            Download input
          </a>
        )}
        {/* The upload page makes one-step jobs: a pipeline is run again from the CLI or the SDK. */}
        {!job.steps && (
          <a
            class="button secondary"
            href={
              job.status === 'created'
                ? `/upload?type=${encodeURIComponent(job.type)}`
                : `/upload?type=${encodeURIComponent(job.type)}&from=${job.id}`
            }
          >
            Run again…
          </a>
        )}
        {ended && (
          <button type="button" class="danger" onClick={() => void remove()}>
            Delete job
          </button>
        )}
      </div>
      <section aria-labelledby="output-title" class="preview">
        <h2 id="output-title">Output</h2>
        {job.status === 'finished' ? (
          <OutputPreview job={job} />
        ) : (
          <p>
            {job.status === 'failed'
              ? 'Failed jobs have no output; the logs say why.'
              : 'The output shows here when the job finishes.'}
          </p>
        )}
      </section>
      <LogsPanel job={job} />
    </>
  );
}

const POSITION_MS = 3_000;

/** While pending: the job's place among all pending jobs of its type (`GET /v1/jobs/{id}/position`). */
function QueuePosition({ job }: { job: Job }) {
  const position = useSignal<Position | undefined>(undefined);
  const pending = job.status === 'pending';
  useEffect(() => {
    if (!pending) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const ask = () =>
      insightApi
        .position(job.id)
        .then(
          (p) => {
            position.value = p;
          },
          () => {},
        )
        .finally(() => {
          // Others' jobs ahead move on without events reaching this person: ask again.
          if (!stopped) timer = setTimeout(ask, POSITION_MS);
        });
    void ask();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [job.id, pending]);
  if (!pending) return null;
  const p = position.value;
  return (
    <p class="queue-position" id="queue-position" aria-live="polite">
      Waiting for a worker
      {p?.position
        ? `: number ${p.position} of ${p.pending} pending ${job.type} jobs${p.position === 1 ? ', next to be claimed' : ''}`
        : ''}
      .
    </p>
  );
}

/**
 * The bsubio CLI command that goes on from here: the output (into a file
 * when it is not text, which the CLI will not write to a terminal), why it
 * failed, or the wait for its end.
 */
function cliCommand(job: Job): string {
  if (job.status === 'failed') return `bsubio logs ${job.id}`;
  if (job.status !== 'finished') return `bsubio wait ${job.id}`;
  const output = findType(outputTypeOf(job))?.output;
  if (!output || output.display === 'text' || output.display === 'json') return `bsubio cat ${job.id}`;
  const base = (job.input_name ?? 'output').replace(/\.[^.]*$/, '') || 'output';
  return `bsubio cat ${job.id} > ${shellWord(`${base}${output.ext}`)}`;
}

/** A file name as one shell word: quoted when it holds anything but plain characters. */
function shellWord(name: string): string {
  return /^[\w.,+-]+$/.test(name) ? name : `'${name.replaceAll("'", `'\\''`)}'`;
}
