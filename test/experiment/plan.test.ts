import { describe, expect, it } from 'vitest';
import { DEFAULT_CATALOG } from '../../src/catalog/prices';
import type { ExperimentInput } from '../../src/experiment/contract';
import * as plan from '../../src/experiment/plan';
import { batchInput, batchLimits, checkExperimentInput, plannedRounds } from '../../src/experiment/plan';
import { DEFAULT_TEST_CASES } from '../../src/experiment/prompts';
import { input, settings } from './fixtures';

describe('experiment input checks', () => {
  it('checks workflow input independently of the CLI', () => {
    const base: ExperimentInput = {
      models: [{ model: 'a' }],
      prompts: DEFAULT_TEST_CASES,
      settings: { ...settings },
      catalog: DEFAULT_CATALOG,
    };
    expect(checkExperimentInput(base)).toBeUndefined();
    expect(checkExperimentInput({ ...base, models: [] })).toBe('models: expected at least one model');
    expect(checkExperimentInput({ ...base, settings: { ...settings, durationMs: 1000 } })).toBe(
      'settings.rounds: give exactly one of rounds or durationMs',
    );
  });

  it('names the field of per-model limits and of the prompts', () => {
    const base: ExperimentInput = {
      models: [{ model: 'a' }],
      prompts: DEFAULT_TEST_CASES,
      settings: { ...settings },
      catalog: DEFAULT_CATALOG,
    };
    expect(checkExperimentInput({ ...base, models: [{ model: 'a' }, { model: 'a' }] })).toBe('models.1.model: a is listed twice');
    expect(checkExperimentInput({ ...base, models: [{ model: 'a', concurrency: 0 }] })).toBe(
      'models.0.concurrency: expected a whole number >= 1',
    );
    expect(checkExperimentInput({ ...base, models: [{ model: 'a', rpm: 1.5 }] })).toBe('models.0.rpm: expected a whole number >= 1');
    expect(checkExperimentInput({ ...base, prompts: [{ name: 'x', messages: [] }] })).toBe(
      'prompts.0.messages: expected at least one message',
    );
  });
});

describe('rounds planning', () => {
  it('plans the fixed rounds, or as many intervals as fit in the duration (at least one)', () => {
    expect(plannedRounds({ ...settings, rounds: 7 })).toBe(7);
    expect(plannedRounds({ ...settings, rounds: undefined, durationMs: 2000, intervalMs: 500 })).toBe(4);
    expect(plannedRounds({ ...settings, rounds: undefined, durationMs: 2001, intervalMs: 500 })).toBe(5);
    expect(plannedRounds({ ...settings, rounds: undefined, durationMs: 100, intervalMs: 5000 })).toBe(1);
  });

  it('runs a fixed number of rounds and ends right after the last, without waiting for its interval', () => {
    const s = { ...settings, rounds: 2, intervalMs: 1000 };
    let r = plan.initialRounds();
    expect(r).toMatchObject({ status: 'running', round: 0, roundsDone: 0, batchesInFlight: 0 });
    expect(plan.mayStartRound(s, r)).toBe(true);
    r = plan.startRound(s, r);
    expect(r).toMatchObject({ round: 1, roundsDone: 0, intervalPassed: false });
    r = plan.finishRound(r);
    expect(plan.lastPlannedRoundDone(s, r)).toBe(false);
    expect(plan.waitOver(r)).toBe(false); // the interval has not passed
    r = plan.passInterval(r);
    expect(plan.waitOver(r)).toBe(true);
    expect(plan.mayStartRound(s, r)).toBe(true);
    r = plan.finishRound(plan.startRound(s, r));
    expect(r).toMatchObject({ round: 2, roundsDone: 2 });
    expect(plan.lastPlannedRoundDone(s, r)).toBe(true);
    expect(plan.mayStartRound(s, r)).toBe(false);
    expect(plan.ended(r, false).status).toBe('completed');
  });

  it('needs no interval timer when the interval is 0: the next round may follow at once', () => {
    const s = { ...settings, rounds: 3, intervalMs: 0 };
    const r = plan.startRound(s, plan.initialRounds());
    expect(r.intervalPassed).toBe(true);
    expect(plan.waitOver(plan.finishRound(r))).toBe(true);
  });

  it('runs for a duration: no new round once the deadline passed, and never more than the intervals that fit', () => {
    const s = { ...settings, rounds: undefined, durationMs: 2000, intervalMs: 500 };
    let r = plan.initialRounds();
    for (let i = 0; i < 4; i++) {
      expect(plan.mayStartRound(s, r)).toBe(true);
      r = plan.passInterval(plan.finishRound(plan.startRound(s, r)));
      expect(plan.lastPlannedRoundDone(s, r)).toBe(false); // a timed run always waits (the deadline or the interval)
    }
    expect(plan.mayStartRound(s, r)).toBe(false); // ceil(2000 / 500) rounds
    const early = plan.passDeadline(plan.finishRound(plan.startRound(s, plan.initialRounds())));
    expect(plan.waitOver(early)).toBe(true);
    expect(plan.mayStartRound(s, early)).toBe(false);
    expect(plan.ended(early, false)).toMatchObject({ status: 'completed', roundsDone: 1 });
  });

  it('stops on request: "stopping" while batches finish, then "stopped"; cancellation wins', () => {
    const s = { ...settings, rounds: 100, intervalMs: 1000 };
    let r = plan.batchStarted(plan.startRound(s, plan.initialRounds()));
    r = plan.requestStop(r);
    expect(r).toMatchObject({ status: 'stopping', stopRequested: true, batchesInFlight: 1 });
    expect(plan.waitOver(r)).toBe(true);
    expect(plan.mayStartRound(s, r)).toBe(false);
    r = plan.finishRound(plan.batchEnded(r));
    expect(r.batchesInFlight).toBe(0);
    expect(plan.ended(r, false).status).toBe('stopped');
    expect(plan.ended(r, true).status).toBe('cancelled');
    // A second stop, or a stop after the end, does not change the status.
    expect(plan.requestStop(plan.ended(r, false)).status).toBe('stopped');
    expect(plan.requestStop(r).status).toBe('stopping');
  });

  it('has planned rounds only for a fixed-rounds experiment', () => {
    expect(plan.roundsPlanned({ ...settings, rounds: 3 })).toBe(3);
    expect(plan.roundsPlanned({ ...settings, rounds: undefined, durationMs: 1000 })).toBeNull();
  });
});

describe('batch limits and input', () => {
  it('takes per-model overrides of concurrency and rpm, and a start-to-close a healthy batch never hits', () => {
    const s = { ...settings, concurrency: 4, rpm: null, timeoutMs: 30_000, attempts: 1 };
    expect(batchLimits({ model: 'a' }, s, 10)).toEqual({ concurrency: 4, rpm: null, startToCloseMs: 3 * 30_000 + 30_000 });
    expect(batchLimits({ model: 'a', concurrency: 10, rpm: 60 }, s, 10)).toEqual({
      concurrency: 10,
      rpm: 60,
      startToCloseMs: 30_000 + 10_000 + 30_000,
    });
    expect(batchLimits({ model: 'a', rpm: null }, { ...s, rpm: 120 }, 2).rpm).toBeNull();
    // retries: each try's timeout plus the seed backoff (10 s cap) between tries
    expect(batchLimits({ model: 'a' }, { ...s, attempts: 3 }, 4).startToCloseMs).toBe(3 * 30_000 + 2 * 10_000 + 30_000);
  });

  it('sends every prompt to the model, with its limits and the experiment settings, and no key', () => {
    const exp = input({ rounds: 2, temperature: 0.2, maxTokens: 50, timeoutMs: 5000, attempts: 2 }, ['m'], DEFAULT_TEST_CASES);
    const m = { model: 'm', baseURL: 'http://gw.example/v1', apiKeyEnv: 'M_KEY', concurrency: 3 };
    const limits = batchLimits(m, exp.settings, exp.prompts.length);
    expect(batchInput(m, limits, exp.settings, exp.prompts, 2)).toEqual({
      round: 2,
      target: { model: 'm', baseURL: 'http://gw.example/v1', apiKeyEnv: 'M_KEY' },
      prompts: DEFAULT_TEST_CASES,
      concurrency: 3,
      rpm: null,
      temperature: 0.2,
      maxTokens: 50,
      timeoutMs: 5000,
      attempts: 2,
    });
  });
});
