/** Every activity the worker registers. Workflows import only the *types* of this module. */
export { preflight } from './preflight';
export { runSampleBatch } from './samples';
export { runExperimentBatch } from './experiment';
