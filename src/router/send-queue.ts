/**
 * How a router delivers its batches to a rollout (live outcomes, shadow pairs): per target, queued
 * batches go out one after the other, in order; the first failure stops the drain (the batch is tried
 * again next interval, with the same id and contents, so the workflow counts it once); a batch is
 * dropped after `maxAttempts` failed sends, or at once when retrying cannot help (the rollout ended).
 */
export interface Queued {
  /** failed sends so far */
  attempts: number;
}

export interface DrainOptions<P extends Queued> {
  send: (p: P) => Promise<void>;
  maxAttempts: number;
  isPermanent: (err: Error) => boolean;
  onSent?: (p: P) => void;
  onError?: (err: Error, dropped: boolean) => void;
}

export async function drainQueue<P extends Queued>(q: P[], o: DrainOptions<P>): Promise<void> {
  while (q.length > 0) {
    const p = q[0];
    try {
      await o.send(p);
      q.shift();
      o.onSent?.(p);
    } catch (err) {
      p.attempts++;
      const drop = p.attempts >= o.maxAttempts || o.isPermanent(err as Error);
      o.onError?.(err as Error, drop);
      if (!drop) break;
      q.shift();
    }
  }
}
