/**
 * Connections to the upstreams: one keep-alive undici Pool per upstream base URL, created on first use
 * and kept until the router closes. A pool holds up to `connections` sockets to its origin; a request that
 * finds them all busy (a streamed completion keeps its socket until the stream ends) waits in the pool.
 */
import { Pool } from 'undici';

export interface Upstream {
  pool: Pool;
  origin: string;
  /** the base URL's path without a trailing slash, e.g. `/v1` */
  basePath: string;
}

/** An arm ready to call: its model, its upstream, and the credentials policy.ts granted it. */
export interface ResolvedArm {
  model: string;
  up: Upstream;
  authorization: string;
  secret: string;
}

export interface PoolOptions {
  /** per origin; 0 = no limit */
  connections: number;
  /** time to response headers */
  headersTimeout: number;
  /** idle time between body chunks */
  bodyTimeout: number;
}

export class UpstreamPools {
  private readonly pools = new Map<string, Upstream>();

  constructor(private readonly o: PoolOptions) {}

  get(baseURL: string): Upstream {
    let u = this.pools.get(baseURL);
    if (!u) {
      const url = new URL(baseURL);
      u = {
        pool: new Pool(url.origin, {
          connections: this.o.connections > 0 ? this.o.connections : null,
          pipelining: 1,
          keepAliveTimeout: 30_000,
          headersTimeout: this.o.headersTimeout,
          bodyTimeout: this.o.bodyTimeout,
        }),
        origin: url.origin,
        basePath: url.pathname.replace(/\/+$/, ''),
      };
      this.pools.set(baseURL, u);
    }
    return u;
  }

  /** Each upstream origin's pool, for /metrics. */
  *all(): Iterable<Upstream> {
    yield* this.pools.values();
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((u) => u.pool.close().catch(() => undefined)));
  }
}
