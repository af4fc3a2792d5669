/**
 * The result cache: a finished job's output answers a later job with the
 * same key at submit, without running anything. The key is a SHA-256 over
 * the input's SHA-256 and, for each step of the job (one, or a pipeline's),
 * its type, its parameters (canonical JSON) and the type's version (its
 * catalog definition and tools, see @bsubio/worker's typeVersion), so a
 * changed parameter, definition or tool misses. Only types the catalog
 * declares `cacheable` are cached; one step that is not makes the job not.
 *
 * Modes (BSUBIO_CACHE): `off`; `user` (the default): a hit only from the
 * same user's jobs; `shared`: from any user's. Shared is opt-in because a
 * hit answers at once where a miss takes the tool's time, so a user who
 * sends a file can tell whether someone already sent it (a timing side
 * channel); a shared hit from another user's job names no job.
 */
import { createHash } from 'node:crypto';
import type { Catalog } from '@bsubio/worker';
import { typeVersion } from '@bsubio/worker';
import type { JobRow } from '../store/job-repository.js';
import { canonicalJson } from './job-service.js';

export type CacheMode = 'off' | 'user' | 'shared';
export const CACHE_MODES: readonly CacheMode[] = ['off', 'user', 'shared'];

export interface CacheStep {
  type: string;
  params: Record<string, string | number>;
}

interface TypeCounters {
  hits: number;
  misses: number;
  bytesSaved: number;
  cpuSecondsSaved: number;
}

export class ResultCache {
  /** Versions by type name, worked out at first use (they read the tools' files). */
  private readonly versions = new Map<string, string | null>();
  private readonly counters = new Map<string, TypeCounters>();

  constructor(
    readonly mode: CacheMode,
    private readonly catalog: Catalog,
  ) {}

  /** The version of a cacheable type; null when the type is not cacheable (or unknown). */
  private versionOf(type: string): string | null {
    let version = this.versions.get(type);
    if (version === undefined) {
      const definition = this.catalog.resolve(type)?.definition;
      version = definition?.cacheable ? typeVersion(definition) : null;
      this.versions.set(type, version);
    }
    return version;
  }

  /**
   * The key of a job with this input and these steps; undefined when the
   * cache is off or a step's type is not cacheable.
   */
  keyOf(inputSha256: string, steps: readonly CacheStep[]): string | undefined {
    if (this.mode === 'off' || steps.length === 0) return undefined;
    const parts: { type: string; params: CacheStep['params']; version: string }[] = [];
    for (const step of steps) {
      const version = this.versionOf(step.type);
      if (version === null) return undefined;
      // By the canonical name, so an alias and its type share results.
      const type = this.catalog.resolve(step.type)?.definition.type ?? step.type;
      parts.push({ type, params: step.params, version });
    }
    return createHash('sha256')
      .update(canonicalJson({ input: inputSha256, steps: parts }))
      .digest('hex');
  }

  /** Whose finished jobs may answer a job of `userId`: theirs, or anyone's when shared. */
  sourceUser(userId: string): string | undefined {
    return this.mode === 'shared' ? undefined : userId;
  }

  private countersOf(type: string): TypeCounters {
    let c = this.counters.get(type);
    if (!c) {
      c = { hits: 0, misses: 0, bytesSaved: 0, cpuSecondsSaved: 0 };
      this.counters.set(type, c);
    }
    return c;
  }

  /** A job answered from `source`: what the run would have cost is saved. */
  countHit(type: string, source: JobRow): void {
    const c = this.countersOf(type);
    c.hits++;
    c.bytesSaved += Number(source.output_size ?? 0);
    c.cpuSecondsSaved += source.cpu_ms === null ? 0 : Number(source.cpu_ms) / 1000;
  }

  countMiss(type: string): void {
    this.countersOf(type).misses++;
  }

  /** Prometheus text of the counters (appended to /metrics). */
  render(): string {
    const series: [string, string, keyof TypeCounters][] = [
      ['bsubio_cache_hits_total', 'Jobs answered from the result cache at submit, by type.', 'hits'],
      ['bsubio_cache_misses_total', 'Cacheable jobs that found no cached result and ran, by type.', 'misses'],
      [
        'bsubio_cache_bytes_saved_total',
        'Output bytes cache hits served without running or storing them again, by type.',
        'bytesSaved',
      ],
      [
        'bsubio_cache_cpu_seconds_saved_total',
        'CPU seconds the source jobs of cache hits used (what the hits did not spend), by type.',
        'cpuSecondsSaved',
      ],
    ];
    const lines: string[] = [];
    for (const [name, help, field] of series) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [type, c] of this.counters) lines.push(`${name}{type=${JSON.stringify(type)}} ${c[field]}`);
    }
    return lines.join('\n');
  }
}
