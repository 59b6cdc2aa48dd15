/**
 * The seed (old Python design) rollback rule, kept ONLY for comparison in bench/verdicts.ts.
 * Do not use it to decide rollouts. Its two defects:
 *  1. It divides cumulative GREEN errors by cumulative requests of BOTH arms, so the rate it
 *     compares with the threshold shrinks with blue's traffic (at 10% green, a green failing 40%
 *     of requests reads as 4%), and it has no notion of sampling noise: one green error in the
 *     first ten requests (0.1 > 0.05) rolls back.
 *  2. Its fallback retried a failed green request on blue and counted it as a success, so green
 *     errors were only visible when the blue retry failed too.
 * The seed stepped green by 0.1 with 10 samples per step and checked after each step.
 */
export const SEED_THRESHOLD = 0.05;
export const SEED_STEP_INCREMENT = 0.1;
export const SEED_SAMPLES_PER_STEP = 10;

export function seedShouldRollback(cumGreenErrors: number, cumAllRequests: number, threshold = SEED_THRESHOLD): boolean {
  return cumAllRequests > 0 && cumGreenErrors / cumAllRequests > threshold;
}

/** What the seed recorded for one green request: a green failure retried on blue counts as success. */
export function seedRecordedGreenError(greenFailed: boolean, blueRetryFailed: boolean): boolean {
  return greenFailed && blueRetryFailed;
}
