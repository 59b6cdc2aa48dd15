/** Library entry point: `createRouter(options)` → `{ handler, listen(port), close() }`. */
export { createRouter } from './server';
export {
  defaultLogger,
  type Router,
  type RouterOptions,
  type TargetConfig,
  type ArmConfig,
  type Classifier,
  type CostFn,
  type RouterLogger,
} from './options';
export { assignArm, bucketOf, hash32, greenBuckets, BUCKETS, type Arm } from './assign';
export { StaticRatioSource, RatioTracker, effectivePercent, type RatioSource, type RatioSnapshot } from './ratio';
export { LiveAggregator, type LiveReporter, type LiveBatch } from './reporter';
export { emptyLive, recordLive, mergeLive, type LiveArmStats, type Outcome, type ErrorClass } from './live-stats';
export { loadRouterSettings, parseTargets, RouterConfigError, type RouterSettings } from './config';
export { replaceModel, findTopLevelModelValues } from './body';
