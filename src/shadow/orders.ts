/**
 * What a router reads of a rollout's shadow phase: the status query's `shadow` (ShadowRequest, the
 * contract) — and, until the contract carries the spec's `guards.judge`, the judge as an optional
 * `shadow.judge` beside it. Read defensively: the status comes from another process.
 */
import type { ArmRef } from '../gateway/arm';
import type { ShadowRequest } from './contract';

/** The judge of shadow pairs: a model through the gateway (an arm: model, optional baseURL / apiKeyEnv) and the spec's rubric. */
export interface ShadowJudgeRef extends ArmRef {
  rubric?: string;
}

/** ShadowRequest as the router keeps it in a target's ratio snapshot. */
export interface ShadowOrders extends ShadowRequest {
  judge?: ShadowJudgeRef;
}

const share = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? Math.min(100, Math.max(0, v)) : undefined);
const text = (v: unknown, max: number): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.slice(0, max) : undefined);

function judgeOf(v: unknown): ShadowJudgeRef | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const j = v as Record<string, unknown>;
  const model = text(j.model, 200);
  if (!model) return undefined;
  const out: ShadowJudgeRef = { model };
  const baseURL = text(j.baseURL, 2_000);
  const apiKeyEnv = text(j.apiKeyEnv, 200);
  const rubric = text(j.rubric, 2_000);
  if (baseURL) out.baseURL = baseURL;
  if (apiKeyEnv) out.apiKeyEnv = apiKeyEnv;
  if (rubric) out.rubric = rubric;
  return out;
}

/** The status's `shadow`, checked: undefined when it is not one. */
export function readShadowOrders(v: unknown): ShadowOrders | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const s = v as Record<string, unknown>;
  const percent = share(s.percent);
  if (percent === undefined) return undefined;
  const out: ShadowOrders = { percent };
  if (s.stopped === true) out.stopped = true;
  const judgePercent = share(s.judgePercent);
  if (judgePercent !== undefined) out.judgePercent = judgePercent;
  const judge = judgeOf(s.judge);
  if (judge) out.judge = judge;
  return out;
}
