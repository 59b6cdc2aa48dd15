// Token bucket: capacity = rpm (burst), refilled continuously at rpm / 60 s.

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    public readonly rpm: number,
    now = performance.now(),
  ) {
    this.tokens = rpm;
    this.last = now;
  }

  /** Take one token. Returns 0 if granted, else the ms until a token is available. */
  take(now = performance.now()): number {
    const perMs = this.rpm / 60_000;
    this.tokens = Math.min(this.rpm, this.tokens + (now - this.last) * perMs);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return (1 - this.tokens) / perMs;
  }

  remaining(): number {
    return Math.floor(this.tokens);
  }
}
