/** What both entries (Node and browser) export, apart from the platform-bound classes. */
export type {
  CreateJobRequest,
  ErrorBody,
  Job,
  JobErrorCode,
  JobResponse,
  JobState,
  JobStep,
  JobTimeline,
  ListJobsResponse,
  MessageResponse,
  Overview,
  PipelineStepRequest,
  ProcessingType,
  QueuePosition,
  TypesResponse,
  UploadResponse,
  VersionResponse,
} from '@bsubio/protocol';
export {
  type CreateJobOptions,
  type GetJobOptions,
  JobsApi,
  type ListJobsParams,
  OutputApi,
  SystemApi,
} from './apis.js';
export type {
  BsubClientOptions,
  CreateAndSubmitOptions,
  DownloadResult,
  OutputDestination,
  ProcessFileOptions,
  ProcessResult,
  ProgressEvent,
  SavedProcessResult,
  WaitOptions,
} from './client.js';
export type { ConfigurationParameters } from './configuration.js';
export { BsubError, type BsubErrorKind } from './errors.js';
export {
  EventsApi,
  type FollowEventsOptions,
  type JobStreamEvent,
  SseParser,
  type StreamState,
} from './events.js';
export { InsightApi } from './insight.js';
export { PartialApi, type PartialBody } from './partial.js';
export { Pipeline, type PipelineStep, pipeline, type StepParams } from './pipeline.js';
export type { NodeWritableLike } from './platform.js';
export {
  AccountApi,
  type CreatedKey,
  type PendingDevice,
  type SignedInAccount,
  sessionFetch,
} from './session.js';
export type { RequestOptions, StreamedBody } from './transport.js';
export type { UploadInput, UploadOptions } from './upload.js';
