/**
 * The job id a command is given: a full id, or the start of one as `jobs`
 * and the live table show it on a narrow terminal (`019a3256-26b4`), which
 * is looked up in this key's list. Anything that cannot be (the start of) a
 * job id is refused before any request, as the Go CLI does.
 */
import type { Context } from './context.js';
import { CliError } from './errors.js';

const FULL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** What the start of a canonical id may look like, hyphens where they belong. */
const CANONICAL = 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx';

export function isFullJobId(text: string): boolean {
  return FULL_ID.test(text);
}

function isPrefix(text: string): boolean {
  if (text.length === 0 || text.length > CANONICAL.length) return false;
  return [...text].every((ch, i) => (CANONICAL[i] === '-' ? ch === '-' : /[0-9a-f]/.test(ch)));
}

/** A full id as is; an unambiguous prefix as the full id of the one job it starts; else a CliError. */
export async function resolveJobId(ctx: Context, given: string): Promise<string> {
  const text = given.trim().toLowerCase();
  if (isFullJobId(text)) return text;
  if (!isPrefix(text)) {
    throw new CliError(
      `not a job id: ${given}`,
      "A job id looks like 019a3256-26b4-7f1f-b1aa-0b45ab7b371d (or its start, as 'bsubio jobs' shows it).",
    );
  }
  const matches: string[] = [];
  try {
    // Newest first is highest id first (ids are UUIDv7, time-ordered), so the
    // walk stops at the first id below the prefix: nothing after can match.
    for await (const job of ctx.client().listAllJobs({}, { signal: ctx.signal })) {
      if (job.id.startsWith(text)) matches.push(job.id);
      else if (job.id < text) break;
      if (matches.length > 5) break;
    }
  } catch (error) {
    // A server that cannot page (bsub.io lists 100): what was seen is what we have.
    if ((error as { kind?: string }).kind !== 'unsupported' || matches.length === 0) throw error;
  }
  if (matches.length === 1) {
    ctx.note(`${given} is job ${matches[0]}`);
    return matches[0]!;
  }
  if (matches.length === 0) {
    throw new CliError(`no job of this API key starts with ${given}`, "Run 'bsubio jobs' to list your jobs.");
  }
  throw new CliError(
    `${given} is the start of several jobs (${matches.slice(0, 5).join(', ')}${matches.length > 5 ? ', …' : ''})`,
    'Give more of the id.',
  );
}
