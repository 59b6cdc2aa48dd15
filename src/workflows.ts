/** Every workflow the worker bundles. */
export { rolloutWorkflow } from './rollout/workflow';
export { experimentWorkflow } from './experiment/workflow';
