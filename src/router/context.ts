/**
 * Everything a request handler needs, built ONCE per router: the resolved options, the logger, the
 * metrics, the ratio tracker (which arm each target's users get), the live aggregator (outcomes sent
 * back to the rollouts), the upstream pools, the key/origin policy, and the arm resolution on top of
 * them: which arms a target has right now, which one a user gets, and where and with which key to call it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { ArmRef } from '../gateway/arm';
import { assignArm, type Arm } from './assign';
import { errors, send, type ApiError } from './errors';
import { failedOutcome, type Outcome } from './live-stats';
import { RouterMetrics } from './metrics';
import { resolveSettings, type ArmConfig, type RouterLogger, type RouterOptions, type Settings } from './options';
import { ArmProblem, UpstreamPolicy } from './policy';
import { isOpenPhase, RatioTracker, type RatioSource } from './ratio';
import { isPermanent, LiveAggregator } from './reporter';
import { UpstreamPools, type ResolvedArm } from './upstreams';
import { ShadowBatcher } from '../shadow/batch';
import { ShadowMirror, type ActiveShadow } from '../shadow/mirror';

/** How long a connection refused with a 413 still takes (and discards) the client's bytes before it is closed. */
const LINGER_MS = 1_000;

/** A target's arms right now: green undefined when it has no rollout (then percent is 0). */
export interface TargetArms {
  blue: ArmRef;
  green: ArmRef | undefined;
  percent: number;
}

export class RouterContext {
  readonly settings: Settings;
  readonly log: RouterLogger;
  readonly policy: UpstreamPolicy;
  readonly metrics: RouterMetrics;
  readonly source: RatioSource;
  readonly tracker: RatioTracker;
  readonly live: LiveAggregator;
  readonly pools: UpstreamPools;
  /** the shadow phase: mirrors to green off the user's path, their pairs batched to the rollout */
  readonly shadowBatches: ShadowBatcher;
  readonly shadow: ShadowMirror;
  /** GET /v1/models: the gateway's list, reused for 30 s (handlers/models.ts) */
  modelsCache: { at: number; data: unknown[] } | undefined;
  /** the first round of ratio reads has finished (/readyz) */
  isReady = false;
  /** close() was called (/readyz answers 503) */
  closing = false;
  /** requests this process has been handed (/healthz) */
  requestsSeen = 0;
  private readonly problemsLogged = new Set<string>();

  /** Throws when the options name a forbidden key variable or a URL that is not http(s) (see policy.ts). */
  constructor(options: RouterOptions) {
    const s = (this.settings = resolveSettings(options));
    this.log = s.log;
    this.policy = new UpstreamPolicy({
      gateway: s.gateway,
      targets: s.targets,
      keyEnvs: options.keyEnvs,
      allowedOrigins: options.allowedOrigins,
      env: s.env,
    });
    this.metrics = new RouterMetrics(() => this.tracker, { defaultMetrics: options.processMetrics, pools: () => this.pools });
    for (const t of s.targets.values()) this.metrics.knownModel(t.blue.model);
    this.source = options.ratioSource ?? { get: async () => null };
    this.tracker = this.createTracker(options);
    this.live = this.createLive(options);
    this.pools = new UpstreamPools({
      connections: s.connectionsPerUpstream,
      headersTimeout: s.headersTimeoutMs,
      bodyTimeout: s.bodyTimeoutMs,
    });
    this.shadowBatches = this.createShadowBatches(options);
    this.shadow = new ShadowMirror(
      {
        active: (target) => this.activeShadow(target),
        resolve: (ref) => this.resolveArm(ref, undefined),
        price: (model, usage) => this.cost(model, usage.inputTokens, usage.outputTokens),
        priced: s.priced,
        exclusions: (target) => s.targets.get(target)?.shadow,
        metrics: this.metrics,
        log: this.log,
        random: s.random,
        batcher: this.shadowBatches,
      },
      s.shadow,
    );
  }

  private createShadowBatches(options: RouterOptions): ShadowBatcher {
    const reporter = options.reporter;
    return new ShadowBatcher({
      report: reporter?.reportShadow ? (target, batch) => reporter.reportShadow!(target, batch) : undefined,
      intervalMs: options.reportIntervalMs ?? 5_000,
      routerId: this.live.routerId,
      isPermanent,
      onSent: (target) => this.metrics.shadowBatches.labels(target, 'sent').inc(),
      onError: (target, err, dropped) => {
        this.metrics.shadowBatches.labels(target, dropped ? 'dropped' : 'retry').inc();
        this.log.warn('shadow metrics batch not delivered', { target, dropped, error: err.message.split('\n')[0] });
      },
    });
  }

  /**
   * The target's shadow orders while it mirrors: phase `shadow`, a green, not stopped — and a ratio read
   * recently (a stale one may hide a stop: no mirrors on a guess).
   */
  activeShadow(target: string): ActiveShadow | undefined {
    const snap = this.tracker.states.get(target)?.snapshot;
    const orders = snap?.shadow;
    if (snap?.phase !== 'shadow' || !orders || orders.stopped || !(orders.percent > 0) || !snap.green) return undefined;
    if (this.tracker.isStale(target)) return undefined;
    return { orders, green: snap.green };
  }

  private createTracker(options: RouterOptions): RatioTracker {
    return new RatioTracker(
      {
        source: this.source,
        pollIntervalMs: options.pollIntervalMs ?? 300,
        staleAfterMs: options.staleAfterMs ?? 5_000,
        timeoutMs: options.sourceTimeoutMs ?? 1_000,
        discoverIntervalMs: options.ratioSource ? (options.discoverIntervalMs ?? 0) : 0,
        maxBackoffMs: options.maxBackoffMs,
        follow: options.followRatios,
        onChange: (target, s) => {
          if (s.snapshot?.blue) this.metrics.knownModel(s.snapshot.blue.model);
          if (s.snapshot?.green) this.metrics.knownModel(s.snapshot.green.model);
          this.log.info('ratio changed', {
            target,
            greenPercent: s.percent,
            phase: s.snapshot?.phase ?? 'none',
            blue: s.snapshot?.blue?.model ?? this.settings.targets.get(target)?.blue.model,
            green: s.snapshot?.green?.model,
          });
        },
        onError: (target) => {
          this.metrics.sourceErrors.labels(target).inc();
          const s = this.tracker.states.get(target);
          if (s && s.consecutiveFailures === 1)
            this.log.warn('ratio source unreachable; serving the last known ratio', {
              target,
              greenPercent: s.percent,
              error: s.lastError,
            });
        },
      },
      this.settings.targets.keys(),
    );
  }

  private createLive(options: RouterOptions): LiveAggregator {
    return new LiveAggregator({
      reporter: options.reporter,
      intervalMs: options.reportIntervalMs ?? 5_000,
      shouldReport: (target) => {
        return isOpenPhase(this.tracker.states.get(target)?.snapshot?.phase);
      },
      onSent: (target) => this.metrics.batches.labels(target, 'sent').inc(),
      onError: (target, err, dropped) => {
        this.metrics.batches.labels(target, dropped ? 'dropped' : 'retry').inc();
        this.log.warn('live metrics batch not delivered', { target, dropped, error: err.message.split('\n')[0] });
      },
    });
  }

  // ---- arm resolution ----

  /** A configured target, or one with a rollout the tracker has seen. */
  isTarget(model: string): boolean {
    return this.settings.targets.has(model) || this.tracker.states.get(model)?.snapshot != null;
  }

  /** The target's configured blue arm (undefined for a target only a rollout names). */
  configuredBlue(target: string): ArmConfig | undefined {
    return this.settings.targets.get(target)?.blue;
  }

  /** Blue and green of a target right now: the rollout's, else the configured blue alone. */
  arms(target: string): TargetArms | undefined {
    const s = this.tracker.states.get(target);
    const snap = s?.snapshot;
    const blue = snap?.blue ?? this.configuredBlue(target);
    if (!blue) return undefined;
    return { blue, green: snap?.green, percent: snap?.green ? (s?.percent ?? 0) : 0 };
  }

  /** The arm a user of `target` gets now (sticky by user; random without one). */
  assign(target: string, a: TargetArms, user: string | undefined): Arm {
    return a.green ? assignArm(target, a.percent, user, this.settings.random) : 'blue';
  }

  route(model: string, user: string | undefined): { target: string; arm: Arm; model: string } | undefined {
    if (!this.isTarget(model)) return undefined;
    const a = this.arms(model);
    if (!a) return undefined;
    const arm = this.assign(model, a, user);
    return { target: model, arm, model: arm === 'green' ? a.green!.model : a.blue.model };
  }

  /** An arm's upstream and key, or why the policy refuses it (see UpstreamPolicy.resolve). */
  resolveArm(ref: ArmRef, cfg: ArmConfig | undefined): ResolvedArm | ArmProblem {
    const g = this.policy.resolve(ref, cfg);
    if (g instanceof ArmProblem) return g;
    return { model: ref.model, up: this.pools.get(g.baseURL), authorization: g.authorization, secret: g.secret };
  }

  /** The default upstream with the gateway's key (pass-through models and paths). */
  defaultUpstream(): Omit<ResolvedArm, 'model'> | undefined {
    const g = this.policy.gateway();
    return g && { up: this.pools.get(g.baseURL), authorization: g.authorization, secret: g.secret };
  }

  // ---- outcomes ----

  cost(model: string, inputTokens: number, outputTokens: number): number {
    return this.settings.cost ? this.settings.cost(model, { inputTokens, outputTokens }) : 0;
  }

  /** One answered request: /metrics always; the live aggregate (the rollout's verdict) for a target's arm. */
  record(target: string, arm: Arm | '', model: string, status: number | string, outcome: Outcome, started: number): void {
    this.metrics.observe(target, arm || 'passthrough', model, status, (performance.now() - started) / 1000);
    if (target && arm) this.live.record(target, arm, outcome);
  }

  /**
   * Answer with the router's own error, no upstream called (a 400, 401, 404, 405 or 413 before routing,
   * a classifier failure, no upstream configured): counted in /metrics as target "", arm "router".
   */
  answer(res: ServerResponse, err: ApiError, started: number): void {
    this.metrics.observe('', 'router', '', err.status, (performance.now() - started) / 1000);
    send(res, err);
  }

  /**
   * 413 with `connection: close`, then the connection is closed; the rest of the body is never used.
   * A lingering close: node:http would destroy the socket right after the response while the client is
   * still sending, and a socket closed with unread data sends a reset, which makes the client drop the
   * 413 it has not read yet. So the router half-closes (FIN after the response), throws away what still
   * arrives, and destroys the socket LINGER_MS later.
   */
  tooLarge(req: IncomingMessage, res: ServerResponse, started: number): void {
    const socket = req.socket;
    socket.destroySoon = () => {
      socket.end();
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    };
    req.resume();
    this.answer(res, errors.bodyTooLarge(this.settings.maxBodyBytes), started);
  }

  /** A green answer another model wrote (counted as a `substituted` failure by the caller): /metrics, and a log line once per target and reason. */
  substituted(target: string, model: string, reason: string): void {
    this.metrics.substitutions.labels(target).inc();
    const key = `${target}\u0000substituted\u0000${reason}`;
    if (!this.problemsLogged.has(key) && this.problemsLogged.size < 1_000) {
      this.problemsLogged.add(key);
      this.log.warn('green answered by another model: counted as a green failure (substituted); the user got the answer', {
        target,
        model,
        reason,
      });
    }
  }

  /** Fail a request whose arm cannot be called: 502, counted as an `auth` error of that arm, logged once. */
  refuseArm(res: ServerResponse, p: ArmProblem, target: string, arm: Arm, model: string, started: number): void {
    const key = `${target}\u0000${arm}\u0000${p.code}\u0000${p.detail}`;
    if (!this.problemsLogged.has(key) && this.problemsLogged.size < 1_000) {
      this.problemsLogged.add(key);
      this.log.error('arm refused: requests to it fail with 502 until the rollout or the router config is fixed', {
        target,
        arm,
        model,
        code: p.code,
        detail: p.detail,
      });
    }
    const errorClass = p.code === 'no_upstream' ? 'connection' : 'auth';
    this.record(target, arm, model, p.code, failedOutcome(errorClass, 0), started);
    send(res, errors.armRefused(arm, target, p.code));
  }
}
