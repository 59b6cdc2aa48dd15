/**
 * `modelshift router --workers N`: N router processes serving one port (node:cluster; the primary accepts
 * the connections and hands them to the workers in turn). One node:http + undici process tops out at one
 * core, so this is how the router uses all of them.
 *
 * - One ratio reader per host: the PRIMARY reads every target's ratio (from Temporal, or from the router
 *   it follows) and pushes each read to every worker at once, so all of them serve the same ratio and
 *   an abort reaches each within the primary's poll. Workers read nothing themselves.
 * - Live outcomes are counted once: each worker aggregates its own requests and hands each sealed interval
 *   to the primary (dropped duplicates by batch id), which merges them and sends one liveMetrics batch per
 *   target and interval for the whole host. Shadow pairs (each worker mirrors its own requests) go the
 *   same way: one shadowMetrics batch per target and interval for the host.
 * - /metrics on any worker answers for the whole router: the primary merges every worker's registry and
 *   its own (counters summed, the ratio gauges taken once).
 * - A worker that dies is replaced; SIGTERM/SIGINT to the primary stops the workers (each finishes its
 *   requests and hands over its last outcomes), then the primary sends the last batches and exits.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { Failure } from '../errors';
import type { RouterSettings } from './config';
import { RouterMetrics } from './metrics';
import type { Router, RouterLogger, RouterOptions } from './options';
import { isOpenPhase, RatioTracker, type RatioSource, type SharedRatioState } from './ratio';
import { isPermanent, LiveAggregator, type LiveBatch, type LiveReporter } from './reporter';
import { ShadowBatcher } from '../shadow/batch';
import type { ShadowBatch } from '../shadow/contract';
import { createRouter } from './server';

/** One registry's metrics as getMetricsAsJSON() gives them (what AggregatorRegistry.aggregate merges). */
type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

type ToWorker =
  | { t: 'ratio'; target: string; state: SharedRatioState }
  | { t: 'stop' }
  | { t: 'metrics-get'; id: number }
  | { t: 'metrics-text'; id: number; text?: string; error?: string };
type ToPrimary =
  | { t: 'listening'; url: string }
  | { t: 'listen-error'; message: string }
  | { t: 'live'; target: string; batch: LiveBatch }
  | { t: 'shadow'; target: string; batch: ShadowBatch }
  | { t: 'metrics-req'; id: number }
  | { t: 'metrics-json'; id: number; metrics: MetricsJson };

/** Workers that die this many times within CRASH_WINDOW_MS stop being replaced: the primary exits (1). */
const MAX_CRASHES = 5;
const CRASH_WINDOW_MS = 60_000;
const STOP_TIMEOUT_MS = 25_000;
/** Workers hand their outcomes to the primary at least this often (the primary reports on its own interval). */
const WORKER_REPORT_MS = 1_000;

export interface PrimaryOptions {
  settings: RouterSettings;
  workers: number;
  /** where ratios come from (undefined: every target 100 % blue) */
  source: RatioSource | undefined;
  /** where live outcomes go (undefined: nowhere) */
  reporter: LiveReporter | undefined;
  log: RouterLogger;
  /** called once the primary has stopped (to close connections) */
  onStopped?: () => Promise<void>;
}

/** The primary of a router cluster: the one ratio reader, the one live reporter, the workers' keeper. */
export class RouterPrimary {
  readonly tracker: RatioTracker;
  readonly live: LiveAggregator;
  /** the workers' shadow pairs, merged: one shadowMetrics batch per target and interval for the host */
  readonly shadow: ShadowBatcher;
  readonly metrics: RouterMetrics;
  private readonly workers = new Set<Worker>();
  private readonly crashes: number[] = [];
  private readonly seenBatches = new Set<string>();
  private readonly metricsRequests = new Map<number, { want: number; got: MetricsJson[]; done: (text: string) => void }>();
  private nextRequestId = 0;
  private stopping: Promise<void> | undefined;

  constructor(private readonly o: PrimaryOptions) {
    const s = o.settings;
    this.tracker = new RatioTracker(
      {
        source: o.source ?? { get: async () => null },
        pollIntervalMs: s.pollIntervalMs,
        staleAfterMs: s.staleAfterMs,
        timeoutMs: 1_000,
        discoverIntervalMs: 0,
        onUpdate: (target) => this.broadcast({ t: 'ratio', target, state: this.tracker.share(target)! }),
        onError: (target) => this.metrics.sourceErrors.labels(target).inc(),
        onChange: (target, st) => o.log.info('ratio changed', { target, greenPercent: st.percent, phase: st.snapshot?.phase ?? 'none' }),
      },
      Object.keys(s.targets),
    );
    this.metrics = new RouterMetrics(() => this.tracker, { defaultMetrics: true });
    this.live = new LiveAggregator({
      reporter: o.reporter,
      intervalMs: s.reportIntervalMs,
      shouldReport: (target) => isOpenPhase(this.tracker.states.get(target)?.snapshot?.phase),
      onSent: (target) => this.metrics.batches.labels(target, 'sent').inc(),
      onError: (target, err, dropped) => {
        this.metrics.batches.labels(target, dropped ? 'dropped' : 'retry').inc();
        o.log.warn('live metrics batch not delivered', { target, dropped, error: err.message.split('\n')[0] });
      },
    });
    this.shadow = this.createShadow();
  }

  private createShadow(): ShadowBatcher {
    const reporter = this.o.reporter;
    return new ShadowBatcher({
      report: reporter?.reportShadow ? (target, batch) => reporter.reportShadow!(target, batch) : undefined,
      intervalMs: this.o.settings.reportIntervalMs,
      routerId: this.live.routerId,
      isPermanent,
      onSent: (target) => this.metrics.shadowBatches.labels(target, 'sent').inc(),
      onError: (target, err, dropped) => {
        this.metrics.shadowBatches.labels(target, dropped ? 'dropped' : 'retry').inc();
        this.o.log.warn('shadow metrics batch not delivered', { target, dropped, error: err.message.split('\n')[0] });
      },
    });
  }

  /** Read every ratio once, then start the workers; resolves when all of them listen (a listen error: Failure). */
  async start(): Promise<void> {
    await this.tracker.start();
    this.live.start();
    this.shadow.start();
    const listening = await Promise.all(Array.from({ length: this.o.workers }, () => this.fork()));
    const failed = listening.find((l) => l.error);
    if (failed) {
      await this.stop();
      throw new Failure(`cannot listen on ${this.o.settings.host}:${this.o.settings.port}: ${failed.error}`);
    }
    this.o.log.info('router listening', {
      url: listening[0].url,
      workers: this.o.workers,
      targets: Object.keys(this.o.settings.targets),
      open: this.o.settings.apiKeys.length === 0,
    });
  }

  private fork(): Promise<{ url?: string; error?: string }> {
    const w = cluster.fork();
    this.workers.add(w);
    w.on('message', (m: ToPrimary) => this.onMessage(w, m));
    w.once('exit', (code, signal) => this.onExit(w, code, signal));
    // everything the worker needs before it can serve: each target's ratio as read so far
    w.once('online', () => {
      for (const target of this.tracker.states.keys()) send(w, { t: 'ratio', target, state: this.tracker.share(target)! });
    });
    return new Promise((resolve) => {
      const onMessage = (m: ToPrimary) => {
        if (m.t !== 'listening' && m.t !== 'listen-error') return;
        w.off('message', onMessage);
        w.off('exit', onExit);
        resolve(m.t === 'listening' ? { url: m.url } : { error: m.message });
      };
      const onExit = (code: number | null) => resolve({ error: `the worker exited (${code}) before listening` });
      w.on('message', onMessage);
      w.once('exit', onExit);
    });
  }

  private onMessage(w: Worker, m: ToPrimary): void {
    if (m.t === 'live') {
      if (this.seenBatches.has(m.batch.batchId)) return; // re-sent after a failed send: counted once
      this.seenBatches.add(m.batch.batchId);
      if (this.seenBatches.size > 10_000) this.seenBatches.delete(this.seenBatches.values().next().value!);
      this.live.merge(m.target, m.batch);
    } else if (m.t === 'shadow') {
      if (this.seenBatches.has(m.batch.batchId)) return;
      this.seenBatches.add(m.batch.batchId);
      this.shadow.merge(m.target, m.batch);
    } else if (m.t === 'metrics-req') {
      void this.clusterMetrics().then(
        (text) => send(w, { t: 'metrics-text', id: m.id, text }),
        (err: Error) => send(w, { t: 'metrics-text', id: m.id, error: err.message }),
      );
    } else if (m.t === 'metrics-json') {
      const r = this.metricsRequests.get(m.id);
      if (!r) return;
      r.got.push(m.metrics);
      if (r.got.length === r.want) r.done('');
    }
  }

  private onExit(w: Worker, code: number | null, signal: string | null): void {
    this.workers.delete(w);
    if (this.stopping) return;
    const now = Date.now();
    this.crashes.push(now);
    while (this.crashes.length && now - this.crashes[0] > CRASH_WINDOW_MS) this.crashes.shift();
    this.o.log.error('router worker died; starting another', { pid: w.process.pid, code, signal, recentCrashes: this.crashes.length });
    if (this.crashes.length >= MAX_CRASHES) {
      this.o.log.error('router workers keep dying; stopping the router', { crashes: this.crashes.length });
      void this.stop().then(() => process.exit(1));
      return;
    }
    void this.fork();
  }

  private broadcast(m: ToWorker): void {
    for (const w of this.workers) send(w, m);
  }

  /** Every worker's registry and the primary's own, merged (counters summed, ratio gauges taken once). */
  async clusterMetrics(): Promise<string> {
    const id = this.nextRequestId++;
    const workers = [...this.workers].filter((w) => w.isConnected());
    const got: MetricsJson[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2_000); // a busy or dying worker: merge what came
      this.metricsRequests.set(id, {
        want: workers.length,
        got,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      if (workers.length === 0) resolve();
      for (const w of workers) send(w, { t: 'metrics-get', id });
    });
    this.metricsRequests.delete(id);
    const own = await this.metrics.registry.getMetricsAsJSON();
    return AggregatorRegistry.aggregate([...got, own]).metrics();
  }

  /** Stop the workers (each drains its requests and hands over its outcomes), then send the last batches. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.tracker.stop();
      const exited = [...this.workers].map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r()))));
      this.broadcast({ t: 'stop' });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(exited), new Promise<void>((r) => (timer = setTimeout(r, STOP_TIMEOUT_MS)))]);
      clearTimeout(timer);
      for (const w of this.workers) w.process.kill('SIGKILL');
      await this.live.close();
      await this.shadow.close();
      await this.o.source?.close?.();
      await this.o.onStopped?.();
    })();
    return this.stopping;
  }
}

function send(w: Worker, m: ToWorker): void {
  if (w.isConnected()) w.send(m, undefined, () => undefined); // a worker that just died: nothing to tell it
}

function sendToPrimary(m: ToPrimary): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.connected) return reject(new Error('the router primary is gone'));
    process.send!(m, undefined, {}, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * A worker of a router cluster: a router that reads no ratio (its primary pushes them), hands its live
 * outcomes to the primary, and answers /metrics with the whole cluster's. Resolves once it listens.
 */
export async function runWorker(s: RouterSettings, options: RouterOptions): Promise<Router> {
  const pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();
  let next = 0;
  const metricsText = () =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      sendToPrimary({ t: 'metrics-req', id }).catch(reject);
    });
  // Built before anything is awaited: the primary's first messages (every ratio) cannot arrive before the listener.
  const router = createRouter({
    ...options,
    ratioSource: undefined,
    followRatios: true,
    reporter: {
      report: (target, batch) => sendToPrimary({ t: 'live', target, batch }),
      reportShadow: (target, batch) => sendToPrimary({ t: 'shadow', target, batch }),
    },
    reportIntervalMs: Math.min(WORKER_REPORT_MS, s.reportIntervalMs),
    metricsText,
    workerId: cluster.worker?.id ?? 0,
  });
  process.on('message', (m: ToWorker) => {
    if (m.t === 'ratio') router.tracker.accept(m.target, m.state);
    else if (m.t === 'stop') void stop();
    else if (m.t === 'metrics-get')
      void router.metrics.registry.getMetricsAsJSON().then((metrics) => sendToPrimary({ t: 'metrics-json', id: m.id, metrics }));
    else if (m.t === 'metrics-text') {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.text !== undefined) p?.resolve(m.text);
      else p?.reject(new Error(m.error ?? 'cluster metrics failed'));
    }
  });
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await router.close(); // drains requests, hands the last outcomes to the primary
      process.exit(0);
    })());
  // the primary decides when to stop (Ctrl-C reaches every process of the group: it tells the workers)
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => void stop());
  process.on('disconnect', () => void stop()); // the primary is gone
  try {
    const { url } = await router.listen(s.port, s.host);
    await sendToPrimary({ t: 'listening', url });
  } catch (err) {
    await sendToPrimary({ t: 'listen-error', message: (err as Error).message.split('\n')[0] }).catch(() => undefined);
    process.exit(1);
  }
  return router;
}
