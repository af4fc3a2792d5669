import { say } from '../messages.js';

/** Copies `value` to the clipboard; the label says what is copied. */
export function CopyButton({ value, what }: { value: string; what: string }) {
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      say(`${what} copied.`);
    } catch {
      // Clipboard access needs a secure context (https or localhost).
      say(`Could not copy the ${what.toLowerCase()}; select it and copy by hand.`, 'error');
    }
  };
  return (
    <button type="button" class="small" onClick={copy} aria-label={`Copy ${what.toLowerCase()}`}>
      Copy
    </button>
  );
}
