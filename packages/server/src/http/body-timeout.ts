/**
 * A request whose body stops arriving is cut off. Node's own guards do not
 * cover it here: its headers timeout ends once the headers are in, and the
 * whole-request timeout is off (Fastify's default), rightly so, since a
 * 1 GiB upload over a slow link may take an hour. Without a guard, a client
 * that sends half a body and goes quiet holds its connection, and for an
 * upload a half-written temporary file, for ever.
 *
 * So the guard is on silence, not on length: while a request's body is
 * being received, `idleMs` without a byte answers 408 and closes the
 * connection. The route reading the body sees it fail and keeps nothing,
 * as for a client that went away. Once the body is complete the
 * guard is off again: long polls, event streams and slow downloads are not
 * bodies being received.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { writeErrorToSocket } from './socket-error.js';

/** True when the request announces a body (a length above 0, or chunks). */
function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

export function cutOffStalledBodies(server: Server, idleMs: number): void {
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.complete || !hasBody(req)) return;
    const socket = req.socket;
    // Node emits 'timeout' on the request (rather than destroying the socket
    // itself) only while the request is incomplete and someone listens.
    const onIdle = () => {
      const seconds = idleMs >= 1000 ? `${Math.round(idleMs / 1000)} seconds` : `${idleMs} ms`;
      // Written to the socket, not through the response: the route still
      // holds that, and is about to see its body fail.
      if (!res.headersSent) {
        writeErrorToSocket(
          socket,
          408,
          `The request body stopped arriving (nothing for ${seconds}), so the request was dropped and nothing of it was kept; send it again.`,
          'request_timeout',
        );
      }
      // The body stream fails, so whatever reads it (an upload's temporary
      // file) gives up and cleans up; the connection goes with it.
      req.destroy();
    };
    const done = () => {
      req.off('timeout', onIdle);
      // Unless Node has meanwhile set its own (the keep-alive wait after an
      // early answer), the socket goes back to the server's default.
      if (!socket.destroyed && socket.timeout === idleMs) socket.setTimeout(server.timeout);
    };
    req.on('timeout', onIdle);
    req.once('end', done).once('close', done);
    socket.setTimeout(idleMs);
  });
}
