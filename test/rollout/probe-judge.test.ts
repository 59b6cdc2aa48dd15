/**
 * guards.judge on probe pairs (no shadow phase), on the dev server with the real worker and the HTTP
 * simulator as the gateway: the judge model (the simulator's judge behaviour) grades a sample of the
 * probe pairs blind. A green whose answers the simulator makes worse is rolled back on the judge's net
 * loss rate; an equal green is promoted with the judge's grades and spend in the status; no judge
 * prompt or answer reaches the history.
 */
import { describe, expect, it } from 'vitest';
import { statusText } from '../../src/rollout/render';
import { JUDGE_SYSTEM_PROMPT } from '../../src/shadow/judge';
import { useHarness } from '../helpers/harness';
import { result, startTestRollout, testSpec, uniqueTarget } from '../helpers/rollout';
import { historyText } from '../helpers/temporal';

const JUDGE = 'deepseek-v3.2';
const h = useHarness({
  sim: {
    latencyScale: 0.02,
    seed: 14,
    models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 }, [JUDGE]: { errorRate: 0, judgeNoise: 0.05 } },
  },
  queue: 'probe-judge',
});

const judged = (target: string) =>
  testSpec({ target, guards: { maxHoldRounds: 1000, judge: { model: JUDGE, samplePercent: 50, maxLossRate: 0.1 } } });

describe('the judge on probe pairs', () => {
  it("a green whose answers the simulator makes worse is rolled back on the judge's loss rate; its spend is reported; no judge text in history", async () => {
    h.sim.setProfile('gpt-4.1-turbo', { degradedShare: 0.5 });
    try {
      const spec = judged(uniqueTarget('pj-worse'));
      const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
      const r = await result(h.t.client, spec.target);
      expect(r.phase).toBe('rolled_back');
      expect(r.reason).toMatch(/failed verdict at 50% green: .*the judge preferred blue in \d+, green in \d+/);
      const j = r.status.probes.judge!;
      expect(j.judged).toBeGreaterThan(0);
      expect(j.greenLost).toBeGreaterThan(j.greenWon);
      expect(j.spendUsd).toBeGreaterThan(0);
      expect(statusText(r.status)).toMatch(/judge \d+ judged of \d+ asked \(green lost \d+, won \d+\), spend \$/);
      const text = historyText(await handle.fetchHistory());
      expect(text).not.toContain(JUDGE_SYSTEM_PROMPT.slice(0, 40));
      expect(text).not.toContain('<answer_a>');
      console.log(
        `[probe judge] worse green: ${j.judged} judged of ${j.asked}, lost ${j.greenLost}, won ${j.greenWon}, spend $${j.spendUsd.toFixed(6)}`,
      );
    } finally {
      h.sim.setProfile('gpt-4.1-turbo', { degradedShare: 0 });
    }
  });

  it('an equal green is promoted with the judge on; the judge graded at least 30 pairs and its spend is booked apart', async () => {
    const spec = judged(uniqueTarget('pj-equal'));
    await startTestRollout(h.t.client, h.taskQueue, spec);
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('promoted');
    const j = r.status.probes.judge!;
    expect(j.judged).toBeGreaterThanOrEqual(30);
    expect(j.spendUsd).toBeGreaterThan(0);
    // the judge's spend is its own: neither arm's probe spend includes it
    const armSpend = r.status.probes.spendUsd.blue + r.status.probes.spendUsd.green;
    expect(armSpend).toBeGreaterThan(0);
    console.log(
      `[probe judge] equal green: ${j.judged} judged of ${j.asked}, lost ${j.greenLost}, won ${j.greenWon}, spend $${j.spendUsd.toFixed(6)}, arms $${armSpend.toFixed(6)}`,
    );
  });
});
