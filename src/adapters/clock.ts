/**
 * The real clock, ids and randomness: what tests replace with fakes.
 *
 * @module
 */
import type { Clock, IdGenerator, RandomSource } from "../app/ports.ts";

/** The real clock and timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
};

/** A callback registered with {@linkcode SharedIntervalClock.setInterval}. */
interface SharedInterval {
  readonly ms: number;
  readonly callback: () => void;
}

/**
 * A clock whose intervals of the same period share one timer of the clock below it: a fleet's
 * ten thousand engines tick once a second each, and ten thousand timers cost about 2.4 KB each
 * (heap and the runtime's own) and as many wake-ups a second; one timer calling them in turn
 * costs neither. Callbacks run in the order they were registered; one that throws is reported
 * as an uncaught error (as its own timer's would be) without stopping the others. Timeouts are
 * the clock below's.
 */
export class SharedIntervalClock implements Clock {
  readonly #base: Clock;
  readonly #groups = new Map<number, { timer: unknown; members: Set<SharedInterval> }>();

  /** Shares the intervals of `base` (default: the real clock). */
  constructor(base: Clock = systemClock) {
    this.#base = base;
  }

  now(): number {
    return this.#base.now();
  }

  setTimeout(callback: () => void, ms: number): unknown {
    return this.#base.setTimeout(callback, ms);
  }

  clearTimeout(handle: unknown): void {
    this.#base.clearTimeout(handle);
  }

  setInterval(callback: () => void, ms: number): unknown {
    const interval: SharedInterval = { ms, callback };
    let group = this.#groups.get(ms);
    if (group === undefined) {
      const members = new Set<SharedInterval>();
      const timer = this.#base.setInterval(() => {
        for (const member of members) {
          try {
            member.callback();
          } catch (error) {
            reportError(error);
          }
        }
      }, ms);
      group = { timer, members };
      this.#groups.set(ms, group);
    }
    group.members.add(interval);
    return interval;
  }

  clearInterval(handle: unknown): void {
    const interval = handle as SharedInterval;
    const group = this.#groups.get(interval?.ms);
    if (group === undefined || !group.members.delete(interval)) return;
    if (group.members.size > 0) return;
    this.#base.clearInterval(group.timer);
    this.#groups.delete(interval.ms);
  }
}

/** Fresh UUID v4s from the platform's cryptographic generator. */
export const randomUuid: IdGenerator = () => crypto.randomUUID();

/** The platform's non-reproducible randomness (backoff jitter, seeds nobody chose). */
export const systemRandom: RandomSource = () => Math.random();
