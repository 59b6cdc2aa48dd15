/**
 * Where the green ratio comes from. The router polls a RatioSource per target and keeps the last
 * good answer: when the source fails it keeps serving that (fail static) and reports the target stale.
 */
import { isClosedPhase, type ArmRef, type Phase } from '../rollout/contract';
import type { ShadowOrders } from '../shadow/orders';

export interface RatioSnapshot {
  greenPercent: number;
  phase?: Phase;
  blue?: ArmRef;
  green?: ArmRef;
  /** phase `shadow`: what the rollout asks routers to mirror to green (src/shadow/mirror.ts) */
  shadow?: ShadowOrders;
}

/** A rollout that is still going (preflight, shadow, ramping, paused — any phase not closed): its live outcomes are reported. */
export const isOpenPhase = (phase: Phase | undefined): boolean => phase !== undefined && !isClosedPhase(phase);

export interface RatioSource {
  /** The target's current rollout, or null when it has none (→ 100 % blue, its configured model). Throws when it cannot tell. */
  get(target: string): Promise<RatioSnapshot | null>;
  /** Targets with a rollout the router was not configured with (optional; failures are ignored). */
  discoverTargets?(): Promise<string[]>;
  close?(): Promise<void>;
}

/**
 * Closed phases fix the ratio whatever the status says: promoted → all green, rolled back / failed → all
 * blue. The shadow phase serves every user from blue too (green only sees mirrors).
 */
export function effectivePercent(s: RatioSnapshot): number {
  if (s.phase === 'promoted') return 100;
  if (s.phase === 'rolled_back' || s.phase === 'failed' || s.phase === 'shadow') return 0;
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
  /** after failures: no scheduled read before this (backoff) */
  nextPollAt: number;
}

/**
 * One target's ratio as one process hands it to another (a cluster's workers, a router following another):
 * ages rather than timestamps, so the two clocks need not agree. Plain JSON.
 */
export interface SharedRatioState {
  snapshot: RatioSnapshot | null | undefined;
  percent: number;
  /** ms since the last good read; null: never read */
  ageMs: number | null;
  lastError: string | null;
  consecutiveFailures: number;
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
  /** after failures the wait between reads doubles from pollIntervalMs up to this (default 5,000 ms) */
  maxBackoffMs?: number;
  /** every target's ratio comes from accept() (a cluster worker): nothing is read, ready once each was accepted */
  follow?: boolean;
  /**
   * Ready (start() resolves) once every target was read successfully, or after this long with whatever
   * was read (default 5,000 ms): a router restarted while its Temporal is slow does not take traffic on a
   * ratio it has not read yet — a user on green would be served blue — yet an unreachable Temporal does
   * not keep it unready for good (fail static: it serves, reports stale, keeps reading).
   */
  readyWithinMs?: number;
  now?: () => number;
  random?: () => number;
  onChange?: (target: string, state: TargetRatioState) => void;
  onError?: (target: string, err: Error) => void;
  /** after every read of a target (good or failed), and every state accepted for it */
  onUpdate?: (target: string, state: TargetRatioState) => void;
}

/**
 * Reads each target's ratio from the source every pollIntervalMs and keeps the last good one (fail
 * static). A target whose source keeps failing is read less and less often (backoff up to maxBackoffMs),
 * so an unreachable Temporal costs little. `version` counts changes of what the router serves (ratio,
 * phase, arms, stale or not), so followers can wait for the next one (changed()).
 */
export class RatioTracker {
  readonly states = new Map<string, TargetRatioState>();
  /** bumped whenever a target's ratio, phase, arms, staleness or error state changes */
  version = 0;
  private timer: NodeJS.Timeout | undefined;
  private discoverTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private firstRound: Promise<void> | undefined;
  private closed = false;
  /** targets whose state comes from accept(), not from the source */
  private readonly followed = new Set<string>();
  private readonly signatures = new Map<string, string>();
  private readonly waiters = new Set<() => void>();
  private readonly accepted = new Set<string>();
  private onFollowedReady: (() => void) | undefined;
  private onFirstReads: (() => void) | undefined;

  constructor(
    private readonly o: RatioTrackerOptions,
    targets: Iterable<string>,
  ) {
    this.now = o.now ?? Date.now;
    for (const t of targets) this.add(t);
    if (o.follow) this.follow(this.states.keys());
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
        nextPollAt: 0,
      };
      this.states.set(target, s);
    }
    return s;
  }

  start(): Promise<void> {
    if (this.firstRound) return this.firstRound;
    if (this.o.follow) {
      this.firstRound = new Promise<void>((resolve) => (this.onFollowedReady = resolve));
      this.checkFollowedReady();
      return this.firstRound;
    }
    const deadline = this.now() + (this.o.readyWithinMs ?? 5_000);
    this.firstRound = new Promise<void>((resolve) => (this.onFirstReads = resolve));
    const settle = () => {
      const unread = [...this.states].some(([t, s]) => !this.followed.has(t) && s.lastSuccessAt === undefined);
      if (!unread || this.now() >= deadline) this.onFirstReads?.();
    };
    void this.pollAll().then(settle);
    this.timer = setInterval(() => void this.pollAll().then(settle), this.o.pollIntervalMs);
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
    this.onFirstReads?.(); // whoever waits for readiness is not left waiting
    if (this.timer) clearInterval(this.timer);
    if (this.discoverTimer) clearInterval(this.discoverTimer);
    for (const w of this.waiters) w();
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

  /** One round: every target that is due (not followed, not backing off); then every target's signature. */
  async pollAll(): Promise<void[]> {
    const now = this.now();
    const due = [...this.states].filter(([t, s]) => !this.followed.has(t) && s.nextPollAt <= now).map(([t]) => t);
    const done = await Promise.all(due.map((t) => this.poll(t)));
    for (const t of this.states.keys()) this.touch(t); // staleness changes with time alone
    return done;
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
      s.nextPollAt = 0;
      if (before !== s.percent || beforePhase !== snap?.phase) this.o.onChange?.(target, s);
    } catch (err) {
      s.lastError = (err as Error).message.split('\n')[0];
      s.consecutiveFailures++;
      s.nextPollAt = this.now() + this.backoffMs(s.consecutiveFailures);
      this.o.onError?.(target, err as Error);
    } finally {
      if (timer) clearTimeout(timer);
      s.inFlight = false;
    }
    this.touch(target);
    this.o.onUpdate?.(target, s);
  }

  /** The wait before the next read after `failures` failures in a row: doubling, capped, ±10 % so a fleet does not retry in step. */
  backoffMs(failures: number): number {
    const cap = Math.max(this.o.pollIntervalMs, this.o.maxBackoffMs ?? 5_000);
    const base = Math.min(cap, this.o.pollIntervalMs * 2 ** Math.min(30, failures - 1));
    return Math.round(base * (0.9 + 0.2 * (this.o.random ?? Math.random)()));
  }

  // ---- sharing: a cluster's workers, routers following another ----

  /** Take these targets' states from accept() from now on (and read them no more); null: read them all again. */
  follow(targets: Iterable<string> | null): void {
    this.followed.clear();
    if (targets) for (const t of targets) this.followed.add(t);
  }

  isFollowed(target: string): boolean {
    return this.followed.has(target);
  }

  share(target: string): SharedRatioState | undefined {
    const s = this.states.get(target);
    if (!s) return undefined;
    const ageMs = s.lastSuccessAt === undefined ? null : Math.max(0, this.now() - s.lastSuccessAt);
    return { snapshot: s.snapshot, percent: s.percent, ageMs, lastError: s.lastError ?? null, consecutiveFailures: s.consecutiveFailures };
  }

  /** A state read elsewhere (the cluster's primary, the router this one follows) for a target this tracker follows. */
  accept(target: string, shared: SharedRatioState): void {
    const s = this.add(target);
    const before = s.percent;
    const beforePhase = s.snapshot?.phase;
    s.snapshot = shared.snapshot;
    s.percent = shared.percent;
    s.lastSuccessAt = shared.ageMs === null ? undefined : this.now() - shared.ageMs;
    s.lastAttemptAt = this.now();
    s.lastError = shared.lastError ?? undefined;
    s.consecutiveFailures = shared.consecutiveFailures;
    if (before !== s.percent || beforePhase !== s.snapshot?.phase) this.o.onChange?.(target, s);
    this.touch(target);
    this.o.onUpdate?.(target, s);
    this.accepted.add(target);
    this.checkFollowedReady();
  }

  private checkFollowedReady(): void {
    if (this.onFollowedReady && [...this.states.keys()].every((t) => this.accepted.has(t))) {
      this.onFollowedReady();
      this.onFollowedReady = undefined;
    }
  }

  /** Resolves with the version once it is past `since`, or after `timeoutMs` (then unchanged). */
  changed(since: number, timeoutMs: number): Promise<number> {
    if (this.version > since || this.closed) return Promise.resolve(this.version);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(this.version);
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
  }

  /** Bump the version when what the target is served with changed (ratio, phase, arms, stale or not, failing or not). */
  private touch(target: string): void {
    const s = this.states.get(target)!;
    const signature = JSON.stringify([s.percent, s.snapshot ?? null, this.isStale(target), s.lastError !== undefined]);
    if (this.signatures.get(target) === signature) return;
    this.signatures.set(target, signature);
    this.version++;
    for (const w of [...this.waiters]) w();
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
