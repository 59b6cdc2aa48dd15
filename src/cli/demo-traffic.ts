/**
 * Steady demo traffic through the router (what a team's application would send), so the ratio moving
 * and a rollback show in the router's /metrics and in the rollout's live counts. Bounded: a fixed
 * request rate with at most `concurrency` requests in flight, until stopped.
 */
import OpenAI from 'openai';

export interface DemoTraffic {
  /** The rollout target the traffic asks for (the router maps it to blue or green). */
  target: string;
  sent: number;
  failed: number;
  stop(): Promise<void>;
}

export function startDemoTraffic(opts: {
  routerURL: string;
  apiKey: string;
  target: string;
  rps?: number;
  users?: number;
  concurrency?: number;
}): DemoTraffic {
  const client = new OpenAI({ baseURL: opts.routerURL, apiKey: opts.apiKey, maxRetries: 0, timeout: 30_000 });
  const rps = opts.rps ?? 20;
  const users = opts.users ?? 500;
  const concurrency = opts.concurrency ?? 50;
  let inFlight = 0;
  let i = 0;
  const pending = new Set<Promise<unknown>>();
  const traffic: DemoTraffic = {
    target: opts.target,
    sent: 0,
    failed: 0,
    async stop() {
      clearInterval(timer);
      await Promise.allSettled([...pending]);
    },
  };
  const timer = setInterval(() => {
    if (inFlight >= concurrency) return;
    inFlight++;
    traffic.sent++;
    const user = `user-${i++ % users}`;
    const p = client.chat.completions
      .create({ model: traffic.target, user, messages: [{ role: 'user', content: 'What is the capital of Japan?' }], max_tokens: 64 })
      .catch(() => {
        traffic.failed++;
      })
      .finally(() => {
        inFlight--;
        pending.delete(p);
      });
    pending.add(p);
  }, 1000 / rps);
  timer.unref();
  return traffic;
}
