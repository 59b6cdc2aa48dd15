/**
 * POST /v1/chat/completions. The body is read once and parsed once; `model: auto` is replaced by the
 * classifier's choice. A rollout target goes to the arm its user is assigned (sticky by `user` or the
 * x-modelshift-user header); when green fails before its first byte, the request is served by blue and
 * the failure counts against green. Any other model is passed to the default gateway unchanged.
 * In a rollout's shadow phase every user gets blue, and a share of the requests is mirrored to green
 * after blue has answered (src/shadow/mirror.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Arm } from '../assign';
import { attempt, type AnswerTap } from '../attempt';
import { BodyTooLargeError, readBody, replaceModel } from '../body';
import type { RouterContext, TargetArms } from '../context';
import { errors } from '../errors';
import { failedOutcome } from '../live-stats';
import { ArmProblem } from '../policy';
import type { Call } from '../routes';
import type { ResolvedArm } from '../upstreams';

const UPSTREAM_PATH = '/chat/completions';

interface ChatRequest {
  /** the body as the client sent it */
  raw: string;
  body: Record<string, unknown>;
  /** the model the client asked for */
  requested: string;
  /** the model to serve: `requested`, or the classifier's choice for `model: auto` */
  model: string;
  user: string | undefined;
}

export async function chat(ctx: RouterContext, req: IncomingMessage, res: ServerResponse, call: Call): Promise<void> {
  const c = await readChatRequest(ctx, req, res, call.started);
  if (!c) return;
  const a = ctx.isTarget(c.model) ? ctx.arms(c.model) : undefined;
  if (a) await serveTarget(ctx, req, res, c, a, call.started);
  else await passModel(ctx, req, res, c, call.started);
}

/** The parsed request, or undefined once the client has been answered with why not. */
async function readChatRequest(
  ctx: RouterContext,
  req: IncomingMessage,
  res: ServerResponse,
  started: number,
): Promise<ChatRequest | undefined> {
  let raw: string;
  try {
    raw = await readBody(req, ctx.settings.maxBodyBytes);
  } catch (err) {
    if (err instanceof BodyTooLargeError) ctx.tooLarge(req, res, started);
    else res.destroy();
    return undefined;
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(raw);
  } catch {
    return void ctx.answer(res, errors.badJson(), started);
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return void ctx.answer(res, errors.bodyNotObject(), started);
  const requested = body.model;
  if (typeof requested !== 'string' || requested === '') return void ctx.answer(res, errors.missingModel(), started);
  const model = await chooseModel(ctx, res, requested, body, started);
  if (model === undefined) return undefined;
  const user = typeof body.user === 'string' && body.user !== '' ? body.user : (req.headers['x-modelshift-user'] as string | undefined);
  return { raw, body, requested, model, user };
}

/** `model: auto` → the classifier's pick; any other name as it is. Undefined: the classifier failed (answered 500). */
async function chooseModel(
  ctx: RouterContext,
  res: ServerResponse,
  requested: string,
  body: Record<string, unknown>,
  started: number,
): Promise<string | undefined> {
  const { classify, autoModel } = ctx.settings;
  if (requested !== autoModel || !classify) return requested;
  try {
    return await classify(body.messages);
  } catch (err) {
    ctx.log.warn('classifier failed; answering 500', { error: (err as Error).message });
    ctx.answer(res, errors.classifierFailed(), started);
    return undefined;
  }
}

/** Not a rollout target: the default gateway, body unchanged (model replaced only when the classifier chose it). */
async function passModel(ctx: RouterContext, req: IncomingMessage, res: ServerResponse, c: ChatRequest, started: number): Promise<void> {
  const d = ctx.defaultUpstream();
  if (!d) return ctx.answer(res, errors.noUpstreamForModel(), started);
  const body = c.model === c.requested ? c.raw : replaceModel(c.raw, c.model, c.body);
  await attempt(ctx, req, res, {
    resolved: { model: c.model, ...d },
    path: d.up.basePath + UPSTREAM_PATH,
    body,
    target: '',
    arm: '',
    canFallback: false,
    started,
  });
}

/** A rollout target: its user's arm; green → blue when green fails before the first byte. */
async function serveTarget(
  ctx: RouterContext,
  req: IncomingMessage,
  res: ServerResponse,
  c: ChatRequest,
  a: TargetArms,
  started: number,
): Promise<void> {
  const target = c.model;
  if (ctx.assign(target, a, c.user) === 'green') {
    const green = ctx.resolveArm(a.green!, undefined); // like the worker: no baseURL → the default gateway
    // never re-sent elsewhere: a green the router may not call fails (and counts against green)
    if (green instanceof ArmProblem) return ctx.refuseArm(res, green, target, 'green', a.green!.model, started);
    const r = await callArm(ctx, req, res, c, green, 'green', started);
    if (r.done) return;
    // failed before the first byte: count it against green, serve from blue
    ctx.record(target, 'green', green.model, r.status, failedOutcome(r.errorClass, r.latencyMs), started);
    ctx.metrics.fallbacks.labels(target).inc();
    if (res.destroyed) return;
  }
  const blue = ctx.resolveArm(a.blue, ctx.configuredBlue(target));
  if (blue instanceof ArmProblem) return ctx.refuseArm(res, blue, target, 'blue', a.blue.model, started);
  // the shadow phase: blue's answer is kept as it passes, and mirrored to green once the user has it
  const tap = ctx.shadow.select(target, blue.model, req, c);
  await callArm(ctx, req, res, c, blue, 'blue', started, tap);
}

/** One arm of the target, the body's model set to the arm's; only green may fall back (to blue). */
function callArm(
  ctx: RouterContext,
  req: IncomingMessage,
  res: ServerResponse,
  c: ChatRequest,
  arm: ResolvedArm,
  which: Arm,
  started: number,
  tap?: AnswerTap,
) {
  const body = replaceModel(c.raw, arm.model, c.body);
  const path = arm.up.basePath + UPSTREAM_PATH;
  return attempt(ctx, req, res, { resolved: arm, path, body, target: c.model, arm: which, canFallback: which === 'green', started, tap });
}
