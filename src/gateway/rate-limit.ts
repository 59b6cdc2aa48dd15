/**
 * Token-bucket limiter per (gateway, model), shared by every request in this worker process, that paces
 * itself down when the gateway says 429: the rate in use halves (at most once a second) and no token is
 * handed out before the 429's Retry-After; each success wins back 5% of the rate in use, up to the
 * configured one (additive-increase/multiplicative-decrease, as TCP does). So a worker configured above
 * the gateway's limit settles just under it instead of spending most requests on 429s.
 * Hand-written (about 50 lines) because it must be awaitable with an AbortSignal, re-tunable when a spec
 * changes rpm, and fed by the gateway's answers; p-limit bounds concurrency, not rate.
 */
export class TokenBucket {
  private tokens: number;
  private last = Date.now();
  /** the rate in use (≤ the configured rate) */
  private rate: number;
  private notBefore = 0;
  private lastCut = 0;
  /** `burst`: tokens it may hand out at once (default a tenth of the rate: 6 s of it). */
  constructor(
    private ratePerMinute: number,
    private readonly burstSize?: number,
  ) {
    this.rate = ratePerMinute;
    this.tokens = this.burst();
  }

  private burst(): number {
    return this.burstSize ?? Math.max(1, Math.ceil(this.rate / 10));
  }

  setRate(ratePerMinute: number): void {
    if (ratePerMinute === this.ratePerMinute) return;
    this.ratePerMinute = ratePerMinute;
    this.rate = Math.min(this.rate, ratePerMinute);
    this.tokens = Math.min(this.tokens, this.burst());
  }

  /** The rate this limiter hands out tokens at now (requests per minute). */
  currentRate(): number {
    return this.rate;
  }

  /** The gateway answered 429: slow down, and wait out its Retry-After. */
  throttled(retryAfterMs?: number): void {
    const now = Date.now();
    if (retryAfterMs && retryAfterMs > 0) this.notBefore = Math.max(this.notBefore, now + Math.min(retryAfterMs, 60_000));
    if (now - this.lastCut < 1000) return;
    this.lastCut = now;
    this.rate = Math.max(Math.max(1, this.ratePerMinute / 100), this.rate / 2);
    this.tokens = Math.min(this.tokens, 0);
  }

  /** The gateway answered: win back some of the rate. */
  succeeded(): void {
    if (this.rate < this.ratePerMinute) this.rate = Math.min(this.ratePerMinute, this.rate * 1.05);
  }

  private refill(): void {
    const now = Date.now();
    this.tokens = Math.min(this.burst(), this.tokens + ((now - this.last) * this.rate) / 60_000);
    this.last = now;
  }

  /** Wait until a request may be sent. */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const blocked = this.notBefore - Date.now();
      if (blocked > 0) {
        await sleep(blocked, signal);
        continue;
      }
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      const waitMs = Math.ceil(((1 - this.tokens) * 60_000) / this.rate);
      await sleep(waitMs, signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const buckets = new Map<string, TokenBucket>();

/** The process-wide bucket for one model on one gateway. */
export function limiterFor(baseURL: string, model: string, rpm: number): TokenBucket {
  const key = `${baseURL}\u0000${model}`;
  let b = buckets.get(key);
  if (!b) {
    b = new TokenBucket(rpm);
    buckets.set(key, b);
  } else b.setRate(rpm);
  return b;
}
