/**
 * The shared interval clock: a fleet's ten thousand once-a-second ticks on one timer, each
 * callback still called once a period, one that throws never stopping the others.
 */
import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { SharedIntervalClock } from "../src/adapters/clock.ts";
import type { Clock } from "../src/app/ports.ts";
import { portOf } from "./support/fake_clock.ts";

/** The fake clock, counting the intervals armed on it. */
function countingClock() {
  const fake = FakeTimers.createClock(0);
  const base = portOf(fake);
  const armed = { count: 0 };
  const counting: Clock = {
    ...base,
    now: () => base.now(),
    setInterval: (callback, ms) => {
      armed.count++;
      return base.setInterval(callback, ms);
    },
    clearInterval: (handle) => {
      armed.count--;
      base.clearInterval(handle);
    },
  };
  return { fake, clock: new SharedIntervalClock(counting), armed };
}

Deno.test("intervals of one period share one timer and each is called once a period", () => {
  const { fake, clock, armed } = countingClock();
  const calls = [0, 0, 0];
  const handles = calls.map((_, index) => clock.setInterval(() => calls[index]!++, 1_000));
  const other = clock.setInterval(() => {}, 500);
  assert.equal(armed.count, 2, "one timer per period");
  fake.tick(3_000);
  assert.deepEqual(calls, [3, 3, 3]);
  clock.clearInterval(handles[1]);
  fake.tick(1_000);
  assert.deepEqual(calls, [4, 3, 4]);
  for (const handle of [handles[0], handles[2], other]) clock.clearInterval(handle);
  assert.equal(armed.count, 0, "the timer goes with the last interval");
});

Deno.test("an interval that throws is reported and the others still run", () => {
  const { fake, clock } = countingClock();
  const reported: unknown[] = [];
  const onError = (event: ErrorEvent) => {
    event.preventDefault();
    reported.push(event.error);
  };
  globalThis.addEventListener("error", onError);
  try {
    let later = 0;
    const failing = clock.setInterval(() => {
      throw new Error("a bug in one point");
    }, 1_000);
    const fine = clock.setInterval(() => later++, 1_000);
    fake.tick(2_000);
    assert.equal(later, 2);
    assert.equal(reported.length, 2);
    clock.clearInterval(failing);
    clock.clearInterval(fine);
  } finally {
    globalThis.removeEventListener("error", onError);
  }
});
