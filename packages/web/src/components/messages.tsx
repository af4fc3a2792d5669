import { dismiss, messages } from '../messages.js';

/** The messages of `messages.ts`, in flow under the header: they push content down, never cover it. */
export function Messages() {
  return (
    <div class="messages" role="status" aria-live="polite">
      {messages.value.map((m) => (
        <p key={m.id} class={`message ${m.kind}`}>
          <span>{m.text}</span>
          <button type="button" class="link" onClick={() => dismiss(m.id)} aria-label="Dismiss message">
            ×
          </button>
        </p>
      ))}
    </div>
  );
}
