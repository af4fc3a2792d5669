export * from './auth.js';
export * from './errors.js';
export * from './events.js';
export * from './ids.js';
export * from './openapi.js';
export * from './schemas.js';
export * from './states.js';
export * from './worker-api.js';
