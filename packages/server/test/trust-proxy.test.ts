/**
 * Behind a TLS-terminating proxy (as the README suggests), every request
 * reaches the server from the proxy's address. With --trust-proxy naming the
 * proxy, the server takes the client's address and scheme from the proxy's
 * X-Forwarded-For / -Proto, so one client's failed sign-ins do not lock out
 * everybody, and cookies are Secure; from anyone else those headers are
 * ignored, so a client cannot pick its own address.
 *
 * Real processes over real HTTP: two servers (one trusting the proxy, one
 * not), a small reverse proxy that connects from 127.0.0.9 and appends
 * X-Forwarded-For like nginx does, and two clients on 127.0.0.2 and
 * 127.0.0.3 (all of 127/8 is loopback on Linux).
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';

const PROXY_ADDRESS = '127.0.0.9';
const CLIENT_A = '127.0.0.2';
const CLIENT_B = '127.0.0.3';
/** The per-address sign-in throttle's allowance per minute (http/routes/auth.ts). */
const ADDRESS_FAILURES = 30;
const METRICS_TOKEN = 'scrape-me-0123456789';

/** A reverse proxy in the manner of nginx: appends the peer to X-Forwarded-For and says https. */
function startProxy(target: string): Promise<{ url: string; server: Server }> {
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const forwardedFor = [req.headers['x-forwarded-for'], req.socket.remoteAddress]
      .filter(Boolean)
      .join(', ');
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        localAddress: PROXY_ADDRESS,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, 'x-forwarded-for': forwardedFor, 'x-forwarded-proto': 'https' },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.writeHead(502).end());
    req.pipe(out);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server });
    });
  });
}

/** A failed sign-in from `localAddress`, with extra headers; the status code. */
function failedSignIn(
  base: string,
  localAddress: string,
  email: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; cookie: string | undefined }> {
  const body = JSON.stringify({ email, password: 'wrong password' });
  const url = new URL('/v1/auth/session', base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        localAddress,
        method: 'POST',
        path: url.pathname,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'x-bsubio-csrf': '1',
          ...headers,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          const cookie = res.headers['set-cookie']?.join('; ');
          resolve({ status: res.statusCode ?? 0, cookie });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Fail ADDRESS_FAILURES times from one client (a new email each time, past the per-email throttle). */
async function exhaustAddress(base: string, client: string, tag: string): Promise<void> {
  for (let i = 0; i < ADDRESS_FAILURES; i++) {
    const { status } = await failedSignIn(base, client, `${tag}-${i}@example.com`);
    expect(status).toBe(401);
  }
  expect((await failedSignIn(base, client, `${tag}-last@example.com`)).status).toBe(429);
}

describe('behind a reverse proxy', () => {
  let trusting: TestServer;
  let plain: TestServer;
  let trustingProxy: { url: string; server: Server };
  let plainProxy: { url: string; server: Server };

  beforeAll(async () => {
    [trusting, plain] = await Promise.all([
      startServer({
        env: { BSUBIO_TRUST_PROXY: PROXY_ADDRESS, BSUBIO_WORKERS: '0', BSUBIO_METRICS_TOKEN: METRICS_TOKEN },
      }),
      startServer({ env: { BSUBIO_WORKERS: '0' } }),
    ]);
    [trustingProxy, plainProxy] = await Promise.all([startProxy(trusting.url), startProxy(plain.url)]);
  });

  afterAll(async () => {
    trustingProxy?.server.close();
    plainProxy?.server.close();
    await Promise.all([trusting?.cleanup(), plain?.cleanup()]);
  });

  it('throttles two clients separately when BSUBIO_TRUST_PROXY names the proxy', async () => {
    await exhaustAddress(trustingProxy.url, CLIENT_A, 'a');
    // Another client behind the same proxy still gets to try.
    expect((await failedSignIn(trustingProxy.url, CLIENT_B, 'b@example.com')).status).toBe(401);
  });

  it('throttles them together when it does not: every request comes from the proxy', async () => {
    await exhaustAddress(plainProxy.url, CLIENT_A, 'a');
    expect((await failedSignIn(plainProxy.url, CLIENT_B, 'b@example.com')).status).toBe(429);
  });

  it('ignores X-Forwarded-For from a client that is not the trusted proxy', async () => {
    // Straight to the trusting server, claiming to be somebody new each time:
    // the claims are not believed, so the client's own address runs out.
    for (let i = 0; i < ADDRESS_FAILURES; i++) {
      const spoofed = { 'x-forwarded-for': `198.51.100.${i}` };
      expect((await failedSignIn(trusting.url, '127.0.0.4', `s-${i}@example.com`, spoofed)).status).toBe(401);
    }
    const last = await failedSignIn(trusting.url, '127.0.0.4', 's-last@example.com', {
      'x-forwarded-for': '198.51.100.200',
    });
    expect(last.status).toBe(429);
  });

  it('marks cookies Secure only when the trusted proxy says https', async () => {
    const key = trusting.apiKey;
    const viaProxy = await signInWithKey(trustingProxy.url, key);
    expect(viaProxy).toMatch(/; Secure/);
    const spoofed = await signInWithKey(trusting.url, key, { 'x-forwarded-proto': 'https' });
    expect(spoofed).toBeDefined();
    expect(spoofed).not.toMatch(/Secure/);
  });
  it('serves /metrics to this machine only, never through the proxy, when no token is set', async () => {
    const local = await fetch(`${plain.url}/metrics`);
    expect(local.status).toBe(200);
    expect(await local.text()).toMatch(/bsubio_jobs/);
    const proxied = await fetch(`${plainProxy.url}/metrics`);
    expect(proxied.status).toBe(403);
    expect((await proxied.json()).error).toMatch(/BSUBIO_METRICS_TOKEN/);
  });

  it('asks for the token when BSUBIO_METRICS_TOKEN is set, from anywhere', async () => {
    expect((await fetch(`${trusting.url}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${trusting.url}/metrics`, {
      headers: { authorization: 'Bearer nope-nope-nope-nope' },
    });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${trustingProxy.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(right.status).toBe(200);
  });

  it('tells browsers not to sniff any answer', async () => {
    for (const path of ['/v1/version', '/v1/jobs', '/nope', '/metrics']) {
      expect((await fetch(`${plain.url}${path}`)).headers.get('x-content-type-options'), path).toBe(
        'nosniff',
      );
    }
  });
});

async function signInWithKey(base: string, apiKey: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/v1/auth/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-bsubio-csrf': '1', ...headers },
    body: JSON.stringify({ api_key: apiKey }),
  });
  expect(res.status).toBe(200);
  return res.headers.get('set-cookie') ?? undefined;
}
