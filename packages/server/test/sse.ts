/** A minimal server-sent events reader over fetch, for tests. */
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

export interface SseStream {
  status: number;
  headers: Headers;
  /** The next event, or undefined once the stream ended. */
  next(): Promise<SseEvent | undefined>;
  /** Every remaining event until the server ends the stream. */
  rest(): Promise<SseEvent[]>;
  close(): void;
}

export async function openEvents(url: string, headers: Record<string, string>): Promise<SseStream> {
  const abort = new AbortController();
  const res = await fetch(url, { headers, signal: abort.signal });
  const reader = res.body?.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let ended = !reader;

  async function next(): Promise<SseEvent | undefined> {
    for (;;) {
      const blank = buffer.indexOf('\n\n');
      if (blank >= 0) {
        const block = buffer.slice(0, blank);
        buffer = buffer.slice(blank + 2);
        const event: SseEvent = { event: 'message', data: '' };
        const data: string[] = [];
        let any = false;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          any = true;
          if (field === 'id') event.id = value;
          else if (field === 'event') event.event = value;
          else if (field === 'data') data.push(value);
        }
        if (!any) continue;
        event.data = data.join('\n');
        return event;
      }
      if (ended) return undefined;
      const { value, done } = await reader!.read();
      if (done) ended = true;
      else buffer += decoder.decode(value, { stream: true });
    }
  }

  return {
    status: res.status,
    headers: res.headers,
    next,
    async rest() {
      const all: SseEvent[] = [];
      for (let e = await next(); e; e = await next()) all.push(e);
      return all;
    },
    close: () => abort.abort(),
  };
}
