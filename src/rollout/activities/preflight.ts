/**
 * Preflight: both arms' models exist on their gateway and the key is accepted — before any traffic moves.
 * Failures here are non-retryable with a message an operator can act on (no retry storm on a bad key).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import OpenAI from 'openai';
import { describeError } from '../../gateway/errors';
import { GatewayConfigError, gatewayClient, gatewayLabel, resolveGateway } from '../../gateway/client';
import type { ArmRef, PreflightInput, PreflightResult } from '../contract';

async function checkArm(arm: ArmRef, which: 'blue' | 'green' | 'judge', signal: AbortSignal): Promise<{ model: string; gateway: string }> {
  let resolved;
  try {
    resolved = resolveGateway(arm);
  } catch (err) {
    if (err instanceof GatewayConfigError) throw ApplicationFailure.nonRetryable(`${which}: ${err.message}`, 'GatewayConfig');
    throw err;
  }
  const gateway = gatewayLabel(resolved.baseURL);
  const client = gatewayClient(arm, { timeoutMs: 15_000 });
  const authFailure = (err: InstanceType<typeof OpenAI.APIError>) =>
    ApplicationFailure.nonRetryable(
      `${which}: the gateway ${gateway} rejected the key in ${resolved.apiKeyEnv} (${err.status}); check the key and that the base URL belongs to the same provider`,
      'GatewayAuth',
    );
  const isAuth = (err: unknown): err is InstanceType<typeof OpenAI.APIError> =>
    err instanceof OpenAI.AuthenticationError || err instanceof OpenAI.PermissionDeniedError;
  let ids: Set<string>;
  try {
    const page = await client.models.list({ signal });
    ids = new Set(page.data.map((m) => m.id));
  } catch (err) {
    if (isAuth(err)) throw authFailure(err);
    if (!(err instanceof OpenAI.NotFoundError)) {
      throw ApplicationFailure.retryable(
        `${which}: cannot list models on ${gateway}: ${describeError(err, [client.apiKey])}`,
        'GatewayUnavailable',
      );
    }
    // Some gateways do not list models: ask for this one directly.
    try {
      await client.models.retrieve(arm.model, { signal });
      return { model: arm.model, gateway };
    } catch (inner) {
      if (inner instanceof OpenAI.NotFoundError) {
        throw ApplicationFailure.nonRetryable(`${which}: model \`${arm.model}\` does not exist on ${gateway}`, 'ModelNotFound');
      }
      if (isAuth(inner)) throw authFailure(inner);
      throw ApplicationFailure.retryable(
        `${which}: cannot check model ${arm.model} on ${gateway}: ${describeError(inner, [client.apiKey])}`,
        'GatewayUnavailable',
      );
    }
  }
  if (!ids.has(arm.model)) {
    const close = [...ids].filter((id) => id.startsWith(arm.model.split('-')[0])).slice(0, 5);
    throw ApplicationFailure.nonRetryable(
      `${which}: model \`${arm.model}\` does not exist on ${gateway}${close.length ? ` (similar: ${close.join(', ')})` : ''}`,
      'ModelNotFound',
    );
  }
  return { model: arm.model, gateway };
}

export async function preflight(input: PreflightInput): Promise<PreflightResult> {
  const ctx = Context.current();
  // Heartbeats let an abort reach a preflight stuck on a silent gateway within about a second.
  const beat = setInterval(() => ctx.heartbeat(), 1000);
  try {
    // the shadow phase's judge (guards.judge) is checked as an arm: its gateway and key variable obey the same policy
    const [blue, green, judge] = await Promise.all([
      checkArm(input.blue, 'blue', ctx.cancellationSignal),
      checkArm(input.green, 'green', ctx.cancellationSignal),
      input.judge ? checkArm(input.judge, 'judge', ctx.cancellationSignal) : undefined,
    ]);
    return { blue, green, ...(judge ? { judge } : {}) };
  } catch (err) {
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? err;
    throw err;
  } finally {
    clearInterval(beat);
  }
}
