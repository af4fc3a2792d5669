/** JSON as a tree of <details>: objects and arrays fold, the first levels open. */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function JsonTree({ value, name, depth = 0 }: { value: Json; name?: string; depth?: number }) {
  const label = name !== undefined ? <span class="json-key">{JSON.stringify(name)}: </span> : null;
  if (value === null || typeof value !== 'object') {
    return (
      <div class="json-leaf">
        {label}
        <span class={`json-${value === null ? 'null' : typeof value}`}>{JSON.stringify(value)}</span>
      </div>
    );
  }
  const entries: [string | undefined, Json][] = Array.isArray(value)
    ? value.map((v) => [undefined, v])
    : Object.entries(value);
  const summary = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
  return (
    <details open={depth < 2}>
      <summary>
        {label}
        <span class="json-count">{summary}</span>
      </summary>
      <div class="json-children">
        {entries.slice(0, 1000).map(([key, child], i) => (
          <JsonTree key={key ?? i} value={child} name={key} depth={depth + 1} />
        ))}
        {entries.length > 1000 && <div class="hint">… {entries.length - 1000} more</div>}
      </div>
    </details>
  );
}
