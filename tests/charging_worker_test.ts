/**
 * The charging Worker (a real Web Worker): readings of every session once a tick, and a meter
 * that survives a failure of the Worker without losing or double-counting energy.
 */
import assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import { WorkerChargingMeter } from "../src/adapters/charging/worker.ts";
import type { MeterReading, PowerProfile } from "../src/domain/session.ts";

const PROFILE: PowerProfile = { maxPowerKw: 36, plateauFraction: 1, rampSeconds: 0 };

/** Resolves with the first reading of `readings` that satisfies `predicate` (checked as they come). */
function readingWhere(
  readings: MeterReading[],
  subscribe: (listener: () => void) => void,
  predicate: (reading: MeterReading) => boolean,
  timeoutMs = 10_000,
): Promise<MeterReading> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no such reading in time")), timeoutMs);
    const check = () => {
      const found = readings.find(predicate);
      if (found !== undefined) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    subscribe(check);
    check();
  });
}

Deno.test("a failure of the Worker is survived: a new one goes on with every session from its last reading", async () => {
  // 3600x: a real second is an hour of charging at 36 kW, 36 kWh.
  const meter = new WorkerChargingMeter({
    timeScale: 3600,
    tickMs: 100,
    logger: getLogger(["test", "charging"]),
  });
  const readings: MeterReading[] = [];
  const listeners: (() => void)[] = [];
  const subscribe = (listener: () => void) => listeners.push(listener);
  try {
    meter.start("s1", PROFILE, 0, (reading) => {
      readings.push(reading);
      for (const listener of listeners) listener();
    });
    meter.supply("s1");
    const before = await readingWhere(readings, subscribe, (r) => r.energyKwh > 5);
    meter.injectFailure("a bug in the charging loop");
    const count = readings.length;
    const after = await readingWhere(
      readings,
      subscribe,
      (r) => readings.indexOf(r) > count && meter.restarts === 1,
    );
    assert.equal(meter.restarts, 1);
    assert.ok(after.energyKwh >= before.energyKwh, "energy goes on, never back to zero");
    // Energy stays the integral of 36 kW over the supplied time, across the restart.
    for (const reading of readings.slice(-3)) {
      assert.ok(
        Math.abs(reading.energyKwh - 36 * reading.suppliedSeconds / 3600) < 1e-6,
        `${reading.energyKwh} kWh after ${reading.suppliedSeconds} s`,
      );
    }
    const final = await meter.stop("s1");
    assert.ok(final !== null && final.energyKwh >= after.energyKwh);
  } finally {
    await meter.close();
  }
});

Deno.test("stop resolves with the last reading when the Worker does not answer", async () => {
  const meter = new WorkerChargingMeter({ timeScale: 1, tickMs: 50, stopTimeoutMs: 200 });
  try {
    const readings: MeterReading[] = [];
    meter.start("s2", PROFILE, 1.5, (reading) => readings.push(reading));
    meter.injectFailure("gone"); // the stop below reaches a Worker that is being replaced
    const final = await meter.stop("s2");
    assert.ok(final !== null && final.energyKwh >= 1.5, JSON.stringify(final));
  } finally {
    await meter.close();
  }
});

Deno.test("the Worker runs only while something is metered: started by the first session, ended after the last", async () => {
  const meter = new WorkerChargingMeter({ timeScale: 3600, tickMs: 50, idleRetireMs: 100 });
  try {
    assert.equal(meter.running, false, "an idle point runs no second isolate");
    const first = Promise.withResolvers<MeterReading>();
    meter.start("s1", PROFILE, 0, (reading) => first.resolve(reading));
    assert.equal(meter.running, true);
    meter.supply("s1");
    await first.promise;
    const final = await meter.stop("s1");
    assert.ok(final !== null && final.sessionId === "s1");
    const deadline = Date.now() + 5_000;
    while (meter.running && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(meter.running, false, "ended once nothing is metered");
    // A session after that starts a new Worker and is metered from zero as usual.
    const again = Promise.withResolvers<MeterReading>();
    meter.start("s2", PROFILE, 0, (reading) => {
      if (reading.energyKwh > 0) again.resolve(reading);
    });
    meter.supply("s2");
    assert.equal((await again.promise).sessionId, "s2");
    await meter.stop("s2");
  } finally {
    await meter.close();
  }
});
