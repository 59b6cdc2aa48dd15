// Seeded pseudo-random numbers (the simulator, sample routing, the verdict bench).
//
// Hand-written on purpose: Math.random() cannot be seeded, and a test run must be
// reproducible for a given request order. mulberry32 is a tiny, fast 32-bit PRNG
// with good enough statistical quality for fault injection (not for crypto).

export type Rng = () => number; // uniform in [0, 1)

export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a hash of a string mixed with a numeric seed, so each model gets its own stream. */
export function seedFor(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Standard normal draw (Box-Muller; uses two uniforms so the draw count per call is fixed). */
export function standardNormal(rng: Rng): number {
  const u1 = rng() || Number.MIN_VALUE;
  const u2 = rng();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

const Z99 = 2.3263478740408408; // standard normal quantile at 0.99

/**
 * Draw from the lognormal whose median is p50 and 99th percentile is p99.
 * Samples are capped at 4 * p99 so a single unlucky draw cannot stall a test.
 */
export function lognormalFromQuantiles(rng: Rng, p50: number, p99: number): number {
  const z = standardNormal(rng);
  if (p50 <= 0) return 0;
  const sigma = p99 > p50 ? (Math.log(p99) - Math.log(p50)) / Z99 : 0;
  return Math.min(Math.exp(Math.log(p50) + sigma * z), 4 * Math.max(p99, p50));
}
