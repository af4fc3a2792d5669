// How much of its wall time this machine gives a busy loop, alone and two at
// once: the figure that says whether a run's ratios mean anything. On this
// project's VMs a stormy period gives a busy loop a third of its time, and
// then every ratio is noise (docs/benchmarks.md).
import { spawn } from 'node:child_process';

/** Source of a child that spins for `ms` and prints the share of time it ran, in %. */
const SPIN = `
const end = performance.now() + Number(process.argv[1]);
let last = performance.now();
let stalled = 0;
const start = last;
while (last < end) {
  const now = performance.now();
  // A gap this long is time the loop did not run (descheduled or stopped).
  if (now - last > 2) stalled += now - last;
  last = now;
}
process.stdout.write(String(100 * (1 - stalled / (last - start))));
`;

function spin(ms) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', SPIN, String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('close', () => resolve(Number(out)));
  });
}

/** `{ one, two }`: the % of 3 s a busy loop ran, alone, and the lower of two at once. */
export async function measureCalm(ms = 3000) {
  const one = await spin(ms);
  const two = Math.min(...(await Promise.all([spin(ms), spin(ms)])));
  return { one, two };
}

/** Below this (either figure, at the start or the end) a run is noisy. */
export const CALM_PERCENT = 90;

export function isCalm(...figures) {
  return figures.every((f) => f.one >= CALM_PERCENT && f.two >= CALM_PERCENT);
}

export function describeCalm(f) {
  return `a busy loop ran ${f.one.toFixed(0)} % of its wall time alone, ${f.two.toFixed(0)} % two at once`;
}
