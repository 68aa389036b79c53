/**
 * The clock of one harness run: every observation (a peer's log line, a Kafka event, a change in
 * Central's database, an action of the harness) is stamped with the seconds since the run began,
 * so that the evidence of all peers reads as one timeline.
 *
 * @module
 */

/** Seconds since the start of a run, on the harness's monotonic clock. */
export type RunSeconds = number;

/** The clock of one run. */
export class RunClock {
  /** `performance.now()` when the run began. */
  readonly #startedAt: number;
  /** The wall-clock time (epoch seconds) when the run began. */
  readonly startedEpoch: number;

  /** Starts the clock now, or at the given instants (for tests). */
  constructor(startedAt = performance.now(), startedEpoch = Date.now() / 1000) {
    this.#startedAt = startedAt;
    this.startedEpoch = startedEpoch;
  }

  /** Seconds since the run began. */
  now(): RunSeconds {
    return (performance.now() - this.#startedAt) / 1000;
  }

  /** Converts an epoch time in seconds (the peers' `timestamp` field) to run seconds. */
  fromEpoch(epochSeconds: number): RunSeconds {
    return epochSeconds - this.startedEpoch;
  }
}

/** `t+12.3`: how run seconds are written in the evidence. */
export function formatT(t: RunSeconds): string {
  return `t+${t.toFixed(1)}`;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Checks `condition` every `intervalMs` until it returns a value other than `undefined`, or
 * until `timeoutMs` has passed; resolves to that value, or to `undefined` on timeout. Scenarios
 * wait for conditions this way instead of sleeping for a fixed time.
 */
export async function pollUntil<T>(
  condition: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T | undefined> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value !== undefined) return value;
    if (performance.now() >= deadline) return undefined;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - performance.now())));
  }
}
