/**
 * One notification to one webhook: the event as JSON or as a Slack Block Kit message, signed with
 * HMAC-SHA256 when the hook names a secret variable, POSTed with a 10 s timeout. A 5xx, 429, timeout or
 * network error is retried by the activity's retry policy; any other 4xx, or a variable the worker does
 * not have, is not (the rollout records the failure and moves on — a webhook never blocks it).
 *
 * Signature (as Stripe and GitHub do it): `x-modelshift-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>">`; receivers recompute it and reject old timestamps. `x-modelshift-event: <workflowId>:<seq>`
 * identifies the event (delivery is at least once).
 */
import { createHmac } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { KnownBlock } from '@slack/types';
import { fmtPercent } from '../../format';
import type { NotifyEvent, NotifyHook } from '../controls';

export interface NotifyInput {
  hook: NotifyHook;
  event: NotifyEvent;
  rollout: { workflowId: string; target: string; blue: string; green: string };
}

/** Variables a hook may never read, whatever the spec says (the spec refuses them too). */
const FORBIDDEN = /^(TEMPORAL_.*|ROUTER_API_KEYS|GATEWAY_API_KEY|HOLYSHEEP_API_KEY)$/;

function env(name: string, what: string): string {
  const listed = (process.env.WORKER_KEY_ENVS ?? '').split(',').map((s) => s.trim());
  if (FORBIDDEN.test(name) || listed.includes(name)) {
    throw ApplicationFailure.nonRetryable(
      `notify: ${what} variable ${name} holds a key this worker sends upstream; name a variable of the webhook's own`,
      'NotifyConfig',
    );
  }
  const v = process.env[name];
  if (!v) throw ApplicationFailure.nonRetryable(`notify: ${what} variable ${name} is not set on the worker`, 'NotifyConfig');
  return v;
}

/** The commands an operator would run next, for the message. */
export function commandsFor(target: string, workflowId: string): Record<'approve' | 'pause' | 'abort' | 'status' | 'temporal', string> {
  return {
    approve: `npx modelshift approve ${target} --reason "…"`,
    pause: `npx modelshift pause ${target} --reason "…"`,
    abort: `npx modelshift abort ${target} --reason "…"`,
    status: `npx modelshift status ${target}`,
    temporal: `temporal workflow update execute --workflow-id ${workflowId} --name approve --input '{"by":"you","reason":"…"}'`,
  };
}

function webUi(workflowId: string): string | undefined {
  const base = process.env.TEMPORAL_UI_URL?.replace(/\/+$/, '');
  if (!base) return undefined;
  let namespace = 'default';
  try {
    namespace = Context.current().info.workflowNamespace ?? namespace;
  } catch {
    /* outside an activity (tests of the payload) */
  }
  return `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

const TITLES: Record<NotifyEvent['kind'], (e: NotifyEvent) => string> = {
  phase: (e) => `now ${e.phase} at ${e.greenPercent}% green`,
  verdict: (e) => `step ${e.step}/${e.totalSteps} (${e.greenPercent}%): ${e.verdict?.verdict ?? 'verdict'}`,
  approval: (e) => `waiting for approval of step ${e.approval?.step ?? e.step} (${e.approval?.greenPercent ?? e.greenPercent}%)`,
  end: (e) => `${e.phase.replace('_', ' ')} at ${e.greenPercent}% green`,
};

export function jsonPayload(input: NotifyInput): Record<string, unknown> {
  const { event, rollout } = input;
  return {
    source: 'modelshift',
    workflowId: rollout.workflowId,
    target: rollout.target,
    blue: rollout.blue,
    green: rollout.green,
    title: `${rollout.target}: ${TITLES[event.kind](event)}`,
    ...event,
    commands: commandsFor(rollout.target, rollout.workflowId),
    ...(webUi(rollout.workflowId) ? { webUi: webUi(rollout.workflowId) } : {}),
  };
}

/** Slack's limits (Block Kit reference): header text 150 characters, section text 3,000, a field 2,000, ten fields. */
const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function slackPayload(input: NotifyInput): { text: string; blocks: KnownBlock[] } {
  const { event: e, rollout } = input;
  const title = `${rollout.target}: ${TITLES[e.kind](e)}`;
  const cmd = commandsFor(rollout.target, rollout.workflowId);
  const fields = [
    `*Models*\n${rollout.blue} → ${rollout.green}`,
    `*Phase*\n${e.phase}`,
    `*Step*\n${e.step}/${e.totalSteps}`,
    `*Green*\n${e.greenPercent}%`,
  ];
  if (e.verdict?.errorRate)
    fields.push(`*Error rate*\ngreen ${fmtPercent(e.verdict.errorRate.green)} · blue ${fmtPercent(e.verdict.errorRate.blue)}`);
  if (e.verdict?.pairs !== undefined) fields.push(`*Probe pairs*\n${e.verdict.pairs}`);
  if (e.approval?.deadline) fields.push(`*Approve by*\n${e.approval.deadline} (then ${e.approval.onTimeout})`);
  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: cut(title, 150) } },
    { type: 'section', fields: fields.slice(0, 10).map((text) => ({ type: 'mrkdwn', text: cut(text, 2000) })) },
  ];
  const why = e.verdict?.reason ?? e.reason;
  if (why) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: cut(why, 3000) } });
  const next =
    e.kind === 'approval' ? [cmd.approve, cmd.abort, cmd.temporal] : e.kind === 'end' ? [cmd.status] : [cmd.pause, cmd.abort, cmd.status];
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: cut(next.map((c) => `\`${c}\``).join('\n'), 3000) } });
  const ui = webUi(rollout.workflowId);
  blocks.push({
    type: 'context',
    elements: [
      {
        type: 'mrkdwn',
        text: cut(ui ? `<${ui}|Temporal Web UI> · ${rollout.workflowId} · event ${e.seq}` : `${rollout.workflowId} · event ${e.seq}`, 3000),
      },
    ],
  });
  return { text: cut(title, 3000), blocks };
}

export function signature(secret: string, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')}`;
}

export async function deliverNotification(input: NotifyInput): Promise<void> {
  const url = input.hook.url ?? env(input.hook.urlEnv!, 'urlEnv');
  const body = JSON.stringify(input.hook.format === 'slack' ? slackPayload(input) : jsonPayload(input));
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'modelshift-notify',
    'x-modelshift-event': `${input.rollout.workflowId}:${input.event.seq}`,
  };
  if (input.hook.secretEnv)
    headers['x-modelshift-signature'] = signature(env(input.hook.secretEnv, 'secretEnv'), body, Math.floor(Date.now() / 1000));
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000), redirect: 'error' });
  } catch (err) {
    // the URL may be a secret (urlEnv): say where only by origin, and attach no cause (it would carry the URL)
    // eslint-disable-next-line preserve-caught-error
    throw new Error(
      `notify: ${originOf(url)} unreachable: ${(err as Error).cause ? String(((err as Error).cause as Error).message ?? (err as Error).cause) : (err as Error).message}`,
    );
  }
  await res.body?.cancel();
  if (res.ok) return;
  const what = `notify: ${originOf(url)} answered ${res.status}`;
  if (res.status >= 500 || res.status === 429 || res.status === 408) throw new Error(what);
  throw ApplicationFailure.nonRetryable(what, 'NotifyRejected');
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'the webhook';
  }
}
