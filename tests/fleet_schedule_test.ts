/**
 * Unit tests of the fleet's seeded load and chaos schedule (pure: no timers, no I/O).
 */
import assert from "node:assert/strict";
import {
  DEFAULT_FAULT_SECONDS,
  DEFAULT_SESSION_SECONDS,
  type FleetEvent,
  FleetSchedule,
  type FleetScheduleOptions,
} from "../src/fleet/schedule.ts";

const CP_IDS = Array.from({ length: 50 }, (_, i) => `CP_${String(i + 1).padStart(4, "0")}`);

function options(overrides: Partial<FleetScheduleOptions> = {}): FleetScheduleOptions {
  return {
    cpIds: CP_IDS,
    sessionsPerMinute: 2,
    sessionSeconds: DEFAULT_SESSION_SECONDS,
    faultsPerHourPerPoint: 0.5,
    faultSeconds: DEFAULT_FAULT_SECONDS,
    seed: 42,
    ...overrides,
  };
}

const TEN_HOURS = 10 * 3600;

Deno.test("the same seed gives the same sequence of sessions, faults and recoveries", () => {
  const first = new FleetSchedule(options()).until(TEN_HOURS);
  const second = new FleetSchedule(options()).until(TEN_HOURS);
  assert.ok(first.length > 100, `expected a busy plan, got ${first.length} events`);
  assert.deepEqual(second, first);
  for (const kind of ["session_start", "session_end", "fault", "recover"]) {
    assert.ok(first.some((event) => event.kind === kind), `no ${kind} planned`);
  }
});

Deno.test("another seed gives another sequence", () => {
  const first = new FleetSchedule(options()).until(TEN_HOURS);
  const other = new FleetSchedule(options({ seed: 43 })).until(TEN_HOURS);
  assert.notDeepEqual(other, first);
});

Deno.test("asking in small steps gives exactly the events of one big step, in time order", () => {
  const whole = new FleetSchedule(options()).until(TEN_HOURS);
  const stepped = new FleetSchedule(options());
  const pieces: FleetEvent[] = [];
  for (let t = 0; t <= TEN_HOURS; t += 17.5) pieces.push(...stepped.until(t));
  pieces.push(...stepped.until(TEN_HOURS));
  assert.deepEqual(pieces, whole);
  for (let i = 1; i < whole.length; i++) assert.ok(whole[i]!.at >= whole[i - 1]!.at);
});

Deno.test("sessions start at the fleet-wide rate per simulated minute", () => {
  const schedule = new FleetSchedule(
    options({ sessionSeconds: { min: 60, max: 600 }, faultsPerHourPerPoint: 0 }),
  );
  const starts = schedule.until(TEN_HOURS).filter((event) => event.kind === "session_start");
  // 2 per minute for 600 minutes: 1200 expected; Poisson spread is about +-35.
  assert.ok(starts.length > 1080 && starts.length < 1320, `${starts.length} sessions`);
  assert.equal(schedule.sessionsPlanned, starts.length);
});

Deno.test("a session is only planned on a point that is idle and healthy, and faults end sessions", () => {
  const charging = new Set<string>();
  const faulted = new Set<string>();
  const events = new FleetSchedule(
    options({ cpIds: CP_IDS.slice(0, 5), sessionsPerMinute: 1, faultsPerHourPerPoint: 2 }),
  ).until(TEN_HOURS);
  for (const event of events) {
    switch (event.kind) {
      case "session_start":
        assert.ok(!charging.has(event.cpId), `${event.cpId} started twice at ${event.at}`);
        assert.ok(!faulted.has(event.cpId), `${event.cpId} started in fault at ${event.at}`);
        charging.add(event.cpId);
        break;
      case "session_end":
        assert.ok(charging.delete(event.cpId), `${event.cpId} ended without a session`);
        break;
      case "fault":
        assert.ok(!faulted.has(event.cpId), `${event.cpId} faulted twice`);
        faulted.add(event.cpId);
        charging.delete(event.cpId);
        break;
      case "recover":
        assert.ok(faulted.delete(event.cpId), `${event.cpId} recovered without a fault`);
        break;
    }
  }
});

Deno.test("every fault recovers within the fault length range, and sessions last their range", () => {
  const events = new FleetSchedule(
    options({ faultSeconds: { min: 60, max: 120 }, sessionSeconds: { min: 600, max: 900 } }),
  ).until(TEN_HOURS);
  const openFaults = new Map<string, number>();
  const openSessions = new Map<string, number>();
  for (const event of events) {
    if (event.kind === "fault") {
      openFaults.set(event.cpId, event.at);
      openSessions.delete(event.cpId);
    } else if (event.kind === "recover") {
      const lasted = event.at - openFaults.get(event.cpId)!;
      assert.ok(lasted >= 60 && lasted <= 120, `fault of ${event.cpId} lasted ${lasted} s`);
    } else if (event.kind === "session_start") openSessions.set(event.cpId, event.at);
    else {
      const lasted = event.at - openSessions.get(event.cpId)!;
      assert.ok(lasted >= 600 && lasted <= 900, `session at ${event.cpId} lasted ${lasted} s`);
    }
  }
});

Deno.test("rates of zero plan nothing", () => {
  const schedule = new FleetSchedule(options({ sessionsPerMinute: 0, faultsPerHourPerPoint: 0 }));
  assert.deepEqual(schedule.until(TEN_HOURS), []);
});

Deno.test("a negative rate or a reversed range is refused", async (t) => {
  const cases: [string, Partial<FleetScheduleOptions>][] = [
    ["negative session rate", { sessionsPerMinute: -1 }],
    ["infinite fault rate", { faultsPerHourPerPoint: Infinity }],
    ["reversed session range", { sessionSeconds: { min: 100, max: 10 } }],
    ["zero fault length", { faultSeconds: { min: 0, max: 10 } }],
  ];
  for (const [name, overrides] of cases) {
    await t.step(name, () => {
      assert.throws(() => new FleetSchedule(options(overrides)), RangeError);
    });
  }
});
