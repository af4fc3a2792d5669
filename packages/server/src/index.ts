export * from './config.js';
export { buildApp } from './http/app.js';
export * from './server.js';
export { JobService, toWireJob } from './services/job-service.js';
