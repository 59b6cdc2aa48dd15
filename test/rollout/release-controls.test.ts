/**
 * Release controls on the dev server (issue 15): approval gates (approve from our CLI and the Temporal
 * CLI, guards running while a step waits, the timeout policy), webhooks (every event in order, signed;
 * Slack's Block Kit shape; a receiver that is down or flaky never holds the rollout), retry after an abort
 * with `list` showing both runs, and the schedule window. Real worker, simulator and CLI processes.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { rolloutWorkflowId } from '../../src/rollout/contract';
import { WEEKDAYS } from '../../src/rollout/controls';
import { useHarness } from '../helpers/harness';
import { modelshift, temporal } from '../helpers/processes';
import { result, startTestRollout, status, testSpec, uniqueTarget, waitForStatus } from '../helpers/rollout';

const h = useHarness({ sim: { latencyScale: 0.02, seed: 15 }, queue: 'controls' });
const env = () => ({ TEMPORAL_ADDRESS: h.t.address, TASK_QUEUE: h.taskQueue });
const SECRET = 'webhook-secret-for-tests';

beforeEach(() => {
  h.sim.reset();
  for (const m of ['gpt-4.1', 'gpt-4.1-turbo']) h.sim.setProfile(m, { errorRate: 0.005 });
});

// ---------- a local webhook receiver: /ok takes everything, /flaky answers 503 twice first, /reject 400 ----------

interface Delivery {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}
let receiver: Server;
let hookBase = '';
const deliveries: Delivery[] = [];
let flakyLeft = 0;

beforeAll(async () => {
  process.env.HOOK_SECRET = SECRET;
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const path = req.url ?? '';
      const code = path.startsWith('/reject') ? 400 : path.startsWith('/flaky') && flakyLeft-- > 0 ? 503 : 200;
      deliveries.push({ path, headers: req.headers, body, status: code });
      res.writeHead(code).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hookBase = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => receiver.close(r));
});

const taken = (path: string) =>
  deliveries.filter((d) => d.path === path && d.status === 200).map((d) => ({ ...d, json: JSON.parse(d.body) }));

/** A closed port: connections are refused. */
async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}/hook`;
}

/** Slack's documented Block Kit message shape (api.slack.com/reference/block-kit/blocks), the parts we use. */
const Text = (max: number, types: readonly ['plain_text'] | readonly ['plain_text', 'mrkdwn'] = ['plain_text', 'mrkdwn']) =>
  z.strictObject({
    type: z.enum(types),
    text: z.string().min(1).max(max),
    emoji: z.boolean().optional(),
    verbatim: z.boolean().optional(),
  });
const SlackMessage = z.strictObject({
  text: z.string().min(1).max(40_000),
  blocks: z
    .array(
      z.discriminatedUnion('type', [
        z.strictObject({ type: z.literal('header'), text: Text(150, ['plain_text']), block_id: z.string().max(255).optional() }),
        z
          .strictObject({
            type: z.literal('section'),
            text: Text(3000).optional(),
            fields: z.array(Text(2000)).min(1).max(10).optional(),
            block_id: z.string().max(255).optional(),
          })
          .refine((s) => s.text || s.fields, 'a section needs text or fields'),
        z.strictObject({
          type: z.literal('context'),
          elements: z.array(Text(3000)).min(1).max(10),
          block_id: z.string().max(255).optional(),
        }),
        z.strictObject({ type: z.literal('divider'), block_id: z.string().max(255).optional() }),
      ]),
    )
    .min(1)
    .max(50),
});

function verifySignature(d: Delivery): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(d.headers['x-modelshift-signature'] ?? ''));
  if (!m) return false;
  return createHmac('sha256', SECRET).update(`${m[1]}.${d.body}`).digest('hex') === m[2];
}

describe('approval gates', () => {
  it('a gated step waits with guards running; approve from the Temporal CLI moves it on; webhooks get every event in order, signed', async () => {
    const spec = testSpec({
      target: uniqueTarget('gate'),
      plan: { steps: [{ percent: 50, approval: true }, 100], dwell: '300ms', probesPerRound: 100, concurrency: 25 },
      notify: [
        { url: `${hookBase}/ok/json`, secretEnv: 'HOOK_SECRET' },
        { url: `${hookBase}/ok/slack`, format: 'slack', events: ['approval', 'end'] },
      ],
    });
    const id = rolloutWorkflowId(spec.target);
    await startTestRollout(h.t.client, h.taskQueue, spec);
    const waiting = await waitForStatus(h.t.client, spec.target, (s) => s.waiting === 'approval', 90_000);
    expect(waiting).toMatchObject({ phase: 'ramping', step: 1, greenPercent: 50 });
    expect(waiting.hold).toMatch(
      new RegExp(`^waiting for approval of step 1 \\(50%\\) since .*then rollback\\): npx modelshift approve ${spec.target}`),
    );
    // while it waits, watch rounds keep probing both arms
    const rounds = waiting.probes.rounds;
    await waitForStatus(h.t.client, spec.target, (s) => s.probes.rounds >= rounds + 2, 60_000);
    const shown = await modelshift(['status', spec.target], env());
    expect(shown.stdout).toContain(`waiting for approval of step 1 (50%)`);

    const out = await temporal(h.t.address, [
      'workflow',
      'update',
      'execute',
      '-w',
      id,
      '--name',
      'approve',
      '--input',
      '{"by":"carol","reason":"dashboards look fine"}',
    ]);
    expect(out.code, out.stderr).toBe(0);
    const r = await result(h.t.client, spec.target);
    expect(r.phase, r.reason).toBe('promoted');
    expect(r.status.approvals).toEqual([
      expect.objectContaining({ step: 1, greenPercent: 50, by: 'carol', reason: 'dashboards look fine' }),
    ]);

    // The rollout closed only after its webhooks had every event: the JSON hook all of them, in order, signed.
    const json = taken('/ok/json');
    expect(json.map((d) => d.json.seq)).toEqual(json.map((_, i) => i + 1));
    expect(json.every(verifySignature)).toBe(true);
    expect(json.every((d) => d.headers['x-modelshift-event'] === `${id}:${d.json.seq}`)).toBe(true);
    const kinds = json.map((d) => d.json.kind);
    expect(kinds[0]).toBe('phase'); // preflight → ramping
    expect(kinds.at(-1)).toBe('end');
    expect(kinds.indexOf('approval')).toBeGreaterThan(kinds.indexOf('verdict'));
    expect(json.find((d) => d.json.kind === 'approval')!.json).toMatchObject({
      target: spec.target,
      approval: { step: 1, greenPercent: 50, onTimeout: 'rollback' },
      commands: { approve: expect.stringContaining(`npx modelshift approve ${spec.target}`) },
    });
    expect(json.at(-1)!.json).toMatchObject({ phase: 'promoted', greenPercent: 100 });
    // The Slack hook: only what it asked for, each message in Block Kit's shape, the approval with the commands.
    const slack = taken('/ok/slack');
    expect(slack.map((d) => (d.json.blocks ? 'slack' : 'json'))).toEqual(['slack', 'slack']);
    for (const d of slack) expect(SlackMessage.safeParse(d.json).error?.issues).toBeUndefined();
    expect(slack[0].json.blocks[0].text.text).toBe(`${spec.target}: waiting for approval of step 1 (50%)`);
    expect(slack[0].body).toContain(`npx modelshift approve ${spec.target}`);
    expect(slack[0].body).toContain(`temporal workflow update execute --workflow-id ${id} --name approve`);
    expect(slack[0].headers['x-modelshift-signature']).toBeUndefined(); // no secretEnv: unsigned
  }, 240_000);

  it('a regression found while the step waits still rolls back; approving it after is refused', async () => {
    const spec = testSpec({
      target: uniqueTarget('gate-fail'),
      plan: { steps: [{ percent: 50, approval: true }, 100], dwell: '300ms', probesPerRound: 100, concurrency: 25 },
    });
    await startTestRollout(h.t.client, h.taskQueue, spec);
    await waitForStatus(h.t.client, spec.target, (s) => s.waiting === 'approval', 90_000);
    h.sim.setProfile('gpt-4.1-turbo', { errorRate: 0.5 });
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('rolled_back');
    expect(r.reason).toMatch(/^failed verdict at 50% green: .*error/);
    expect(r.status.approvals ?? []).toEqual([]);
    const late = await modelshift(['approve', spec.target, '--by', 'erin'], env());
    expect(late.code).toBe(1);
    expect(late.stderr.trim().split('\n')).toHaveLength(1);
    expect(late.stderr).toMatch(/approve refused|no running rollout/);
  }, 240_000);

  it('onTimeout: pause holds the rollout for a human; our CLI approves it (by, reason recorded) and it promotes', async () => {
    const spec = testSpec({
      target: uniqueTarget('gate-timeout'),
      plan: {
        steps: [{ percent: 50, approval: { timeout: '2s', onTimeout: 'pause' } }, 100],
        dwell: '300ms',
        probesPerRound: 100,
        concurrency: 25,
      },
    });
    await startTestRollout(h.t.client, h.taskQueue, spec);
    const paused = await waitForStatus(h.t.client, spec.target, (s) => s.phase === 'paused', 90_000);
    expect(paused.reason).toMatch(
      /^no approval for step 1 \(50%\) within \d+(\.\d+)?s \(onTimeout: pause\): approve to continue, abort to roll back$/,
    );
    expect(paused.greenPercent).toBe(50);
    const ok = await modelshift(['approve', spec.target, '--by', 'dave', '--reason', 'checked by hand'], env());
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toMatch(
      new RegExp(`^approve: ${rolloutWorkflowId(spec.target)} step 1 \\(50%\\) approved by dave; now ramping at (50|100)% green$`),
    );
    const r = await result(h.t.client, spec.target);
    expect(r.phase, r.reason).toBe('promoted');
    expect(r.status.approvals).toEqual([expect.objectContaining({ by: 'dave', reason: 'checked by hand' })]);
  }, 240_000);
});

describe('webhooks that fail', () => {
  it('a down receiver does not hold the rollout; a flaky one is retried and gets every event; a rejecting one shows in status', async () => {
    flakyLeft = 2;
    const dead = await deadUrl();
    const spec = testSpec({
      target: uniqueTarget('hooks-down'),
      notify: [{ url: dead }, { url: `${hookBase}/flaky` }, { url: `${hookBase}/reject`, events: ['end'] }],
    });
    const started = Date.now();
    await startTestRollout(h.t.client, h.taskQueue, spec);
    // promoted (routers at 100%) while the dead hook still retries its first event
    const done = await waitForStatus(h.t.client, spec.target, (s) => s.phase === 'promoted', 120_000);
    const elapsed = Date.now() - started;
    expect(done.notifications![0]).toMatchObject({ target: dead.replace('/hook', ''), delivered: 0 });
    expect(done.notifications![0].pending).toBeGreaterThan(0);
    console.log(`[controls] promoted in ${elapsed} ms with a dead webhook (its first event still retrying)`);

    const flaky = await waitForStatus(
      h.t.client,
      spec.target,
      (s) => s.notifications![1].pending === 0 && s.notifications![2].failed === 1,
      60_000,
    );
    const got = taken('/flaky');
    expect(deliveries.filter((d) => d.path === '/flaky' && d.status === 503)).toHaveLength(2); // retried past two 503s
    expect(got.map((d) => d.json.seq)).toEqual(got.map((_, i) => i + 1));
    expect(got.at(-1)!.json.kind).toBe('end');
    expect(flaky.notifications![1]).toMatchObject({ delivered: got.length, failed: 0 });
    expect(flaky.notifications![2]).toMatchObject({ delivered: 0, failed: 1, lastError: expect.stringMatching(/answered 400/) });
    const shown = await modelshift(['status', spec.target], env());
    expect(shown.stdout).toMatch(
      /webhook http:\/\/127\.0\.0\.1:\d+: 0 delivered, 1 failed, 0 pending; last error: notify: http:\/\/127\.0\.0\.1:\d+ answered 400/,
    );
    await h.t.client.workflow
      .getHandle(rolloutWorkflowId(spec.target))
      .terminate('test: the dead webhook would be retried for two minutes');
  }, 240_000);
});

describe('retry and list', () => {
  it('`retry` after an abort runs the same spec again as attempt 2; `list` shows both runs; a second retry while it runs is refused', async () => {
    const target = uniqueTarget('retry');
    const start = await modelshift(
      [
        'start',
        '--target',
        target,
        '--blue',
        'gpt-4.1',
        '--green',
        'gpt-4.1-turbo',
        '--steps',
        '50,100',
        '--dwell',
        '1h',
        '--probes',
        '100',
      ],
      env(),
    );
    expect(start.code, start.stderr).toBe(0);
    await waitForStatus(h.t.client, target, (s) => s.step === 1, 60_000);
    const refused = await modelshift(['retry', target], env());
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/has a running rollout .*abort it first/);
    expect((await modelshift(['abort', target, '--reason', 'bad config'], env())).code).toBe(0);
    const first = await h.t.client.workflow.getHandle(rolloutWorkflowId(target)).describe();

    const retry = await modelshift(['retry', target], env());
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stdout).toMatch(
      new RegExp(`^retry: started ${rolloutWorkflowId(target)} attempt 2 \\(the last run ${first.runId} was rolled_back\\)`),
    );
    const s = await waitForStatus(h.t.client, target, (st) => st.step === 1, 60_000);
    expect(s).toMatchObject({ totalSteps: 2, blue: { model: 'gpt-4.1' }, green: { model: 'gpt-4.1-turbo' } });

    const list = await modelshift(['list', '--target', target, '--json'], env());
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ target, attempt: 2, previousRunId: first.runId, status: 'RUNNING' });
    expect(rows[1]).toMatchObject({ target, attempt: 1, runId: first.runId, phase: 'rolled_back' });
    const text = await modelshift(['list', '--target', target], env());
    expect(text.stdout).toContain(`attempt 2 (retry of run ${first.runId})`);
    expect((await modelshift(['abort', target], env())).code).toBe(0);
    const none = await modelshift(['retry', uniqueTarget('never')], env());
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no rollout for target .* to retry/);
  }, 240_000);
});

describe('the schedule window', () => {
  it('started outside its window, a rollout holds at 0% green and says when the first step starts', async () => {
    const later = WEEKDAYS[(new Date().getUTCDay() + 2) % 7]; // two days on: closed all of today and tomorrow (UTC)
    const spec = testSpec({
      target: uniqueTarget('window'),
      plan: {
        steps: [50, 100],
        dwell: '300ms',
        probesPerRound: 100,
        concurrency: 25,
        window: { days: [later], hours: '00:00-24:00', timezone: 'UTC' },
      },
    });
    await startTestRollout(h.t.client, h.taskQueue, spec);
    const held = await waitForStatus(h.t.client, spec.target, (st) => st.waiting === 'window', 90_000);
    expect(held).toMatchObject({ step: 0, greenPercent: 0 });
    expect(held.hold).toMatch(
      new RegExp(`^outside the schedule window \\(${later} 00:00–24:00 UTC\\): the next step starts at \\d{4}-\\d\\d-\\d\\dT00:00:00Z$`),
    );
    const shown = await modelshift(['status', spec.target], env());
    expect(shown.stdout).toContain('outside the schedule window');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await status(h.t.client, spec.target)).toMatchObject({ step: 0, greenPercent: 0, waiting: 'window' });
    expect((await modelshift(['abort', spec.target], env())).code).toBe(0);
  }, 240_000);
});
