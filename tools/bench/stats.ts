/**
 * Order statistics for the benchmark: percentiles of samples, and the summary of a figure
 * measured once per run (median and the min-max spread).
 *
 * @module
 */

/** Nearest-rank percentile (`p` in 0..100) of `values`; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return Number.NaN;
  const sorted = [...finite].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** The median (50th percentile by nearest rank, so always one of the values). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** A figure over runs: its median, its lowest and highest value, and how many runs had one. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Runs that produced a finite value. */
  readonly count: number;
}

/** The spread of per-run values (non-finite values, i.e. runs without a figure, are left out). */
export function spread(values: readonly number[]): Spread {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) {
    return { median: Number.NaN, min: Number.NaN, max: Number.NaN, count: 0 };
  }
  return {
    median: median(finite),
    min: finite.reduce((a, b) => Math.min(a, b)),
    max: finite.reduce((a, b) => Math.max(a, b)),
    count: finite.length,
  };
}

/**
 * Run-by-run ratios `a[i] / b[i]`: each pair was measured side by side in one run, so the ratio
 * holds even when the machine's speed drifts between runs. NaN where either side is missing.
 */
export function pairedRatios(a: readonly number[], b: readonly number[]): number[] {
  return a.map((value, i) => {
    const other = b[i];
    if (other === undefined || !Number.isFinite(value) || !Number.isFinite(other)) {
      return Number.NaN;
    }
    // 0 / 0 (e.g. no failures on either side) has no meaningful ratio.
    if (other === 0) return value === 0 ? Number.NaN : Number.POSITIVE_INFINITY;
    return value / other;
  });
}

/** Latency percentiles of one batch of samples, ms. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** Summarises latency samples. */
export function latencySummary(samples: readonly number[]): LatencySummary {
  return {
    count: samples.length,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    p999: percentile(samples, 99.9),
    max: samples.length === 0 ? Number.NaN : samples.reduce((a, b) => Math.max(a, b)),
  };
}
