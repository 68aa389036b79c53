/** Specification of energy and cost integration (`src/domain/session.ts`). */
import assert from "node:assert/strict";
import {
  costOf,
  DEFAULT_RAMP_SECONDS,
  drawProfile,
  energyUntil,
  MeterBank,
  PLATEAU_RANGE,
  powerAt,
  type PowerProfile,
  roundCents,
  roundEnergy,
  SessionMeter,
} from "../src/domain/session.ts";
import { seededRandom } from "../src/domain/random.ts";

const profile22: PowerProfile = { maxPowerKw: 22, plateauFraction: 0.9, rampSeconds: 30 };

/** Energy in kWh by the midpoint rule over `powerAt`, with `steps` slices. */
function integrate(profile: PowerProfile, until: number, steps: number): number {
  const dt = until / steps;
  let kwSeconds = 0;
  for (let i = 0; i < steps; i++) kwSeconds += powerAt(profile, (i + 0.5) * dt) * dt;
  return kwSeconds / 3600;
}

function assertClose(actual: number, expected: number, relative: number, message?: string) {
  const tolerance = Math.max(Math.abs(expected) * relative, 1e-12);
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${message ?? ""} expected ${expected}, got ${actual} (tolerance ${tolerance})`,
  );
}

Deno.test("energyUntil is the integral of powerAt", async (t) => {
  const profiles: [string, PowerProfile][] = [
    ["22 kW, 90 %, 30 s ramp", profile22],
    ["50 kW, 80 %, 120 s ramp", { maxPowerKw: 50, plateauFraction: 0.8, rampSeconds: 120 }],
    ["7.4 kW, 95 %, no ramp", { maxPowerKw: 7.4, plateauFraction: 0.95, rampSeconds: 0 }],
  ];
  for (const [name, profile] of profiles) {
    await t.step(name, () => {
      for (const until of [0.5, 10, 29.9, 30, 31, 600, 3_600, 4 * 3_600]) {
        assertClose(
          energyUntil(profile, until),
          integrate(profile, until, 200_000),
          1e-6,
          `t=${until}`,
        );
      }
    });
  }

  await t.step("no energy before the flow starts", () => {
    assert.equal(energyUntil(profile22, 0), 0);
    assert.equal(energyUntil(profile22, -5), 0);
    assert.equal(powerAt(profile22, 0), 0);
    assert.equal(powerAt(profile22, -1), 0);
  });

  await t.step("power ramps linearly to the plateau and stays there", () => {
    const plateau = 22 * 0.9;
    assertClose(powerAt(profile22, 15), plateau / 2, 1e-12);
    assert.equal(powerAt(profile22, 30), plateau);
    assert.equal(powerAt(profile22, 10_000), plateau);
  });

  await t.step("energy never decreases", () => {
    let previous = 0;
    for (let seconds = 0; seconds <= 120; seconds += 0.25) {
      const energy = energyUntil(profile22, seconds);
      assert.ok(energy >= previous, `at ${seconds} s`);
      previous = energy;
    }
  });
});

Deno.test("the plateau is drawn within 80-95 % of the maximum power", async (t) => {
  await t.step("for 2,000 seeds", () => {
    const fractions: number[] = [];
    for (let seed = 0; seed < 2_000; seed++) {
      const profile = drawProfile(22, seededRandom(seed));
      const plateauKw = powerAt(profile, 1e6);
      assert.ok(plateauKw >= 0.80 * 22 && plateauKw <= 0.95 * 22, `seed ${seed}: ${plateauKw} kW`);
      fractions.push(profile.plateauFraction);
    }
    // Drawn per session, across the whole range rather than a fixed value.
    assert.ok(Math.min(...fractions) < 0.81, "some draws are near 80 %");
    assert.ok(Math.max(...fractions) > 0.94, "some draws are near 95 %");
  });

  await t.step("the range is the contract's", () => {
    assert.deepEqual(PLATEAU_RANGE, { min: 0.80, max: 0.95 });
    assert.equal(drawProfile(22, () => 0).plateauFraction, 0.80);
    assert.ok(drawProfile(22, () => 0.999_999_999).plateauFraction <= 0.95);
  });

  await t.step("the same seed gives the same profile", () => {
    assert.deepEqual(drawProfile(22, seededRandom(42)), drawProfile(22, seededRandom(42)));
    assert.notDeepEqual(drawProfile(22, seededRandom(42)), drawProfile(22, seededRandom(43)));
  });

  await t.step("the ramp defaults to the documented value", () => {
    assert.equal(drawProfile(22, seededRandom(1)).rampSeconds, DEFAULT_RAMP_SECONDS);
    assert.equal(drawProfile(22, seededRandom(1), 5).rampSeconds, 5);
  });
});

Deno.test("seededRandom yields a reproducible sequence in [0, 1)", () => {
  const a = seededRandom(7);
  const b = seededRandom(7);
  for (let i = 0; i < 1_000; i++) {
    const value = a();
    assert.equal(value, b());
    assert.ok(value >= 0 && value < 1);
  }
});

Deno.test("a SessionMeter gives the same energy for one big step or 10,000 irregular ones", () => {
  const random = seededRandom(2026);
  const steps = Array.from({ length: 10_000 }, () => 0.05 + random() * 0.6);
  const total = steps.reduce((sum, step) => sum + step, 0);

  const big = new SessionMeter("big", profile22);
  big.supply();
  big.advance(total);

  const small = new SessionMeter("small", profile22);
  small.supply();
  for (const step of steps) small.advance(step);

  assertClose(small.reading().energyKwh, big.reading().energyKwh, 1e-12);
  assertClose(small.reading().suppliedSeconds, total, 1e-12);
  assertClose(big.reading().energyKwh, energyUntil(profile22, total), 1e-15);
});

Deno.test("late timers change when readings are taken, never the energy", () => {
  // Timers meant for every second that fire 0-900 ms late, against one exact second grid.
  const random = seededRandom(5);
  const late = new SessionMeter("late", profile22);
  late.supply();
  let elapsed = 0;
  while (elapsed < 600) {
    const step = Math.min(1 + random() * 0.9, 600 - elapsed);
    late.advance(step);
    elapsed += step;
  }
  assertClose(late.reading().energyKwh, energyUntil(profile22, 600), 1e-12);
});

Deno.test("4 simulated hours at 22 kW give the analytic energy within 0.1 %", async (t) => {
  const profile = drawProfile(22, seededRandom(99));
  const plateau = 22 * profile.plateauFraction;
  const hours = 4;
  // The ramp costs half its duration at plateau power.
  const analytic = plateau * (hours * 3_600 - profile.rampSeconds / 2) / 3_600;

  await t.step("in one-second ticks with jitter", () => {
    const meter = new SessionMeter("s", profile);
    meter.supply();
    const random = seededRandom(3);
    let elapsed = 0;
    while (elapsed < hours * 3_600) {
      const step = Math.min(0.8 + random() * 0.5, hours * 3_600 - elapsed);
      meter.advance(step);
      elapsed += step;
    }
    assertClose(meter.reading().energyKwh, analytic, 0.001);
    assertClose(meter.reading().energyKwh, analytic, 1e-9, "and in fact exactly");
  });

  await t.step("at time scale 60 (a minute per tick)", () => {
    const meter = new SessionMeter("s", profile);
    meter.supply();
    for (let tick = 0; tick < hours * 60; tick++) meter.advance(60);
    assertClose(meter.reading().energyKwh, analytic, 0.001);
  });

  await t.step("roughly 22 kW x 4 h x the plateau fraction", () => {
    assert.ok(analytic > 0.80 * 88 - 0.2 && analytic < 0.95 * 88);
  });
});

Deno.test("SessionMeter", async (t) => {
  await t.step("no energy and no power before supply", () => {
    const meter = new SessionMeter("s", profile22);
    meter.advance(100);
    assert.deepEqual(meter.reading(), {
      sessionId: "s",
      energyKwh: 0,
      powerKw: 0,
      suppliedSeconds: 0,
    });
  });

  await t.step("energy from the moment of supply", () => {
    const meter = new SessionMeter("s", profile22);
    meter.advance(100);
    meter.supply();
    meter.advance(60);
    const reading = meter.reading();
    assert.equal(reading.suppliedSeconds, 60);
    assertClose(reading.energyKwh, energyUntil(profile22, 60), 1e-15);
    assert.equal(reading.powerKw, 22 * 0.9);
  });

  await t.step("negative, zero and non-finite steps are ignored", () => {
    const meter = new SessionMeter("s", profile22);
    meter.supply();
    meter.advance(10);
    for (const step of [-5, 0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      meter.advance(step);
    }
    assert.equal(meter.reading().suppliedSeconds, 10);
  });

  await t.step("a meter resumed after a crash starts from the earlier energy", () => {
    const meter = new SessionMeter("s", profile22, 12.5);
    assert.equal(meter.reading().energyKwh, 12.5);
    meter.supply();
    meter.advance(60);
    assertClose(meter.reading().energyKwh, 12.5 + energyUntil(profile22, 60), 1e-15);
  });
});

Deno.test("MeterBank", async (t) => {
  await t.step("start meters a session that supplies nothing until supply", () => {
    const bank = new MeterBank();
    bank.start("a", profile22);
    bank.start("b", profile22);
    bank.supply("a");
    bank.advance(60);
    const readings = Object.fromEntries(bank.readings().map((r) => [r.sessionId, r]));
    assertClose(readings["a"]?.energyKwh ?? -1, energyUntil(profile22, 60), 1e-15);
    assert.equal(readings["b"]?.energyKwh, 0);
    assert.equal(readings["b"]?.powerKw, 0);
    assert.equal(bank.size, 2);
  });

  await t.step("every supplied session advances together", () => {
    const bank = new MeterBank();
    const other: PowerProfile = { maxPowerKw: 50, plateauFraction: 0.8, rampSeconds: 10 };
    bank.start("a", profile22);
    bank.start("b", other);
    bank.supply("a");
    bank.supply("b");
    for (let i = 0; i < 100; i++) bank.advance(1);
    const readings = Object.fromEntries(bank.readings().map((r) => [r.sessionId, r.energyKwh]));
    assertClose(readings["a"] ?? -1, energyUntil(profile22, 100), 1e-12);
    assertClose(readings["b"] ?? -1, energyUntil(other, 100), 1e-12);
  });

  await t.step("stop returns the final reading and forgets the session", () => {
    const bank = new MeterBank();
    bank.start("a", profile22, 1);
    bank.supply("a");
    bank.advance(30);
    const final = bank.stop("a");
    assert.ok(final !== null);
    assert.equal(final.sessionId, "a");
    assertClose(final.energyKwh, 1 + energyUntil(profile22, 30), 1e-15);
    assert.equal(bank.size, 0);
    assert.deepEqual(bank.readings(), []);
    assert.equal(bank.stop("a"), null, "a second stop knows nothing");
  });

  await t.step("unknown session ids are ignored", () => {
    const bank = new MeterBank();
    bank.supply("nobody");
    assert.equal(bank.stop("nobody"), null);
    assert.equal(bank.size, 0);
  });

  await t.step("a restarted id gets a fresh meter", () => {
    const bank = new MeterBank();
    bank.start("a", profile22);
    bank.supply("a");
    bank.advance(60);
    bank.start("a", profile22);
    assert.equal(bank.readings()[0]?.energyKwh, 0);
    assert.equal(bank.size, 1);
  });
});

Deno.test("rounding helpers and cost", async (t) => {
  await t.step("energy is rounded to 3 decimals", () => {
    assert.equal(roundEnergy(1.23456), 1.235);
    assert.equal(roundEnergy(1.2344), 1.234);
    assert.equal(roundEnergy(0.0004), 0);
    assert.equal(roundEnergy(88), 88);
  });

  await t.step("money and power are rounded to 2 decimals", () => {
    assert.equal(roundCents(1.236), 1.24);
    assert.equal(roundCents(1.234), 1.23);
    assert.equal(roundCents(19.8), 19.8);
    assert.equal(roundCents(0.004), 0);
  });

  await t.step("cost is computed from the energy as published (3 decimals)", () => {
    // 1.6834 kWh is published as 1.683; 1.683 x 0.30 = 0.5049 -> 0.50, not 0.51.
    assert.equal(costOf(1.6834, 0.30), 0.50);
    assert.equal(roundCents(1.6834 * 0.30), 0.51, "the naive cost would differ");
  });

  await t.step("costOf = round2(round3(energy) x tariff) for many energies and tariffs", () => {
    const random = seededRandom(11);
    for (let i = 0; i < 5_000; i++) {
      const energy = random() * 100;
      const tariff = Math.round(random() * 100) / 100;
      const cost = costOf(energy, tariff);
      assert.equal(cost, roundCents(roundEnergy(energy) * tariff));
      // What a Driver computes from the published energy agrees to the cent.
      assert.ok(Math.abs(cost - roundEnergy(energy) * tariff) <= 0.005 + 1e-9);
    }
  });

  await t.step("a zero tariff costs nothing", () => {
    assert.equal(costOf(42.123, 0), 0);
  });
});
