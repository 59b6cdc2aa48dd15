/**
 * Token-bucket limiter per (gateway, model), shared by every batch in this worker process.
 * Hand-written (about 30 lines) because the limiter must be awaitable with an AbortSignal and be
 * re-tunable when a spec changes rpm; p-limit bounds concurrency, not rate.
 */
export class TokenBucket {
  private tokens: number;
  private last = Date.now();
  constructor(private ratePerMinute: number, private burst: number = Math.max(1, Math.ceil(ratePerMinute / 10))) {
    this.tokens = this.burst;
  }

  setRate(ratePerMinute: number, burst = Math.max(1, Math.ceil(ratePerMinute / 10))): void {
    this.ratePerMinute = ratePerMinute;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  private refill(): void {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerMinute) / 60_000);
    this.last = now;
  }

  /** Wait until a request may be sent. */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      const waitMs = Math.ceil(((1 - this.tokens) * 60_000) / this.ratePerMinute);
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
