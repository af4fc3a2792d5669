/**
 * How long a test may wait for a bsubio server to start. The server probes
 * its tools at start-up, which takes tens of seconds on a 2-core machine
 * busy with other test runs and benchmarks; the default 30 s is not enough.
 */
export const STARTUP_MS = 150_000;
