/**
 * The `bsubio` entry for Node (chosen by the "node" export condition). It only
 * binds the Node platform (files, environment, config file); the rest is shared.
 */
import { BaseBsubClient, type BsubClientOptions } from './client.js';
import { BaseConfiguration, type ConfigurationParameters } from './configuration.js';
import { nodePlatform } from './platform-node.js';

export * from './index.js';

/** Where the API is and the key to call it with: `new Configuration({ host, accessToken })`. */
export class Configuration extends BaseConfiguration {
  constructor(parameters: ConfigurationParameters = {}) {
    super(parameters, nodePlatform);
  }
}

/**
 * The high-level client. Its key and URL come from the options, else from
 * `BSUBIO_API_KEY` / `BSUBIO_BASE_URL`, else from `~/.config/bsubio/config.json`
 * (`{"api_key", "base_url"}`), else the URL defaults to `https://app.bsub.io`.
 */
export class BsubClient extends BaseBsubClient {
  constructor(options: BsubClientOptions = {}) {
    super(options, nodePlatform);
  }
}
