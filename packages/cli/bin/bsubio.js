#!/usr/bin/env node
import { main } from '../dist/main.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Ctrl-C: what had to be cleaned up is; an open stdin (a pipe still being
  // written to) must not keep the process alive.
  if (code === 130) process.exit(code);
});
