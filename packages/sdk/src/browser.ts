/**
 * The `bsubio` entry for browsers (the "browser" and "default" export
 * conditions). It binds the browser platform, which has no file system,
 * environment or config file; the rest is shared with Node.
 */
import { BaseBsubClient, type BsubClientOptions } from './client.js';
import { BaseConfiguration, type ConfigurationParameters } from './configuration.js';
import { browserPlatform } from './platform-browser.js';

export * from './index.js';

/** Where the API is and the key to call it with: `new Configuration({ host, accessToken })`. */
export class Configuration extends BaseConfiguration {
  constructor(parameters: ConfigurationParameters = {}) {
    super(parameters, browserPlatform);
  }
}

/** The high-level client. In a browser pass `apiKey` and `baseUrl` (default `https://app.bsub.io`). */
export class BsubClient extends BaseBsubClient {
  constructor(options: BsubClientOptions = {}) {
    super(options, browserPlatform);
  }
}
