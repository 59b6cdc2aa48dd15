/** Every activity the worker registers. Workflows import only the *types* of this module. */
export { preflight } from './rollout/activities/preflight';
export { runSampleBatch } from './rollout/activities/samples';
export { runExperimentBatch } from './experiment/activities';
