/**
 * `--ratio-from <router>`: take the ratios from another router (GET /modelshift/ratios, a long poll)
 * instead of reading Temporal, so a fleet has ONE reader and what Temporal answers grows with the
 * targets, not with routers × targets. The reader answers the moment anything changes (an abort reaches
 * the followers within the reader's own poll) and otherwise every WAIT_MS, which keeps the ages fresh.
 *
 * Targets the reader does not serve are read as before. While the reader cannot be reached (or answers
 * nonsense), this router reads Temporal itself — the reader is a saving, never a single point of failure
 * — and goes back to following once it answers again.
 */
import { request } from 'undici';
import type { RatiosAnswer } from './handlers/ratios';
import { RATIOS_PATH } from './handlers/ratios';
import type { RouterLogger } from './options';
import type { RatioTracker, SharedRatioState } from './ratio';

/** How long the reader may hold a poll when nothing changes (then it answers anyway, with fresh ages). */
const WAIT_MS = 2_000;
const MAX_RETRY_MS = 5_000;
const MIN_ASK_MS = 100;

export interface FollowOptions {
  /** the reader's base URL, e.g. http://router-0:4000 */
  from: string;
  /** a client key of the reader (this router's first ROUTER_API_KEYS key: a fleet shares them) */
  key: string | undefined;
  tracker: RatioTracker;
  log: RouterLogger;
}

export class RatioFollower {
  private closed = false;
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  /** answers taken from the reader (for tests and /healthz) */
  answers = 0;

  constructor(private readonly o: FollowOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    let version = '';
    let failures = 0;
    while (!this.closed) {
      try {
        const asked = Date.now();
        const answer = await this.ask(version);
        const unchanged = answer.version === version;
        version = answer.version;
        this.take(answer.targets);
        // an answer at once with nothing new (a reader shutting down, a proxy that does not hold): no tight loop
        if (unchanged && Date.now() - asked < MIN_ASK_MS) await new Promise((r) => setTimeout(r, MIN_ASK_MS).unref());
        if (failures > 0) this.o.log.info('following the ratio reader again', { from: this.o.from });
        failures = 0;
      } catch (err) {
        if (this.closed) return;
        if (failures === 0) {
          this.o.log.warn('ratio reader unreachable: reading ratios from Temporal until it answers', {
            from: this.o.from,
            error: (err as Error).message.split('\n')[0],
          });
          this.o.tracker.follow(null);
          void this.o.tracker.pollAll(); // no gap: read now, not at the next tick
        }
        failures++;
        version = '';
        await new Promise((r) => setTimeout(r, Math.min(MAX_RETRY_MS, 250 * 2 ** Math.min(10, failures - 1))).unref());
      }
    }
  }

  private async ask(since: string): Promise<RatiosAnswer> {
    const url = `${this.o.from}${RATIOS_PATH}?since=${encodeURIComponent(since)}&wait=${since ? WAIT_MS : 0}`;
    const r = await request(url, {
      headers: this.o.key ? { authorization: `Bearer ${this.o.key}` } : {},
      signal: this.abort.signal,
      headersTimeout: WAIT_MS + 3_000,
      bodyTimeout: WAIT_MS + 3_000,
    });
    if (r.statusCode !== 200) {
      await r.body.dump();
      throw new Error(`the ratio reader answered ${r.statusCode}`);
    }
    const answer = (await r.body.json()) as RatiosAnswer;
    if (typeof answer?.version !== 'string' || !answer.targets || typeof answer.targets !== 'object')
      throw new Error('the ratio reader sent no ratios');
    return answer;
  }

  /** The reader's states for the targets both serve; the others this router keeps reading itself. */
  private take(targets: Record<string, SharedRatioState>): void {
    const tracker = this.o.tracker;
    const shared = [...tracker.states.keys()].filter((t) => isState(targets[t]));
    tracker.follow(shared);
    for (const t of shared) tracker.accept(t, targets[t]);
    this.answers++;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    await this.loop?.catch(() => undefined);
  }
}

function isState(s: SharedRatioState | undefined): s is SharedRatioState {
  return !!s && typeof s.percent === 'number' && s.percent >= 0 && s.percent <= 100 && (s.ageMs === null || typeof s.ageMs === 'number');
}
