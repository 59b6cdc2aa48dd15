/** Every workflow the worker bundles. */
export { rolloutWorkflow } from './rollout';
