export * from './backend.js';
export * from './catalog.js';
export * from './command.js';
export * from './params.js';
export * from './pool.js';
export * from './remote-backend.js';
export * from './runner.js';
export * from './sandbox.js';
