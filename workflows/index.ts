/** Every workflow the worker bundles. */
export { rolloutWorkflow } from './rollout';
export { experimentWorkflow } from './experiment';
