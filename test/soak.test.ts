/**
 * The soak's short mode (scripts/soak.mjs; `npm run soak` runs it for 30
 * minutes): about 60 s of mixed load on a server of its own. Every created
 * job ends as expected and is deleted, the server keeps no job and no file,
 * and memory (measured after a full collection) and open files do not grow
 * past bounds suited to a short run.
 */
import { expect, it } from 'vitest';
import { soak } from '../scripts/soak.mjs';

const SECONDS = Number(process.env.BSUBIO_SOAK_SECONDS ?? 60);

it(`keeps memory and open files flat and accounts for every job over ${SECONDS} s of mixed load`, async () => {
  const result = await soak({
    seconds: SECONDS,
    // Few clients at once: on a slow machine the backlog, and so the drain at the end, stays short.
    maxInFlight: 40,
    // Settled memory (after a full collection) moved by about 1 MiB over a
    // clean minute; with a deliberate leak in the server (a 256 KiB Buffer
    // and a 256 KiB string kept each second) it grew by 11 MiB, past this
    // bound: tighter than the long run's.
    heapGrowthRatio: 0.1,
    heapGrowthMb: 8,
    log: (line: string) => console.log(line),
  });
  console.log(`[soak] ${JSON.stringify({ ...result, problems: undefined })}`);
  expect(result.problems).toEqual([]);
  // How many depends on the machine (no throughput is asserted); each one started was created.
  expect(result.counts.created).toBeGreaterThan(0);
  expect(result.counts.created).toBe(result.counts.started);
  expect(result.counts.failed).toBeGreaterThan(0);
  expect(result.checks).toEqual({
    noUnexpected: true,
    everyJobAccounted: true,
    serverEmpty: true,
    heapFlat: true,
    rssFlat: true,
    fdsFlat: true,
    serverAlive: true,
  });
}, 400_000);
