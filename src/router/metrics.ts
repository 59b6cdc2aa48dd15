/** The router's own Prometheus registry (never the global one, so several routers can share a process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Pool } from 'undici';
import type { RatioTracker } from './ratio';
import type { UpstreamPools } from './upstreams';

/** distinct pass-through model names (chosen by clients) with a label of their own; the rest are `_other` */
const MAX_PASSTHROUGH_MODEL_LABELS = 200;

export class RouterMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'target' | 'arm' | 'model' | 'status'>;
  readonly duration: Histogram<'target' | 'arm'>;
  readonly fallbacks: Counter<'target'>;
  readonly substitutions: Counter<'target'>;
  readonly sourceErrors: Counter<'target'>;
  readonly batches: Counter<'target' | 'result'>;
  /** shadow phase: requests picked for a mirror to green, by what became of them */
  readonly shadowRequests = new Counter({
    name: 'modelshift_router_shadow_requests_total',
    help: 'Shadow phase: requests picked to be mirrored to green, by result (mirrored; dropped_queue_full, dropped_too_large; skipped_opt_out, skipped_excluded)',
    labelNames: ['target', 'result'] as const,
    registers: [this.registry],
  });
  readonly shadowSpend = new Counter({
    name: 'modelshift_router_shadow_spend_usd_total',
    help: "Shadow phase: USD spent on mirrors (kind green) and on the judge (kind judge), at the catalog's prices",
    labelNames: ['target', 'kind'] as const,
    registers: [this.registry],
  });
  readonly shadowBatches = new Counter({
    name: 'modelshift_router_shadow_batches_total',
    help: 'Shadow-metrics batches sent to rollouts, by result (sent, retry, dropped)',
    labelNames: ['target', 'result'] as const,
    registers: [this.registry],
  });
  /** models of targets and rollout arms: always their own label (the operator's and rollouts' choice, bounded) */
  private readonly known = new Set<string>();
  /** model names clients sent through unchanged: capped */
  private readonly passthrough = new Set<string>();
  private readonly reqChildren = new Map<string, { inc: (n?: number) => void }>();
  private readonly durChildren = new Map<string, { observe: (v: number) => void }>();

  constructor(tracker: () => RatioTracker | undefined, opts: { defaultMetrics?: boolean; pools?: () => UpstreamPools | undefined } = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'modelshift_router_requests_total',
      help: 'Requests answered, by target (empty for pass-through), arm (blue, green, passthrough; router: answered by the router itself, e.g. a 401), upstream model and status',
      labelNames: ['target', 'arm', 'model', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'modelshift_router_request_duration_seconds',
      help: 'Time from request received to response finished, by target and arm',
      labelNames: ['target', 'arm'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.fallbacks = new Counter({
      name: 'modelshift_router_green_fallbacks_total',
      help: 'Green requests that failed before the first byte and were served by blue',
      labelNames: ['target'],
      registers,
    });
    this.substitutions = new Counter({
      name: 'modelshift_router_green_substitutions_total',
      help: 'Green answers written by another model (the gateway fell back): passed to the user, counted as green failures (substituted)',
      labelNames: ['target'],
      registers,
    });
    this.sourceErrors = new Counter({
      name: 'modelshift_router_ratio_source_errors_total',
      help: 'Failed reads of the ratio source (Temporal status query)',
      labelNames: ['target'],
      registers,
    });
    this.batches = new Counter({
      name: 'modelshift_router_live_batches_total',
      help: 'Live-metrics batches sent to rollouts, by result (sent, retry, dropped)',
      labelNames: ['target', 'result'],
      registers,
    });
    new Gauge({
      name: 'modelshift_router_green_percent',
      aggregator: 'max', // every process of a cluster serves the same ratio: merged, it is one value, not a sum
      help: 'Green share in force per target (0-100)',
      labelNames: ['target'],
      registers,
      collect() {
        this.reset();
        const t = tracker();
        if (t) for (const [name, s] of t.states) this.set({ target: name }, s.percent);
      },
    });
    new Gauge({
      name: 'modelshift_router_ratio_age_seconds',
      aggregator: 'max',
      help: 'Seconds since the ratio of each target was last read from its source (-1: never)',
      labelNames: ['target'],
      registers,
      collect() {
        this.reset();
        const t = tracker();
        if (t)
          for (const name of t.states.keys()) {
            const a = t.ageSeconds(name);
            this.set({ target: name }, Number.isFinite(a) ? a : -1);
          }
      },
    });
    new Gauge({
      name: 'modelshift_router_ratio_stale',
      aggregator: 'max',
      help: '1 when the target is served at its last known ratio because the source could not be read (fail static)',
      labelNames: ['target'],
      registers,
      collect() {
        this.reset();
        const t = tracker();
        if (t) for (const name of t.states.keys()) this.set({ target: name }, t.isStale(name) ? 1 : 0);
      },
    });
    this.poolGauges(opts.pools ?? (() => undefined));
    if (opts.defaultMetrics) {
      collectDefaultMetrics({ register: this.registry, prefix: 'modelshift_router_' });
      // prom-client's three totals are gauges named `…_total`, which `promtool check metrics` refuses (a
      // name for counters only); the per-type gauges they sum (nodejs_active_handles{type} …) stay.
      for (const name of ['handles', 'requests', 'resources'])
        this.registry.removeSingleMetric(`modelshift_router_nodejs_active_${name}_total`);
    }
  }

  /** Per upstream origin: requests waiting for a connection, requests in flight, open connections. */
  private poolGauges(pools: () => UpstreamPools | undefined): void {
    const gauge = (name: string, help: string, read: (stats: Pool['stats']) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['upstream'],
        registers: [this.registry],
        collect() {
          this.reset();
          const byOrigin = new Map<string, number>();
          for (const u of pools()?.all() ?? []) byOrigin.set(u.origin, (byOrigin.get(u.origin) ?? 0) + read(u.pool.stats));
          for (const [origin, v] of byOrigin) this.set({ upstream: origin }, v);
        },
      });
    gauge(
      'modelshift_router_upstream_waiting_requests',
      'Requests waiting for a connection to the upstream (every connection busy, or connecting); above 0 for long: raise --upstream-connections',
      (s) => s.pending,
    );
    gauge('modelshift_router_upstream_active_requests', 'Requests in flight on a connection to the upstream', (s) => s.running);
    gauge('modelshift_router_upstream_connections', 'Open connections to the upstream', (s) => s.connected);
  }

  /** A target's or rollout arm's model: labelled by name however many pass-through names came first. */
  knownModel(model: string): void {
    this.known.add(model);
  }

  /**
   * Bound label cardinality: pass-through model names come from clients, so only the first 200 of
   * them get a label; target and arm models (blue/green) always keep theirs.
   */
  modelLabel(model: string, passthrough = true): string {
    if (!passthrough) {
      this.known.add(model);
      return model;
    }
    if (this.known.has(model) || this.passthrough.has(model)) return model;
    if (this.passthrough.size >= MAX_PASSTHROUGH_MODEL_LABELS) return '_other';
    this.passthrough.add(model);
    return model;
  }

  observe(target: string, arm: string, model: string, status: number | string, seconds: number): void {
    const m = this.modelLabel(model, arm === 'passthrough');
    const key = `${target}\u0000${arm}\u0000${m}\u0000${status}`;
    let c = this.reqChildren.get(key);
    if (!c) {
      c = this.requests.labels(target, arm, m, String(status));
      this.reqChildren.set(key, c);
    }
    c.inc();
    const dkey = `${target}\u0000${arm}`;
    let d = this.durChildren.get(dkey);
    if (!d) {
      d = this.duration.labels(target, arm);
      this.durChildren.set(dkey, d);
    }
    d.observe(seconds);
  }
}
