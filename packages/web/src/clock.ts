/** "Now", ticking once a second, for relative times, durations and countdowns that stay true. */
import { signal } from '@preact/signals';

export const now = signal(Date.now());
setInterval(() => {
  now.value = Date.now();
}, 1000);
