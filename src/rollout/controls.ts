/**
 * Release controls (workflow code: pure, deterministic): approval gates, the schedule window, and the
 * notification events a rollout emits. The spec's zod schemas for them are in ./spec.ts; the machine
 * (./machine.ts) holds a step on a gate or outside the window, and derives the events from its states.
 */

/** A step that needs a human's approval before the rollout leaves it (after it passed and dwelt). */
export interface ApprovalGate {
  /** index into spec.steps */
  stepIndex: number;
  /** how long to wait for the approval */
  timeoutMs: number;
  /** what happens when nobody approves in time */
  onTimeout: 'rollback' | 'pause' | 'proceed';
}

export interface ApprovalRecord {
  /** 1-based step */
  step: number;
  greenPercent: number;
  /** who approved (the update's `by`, or `timeout` when onTimeout: proceed moved on) */
  by: string;
  reason?: string;
  at: string;
}

/** When steps may advance: on these days, between these hours, in this time zone. */
export interface ScheduleWindow {
  /** lower-case three-letter days: mon … sun */
  days: string[];
  /** minutes after local midnight (`toMinute` up to 1440, the day's end); `to` < `from` crosses midnight, `to` = `from` is the whole day */
  fromMinute: number;
  toMinute: number;
  timezone: string;
}

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: timezone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timezone, f);
  }
  return f;
}

/** The local weekday (0 = Sunday) and minute of the day at `ms` in the window's time zone. */
export function localTime(timezone: string, ms: number): { day: number; minute: number } {
  const parts = formatter(timezone).formatToParts(new Date(ms));
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const day = WEEKDAYS.indexOf(get('weekday').toLowerCase().slice(0, 3) as (typeof WEEKDAYS)[number]);
  return { day, minute: Number(get('hour')) * 60 + Number(get('minute')) };
}

/** Is the window open at `ms`? A window crossing midnight belongs to the day it opens on. */
export function windowOpen(w: ScheduleWindow, ms: number): boolean {
  const { day, minute } = localTime(w.timezone, ms);
  const on = (d: number) => w.days.includes(WEEKDAYS[(d + 7) % 7]);
  if (w.fromMinute < w.toMinute) return on(day) && minute >= w.fromMinute && minute < w.toMinute;
  if (w.fromMinute === w.toMinute) return on(day); // the whole day
  return (on(day) && minute >= w.fromMinute) || (on(day - 1) && minute < w.toMinute);
}

/**
 * When the window next opens after `ms` (to the minute), or undefined if it never does within 8 days
 * (no days listed). Steps a minute at a time from the next whole minute: at most 11,520 looks, once per hold.
 */
export function nextOpening(w: ScheduleWindow, ms: number): number | undefined {
  const start = Math.ceil((ms + 1) / 60_000) * 60_000;
  for (let t = start; t <= ms + 8 * 24 * 3_600_000; t += 60_000) if (windowOpen(w, t)) return t;
  return undefined;
}

export const fmtWindow = (w: ScheduleWindow): string => {
  const hm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  return `${w.days.join(',')} ${hm(w.fromMinute)}–${hm(w.toMinute)} ${w.timezone}`;
};

// ---------- notifications ----------

export const NOTIFY_EVENTS = ['phase', 'verdict', 'approval', 'end'] as const;
export type NotifyEventKind = (typeof NOTIFY_EVENTS)[number];

/** A webhook: its URL (or the worker's variable holding it), the events it wants, its signing secret's variable, its format. */
export interface NotifyHook {
  url?: string;
  urlEnv?: string;
  events: NotifyEventKind[];
  secretEnv?: string;
  format: 'json' | 'slack';
}

/** One event, as every hook receives it (numbers and one-line reasons; never prompts or answers). */
export interface NotifyEvent {
  /** 1, 2, … per rollout: receivers may dedupe on (workflowId, seq) — delivery is at least once */
  seq: number;
  kind: NotifyEventKind;
  at: string;
  phase: string;
  step: number;
  totalSteps: number;
  greenPercent: number;
  reason?: string;
  verdict?: { verdict: string; reason: string; errorRate?: { blue: number; green: number }; pairs?: number };
  approval?: { step: number; greenPercent: number; deadline?: string; onTimeout: ApprovalGate['onTimeout'] };
}

/** Per hook: the next event to deliver, and what came of the earlier ones. */
export interface HookProgress {
  next: number;
  delivered: number;
  failed: number;
  lastError?: string;
}

/** Events kept for delivery (a hook that falls further behind skips the oldest, counted as failed). */
export const NOTIFY_EVENTS_KEPT = 100;
