/**
 * Specification of status coalescing (protocol.md 3.2): Central drops a second status change
 * within 2 s, so changes are held back, merged, and never dropped. Runs on a fake clock. Most
 * cases use a plain 2 s window to read easily; the engine's default (2.5 s) and the wait after a
 * registration have their own cases at the end.
 */
import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import {
  DEFAULT_STATUS_WINDOW_MS,
  REGISTRATION_QUIET_MS,
  type StatusChange,
  StatusCoalescer,
} from "../src/app/status_coalescer.ts";
import { portOf } from "./support/fake_clock.ts";

const T0 = Date.UTC(2026, 0, 1);
const WINDOW_MS = 2_000;

/** A coalescer on a fake clock, with everything it sends. */
function setUp() {
  const clock = FakeTimers.createClock(T0);
  const sent: (StatusChange & { at: number })[] = [];
  const coalescer = new StatusCoalescer(
    portOf(clock),
    WINDOW_MS,
    (change) => sent.push({ ...change, at: clock.now }),
  );
  return { clock, sent, coalescer };
}

/** Lets pending promise callbacks run (no timers involved). */
async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

Deno.test("the first change is sent at once, with previous_status offline", () => {
  const { sent, coalescer } = setUp();
  coalescer.update("available", "Engine ready");
  assert.deepEqual(sent, [{
    status: "available",
    previousStatus: "offline",
    reason: "Engine ready",
    at: T0,
  }]);
  assert.equal(coalescer.lastSent, "available");
  assert.equal(coalescer.hasPending, false);
});

Deno.test("the initial status Central believes can be given", () => {
  const clock = FakeTimers.createClock(T0);
  const sent: StatusChange[] = [];
  const coalescer = new StatusCoalescer(portOf(clock), WINDOW_MS, (c) => sent.push(c), "fault");
  coalescer.update("available", "Recovered");
  assert.deepEqual(sent, [{ status: "available", previousStatus: "fault", reason: "Recovered" }]);
});

Deno.test("a second change within 2 s is delayed, not dropped", () => {
  const { clock, sent, coalescer } = setUp();
  coalescer.update("available", "Engine ready");
  clock.tick(500);
  coalescer.update("charging", "Charging started");
  assert.equal(sent.length, 1, "held back");
  assert.equal(coalescer.hasPending, true);
  clock.tick(1_499);
  assert.equal(sent.length, 1, "still within the window");
  clock.tick(1);
  assert.deepEqual(sent[1], {
    status: "charging",
    previousStatus: "available",
    reason: "Charging started",
    at: T0 + WINDOW_MS,
  });
  assert.equal(coalescer.hasPending, false);
});

Deno.test("three changes within 2 s deliver only the latest once the window passes", () => {
  const { clock, sent, coalescer } = setUp();
  coalescer.update("available", "Engine ready");
  clock.tick(100);
  coalescer.update("charging", "Charging started");
  clock.tick(100);
  coalescer.update("fault", "Hardware fault");
  clock.tick(100);
  coalescer.update("out_of_service", "Stopped by Central");
  clock.tick(5_000);
  assert.deepEqual(sent.slice(1), [{
    status: "out_of_service",
    previousStatus: "available",
    reason: "Stopped by Central",
    at: T0 + WINDOW_MS,
  }]);
});

Deno.test("no two changes go out within 2 s, however many are asked for", () => {
  const { clock, sent, coalescer } = setUp();
  const statuses = ["available", "charging", "fault", "out_of_service", "offline"] as const;
  for (let i = 0; i < 200; i++) {
    coalescer.update(statuses[i % statuses.length]!, `change ${i}`);
    clock.tick(137);
  }
  clock.tick(WINDOW_MS);
  for (let i = 1; i < sent.length; i++) {
    assert.ok(sent[i]!.at - sent[i - 1]!.at >= WINDOW_MS, `changes ${i - 1} and ${i}`);
    assert.equal(sent[i]!.previousStatus, sent[i - 1]!.status, "previous_status is what was sent");
  }
  assert.equal(
    sent.at(-1)?.status,
    statuses[199 % statuses.length],
    "the latest state is delivered",
  );
  assert.equal(coalescer.hasPending, false);
});

Deno.test("previous_status is always what was last sent", () => {
  const { clock, sent, coalescer } = setUp();
  coalescer.update("available", "a");
  coalescer.update("charging", "b");
  coalescer.update("fault", "c");
  clock.tick(WINDOW_MS);
  coalescer.update("available", "d");
  clock.tick(WINDOW_MS);
  assert.deepEqual(sent.map((change) => [change.previousStatus, change.status]), [
    ["offline", "available"],
    ["available", "fault"],
    ["fault", "available"],
  ]);
});

Deno.test("a change undone within the window sends nothing", () => {
  const { clock, sent, coalescer } = setUp();
  coalescer.update("available", "Engine ready");
  coalescer.update("charging", "Charging started");
  coalescer.update("available", "Charging stopped");
  clock.tick(WINDOW_MS * 2);
  assert.equal(sent.length, 1, "Central already believes available");
  assert.equal(coalescer.hasPending, false);
});

Deno.test("an unchanged status is not re-sent unless forced", async (t) => {
  await t.step("not forced: nothing goes out", () => {
    const { clock, sent, coalescer } = setUp();
    coalescer.update("available", "Engine ready");
    clock.tick(WINDOW_MS * 2);
    coalescer.update("available", "again");
    clock.tick(WINDOW_MS * 2);
    assert.equal(sent.length, 1);
  });

  await t.step("forced: the unchanged status is re-sent at once after the window", () => {
    const { clock, sent, coalescer } = setUp();
    coalescer.update("available", "Engine ready");
    clock.tick(WINDOW_MS * 2);
    coalescer.update("available", "Refused charging_started", true);
    assert.deepEqual(sent[1], {
      status: "available",
      previousStatus: "available",
      reason: "Refused charging_started",
      at: T0 + WINDOW_MS * 2,
    });
  });

  await t.step("forced within the window: re-sent when the window passes", () => {
    const { clock, sent, coalescer } = setUp();
    coalescer.update("available", "Engine ready");
    coalescer.update("available", "Refused", true);
    assert.equal(sent.length, 1);
    clock.tick(WINDOW_MS);
    assert.equal(sent.length, 2);
    assert.equal(sent[1]?.status, "available");
  });

  await t.step("a force is not lost when a later change merges with it", () => {
    const { clock, sent, coalescer } = setUp();
    coalescer.update("available", "Engine ready");
    coalescer.update("available", "Refused", true);
    coalescer.update("available", "later, not forced");
    clock.tick(WINDOW_MS);
    assert.equal(sent.length, 2);
  });
});

Deno.test("the window counts from the last change sent", () => {
  const { clock, sent, coalescer } = setUp();
  coalescer.update("available", "a");
  clock.tick(2_500);
  coalescer.update("charging", "b");
  assert.equal(sent.length, 2, "more than 2 s later: at once");
  assert.equal(sent[1]?.at, T0 + 2_500);
  clock.tick(1_000);
  coalescer.update("available", "c");
  clock.tick(999);
  assert.equal(sent.length, 2);
  clock.tick(1);
  assert.equal(sent[2]?.at, T0 + 4_500);
});

Deno.test("settled()", async (t) => {
  await t.step("resolves at once when nothing is pending", async () => {
    const { coalescer } = setUp();
    let settled = false;
    coalescer.settled().then(() => settled = true);
    await flushMicrotasks();
    assert.equal(settled, true);
  });

  await t.step("resolves after the pending change goes out", async () => {
    const { clock, sent, coalescer } = setUp();
    coalescer.update("available", "a");
    coalescer.update("offline", "Engine shutting down");
    let sentWhenSettled: number | null = null;
    coalescer.settled().then(() => sentWhenSettled = sent.length);
    clock.tick(1_999);
    await flushMicrotasks();
    assert.equal(sentWhenSettled, null, "not before the window passes");
    clock.tick(1);
    await flushMicrotasks();
    assert.equal(sentWhenSettled, 2, "after the change was sent");
    assert.equal(sent[1]?.status, "offline");
  });

  await t.step("resolves every waiter", async () => {
    const { clock, coalescer } = setUp();
    coalescer.update("available", "a");
    coalescer.update("charging", "b");
    let count = 0;
    for (let i = 0; i < 3; i++) coalescer.settled().then(() => count++);
    clock.tick(WINDOW_MS);
    await flushMicrotasks();
    assert.equal(count, 3);
  });

  await t.step("resolves when the pending change turns out to be unchanged", async () => {
    const { clock, sent, coalescer } = setUp();
    coalescer.update("available", "a");
    coalescer.update("charging", "b");
    coalescer.update("available", "c");
    let settled = false;
    coalescer.settled().then(() => settled = true);
    clock.tick(WINDOW_MS);
    await flushMicrotasks();
    assert.equal(settled, true);
    assert.equal(sent.length, 1);
  });
});

Deno.test("dispose cancels the timer and releases the waiters", async () => {
  const { clock, sent, coalescer } = setUp();
  coalescer.update("available", "a");
  coalescer.update("charging", "b");
  let settled = false;
  coalescer.settled().then(() => settled = true);
  coalescer.dispose();
  await flushMicrotasks();
  assert.equal(settled, true);
  clock.tick(WINDOW_MS * 5);
  assert.equal(sent.length, 1, "the pending change is dropped, as documented");
  assert.equal(clock.countTimers(), 0, "no timer left behind");
});

Deno.test("the engine's window is 2.5 s: Central's 2.0 s on its own clock, plus a margin for jitter", () => {
  // 2.000 s by the engine's clock lost 7 of 10 fault/recover pairs against the real Central.
  assert.equal(DEFAULT_STATUS_WINDOW_MS, 2_500);
  const clock = FakeTimers.createClock(T0);
  const sent: number[] = [];
  const coalescer = new StatusCoalescer(
    portOf(clock),
    DEFAULT_STATUS_WINDOW_MS,
    () => sent.push(clock.now),
  );
  coalescer.update("fault", "Hardware fault");
  clock.tick(1_000);
  coalescer.update("available", "Recovered");
  clock.tick(1_499);
  assert.deepEqual(sent, [T0]);
  clock.tick(1);
  assert.deepEqual(sent, [T0, T0 + 2_500]);
});

Deno.test("after a registration, available waits 6 s (Central ignores it within 5 s); other statuses do not", async (t) => {
  await t.step("available is held until 6 s after the registration", () => {
    const { clock, sent, coalescer } = setUp();
    coalescer.registered();
    clock.tick(1_000);
    coalescer.update("available", "Engine ready");
    clock.tick(REGISTRATION_QUIET_MS - 1_001);
    assert.equal(sent.length, 0);
    clock.tick(1);
    assert.deepEqual(sent.map((change) => [change.status, change.at]), [
      ["available", T0 + REGISTRATION_QUIET_MS],
    ]);
  });

  await t.step("a fault during the wait goes out at once; a later available still waits", () => {
    const { clock, sent, coalescer } = setUp();
    coalescer.registered();
    coalescer.update("available", "Engine ready");
    clock.tick(1_000);
    coalescer.update("fault", "Hardware fault");
    assert.deepEqual(sent.map((change) => change.status), ["fault"]);
    clock.tick(2_000);
    coalescer.update("available", "Recovered");
    clock.tick(2_999);
    assert.equal(sent.length, 1);
    clock.tick(1);
    assert.deepEqual(sent.map((change) => [change.status, change.at]), [
      ["fault", T0 + 1_000],
      ["available", T0 + REGISTRATION_QUIET_MS],
    ]);
  });

  await t.step("a registration resets what Central believes to offline", () => {
    const { clock, sent, coalescer } = setUp();
    coalescer.update("available", "Engine ready");
    clock.tick(10_000);
    coalescer.registered();
    coalescer.update("available", "Back");
    clock.tick(REGISTRATION_QUIET_MS);
    assert.deepEqual(sent.map((change) => [change.previousStatus, change.status]), [
      ["offline", "available"],
      ["offline", "available"],
    ]);
  });

  await t.step("a quiet period of 0 (benchmarks) does not wait", () => {
    const clock = FakeTimers.createClock(T0);
    const sent: StatusChange[] = [];
    const coalescer = new StatusCoalescer(portOf(clock), 0, (c) => sent.push(c), "offline", 0);
    coalescer.registered();
    coalescer.update("available", "Engine ready");
    assert.equal(sent.length, 1);
  });
});
