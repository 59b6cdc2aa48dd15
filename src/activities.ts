/** Every activity the worker registers. Workflows import only the *types* of this module. */
export { preflight } from './rollout/activities/preflight';
export { runProbeRound } from './rollout/activities/probes';
export { deliverNotification } from './rollout/activities/notify';
export { runExperimentBatch } from './experiment/activities';
