import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

/**
 * The page's heading. It takes focus when the page opens, so a screen reader
 * announces the new page and Tab starts from the top of its content, and it
 * sets the document title.
 */
export function PageTitle({ title, children }: { title: string; children?: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · bsubio`;
  }, [title]);
  useEffect(() => {
    // Not when typing somewhere already (a field focused by the page itself).
    if (document.activeElement === document.body || document.activeElement === null) ref.current?.focus();
  }, []);
  return (
    <h1 tabIndex={-1} ref={ref}>
      {children ?? title}
    </h1>
  );
}
