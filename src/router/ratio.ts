/**
 * Where the green ratio comes from. The router polls a RatioSource per target and keeps the last
 * good answer: when the source fails it keeps serving that (fail static) and reports the target stale.
 */
import type { ArmRef, Phase } from '../rollout/contract';

export interface RatioSnapshot {
  greenPercent: number;
  phase?: Phase;
  blue?: ArmRef;
  green?: ArmRef;
}

export interface RatioSource {
  /** The target's current rollout, or null when it has none (→ 100 % blue, its configured model). Throws when it cannot tell. */
  get(target: string): Promise<RatioSnapshot | null>;
  /** Targets with a rollout the router was not configured with (optional; failures are ignored). */
  discoverTargets?(): Promise<string[]>;
  close?(): Promise<void>;
}

/** Closed phases fix the ratio whatever the status says: promoted → all green, rolled back / failed → all blue. */
export function effectivePercent(s: RatioSnapshot): number {
  if (s.phase === 'promoted') return 100;
  if (s.phase === 'rolled_back' || s.phase === 'failed') return 0;
  const p = Number(s.greenPercent);
  return Number.isFinite(p) ? Math.min(100, Math.max(0, p)) : 0;
}

/** In-memory source for tests and library users: `set` changes take effect on the next poll. */
export class StaticRatioSource implements RatioSource {
  private readonly map = new Map<string, RatioSnapshot | null>();
  private failure: Error | undefined;
  calls = 0;

  constructor(initial: Record<string, RatioSnapshot | number | null> = {}) {
    for (const [t, v] of Object.entries(initial)) this.set(t, v);
  }

  set(target: string, v: RatioSnapshot | number | null): void {
    this.map.set(target, typeof v === 'number' ? { greenPercent: v, phase: 'ramping' } : v);
  }

  /** Make every `get` throw (simulates an unreachable Temporal) until `recover()`. */
  fail(err: Error = new Error('ratio source unavailable')): void {
    this.failure = err;
  }

  recover(): void {
    this.failure = undefined;
  }

  async get(target: string): Promise<RatioSnapshot | null> {
    this.calls++;
    if (this.failure) throw this.failure;
    return this.map.get(target) ?? null;
  }

  async discoverTargets(): Promise<string[]> {
    if (this.failure) throw this.failure;
    return [...this.map.keys()];
  }
}

export interface TargetRatioState {
  /** last good snapshot (undefined: none yet / no rollout) */
  snapshot: RatioSnapshot | null | undefined;
  /** effective green percentage in force */
  percent: number;
  lastSuccessAt: number | undefined;
  lastAttemptAt: number | undefined;
  lastError: string | undefined;
  consecutiveFailures: number;
  inFlight: boolean;
  /** when the router started tracking the target */
  since: number;
}

export interface RatioTrackerOptions {
  source: RatioSource;
  pollIntervalMs: number;
  /** a target is stale when its source has not answered for longer than this */
  staleAfterMs: number;
  /** per-call timeout on the source */
  timeoutMs: number;
  /** how often to look for targets not in the config (0 = never) */
  discoverIntervalMs: number;
  now?: () => number;
  onChange?: (target: string, state: TargetRatioState) => void;
  onError?: (target: string, err: Error) => void;
}

export class RatioTracker {
  readonly states = new Map<string, TargetRatioState>();
  private timer: NodeJS.Timeout | undefined;
  private discoverTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private firstRound: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly o: RatioTrackerOptions,
    targets: Iterable<string>,
  ) {
    this.now = o.now ?? Date.now;
    for (const t of targets) this.add(t);
  }

  add(target: string): TargetRatioState {
    let s = this.states.get(target);
    if (!s) {
      s = {
        snapshot: undefined,
        percent: 0,
        lastSuccessAt: undefined,
        lastAttemptAt: undefined,
        lastError: undefined,
        consecutiveFailures: 0,
        inFlight: false,
        since: this.now(),
      };
      this.states.set(target, s);
    }
    return s;
  }

  start(): Promise<void> {
    if (this.firstRound) return this.firstRound;
    this.firstRound = this.pollAll().then(() => undefined);
    this.timer = setInterval(() => void this.pollAll(), this.o.pollIntervalMs);
    this.timer.unref();
    if (this.o.discoverIntervalMs > 0 && this.o.source.discoverTargets) {
      void this.discover();
      this.discoverTimer = setInterval(() => void this.discover(), this.o.discoverIntervalMs);
      this.discoverTimer.unref();
    }
    return this.firstRound;
  }

  stop(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.discoverTimer) clearInterval(this.discoverTimer);
  }

  async discover(): Promise<void> {
    try {
      const found = (await this.o.source.discoverTargets?.()) ?? [];
      for (const t of found)
        if (!this.states.has(t)) {
          this.add(t);
          void this.poll(t);
        }
    } catch {
      // discovery is best effort; configured targets are polled regardless
    }
  }

  pollAll(): Promise<void[]> {
    return Promise.all([...this.states.keys()].map((t) => this.poll(t)));
  }

  async poll(target: string): Promise<void> {
    const s = this.add(target);
    if (s.inFlight || this.closed) return;
    s.inFlight = true;
    s.lastAttemptAt = this.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const snap = await Promise.race([
        this.o.source.get(target),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`ratio source timed out after ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
        }),
      ]);
      const before = s.percent;
      const beforePhase = s.snapshot?.phase;
      s.snapshot = snap;
      s.percent = snap ? effectivePercent(snap) : 0;
      s.lastSuccessAt = this.now();
      s.lastError = undefined;
      s.consecutiveFailures = 0;
      if (before !== s.percent || beforePhase !== snap?.phase) this.o.onChange?.(target, s);
    } catch (err) {
      s.lastError = (err as Error).message.split('\n')[0];
      s.consecutiveFailures++;
      this.o.onError?.(target, err as Error);
    } finally {
      if (timer) clearTimeout(timer);
      s.inFlight = false;
    }
  }

  /** Seconds since the target's ratio was last confirmed (Infinity: never). */
  ageSeconds(target: string): number {
    const s = this.states.get(target);
    if (!s?.lastSuccessAt) return Infinity;
    return (this.now() - s.lastSuccessAt) / 1000;
  }

  isStale(target: string): boolean {
    const s = this.states.get(target);
    if (!s) return true;
    return this.now() - (s.lastSuccessAt ?? s.since) > this.o.staleAfterMs;
  }
}
