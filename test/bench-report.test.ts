// The benchmark report writer (bench/report.mjs): from sample rows it makes a
// markdown table with one line per row and a well-formed SVG chart, and it
// rewrites only the generated part of docs/benchmarks.md.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCalm } from '../bench/calm.mjs';
import {
  advantage,
  BEGIN,
  END,
  medianRows,
  renderChart,
  renderSection,
  renderTable,
  writeDocument,
} from '../bench/report.mjs';

const rows = [
  {
    item: 1,
    what: 'queue, 1 worker',
    unit: 'jobs/s',
    better: 'higher',
    ours: 300,
    peer: 100,
    peerName: 'BullMQ',
  },
  { item: 4, what: 'end to end p50', unit: 'ms', better: 'lower', ours: 40, peer: 10, peerName: 'cat' },
  { item: 5, what: 'processing', skipped: 'no corpus' },
];

describe('bench report', () => {
  it('orients the advantage by which way is better', () => {
    expect(advantage(rows[0])).toBe(3);
    expect(advantage(rows[1])).toBe(0.25);
    expect(advantage(rows[2])).toBeUndefined();
  });

  it('writes one table line per row, with ratio and a skipped reason', () => {
    const lines = renderTable(rows).split('\n');
    expect(lines).toHaveLength(2 + rows.length);
    for (const line of lines) expect(line.split('|').length).toBe(lines[0]!.split('|').length);
    expect(lines[2]).toContain('300 jobs/s');
    expect(lines[2]).toContain('| 3.00 |');
    expect(lines[2]).toContain('yes, 3.00×');
    expect(lines[3]).toContain('no, 4.00× behind');
    expect(lines[4]).toContain('skipped: no corpus');
  });

  it('draws one bar per compared row in a well-formed SVG', () => {
    const svg = renderChart(rows);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<rect /g)).toHaveLength(1 + 2); // background + two bars
    expect(svg).toContain('fill="#2e8b57"');
    expect(svg).toContain('fill="#c0392b"');
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('replaces only the part between the markers', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-report-'));
    try {
      const doc = join(dir, 'benchmarks.md');
      writeFileSync(doc, `# Benchmarks\n\nintro\n\n${BEGIN}\nold\n${END}\n\n## Notes by hand\n`);
      const machine = { cpu: '2 × test', memory: '1 GiB', os: 'test', node: 'v20', load: '' };
      const section = renderSection({
        rows,
        machine,
        command: 'npm run bench',
        startedAt: '2026-01-01T00:00:00Z',
        seconds: 600,
        chartFile: 'benchmarks.svg',
        settings: undefined,
      });
      writeDocument(doc, section);
      const text = readFileSync(doc, 'utf8');
      expect(text).toContain('intro');
      expect(text).toContain('## Notes by hand');
      expect(text).not.toContain('\nold\n');
      expect(text).toContain('| 1 | queue, 1 worker |');
      expect(text).toContain('![bsubio vs peers](benchmarks.svg)');
      expect(text.indexOf(BEGIN)).toBe(text.lastIndexOf(BEGIN));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bench report over several runs and a noisy machine', () => {
  const line = (ours: number) => ({
    item: 1,
    what: 'queue',
    unit: 'jobs/s',
    better: 'higher',
    ours,
    peer: 100,
    peerName: 'p',
  });

  it('reports the median of each line over the runs, with the spread of ours/peer', () => {
    const [row] = medianRows([[line(300)], [line(100)], [line(200)]]);
    expect(row).toMatchObject({ ours: 200, peer: 100, spread: { runs: 3, low: 1, high: 3 } });
    expect(renderTable([row])).toContain('yes, 2.00× (median of 3; ours/peer 1.00–3.00)');
  });

  it('gives the spread of a lower-is-better line in the same terms as its Ours/peer column', () => {
    const lower = (ours: number) => ({ ...line(ours), unit: 'ms', better: 'lower' });
    const [row] = medianRows([[lower(170)], [lower(164)], [lower(171)]]);
    expect(renderTable([row])).toContain('no, 1.70× behind (median of 3; ours/peer 1.64–1.71)');
  });

  it('keeps a line skipped in every run skipped, and ignores skips among measured runs', () => {
    const skipped = { item: 2, what: 'http', skipped: 'no autocannon' };
    const rows = medianRows([
      [skipped, line(100)],
      [skipped, { ...line(0), skipped: 'failed' }],
    ]);
    expect(rows.find((r) => r.item === 2)?.skipped).toBe('no autocannon');
    expect(rows.find((r) => r.item === 1)).toMatchObject({ ours: 100, spread: { runs: 1 } });
  });

  it('marks a run noisy at the top when a busy loop got under 90 % of its time, and says the figures', () => {
    const machine = { cpu: '2 × test', memory: '1 GiB', os: 'test', node: 'v24', load: '' };
    const base = {
      rows: [line(100)],
      machine,
      command: 'npm run bench',
      startedAt: 'now',
      seconds: 60,
      chartFile: 'c.svg',
      settings: undefined,
    };
    const noisy = renderSection({
      ...base,
      calm: {
        before: { one: 98, two: 95 },
        after: { one: 36, two: 9 },
        calm: isCalm({ one: 98, two: 95 }, { one: 36, two: 9 }),
      },
    });
    expect(noisy).toMatch(/\*\*Noisy run:\*\*/);
    expect(noisy).toContain('at the end 36 % and 9 %');
    const calm = renderSection({
      ...base,
      calm: {
        before: { one: 99, two: 97 },
        after: { one: 98, two: 96 },
        calm: isCalm({ one: 99, two: 97 }, { one: 98, two: 96 }),
      },
    });
    expect(calm).not.toMatch(/Noisy/);
  });
});
