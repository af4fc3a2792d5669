import { now } from '../clock.js';
import { formatExact, formatRelative } from '../format.js';

/** "3 minutes ago", with the exact time on hover and to screen readers via <time datetime>. */
export function RelativeTime({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span>—</span>;
  return (
    <time dateTime={iso} title={formatExact(iso)}>
      {formatRelative(iso, now.value)}
    </time>
  );
}
