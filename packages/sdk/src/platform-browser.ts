/** The browser side of `Platform`: no file system, no environment. */
import { BsubError } from './errors.js';
import type { Platform } from './platform.js';

const nodeOnly = (what: string) =>
  new BsubError('bad_request', `${what} needs Node; in a browser pass a Blob/File or a WritableStream.`);

export const browserPlatform: Platform = {
  name: 'browser',
  streamingUploads: false,
  async openFile() {
    throw nodeOnly('A file path input');
  },
  env: () => undefined,
  readConfigFile: () => undefined,
  async writeTo() {
    throw nodeOnly('Writing to a file path or a Node stream');
  },
};
