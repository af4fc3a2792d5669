/**
 * The README's CLI section: where it is (right after set-up, before the curl
 * walkthrough) and that it keeps the promises made to people coming from the
 * Go CLI — every deliberate difference has a row in its table, and every
 * command is listed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const README = readFileSync(join(import.meta.dirname, '..', '..', '..', 'README.md'), 'utf8');
const sections = README.split(/^(?=## )/m);
const cli = sections.find((s) => s.startsWith('## The bsubio CLI\n'))!;

/** The differences table: first cell → the whole row. */
function differences(): Map<string, string> {
  const rows = cli.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| ---'));
  return new Map(rows.map((row) => [row.split('|')[1]!.trim(), row]));
}

describe('README, the bsubio CLI section', () => {
  it('comes right after the set-up section, before the curl walkthrough', () => {
    const titles = sections.map((s) => s.split('\n')[0]);
    const setUp = titles.findIndex((t) => t?.startsWith('## Set-up'));
    expect(titles[setUp + 1]).toBe('## The bsubio CLI');
    expect(titles.indexOf("## A job's lifecycle with curl")).toBeGreaterThan(setUp + 1);
  });

  it('lists every command the CLI has', async () => {
    const { commands } = await import('../dist/registry.js');
    for (const command of commands()) expect(cli).toMatch(new RegExp(`^bsubio ${command.name}\\b`, 'm'));
  });

  it('has a row for each deliberate difference from the Go CLI', () => {
    const table = differences();
    expect(table.get('`jobs` piped')).toMatch(
      /dashed line.*YYYY-MM-DD HH:MM.*the same, with the input file added last/,
    );
    expect(table.get('`jobs` on a terminal')).toMatch(/relative times/);
    expect(table.get('`rm -a`')).toMatch(/skipped.*on stderr/);
    expect(table.get('`cancel -a`')).toMatch(/`Canceled job: <id>` lines on stderr/);
    expect(table.get('`submit -o`')).toMatch(/needs `-w`.*implies `-w` \(said in `--help`\)/);
    expect(table.get('job ids')).toMatch(/malformed id is rejected locally \(`not a job id: \.\.\.`\)/);
    for (const row of [
      'flags',
      '`submit` ids',
      'waiting',
      'binary output on a terminal',
      'Ctrl-C',
      '`types`',
      '`status`',
    ]) {
      expect(table.has(row), row).toBe(true);
    }
  });
});
