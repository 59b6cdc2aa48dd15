/** Build a raw rollout spec from CLI flags (and/or a file), then validate it like any other spec. */
import { readStructuredFile } from '../files/structured';
import { parseSpec, type RolloutSpec } from './spec';
import { SpecError } from '../spec/errors';
import { parseNumber } from '../cli/flags';
import { isForbiddenKeyEnv } from '../gateway/policy';

export interface SpecFlags {
  file?: string;
  target?: string;
  blue?: string;
  green?: string;
  blueBaseUrl?: string;
  greenBaseUrl?: string;
  blueKeyEnv?: string;
  greenKeyEnv?: string;
  steps?: string;
  initial?: string;
  increment?: string;
  dwell?: string;
  samples?: string;
  probes?: string;
  concurrency?: string;
  rpm?: string;
  onFailure?: string;
  maxErrorRate?: string;
  maxErrorRateIncrease?: string;
  minSamples?: string;
  maxHoldPairs?: string;
  spendCap?: string;
  prompts?: string;
  shadow?: string;
  shadowMinPairs?: string;
  shadowMaxSpend?: string;
  shadowMaxDuration?: string;
  judge?: string;
  judgeSample?: string;
  judgeMaxLossRate?: string;
  judgeRubric?: string;
  judgeBaseUrl?: string;
  judgeKeyEnv?: string;
}

/** A number flag; its range is the spec's to check (the error then names the spec field). */
const num = (flag: string, v: string | undefined): number | undefined => parseNumber(`--${flag}`, v);

const readStructured = (path: string, what: string): unknown => readStructuredFile(path, `the ${what} file`, (m) => new SpecError(m));

export function specFromFlags(f: SpecFlags): RolloutSpec {
  const raw: Record<string, any> = f.file ? ((readStructured(f.file, 'spec') as Record<string, any>) ?? {}) : {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new SpecError(`${f.file}: (top level): expected a mapping`);
  const source = f.file ?? 'flags';
  const arm = (which: 'blue' | 'green', model?: string, baseURL?: string, keyEnv?: string) => {
    if (model === undefined && baseURL === undefined && keyEnv === undefined) return;
    raw[which] = {
      ...(raw[which] ?? {}),
      ...(model !== undefined && { model }),
      ...(baseURL !== undefined && { baseURL }),
      ...(keyEnv !== undefined && { apiKeyEnv: keyEnv }),
    };
  };
  if (f.target !== undefined) raw.target = f.target;
  arm('blue', f.blue, f.blueBaseUrl, f.blueKeyEnv);
  arm('green', f.green, f.greenBaseUrl, f.greenKeyEnv);
  const plan: Record<string, unknown> = { ...(raw.plan ?? {}) };
  if (f.steps !== undefined) {
    plan.steps = f.steps.split(',').map((s) => num('steps', s.trim()));
    delete plan.initial;
    delete plan.increment;
  }
  if (f.initial !== undefined || f.increment !== undefined) delete plan.steps; // the flags replace the file's plan
  if (f.initial !== undefined) plan.initial = num('initial', f.initial);
  if (f.increment !== undefined) plan.increment = num('increment', f.increment);
  if (f.dwell !== undefined) plan.dwell = f.dwell;
  if (f.probes !== undefined || f.samples !== undefined) {
    delete plan.samplesPerStep;
    plan.probesPerRound = f.probes !== undefined ? num('probes', f.probes) : num('samples', f.samples);
  }
  if (f.concurrency !== undefined) plan.concurrency = num('concurrency', f.concurrency);
  const shadow = shadowFromFlags(f, plan.shadow);
  if (shadow) plan.shadow = shadow;
  if (Object.keys(plan).length) raw.plan = plan;
  if (f.rpm !== undefined) raw.rateLimit = { requestsPerMinute: num('rpm', f.rpm) };
  if (f.onFailure !== undefined) raw.onFailure = f.onFailure;
  const guards: Record<string, unknown> = { ...(raw.guards ?? {}) };
  if (f.maxErrorRate !== undefined) guards.maxErrorRate = num('max-error-rate', f.maxErrorRate);
  if (f.maxErrorRateIncrease !== undefined) guards.maxErrorRateIncrease = num('max-error-rate-increase', f.maxErrorRateIncrease);
  if (f.minSamples !== undefined) guards.minSamples = num('min-samples', f.minSamples);
  if (f.spendCap !== undefined) guards.cost = { ...((guards.cost as object | undefined) ?? {}), spendCapUsd: num('spend-cap', f.spendCap) };
  if (f.maxHoldPairs !== undefined) {
    guards.maxHoldPairs = num('max-hold-pairs', f.maxHoldPairs);
    delete guards.maxHoldRounds; // the flag replaces the file's budget in either unit
  }
  const judge = judgeFromFlags(f, guards.judge);
  if (judge) guards.judge = judge;
  if (Object.keys(guards).length) raw.guards = guards;
  if (f.prompts !== undefined) raw.prompts = readStructured(f.prompts, 'prompts');
  if (!f.file && raw.target === undefined) throw new SpecError('--target: required (or give a spec file with -f)');
  if (!f.file && raw.blue === undefined) throw new SpecError('--blue: required, the current model (e.g. --blue gpt-4.1)');
  if (!f.file && raw.green === undefined) throw new SpecError('--green: required, the new model (e.g. --green gpt-4.1-turbo)');
  const spec = parseSpec(raw, source);
  // What every worker refuses (its upstream policy), refused here before anything starts.
  const keyEnvs = [
    ['blue.apiKeyEnv', spec.blue.apiKeyEnv],
    ['green.apiKeyEnv', spec.green.apiKeyEnv],
    ['guards.judge.apiKeyEnv', spec.guards.judge?.apiKeyEnv],
  ] as const;
  for (const [field, keyEnv] of keyEnvs) {
    if (keyEnv && isForbiddenKeyEnv(keyEnv)) {
      throw new SpecError(
        `${source}: ${field}: ${keyEnv} is Temporal's or the router's own secret and is never sent upstream; name the gateway's key variable (GATEWAY_API_KEY) or one the workers list in WORKER_KEY_ENVS`,
      );
    }
  }
  return spec;
}

const asObject = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? { ...v } : {});

/** plan.shadow from --shadow <percent> and its companions (over the file's); undefined when no flag names it. */
function shadowFromFlags(f: SpecFlags, fromFile: unknown): Record<string, unknown> | undefined {
  if ([f.shadow, f.shadowMinPairs, f.shadowMaxSpend, f.shadowMaxDuration].every((v) => v === undefined)) return undefined;
  const shadow = asObject(fromFile);
  if (f.shadow !== undefined) shadow.percent = num('shadow', f.shadow);
  if (f.shadowMinPairs !== undefined) shadow.minPairs = num('shadow-min-pairs', f.shadowMinPairs);
  if (f.shadowMaxSpend !== undefined) shadow.maxSpendUsd = num('shadow-max-spend', f.shadowMaxSpend);
  if (f.shadowMaxDuration !== undefined) shadow.maxDuration = f.shadowMaxDuration;
  return shadow;
}

/** guards.judge from --judge <model> and its companions (over the file's); undefined when no flag names it. */
function judgeFromFlags(f: SpecFlags, fromFile: unknown): Record<string, unknown> | undefined {
  const given = [f.judge, f.judgeSample, f.judgeMaxLossRate, f.judgeRubric, f.judgeBaseUrl, f.judgeKeyEnv];
  if (given.every((v) => v === undefined)) return undefined;
  const judge = asObject(fromFile);
  if (f.judge !== undefined) judge.model = f.judge;
  if (judge.model === undefined)
    throw new SpecError('--judge: required with the other --judge-* flags, the judge model (e.g. --judge gpt-4.1)');
  if (f.judgeSample !== undefined) judge.samplePercent = num('judge-sample', f.judgeSample);
  if (f.judgeMaxLossRate !== undefined) judge.maxLossRate = num('judge-max-loss-rate', f.judgeMaxLossRate);
  if (f.judgeRubric !== undefined) judge.rubric = f.judgeRubric;
  if (f.judgeBaseUrl !== undefined) judge.baseURL = f.judgeBaseUrl;
  if (f.judgeKeyEnv !== undefined) judge.apiKeyEnv = f.judgeKeyEnv;
  return judge;
}
