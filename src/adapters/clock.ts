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

/** Fresh UUID v4s from the platform's cryptographic generator. */
export const randomUuid: IdGenerator = () => crypto.randomUUID();

/** The platform's non-reproducible randomness (backoff jitter, seeds nobody chose). */
export const systemRandom: RandomSource = () => Math.random();
