/**
 * Release controls without a server (issue 15): approval gates, the schedule window and the notification
 * queue, as the spec parses them and the machine (src/rollout/machine.ts) runs them.
 */
import { describe, expect, it } from 'vitest';
import { fmtWindow, nextOpening, NOTIFY_EVENTS_KEPT, windowOpen, type ScheduleWindow } from '../../src/rollout/controls';
import * as m from '../../src/rollout/machine';
import { DEFAULT_APPROVAL_TIMEOUT_MS, parseSpec, type SpecInput } from '../../src/rollout/spec';
import { SpecError } from '../../src/spec/errors';

const base = { target: 't', blue: { model: 'b' }, green: { model: 'g' } };
const spec = (plan: Record<string, unknown> = {}, over: Partial<SpecInput> = {}) =>
  parseSpec({ ...base, plan: { steps: [10, { percent: 50, approval: true }, 100], dwell: '30s', ...plan }, ...over });
const refusal = (raw: unknown) => {
  try {
    parseSpec(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(SpecError);
    return (err as Error).message;
  }
  throw new Error('expected the spec to be refused');
};

/** The state at `stepIndex` with its step passed and dwelt: the machine's next move is to leave it. */
function leaving(sp: ReturnType<typeof spec>, stepIndex: number): m.RolloutState {
  let s = m.preflightPassed(m.initialState('2026-01-01T00:00:00.000Z'));
  for (let i = 0; i <= stepIndex; i++) s = m.advance(sp, s, 0);
  return { ...s, stage: { kind: 'next-step' } };
}

describe('spec: approval gates, window, notify', () => {
  it('reads a gated step: the percent joins the steps, the gate waits 24 h and rolls back by default', () => {
    const s = spec();
    expect(s.steps).toEqual([10, 50, 100]);
    expect(s.gates).toEqual([{ stepIndex: 1, timeoutMs: DEFAULT_APPROVAL_TIMEOUT_MS, onTimeout: 'rollback' }]);
    const own = spec({ steps: [10, { percent: 50, approval: { timeout: '2h', onTimeout: 'pause' } }, 100] });
    expect(own.gates).toEqual([{ stepIndex: 1, timeoutMs: 2 * 3_600_000, onTimeout: 'pause' }]);
    expect(spec({ steps: [10, { percent: 50, approval: false }, 100] }).gates).toBeUndefined();
  });

  it('refuses a bad gate, window or webhook with the field and the fix', () => {
    expect(refusal({ ...base, plan: { steps: [10, { percent: 50, approval: { onTimeout: 'wait' } }, 100] } })).toMatch(
      /plan\.steps\[1\]\.approval\.onTimeout.*rollback, pause or proceed/,
    );
    expect(refusal({ ...base, plan: { steps: [10, 100], window: { timezone: 'Mars/Olympus' } } })).toMatch(
      /plan\.window\.timezone.*IANA time zone/,
    );
    expect(refusal({ ...base, plan: { steps: [10, 100], window: { hours: '9-17' } } })).toMatch(/plan\.window\.hours.*09:00-17:00/);
    expect(refusal({ ...base, plan: { steps: [10, 100], window: { days: ['someday'] } } })).toMatch(/plan\.window\.days.*mon, tue/);
    expect(refusal({ ...base, notify: [{ url: 'https://hooks.example.com/x?token=s3cret' }] })).toMatch(/notify\[0\]\.url.*urlEnv/);
    expect(refusal({ ...base, notify: [{ url: 'https://a.example/x', urlEnv: 'HOOK_URL' }] })).toMatch(/notify\[0\].*not both/);
    expect(refusal({ ...base, notify: [{ urlEnv: 'HOOK_URL', secretEnv: 'TEMPORAL_API_KEY' }] })).toMatch(
      /notify\[0\]\.secretEnv.*never TEMPORAL_/,
    );
    expect(refusal({ ...base, notify: [{ url: 'https://a.example/x', format: 'teams' }] })).toMatch(/notify\[0\]\.format.*json or slack/);
  });

  it('reads a window and webhooks with their defaults', () => {
    const s = spec(
      { window: { days: ['Mon', 'tue'], hours: '22:00-06:00', timezone: 'Europe/Berlin' } },
      { notify: [{ url: 'https://hooks.example.com/modelshift' }] },
    );
    expect(s.window).toEqual({ days: ['mon', 'tue'], fromMinute: 22 * 60, toMinute: 6 * 60, timezone: 'Europe/Berlin' });
    expect(s.notify).toEqual([
      { url: 'https://hooks.example.com/modelshift', events: ['phase', 'verdict', 'approval', 'end'], format: 'json' },
    ]);
  });
});

describe('the schedule window', () => {
  // 2026-12-07 is a Monday; Berlin is UTC+1 in December.
  const officeHours: ScheduleWindow = {
    days: ['mon', 'tue', 'wed', 'thu', 'fri'],
    fromMinute: 9 * 60,
    toMinute: 17 * 60,
    timezone: 'Europe/Berlin',
  };
  const at = (iso: string) => Date.parse(iso);

  it('is open on its days between its hours, in its time zone', () => {
    expect(windowOpen(officeHours, at('2026-12-07T08:00:00Z'))).toBe(true); // 09:00 Berlin
    expect(windowOpen(officeHours, at('2026-12-07T07:59:00Z'))).toBe(false); // 08:59 Berlin
    expect(windowOpen(officeHours, at('2026-12-07T16:00:00Z'))).toBe(false); // 17:00 Berlin: closed
    expect(windowOpen(officeHours, at('2026-12-05T10:00:00Z'))).toBe(false); // Saturday
    expect(fmtWindow(officeHours)).toBe('mon,tue,wed,thu,fri 09:00–17:00 Europe/Berlin');
  });

  it('crosses midnight: the night belongs to the day it opens on', () => {
    const nights: ScheduleWindow = { days: ['fri'], fromMinute: 22 * 60, toMinute: 6 * 60, timezone: 'UTC' };
    expect(windowOpen(nights, at('2026-12-04T23:00:00Z'))).toBe(true); // Friday 23:00
    expect(windowOpen(nights, at('2026-12-05T05:59:00Z'))).toBe(true); // Saturday 05:59, Friday's night
    expect(windowOpen(nights, at('2026-12-05T22:30:00Z'))).toBe(false); // Saturday night is not listed
  });

  it('names the next opening to the minute, across a weekend', () => {
    expect(new Date(nextOpening(officeHours, at('2026-12-04T17:30:00Z'))!).toISOString()).toBe('2026-12-07T08:00:00.000Z'); // Friday evening → Monday 09:00 Berlin
  });
});

describe('machine: approval gates', () => {
  it('holds a gated step after it passed, with a deadline; other steps move on', () => {
    const sp = spec();
    expect(m.advanceOrHold(sp, leaving(sp, 0), 1000).stepIndex).toBe(1); // step 1 has no gate
    const held = m.advanceOrHold(sp, leaving(sp, 1), 1000);
    expect(held.stepIndex).toBe(1);
    expect(held.stage).toEqual({ kind: 'awaiting-approval', since: 1000, deadline: 1000 + DEFAULT_APPROVAL_TIMEOUT_MS, lastWatchAt: 1000 });
    expect(m.next(held)).toEqual({ kind: 'hold', for: 'approval' });
    const st = m.toStatus(sp, held);
    expect(st.waiting).toBe('approval');
    expect(st.hold).toMatch(/^waiting for approval of step 2 \(50%\) since .*then rollback\): npx modelshift approve t --reason/);
  });

  it('an approval records who and why, then the rollout moves on; approving twice is refused', () => {
    const sp = spec();
    const held = m.advanceOrHold(sp, leaving(sp, 1), 1000);
    expect(m.approvalRefusal(sp, held)).toBeUndefined();
    const ok = m.approve(held, 'alice@ops', 'dashboards look fine', '2026-12-02T10:00:00.000Z');
    expect(ok.approvals).toEqual([
      { step: 2, greenPercent: 50, by: 'alice@ops', reason: 'dashboards look fine', at: '2026-12-02T10:00:00.000Z' },
    ]);
    expect(m.next(ok)).toEqual({ kind: 'advance' });
    expect(m.approvalRefusal(sp, ok)).toMatch(/not waiting for an approval .*gates: step 2 \(50%\)/);
    expect(m.advanceOrHold(sp, ok, 2000).stepIndex).toBe(2); // approved: no second hold at the same step
    expect(m.approvalRefusal(spec({ steps: [10, 100] }), leaving(spec({ steps: [10, 100] }), 0))).toMatch(/has no approval gates/);
  });

  it('applies the timeout policy at the deadline: rollback, pause (then approve), proceed', () => {
    const gated = (onTimeout: string) => spec({ steps: [10, { percent: 50, approval: { timeout: '1h', onTimeout } }, 100] });
    const hold = (sp: ReturnType<typeof spec>) => m.advanceOrHold(sp, leaving(sp, 1), 0);
    const hour = 3_600_000;

    const rb = gated('rollback');
    expect(m.holdTick(rb, hold(rb), hour - 1).outcome).toBeUndefined();
    const rolled = m.holdTick(rb, hold(rb), hour);
    expect(rolled.outcome).toMatchObject({ phase: 'rolled_back' });
    expect(rolled.greenPercent).toBe(0);
    expect(rolled.outcome!.reason).toMatch(/no approval for step 2 \(50%\) within 1h.*onTimeout: rollback/);

    const pz = gated('pause');
    const paused = m.holdTick(pz, hold(pz), hour);
    expect(paused.pause?.reason).toMatch(/onTimeout: pause\): approve to continue, abort to roll back/);
    expect(paused.stage).toMatchObject({ kind: 'awaiting-approval', deadline: undefined });
    const approved = m.approve(paused, 'bob', undefined, 'now');
    expect(approved.pause).toBeUndefined();
    expect(m.next(approved)).toEqual({ kind: 'advance' });

    const pr = gated('proceed');
    const on = m.holdTick(pr, hold(pr), hour);
    expect(on.approvals).toEqual([expect.objectContaining({ step: 2, by: 'timeout' })]);
    expect(m.next(on)).toEqual({ kind: 'advance' });
  });

  it('a hold sleeps until the next watch round (once a dwell, 1 s – 1 min) or the deadline, whichever comes first', () => {
    const sp = spec({ steps: [10, { percent: 50, approval: { timeout: '30s' } }, 100] });
    const held = m.advanceOrHold(sp, leaving(sp, 1), 0);
    expect(m.holdWaitMs(sp, held, 0, true)).toBe(30_000); // dwell 30 s: a watch round at the deadline
    const short = spec({ steps: [10, { percent: 50, approval: { timeout: '10s' } }, 100] });
    expect(m.holdWaitMs(short, m.advanceOrHold(short, leaving(short, 1), 0), 0, true)).toBe(10_000);
    const hourly = spec({ dwell: '1h' });
    const long = m.advanceOrHold(hourly, leaving(hourly, 1), 0);
    expect(m.watchIntervalMs(hourly)).toBe(60_000); // at least once a minute
    expect(m.holdWaitMs(hourly, long, 0, true)).toBe(60_000);
    expect(m.watchDue(hourly, long, 59_999)).toBe(false);
    expect(m.watchDue(hourly, long, 60_000)).toBe(true);
    expect(m.watchIntervalMs(spec({ dwell: '100ms' }))).toBe(1_000); // at most once a second
  });
});

describe('machine: the schedule window', () => {
  const closedNow: ScheduleWindow = { days: ['sun'], fromMinute: 0, toMinute: 60, timezone: 'UTC' };
  const monday = Date.parse('2026-12-07T12:00:00Z');

  it('holds the next step outside the window and starts it when the window opens', () => {
    const sp = { ...spec({ steps: [10, 50, 100] }), window: closedNow };
    const held = m.advanceOrHold(sp, leaving(sp, 0), monday);
    expect(held.stepIndex).toBe(0);
    expect(held.stage).toMatchObject({ kind: 'outside-window', opensAt: Date.parse('2026-12-13T00:00:00Z') });
    expect(m.toStatus(sp, held).hold).toMatch(
      /outside the schedule window \(sun 00:00–01:00 UTC\): the next step starts at 2026-12-13T00:00:00Z/,
    );
    expect(m.holdTick(sp, held, monday + 60_000).stage.kind).toBe('outside-window');
    const open = m.holdTick(sp, held, Date.parse('2026-12-13T00:00:00Z'));
    expect(m.next(open)).toEqual({ kind: 'advance' });
    expect(m.advanceOrHold(sp, open, Date.parse('2026-12-13T00:00:00Z')).stepIndex).toBe(1);
  });
});

describe('machine: notification events', () => {
  const hooks = (events?: string[][]) =>
    spec(
      { steps: [10, { percent: 50, approval: true }, 100] },
      {
        notify: (events ?? [undefined]).map((e, i) => ({
          url: `https://hook${i}.example/x`,
          ...(e ? { events: e } : {}),
        })) as SpecInput['notify'],
      },
    );

  it('derives a phase change, an approval request and the end, numbered in order', () => {
    const sp = hooks();
    const s0 = m.initialState('2026-01-01T00:00:00.000Z');
    const s1 = m.preflightPassed(s0);
    let s = m.enqueueEvents(sp, s1, m.eventsBetween(sp, s0, s1, 'a'));
    const held = m.advanceOrHold(sp, leaving(sp, 1), 0);
    s = m.enqueueEvents(sp, { ...held, notify: s.notify }, m.eventsBetween(sp, leaving(sp, 1), held, 'b'));
    const ended = m.abort(s, 'operator');
    s = m.enqueueEvents(sp, ended, m.eventsBetween(sp, s, ended, 'c'));
    expect(s.notify!.events.map((e) => [e.seq, e.kind])).toEqual([
      [1, 'phase'],
      [2, 'approval'],
      [3, 'end'],
    ]);
    expect(s.notify!.events[1].approval).toMatchObject({ step: 2, greenPercent: 50, onTimeout: 'rollback' });
    expect(s.notify!.events[2]).toMatchObject({ phase: 'rolled_back', reason: expect.stringMatching(/operator/) });
  });

  it('delivers each hook only the events it wants, in order, and drops what every hook has had', () => {
    const sp = hooks([['end'], ['phase', 'approval', 'end']]);
    let s = m.initialState('x');
    const ev = (kind: 'phase' | 'approval' | 'end') => ({ kind, at: 'x', phase: 'ramping', step: 1, totalSteps: 3, greenPercent: 10 });
    s = m.enqueueEvents(sp, s, [ev('phase'), ev('approval'), ev('end')]);
    expect(m.nextEventFor(sp, s, 0)?.seq).toBe(3);
    expect(m.nextEventFor(sp, s, 1)?.seq).toBe(1);
    s = m.eventDone(s, 1, 1);
    s = m.eventDone(s, 1, 2, 'HTTP 503');
    expect(m.nextEventFor(sp, s, 1)?.seq).toBe(3);
    expect(m.notifyDrained(sp, s)).toBe(false);
    s = m.eventDone(m.eventDone(s, 0, 3), 1, 3);
    expect(m.notifyDrained(sp, s)).toBe(true);
    expect(s.notify!.events).toEqual([]);
    expect(s.notify!.hooks).toEqual([
      { next: 4, delivered: 1, failed: 0 },
      { next: 4, delivered: 2, failed: 1, lastError: 'HTTP 503' },
    ]);
    expect(m.toStatus(sp, s).notifications).toEqual([
      { target: 'https://hook0.example', delivered: 1, failed: 0, pending: 0 },
      { target: 'https://hook1.example', delivered: 2, failed: 1, pending: 0, lastError: 'HTTP 503' },
    ]);
  });

  it('keeps at most NOTIFY_EVENTS_KEPT events: a hook that fell behind counts the ones it missed as failed', () => {
    const sp = hooks([['phase'], ['end']]);
    const ev = { kind: 'phase' as const, at: 'x', phase: 'ramping', step: 1, totalSteps: 3, greenPercent: 10 };
    const s = m.enqueueEvents(
      sp,
      m.initialState('x'),
      Array.from({ length: NOTIFY_EVENTS_KEPT + 5 }, () => ev),
    );
    expect(s.notify!.events).toHaveLength(NOTIFY_EVENTS_KEPT);
    expect(s.notify!.hooks[0]).toMatchObject({ next: 6, failed: 5 });
    expect(s.notify!.hooks[1]).toMatchObject({ next: 6, failed: 0 }); // it wanted none of them
    // a delivery of an event that was dropped meanwhile does not move the hook backwards
    expect(m.eventDone(s, 0, 2).notify!.hooks[0].next).toBe(6);
  });
});
