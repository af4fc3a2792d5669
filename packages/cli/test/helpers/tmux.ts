/**
 * A real terminal for the tests that need one (the config prompt, the live
 * progress table): a detached tmux session running a command, whose screen
 * the test reads and into which it types.
 */
import { execFileSync } from 'node:child_process';

/** A tmux server of the tests' own, apart from any the user runs. */
const tmux = (...args: string[]) =>
  execFileSync('tmux', ['-L', 'bsubio-cli-test', ...args], { encoding: 'utf8' });

const SIZE_200 = { columns: 200, rows: 50 };

export class Terminal {
  private constructor(readonly name: string) {}

  /**
   * Start `command` (a shell line; set its environment in it with `env`) in a
   * new session of `size` columns × rows (default 200×50).
   */
  static start(name: string, command: string, size: { columns: number; rows: number } = SIZE_200): Terminal {
    tmux('new-session', '-d', '-s', name, '-x', String(size.columns), '-y', String(size.rows), command);
    // The window keeps that size whatever other clients attach.
    tmux('set-option', '-t', name, 'window-size', 'manual');
    tmux('resize-window', '-t', name, '-x', String(size.columns), '-y', String(size.rows));
    // Keep the pane after the command exits, so its last screen can be read.
    tmux('set-option', '-t', name, 'remain-on-exit', 'on');
    return new Terminal(name);
  }

  screen(): string {
    return tmux('capture-pane', '-p', '-t', this.name);
  }

  /** The screen's lines with trailing blanks removed (tmux pads them to the width). */
  lines(): string[] {
    return this.screen()
      .split('\n')
      .map((line) => line.trimEnd());
  }

  /** Every line since the start, the part scrolled off the top too (trailing blanks removed). */
  history(): string[] {
    return tmux('capture-pane', '-p', '-S', '-', '-t', this.name)
      .split('\n')
      .map((line) => line.trimEnd());
  }

  /** The screen with lines the terminal wrapped joined back, as the program wrote them. */
  joined(): string {
    return tmux('capture-pane', '-p', '-J', '-t', this.name);
  }

  /** Send a key by its tmux name: `C-c` for Ctrl-C, `Enter`. */
  key(name: string): void {
    tmux('send-keys', '-t', this.name, name);
  }

  type(text: string): void {
    tmux('send-keys', '-t', this.name, '-l', text);
  }

  enter(): void {
    tmux('send-keys', '-t', this.name, 'Enter');
  }

  /** Wait until the screen matches, or fail with what it shows. */
  async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = this.screen();
      if (pattern.test(screen)) return screen;
      if (Date.now() > deadline) throw new Error(`terminal never showed ${pattern}; it shows:\n${screen}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  kill(): void {
    try {
      tmux('kill-session', '-t', this.name);
    } catch {}
  }
}
