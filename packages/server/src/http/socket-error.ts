/**
 * An error answer written straight to the socket, in the protocol's error
 * shape, for the cases where there is no Fastify reply to answer through: a
 * request Node's parser rejected, or one whose body stopped arriving while
 * its route still holds the reply. The connection is to be closed after it.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

export function writeErrorToSocket(socket: Duplex, status: number, message: string, code: string): void {
  if (!socket.writable) return;
  const body = JSON.stringify({ success: false, error: message, code });
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
