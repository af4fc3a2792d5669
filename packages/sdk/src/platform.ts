/**
 * What differs between Node and browsers, behind one small interface. The
 * shared code never imports `node:*`; the `bsubio` entry for Node (`node.ts`)
 * binds the Node implementation and the browser entry (`browser.ts`) the
 * browser one, so bundlers for the web never see Node modules.
 */

/** A local file, opened lazily so that it streams instead of being read whole. */
export interface LocalFile {
  name: string;
  size: number;
  chunks(): AsyncIterable<Uint8Array>;
}

/** The part of a Node `Writable` (a file stream, `process.stdout`, an HTTP response) the SDK uses. */
export interface NodeWritableLike {
  write(chunk: Uint8Array, callback?: (error?: Error | null) => void): boolean;
  end(callback?: () => void): unknown;
  on(event: string, listener: (...args: never[]) => void): unknown;
}

/** The `~/.config/bsubio/config.json` the official CLI and SDKs share. */
export interface ConfigFile {
  api_key?: string;
  base_url?: string;
}

export interface Platform {
  readonly name: 'node' | 'browser';
  /**
   * Whether fetch may send a ReadableStream body. Node's can (with `duplex: 'half'`);
   * Chromium only over HTTP/2, so in browsers uploads are sent as a Blob instead
   * (which the browser streams from disk itself).
   */
  readonly streamingUploads: boolean;
  openFile(path: string): Promise<LocalFile>;
  env(name: string): string | undefined;
  readConfigFile(): ConfigFile | undefined;
  /** Write chunks to a file path or a Node writable, honouring backpressure. */
  writeTo(destination: string | NodeWritableLike, chunks: AsyncIterable<Uint8Array>): Promise<void>;
}
