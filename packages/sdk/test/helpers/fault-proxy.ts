/**
 * A tiny real HTTP reverse proxy for tests: it forwards every request to the
 * upstream bsubio server, except the ones told to fail, which it answers
 * itself (a status such as 503 or 429, an HTML page) or never answers at all.
 * It also logs what arrived, so tests can count retries, and can serve extra
 * routes (the browser test's page and SDK files) on the same origin.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { status: number; headers?: Record<string, string>; body?: string }
  /** Accept the request and never answer. */
  | 'hang'
  /** Forward the request, let the server act on it, then close the connection instead of answering. */
  | 'drop-answer';

export interface FaultRule {
  fault: Fault;
  /** How many matching requests get the fault (default 1). */
  times?: number;
  match?: (req: http.IncomingMessage) => boolean;
}

export interface FaultProxy {
  url: string;
  /** `METHOD /path?query` of every request that arrived, in order. */
  seen: string[];
  /** Answer the next matching request(s) with `fault` instead of forwarding. */
  fail(fault: Fault, options?: Omit<FaultRule, 'fault'>): void;
  /** Rewrite each forwarded request's URL (e.g. drop a query parameter). */
  rewrite(fn: ((url: URL) => void) | undefined): void;
  /** Rewrite the upstream's JSON answers (e.g. drop an extension field, as an older server would). */
  rewriteJson(fn: ((body: Record<string, unknown>) => void) | undefined): void;
  close(): Promise<void>;
}

export type Route = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

export async function startFaultProxy(upstream: string, routes: Route[] = []): Promise<FaultProxy> {
  const rules: FaultRule[] = [];
  const seen: string[] = [];
  const hanging = new Set<http.ServerResponse>();
  let rewriter: ((url: URL) => void) | undefined;
  let jsonRewriter: ((body: Record<string, unknown>) => void) | undefined;
  const target = new URL(upstream);

  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    for (const route of routes) if (route(req, res)) return;
    const rule = rules.find((r) => (r.times ?? 1) > 0 && (r.match?.(req) ?? true));
    if (rule) {
      rule.times = (rule.times ?? 1) - 1;
      if (rule.fault === 'hang') {
        hanging.add(res);
        req.resume();
        return;
      }
      if (rule.fault === 'drop-answer') {
        const url = new URL(req.url ?? '/', target);
        const forward = http.request(
          url,
          { method: req.method, headers: { ...req.headers, host: target.host } },
          (answer) => {
            // The server has done it; the client never hears.
            answer.resume();
            answer.on('end', () => res.socket?.destroy());
          },
        );
        forward.on('error', () => res.destroy());
        req.pipe(forward);
        return;
      }
      const { status, headers, body } = rule.fault;
      req.resume();
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(body ?? JSON.stringify({ success: false, error: `Injected ${status} by the test proxy.` }));
      return;
    }
    const url = new URL(req.url ?? '/', target);
    rewriter?.(url);
    const forward = http.request(
      url,
      { method: req.method, headers: { ...req.headers, host: target.host } },
      (answer) => {
        const rewrite = jsonRewriter;
        if (!rewrite || !String(answer.headers['content-type']).includes('json')) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          const body = JSON.parse(Buffer.concat(chunks).toString());
          rewrite(body);
          const text = JSON.stringify(body);
          const headers = { ...answer.headers, 'content-length': String(Buffer.byteLength(text)) };
          res.writeHead(answer.statusCode ?? 502, headers).end(text);
        });
      },
    );
    forward.on('error', () => res.destroy());
    req.on('aborted', () => forward.destroy());
    res.on('close', () => {
      if (!res.writableFinished) forward.destroy();
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    fail(fault, options = {}) {
      rules.push({ fault, ...options });
    },
    rewrite(fn) {
      rewriter = fn;
    },
    rewriteJson(fn) {
      jsonRewriter = fn;
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
