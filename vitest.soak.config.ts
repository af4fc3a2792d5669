import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/** `npm run soak:short`: only the one-minute soak, which `npm test` leaves out. */
export default defineConfig({ test: { ...base.test, include: ['test/soak.test.ts'], exclude: [] } });
