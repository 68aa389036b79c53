/**
 * A fake clock (@sinonjs/fake-timers) seen through the engine's `Clock` port, for unit tests
 * that say when time passes.
 *
 * @module
 */
import type FakeTimers from "@sinonjs/fake-timers";
import type { Clock } from "../../src/app/ports.ts";

/** A clock from `FakeTimers.createClock(start)`. */
export type FakeClock = ReturnType<typeof FakeTimers.createClock>;
type TimerId = ReturnType<FakeClock["setTimeout"]>;

/**
 * The fake clock seen through our `Clock` port. A fake clock's `now` is a number, not a
 * method, so it does not satisfy the port by itself.
 */
export function portOf(fake: FakeClock): Clock {
  return {
    now: () => fake.now,
    setTimeout: (callback, ms) => fake.setTimeout(callback, ms),
    clearTimeout: (handle) => fake.clearTimeout(handle as TimerId),
    setInterval: (callback, ms) => fake.setInterval(callback, ms),
    clearInterval: (handle) => fake.clearInterval(handle as TimerId),
  };
}
