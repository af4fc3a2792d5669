/**
 * Messages to the person ("Job cancelled.", "Key copied."): shown in one
 * polite live region under the header, never over the table. Information
 * clears itself after a few seconds; an error stays until dismissed or until
 * the person goes to another page, so nothing carries over between pages.
 */
import { signal } from '@preact/signals';

export interface Message {
  id: number;
  text: string;
  kind: 'info' | 'error';
}

export const messages = signal<Message[]>([]);
let nextId = 1;
const INFO_MS = 6_000;

export function say(text: string, kind: Message['kind'] = 'info'): void {
  const message = { id: nextId++, text, kind };
  // The same sentence again replaces the old one rather than stacking up.
  messages.value = [...messages.value.filter((m) => m.text !== text).slice(-2), message];
  if (kind === 'info') setTimeout(() => dismiss(message.id), INFO_MS);
}

export function sayError(error: unknown): void {
  say(error instanceof Error ? error.message : String(error), 'error');
}

export function dismiss(id: number): void {
  messages.value = messages.value.filter((m) => m.id !== id);
}

export function clearMessages(): void {
  messages.value = [];
}
