/**
 * Specification of the rate limiting of log lines caused by outside input: a few lines per
 * window, then one summary with the count and the last reason. Runs on a fake clock.
 */
import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { LogRateLimiter, type SuppressedSummary } from "../src/app/log_limiter.ts";
import { CommandInputLog, sameFields } from "../src/app/command_log.ts";
import { memorySink, resetLogging, setupLogging } from "../src/adapters/logging.ts";
import { engineLogger } from "../src/adapters/logging.ts";
import { portOf } from "./support/fake_clock.ts";

function setUp() {
  const fake = FakeTimers.createClock(Date.UTC(2026, 0, 1));
  const summaries: (SuppressedSummary & { at: number })[] = [];
  const limiter = new LogRateLimiter(
    portOf(fake),
    { maxLines: 5, windowMs: 10_000 },
    (summary) => summaries.push({ ...summary, at: fake.now }),
  );
  return { fake, summaries, limiter };
}

Deno.test("the first 5 lines of a window are admitted, the rest are counted", () => {
  const { limiter, summaries } = setUp();
  const admitted = Array.from({ length: 12 }, (_, index) => limiter.admit(`reason ${index}`));
  assert.deepEqual(admitted, [true, true, true, true, true, ...Array(7).fill(false)]);
  assert.equal(limiter.suppressed, 7);
  assert.equal(summaries.length, 0);
});

Deno.test("one summary with the count and the last reason comes when the window ends", () => {
  const { fake, limiter, summaries } = setUp();
  for (let index = 0; index < 1000; index++) {
    limiter.admit(`reason ${index}`);
    fake.tick(5);
  }
  // 1000 calls over 5 s: 5 admitted, 995 held back, summarized at the end of the 10 s window.
  assert.equal(summaries.length, 0);
  fake.tick(5_000);
  assert.equal(summaries.length, 1);
  assert.equal(summaries[0]!.count, 995);
  assert.equal(summaries[0]!.lastReason, "reason 999");
  assert.equal(summaries[0]!.at, Date.UTC(2026, 0, 1) + 10_000);
});

Deno.test("a sustained flood gives at most 5 lines and 1 summary per window", () => {
  const { fake, limiter, summaries } = setUp();
  let admitted = 0;
  for (let index = 0; index < 60_000; index++) {
    if (limiter.admit("flood")) admitted++;
    fake.tick(1); // 60 s of 1000 messages per second
  }
  limiter.dispose();
  assert.equal(admitted, 30);
  assert.equal(summaries.length, 6);
  assert.equal(admitted + summaries.reduce((sum, summary) => sum + summary.count, 0), 60_000);
});

Deno.test("a new window admits lines again, and nothing is summarized when nothing was held back", () => {
  const { fake, limiter, summaries } = setUp();
  for (let index = 0; index < 5; index++) assert.ok(limiter.admit("x"));
  fake.tick(10_000);
  assert.ok(limiter.admit("y"));
  limiter.dispose();
  assert.equal(summaries.length, 0);
});

Deno.test("a huge reason is cut in the summary", () => {
  const { limiter, summaries } = setUp();
  for (let index = 0; index < 6; index++) limiter.admit("x".repeat(100_000));
  limiter.dispose();
  assert.equal(summaries.length, 1);
  assert.ok(summaries[0]!.lastReason.length <= 203);
});

Deno.test("dispose writes the pending summary, over the time it covers, and leaves no timer", () => {
  const { fake, limiter, summaries } = setUp();
  for (let index = 0; index < 8; index++) limiter.admit("x");
  fake.tick(3_200);
  limiter.dispose();
  assert.equal(summaries.length, 1);
  assert.equal(summaries[0]!.count, 3);
  assert.equal(summaries[0]!.windowMs, 4_000, "3.2 s read as the last 4 s");
  assert.equal(fake.countTimers(), 0);
});

Deno.test("the command input log limits rejected lines and says how many more there were", async () => {
  const sink = memorySink();
  await setupLogging({ level: "debug", format: "text", sink });
  const fake = FakeTimers.createClock(Date.UTC(2026, 0, 1));
  const inputLog = new CommandInputLog(engineLogger("test"), portOf(fake));
  try {
    for (let index = 0; index < 100; index++) inputLog.rejected(index === 99 ? "last one" : "bad");
    for (let index = 0; index < 3; index++) inputLog.ignored("CP_STOP", "for CP_999");
    // A command that changes the state is always logged, even beyond the budget.
    for (let index = 0; index < 10; index++) assert.ok(inputLog.command("CP_FAULT", true, "fault"));
    const unchanged = Array.from(
      { length: 10 },
      () => inputLog.command("resume", false, "available"),
    );
    assert.deepEqual(unchanged, [...Array(5).fill(true), ...Array(5).fill(false)]);
    fake.tick(10_000);
    const messages = sink.messages();
    assert.equal(messages.filter((line) => line.startsWith("Rejected a message")).length, 5);
    assert.ok(
      messages.includes("95 more rejected messages in the last 10 s (last reason: last one)"),
      messages.join("\n"),
    );
    assert.equal(messages.filter((line) => line.startsWith("Ignored CP_STOP")).length, 3);
    assert.equal(messages.filter((line) => line === "Command received: CP_FAULT").length, 10);
    assert.ok(messages.some((line) => line.startsWith("5 more commands that changed nothing")));
  } finally {
    inputLog.dispose();
    await resetLogging();
  }
});

Deno.test("sameFields compares records field by field", () => {
  assert.ok(sameFields({ a: 1, b: null }, { a: 1, b: null }));
  assert.ok(!sameFields({ a: 1 }, { a: 2 }));
  assert.ok(!sameFields({ a: 1 }, { a: 1, b: 2 }));
  const nested = { x: 1 };
  assert.ok(sameFields({ a: nested }, { a: nested }));
  assert.ok(!sameFields({ a: { x: 1 } }, { a: { x: 1 } }));
});
