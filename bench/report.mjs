// Turns the rows the benchmarks report into docs/benchmarks.md (a table, the
// machine, the command) and an SVG chart. Only the part between the markers
// is rewritten; what is written by hand around it stays.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, release, totalmem, type } from 'node:os';

export const BEGIN = '<!-- bench:begin (written by `npm run bench`; edit outside the markers) -->';
export const END = '<!-- bench:end -->';

/** How far ahead of the peer we are: > 1 ahead, < 1 behind, whatever the unit's direction. */
export function advantage(row) {
  if (row.skipped || !(row.ours > 0) || !(row.peer > 0)) return undefined;
  return row.better === 'lower' ? row.peer / row.ours : row.ours / row.peer;
}

function figure(value, unit) {
  if (value === undefined || value === null || Number.isNaN(value)) return '–';
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : value >= 1 ? 2 : 3;
  return `${value.toFixed(digits)} ${unit}`;
}

const escapeCell = (s) => String(s).replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The markdown table: one line per row, in the order given. */
export function renderTable(rows) {
  const lines = [
    '| # | What | Ours | Peer | Peer is | Ours/peer | Better is | Ahead? |',
    '|---|---|---:|---:|---|---:|---|---|',
  ];
  for (const row of rows) {
    if (row.skipped) {
      lines.push(`| ${row.item} | ${escapeCell(row.what)} | skipped: ${escapeCell(row.skipped)} | | | | | |`);
      continue;
    }
    const adv = advantage(row);
    const ratio = row.peer > 0 ? (row.ours / row.peer).toFixed(2) : '–';
    let ahead =
      adv === undefined ? '–' : adv >= 1 ? `yes, ${adv.toFixed(2)}×` : `no, ${(1 / adv).toFixed(2)}× behind`;
    if (row.spread)
      ahead += ` (median of ${row.spread.runs}; ours/peer ${row.spread.low.toFixed(2)}–${row.spread.high.toFixed(2)})`;
    lines.push(
      `| ${row.item} | ${escapeCell(row.what)} | ${figure(row.ours, row.unit)} | ${figure(row.peer, row.unit)} | ${escapeCell(row.peerName ?? '')} | ${ratio} | ${row.better} | ${ahead} |`,
    );
  }
  return lines.join('\n');
}

const escapeXml = (s) =>
  String(s)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');

/**
 * Horizontal bars of our advantage over the peer per line, on a log scale
 * centred on 1× (right and green: ahead; left and red: behind).
 */
export function renderChart(
  rows,
  title = 'bsubio vs peers: advantage per line (log scale; right of 1× = ahead)',
) {
  const shown = rows.filter((r) => advantage(r) !== undefined);
  const labelWidth = 470;
  const plotWidth = 420;
  const rowHeight = 22;
  const top = 40;
  const width = labelWidth + plotWidth + 90;
  const height = top + rowHeight * Math.max(1, shown.length) + 40;
  const maxLog = Math.max(1, ...shown.map((r) => Math.abs(Math.log10(advantage(r)))));
  const centre = labelWidth + plotWidth / 2;
  const scale = plotWidth / 2 / maxLog;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  shown.forEach((row, i) => {
    const adv = advantage(row);
    const y = top + i * rowHeight;
    const len = Math.log10(adv) * scale;
    const x = len >= 0 ? centre : centre + len;
    const fill = adv >= 1 ? '#2e8b57' : '#c0392b';
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${escapeXml(`${row.item}. ${row.what}`)}</text>`,
      `<rect x="${x.toFixed(1)}" y="${y + 4}" width="${Math.max(1, Math.abs(len)).toFixed(1)}" height="${rowHeight - 8}" fill="${fill}"/>`,
      `<text x="${(len >= 0 ? centre + len + 4 : centre + 4).toFixed(1)}" y="${y + 15}">${adv >= 1 ? adv.toFixed(2) : `1/${(1 / adv).toFixed(2)}`}×</text>`,
    );
  });
  const axisBottom = top + rowHeight * Math.max(1, shown.length);
  parts.push(
    `<line x1="${centre}" y1="${top - 4}" x2="${centre}" y2="${axisBottom}" stroke="#333"/>`,
    `<text x="${centre}" y="${axisBottom + 16}" text-anchor="middle">1× (even)</text>`,
    `<text x="${labelWidth}" y="${axisBottom + 16}">1/${(10 ** maxLog).toFixed(0)}×</text>`,
    `<text x="${labelWidth + plotWidth}" y="${axisBottom + 16}" text-anchor="end">${(10 ** maxLog).toFixed(0)}×</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/**
 * One row per line over several runs of the suite: the median of ours and of
 * the peer, and the spread of ours/peer (lowest–highest), in the same terms
 * as the table's Ours/peer column. A line skipped in every run stays skipped.
 */
export function medianRows(runs) {
  const byLine = new Map();
  for (const rows of runs) {
    for (const row of rows) {
      const key = `${row.item}\u0000${row.what}`;
      if (!byLine.has(key)) byLine.set(key, []);
      byLine.get(key).push(row);
    }
  }
  return [...byLine.values()].map((rows) => {
    const measured = rows.filter((r) => !r.skipped);
    if (measured.length === 0) return rows[0];
    const ratios = measured.filter((r) => r.peer > 0).map((r) => r.ours / r.peer);
    return {
      ...measured[0],
      ours: median(measured.map((r) => r.ours)),
      peer: median(measured.map((r) => r.peer)),
      spread: {
        runs: measured.length,
        low: Math.min(...ratios),
        high: Math.max(...ratios),
      },
    };
  });
}

/** What the figures were measured on. */
export function machine() {
  const list = cpus();
  let os = `${type()} ${release()}`;
  try {
    const pretty = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'));
    if (pretty) os = `${pretty[1]} (${type()} ${release()})`;
  } catch {}
  const gib = (b) => `${(b / 1024 ** 3).toFixed(1)} GiB`;
  let load = '';
  try {
    load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {}
  return {
    cpu: `${list.length} × ${list[0]?.model ?? 'unknown'}`,
    memory: `${gib(totalmem())} (${gib(freemem())} free at the end)`,
    os,
    node: process.version,
    load,
  };
}

/**
 * The generated section of docs/benchmarks.md.
 * @param {{ rows: object[], machine: { cpu: string, memory: string, os: string, node: string, load: string },
 *   command: string, startedAt: string, seconds: number, chartFile: string, settings?: string,
 *   calm?: { before: { one: number, two: number }, after: { one: number, two: number }, calm: boolean },
 *   repeat?: number }} options
 */
export function renderSection({
  rows,
  machine: m,
  command,
  startedAt,
  seconds,
  chartFile,
  settings,
  calm,
  repeat = 1,
}) {
  const calmLines = calm
    ? [
        `- Machine at the start: a busy loop ran ${calm.before.one.toFixed(0)} % of its wall time alone, ${calm.before.two.toFixed(0)} % two at once; at the end ${calm.after.one.toFixed(0)} % and ${calm.after.two.toFixed(0)} %`,
      ]
    : [];
  return [
    BEGIN,
    '',
    ...(calm && !calm.calm
      ? [
          '**Noisy run:** a busy loop got under 90 % of its wall time at the start or the end, so the machine was not giving this run its CPUs; the ratios below are not evidence.',
          '',
        ]
      : []),
    `Measured ${startedAt} in ${repeat > 1 ? `${repeat} runs (medians)` : 'one run'} of \`${command}\` (${(seconds / 60).toFixed(1)} min for the whole suite).`,
    '',
    `- CPU: ${m.cpu}`,
    `- Memory: ${m.memory}`,
    `- OS: ${m.os}`,
    `- Node.js: ${m.node}`,
    ...(m.load ? [`- Load average at the end (1, 5, 15 min): ${m.load}`] : []),
    ...calmLines,
    ...(settings ? [`- Sizes: ${settings}`] : []),
    '',
    `Reproduce: \`${command}\` (needs redis-server and PostgreSQL's binaries, see scripts/setup-debian.sh).`,
    '',
    renderTable(rows),
    '',
    `![bsubio vs peers](${chartFile})`,
    '',
    END,
  ].join('\n');
}

/** Put the section into the document between the markers (creating it when absent). */
export function writeDocument(docPath, section) {
  let doc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '';
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin >= 0 && end > begin) {
    doc = doc.slice(0, begin) + section + doc.slice(end + END.length);
  } else {
    doc = `# Benchmarks\n\n${section}\n\n## Where we are behind, and why\n\n(Written by hand from the figures above.)\n`;
  }
  writeFileSync(docPath, doc);
}
