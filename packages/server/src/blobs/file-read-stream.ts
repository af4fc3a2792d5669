/**
 * A readable stream over a local blob file that, when it is piped straight
 * into an HTTP response, reads into a few buffers it reuses instead of a
 * fresh one per read. fs.createReadStream allocates each 64 KiB read anew,
 * outside V8's heap; V8 frees those only at a full collection, started once
 * such memory has grown by about 64 MiB. So a 1 GiB download grew the
 * server's RSS by 60 MiB of garbage and cost over a CPU-second of marking.
 *
 * A buffer is reused only once every byte of the chunk it last held has
 * been handed to the kernel: the bytes pushed after that chunk must cover
 * all that is still waiting, here and in the response (its writableLength
 * counts what it buffers and what its socket has not written yet). When the
 * oldest buffer is still waiting, the read takes a fresh one, so reuse never
 * delays a download.
 */

import { read } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';

/** Bytes per read: fewer system calls than fs streams' 64 KiB, and little memory per download. */
export const READ_CHUNK_BYTES = 256 * 1024;
/** How far reads run ahead of the socket, so the disk and the network overlap. */
const READ_AHEAD_BYTES = 4 * READ_CHUNK_BYTES;
/** Buffers one download cycles through: the read-ahead, what the socket holds, and room. */
const RING_SIZE = 8;

interface Slot {
  buffer: Buffer;
  /** How many bytes had been pushed when this buffer's last chunk was (its end offset). */
  pushedThrough: number;
}

export class FileReadStream extends Readable {
  private position: number;
  private readonly end: number;
  private pushed = 0;
  private readonly ring: Slot[] = [];
  private next = 0;
  /** The response this stream is piped into, alone; set once the pipe is seen. */
  private destination: Writable | undefined;

  /** Bytes `start` to `end` (inclusive) of the open file; the handle is closed with the stream. */
  constructor(
    private readonly handle: FileHandle,
    start: number,
    end: number,
  ) {
    super({ highWaterMark: READ_AHEAD_BYTES });
    this.position = start;
    this.end = end;
  }

  /**
   * Reuse buffers once their bytes are written to `response`, provided this
   * stream ends up piped into it and nothing else reads it. Called before
   * the response is sent; without it every read takes a fresh buffer.
   */
  reuseBuffersFor(response: Writable): void {
    response.once('pipe', (source: Readable) => {
      if (source === this) this.destination = response;
    });
  }

  override _read(): void {
    const length = Math.min(READ_CHUNK_BYTES, this.end - this.position + 1);
    if (length <= 0) {
      this.push(null);
      return;
    }
    const slot = this.takeSlot(length);
    read(this.handle.fd, slot.buffer, 0, length, this.position, (err, bytesRead) => {
      if (err) return this.destroy(err);
      if (bytesRead === 0) {
        // The file is shorter than it was when opened: end here, as fs streams do.
        this.push(null);
        return;
      }
      this.position += bytesRead;
      this.pushed += bytesRead;
      slot.pushedThrough = this.pushed;
      this.push(slot.buffer.subarray(0, bytesRead));
    });
  }

  /** A buffer for the next read: the oldest of the ring once its bytes are written, else a fresh one. */
  private takeSlot(length: number): Slot {
    const fresh = (): Slot => ({ buffer: Buffer.allocUnsafeSlow(length), pushedThrough: 0 });
    const destination = this.destination;
    // One reader only: another 'data' listener could keep chunks for later.
    if (!destination || this.listenerCount('data') !== 1 || length < READ_CHUNK_BYTES) return fresh();
    if (this.ring.length < RING_SIZE) {
      const slot = fresh();
      this.ring.push(slot);
      return slot;
    }
    const oldest = this.ring[this.next]!;
    const waiting = this.readableLength + destination.writableLength;
    if (this.pushed - oldest.pushedThrough < waiting) return fresh();
    this.next = (this.next + 1) % RING_SIZE;
    return oldest;
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.handle.close().then(
      () => done(err),
      (closeErr: Error) => done(err ?? closeErr),
    );
  }
}

/** Let `stream` reuse its buffers when it is a local file blob's (see FileReadStream). */
export function reuseBuffersFor(stream: Readable, response: Writable): void {
  if (stream instanceof FileReadStream) stream.reuseBuffersFor(response);
}
