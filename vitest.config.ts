import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // The short soak is a minute of load on its own: `npm run soak:short` (CI runs it as its own step).
    exclude: ['**/node_modules/**', 'test/soak.test.ts'],
    // Tests start real servers and run real tools: give them time (on CI's
    // slow VMs a server takes 10-25 s just to load), and do not run more
    // files at once than this machine has cores.
    testTimeout: 240_000,
    hookTimeout: 240_000,
    pool: 'forks',
    maxWorkers: 2,
    // Every JSON answer of a server started by a test is checked against its route's schema.
    env: { BSUBIO_VALIDATE_RESPONSES: '1' },
  },
});
