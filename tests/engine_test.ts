/**
 * Specification of the application service (`Engine`) with fakes: a fake clock, a publisher
 * that records events, an in-process meter, a seeded random and counter-based ids. No network,
 * no real timers.
 */
import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { getLogger } from "@logtape/logtape";
import { Engine, type EngineOptions } from "../src/app/engine.ts";
import type { EventPublisher, OutboundEvent } from "../src/app/ports.ts";
import { costOf } from "../src/domain/session.ts";
import { seededRandom } from "../src/domain/random.ts";
import { portOf } from "./support/fake_clock.ts";
import { InProcessMeter } from "./support/in_process_meter.ts";
import { NULL_JOURNAL } from "../src/adapters/storage/memory_store.ts";
import { REGISTRATION_QUIET_MS } from "../src/app/status_coalescer.ts";

const T0 = Date.UTC(2026, 0, 1);
const CP = "CP_001";
const TARIFF = 0.30;
const MAX_POWER_KW = 22;

/** Records every event; delivery always succeeds. */
class RecordingPublisher implements EventPublisher {
  readonly events: OutboundEvent[] = [];
  flushes = 0;

  publish(event: OutboundEvent): void {
    this.events.push(event);
  }

  publishWith(event: OutboundEvent, alongside: () => void): void {
    this.events.push(event);
    alongside();
  }

  flush(_deadlineMs: number): Promise<boolean> {
    this.flushes++;
    return Promise.resolve(true);
  }

  /** The values of the events of one type, in order. */
  ofType(eventType: string): Record<string, unknown>[] {
    return this.events
      .filter((event) => event.value.event_type === eventType)
      .map((event) => event.value);
  }

  /** `[previous_status, status]` of every status change, in order. */
  statusChanges(): [unknown, unknown][] {
    return this.ofType("cp_status_change").map((
      value,
    ) => [value["previous_status"], value["status"]]);
  }
}

/** An engine on fakes, and helpers to drive it. */
function setUp(options: Partial<EngineOptions> = {}) {
  const fake = FakeTimers.createClock(T0);
  const publisher = new RecordingPublisher();
  const meter = new InProcessMeter(options.timeScale ?? 1);
  let ids = 0;
  const newId = () => `00000000-0000-4000-8000-${String(++ids).padStart(12, "0")}`;
  let commands = 0;
  const engine = new Engine({
    cpId: CP,
    location: "Test Street 1",
    maxPowerKw: MAX_POWER_KW,
    tariffEurPerKwh: TARIFF,
    progressIntervalMs: 5_000,
    timeScale: 1,
    cpEventsTopic: "cp-events",
    // A lab without a Monitor: the point opens as soon as it is ready.
    settings: { monitorWaitMs: 0 },
    ...options,
  }, {
    clock: portOf(fake),
    random: seededRandom(1),
    newId,
    publisher,
    meter,
    logger: getLogger(["test", "engine"]),
    journal: NULL_JOURNAL,
  });

  /** Waits until every effect applied so far has been carried out. */
  async function settle(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await engine.idle();
      await Promise.resolve();
    }
  }

  /** Lets `ms` pass in steps of at most a second, delivering meter readings on the way. */
  async function tick(ms: number): Promise<void> {
    for (let left = ms; left > 0; left -= 1_000) {
      const step = Math.min(1_000, left);
      fake.tick(step);
      meter.deliver(step);
      await settle();
    }
  }

  /** Delivers a command from Central (fresh timestamp, new message id unless given). */
  async function send(message: Record<string, unknown>): Promise<void> {
    engine.receive(JSON.stringify({
      message_id: `command-${++commands}`,
      cp_id: CP,
      timestamp: fake.now / 1000,
      ...message,
    }));
    await settle();
  }

  /**
   * Start-up: registration, then ready, then the wait until Central accepts `available` (it
   * ignores it within 5 s of a registration), so that the point is available on the wire too.
   */
  async function start(): Promise<void> {
    engine.register();
    engine.markReady();
    await settle();
    await tick(REGISTRATION_QUIET_MS);
  }

  /** Keeps time running until `promise` settles (at most `maxMs` of fake time). */
  async function runUntil<T>(promise: Promise<T>, maxMs = 10_000): Promise<T> {
    let outcome: { value: T } | { error: unknown } | null = null;
    promise.then((value) => outcome = { value }, (error) => outcome = { error });
    for (let waited = 0;; waited += 100) {
      await settle();
      const result = outcome as { value: T } | { error: unknown } | null;
      if (result !== null) {
        if ("error" in result) throw result.error;
        return result.value;
      }
      if (waited >= maxMs) throw new Error(`still pending after ${maxMs} ms of fake time`);
      fake.tick(100);
    }
  }

  return { fake, publisher, meter, engine, settle, tick, send, start, runUntil };
}

const chargingStarted = {
  event_type: "charging_started",
  action: "charging_started",
  username: "alice",
  user_id: 7,
  client_id: "driver_7",
};

Deno.test("register publishes CP_REGISTRATION keyed by the cp id, then an explicit offline", () => {
  const { engine, publisher } = setUp();
  engine.register();
  assert.equal(publisher.events.length, 2);
  const [event, offline] = publisher.events;
  // For a Central that ignores the registration of a point it holds as available.
  assert.equal(offline?.value.event_type, "cp_status_change");
  assert.equal(offline?.value["status"], "offline");
  assert.equal(offline?.value["previous_status"], "offline");
  assert.equal(event?.topic, "cp-events");
  assert.equal(event?.key, CP);
  assert.deepEqual(event?.value, {
    message_id: "00000000-0000-4000-8000-000000000001",
    event_type: "CP_REGISTRATION",
    action: "connect",
    cp_id: CP,
    engine_id: CP,
    timestamp: T0 / 1000,
    status: "offline",
    data: {
      location: "Test Street 1",
      localizacion: "Test Street 1",
      max_kw: 22,
      max_power_kw: 22,
      tarifa_kwh: 0.3,
      tariff_per_kwh: 0.3,
      price_eur_kwh: 0.3,
      status: "offline",
      estado: "offline",
    },
  });
});

Deno.test("markReady makes the point available at once, and Central is told 6 s after the registration", async () => {
  const { engine, publisher, settle, tick } = setUp();
  engine.register();
  engine.markReady();
  await settle();
  assert.equal(engine.state.status, "available");
  assert.equal(engine.healthAnswer(), "OK");
  await tick(REGISTRATION_QUIET_MS - 1_000);
  assert.deepEqual(
    publisher.statusChanges(),
    [["offline", "offline"]],
    "Central ignores available within 5 s",
  );
  await tick(1_000);
  assert.deepEqual(publisher.events.map((event) => event.value.event_type), [
    "CP_REGISTRATION",
    "cp_status_change",
    "cp_status_change",
  ]);
  const change = publisher.ofType("cp_status_change")[1];
  assert.equal(change?.["previous_status"], "offline");
  assert.equal(change?.["status"], "available");
  assert.equal(change?.["timestamp"], (T0 + REGISTRATION_QUIET_MS) / 1000);
});

Deno.test("markReady twice publishes available once", async () => {
  const { engine, publisher, start, tick } = setUp();
  await start();
  engine.markReady();
  await tick(5_000);
  assert.deepEqual(publisher.statusChanges(), [["offline", "offline"], ["offline", "available"]]);
});

Deno.test("charging_started starts a session with progress of rising energy and cost = energy x tariff", async (t) => {
  const { engine, publisher, meter, send, start, tick, fake } = setUp();
  await start();
  const commandAt = fake.now;
  await send(chargingStarted);

  await t.step("the status is charging at once, published after the 2.5 s window", async () => {
    assert.equal(engine.state.status, "charging");
    assert.equal(engine.state.session?.driver.username, "alice");
    assert.equal(meter.sessions, 1);
    assert.deepEqual(publisher.statusChanges().slice(1), [["offline", "available"]]);
    await tick(2_000);
    assert.deepEqual(publisher.ofType("charging_progress"), [], "no progress before charging");
    await tick(1_000);
    assert.deepEqual(publisher.statusChanges().slice(1), [["offline", "available"], [
      "available",
      "charging",
    ]]);
  });

  await tick(58_000);
  const progress = publisher.ofType("charging_progress");

  await t.step("the first progress goes out within 5 s of the command", () => {
    assert.ok(progress.length > 0);
    const firstAt = (progress[0]!["timestamp"] as number) * 1000;
    assert.ok(firstAt - commandAt <= 5_000, `first progress after ${firstAt - commandAt} ms`);
  });

  await t.step("progress goes out every progress interval", () => {
    const times = progress.map((value) => (value["timestamp"] as number) * 1000);
    for (let i = 1; i < times.length; i++) {
      assert.ok(times[i]! - times[i - 1]! >= 4_500 && times[i]! - times[i - 1]! <= 5_500);
    }
    assert.ok(progress.length >= 11 && progress.length <= 13, `${progress.length} progress events`);
  });

  await t.step("energy rises and cost is energy x tariff", () => {
    let previous = -1;
    for (const value of progress) {
      const energy = value["energy_kwh"] as number;
      const cost = value["cost"] as number;
      assert.ok(energy >= previous, `energy ${energy} after ${previous}`);
      previous = energy;
      assert.ok(Math.abs(cost - energy * TARIFF) <= 0.005 + 1e-9, `cost ${cost} for ${energy} kWh`);
      assert.equal(cost, costOf(energy, TARIFF));
    }
    const last = progress.at(-1)!["energy_kwh"] as number;
    assert.ok(last > (progress[0]!["energy_kwh"] as number));
    // About a minute at 80-95 % of 22 kW from the first second: 0.29 to 0.35 kWh.
    assert.ok(last > 0.28 && last < 0.36, `${last} kWh after a minute`);
  });

  await t.step("power is 80-95 % of the maximum from the first sample, and constant", () => {
    const powers = new Set(progress.map((value) => value["power_kw"] as number));
    assert.equal(powers.size, 1, `one power per session: ${[...powers]}`);
    const [power] = powers;
    assert.ok(
      power! >= 0.8 * MAX_POWER_KW - 0.01 && power! <= 0.95 * MAX_POWER_KW + 0.01,
      `${power} kW`,
    );
    assert.ok((progress[0]!["energy_kwh"] as number) > 0, "energy from the first sample");
  });

  await t.step("progress names the driver from the start command", () => {
    for (const value of progress) {
      assert.equal(value["username"], "alice");
      assert.equal(value["user_id"], 7);
      assert.equal(value["cp_id"], CP);
    }
  });

  await t.step("every event has its own message id", () => {
    const ids = publisher.events.map((event) => event.value.message_id);
    assert.equal(new Set(ids).size, ids.length);
  });

  await t.step("the snapshot shows the session", () => {
    const session = engine.snapshot().session;
    assert.equal(session?.username, "alice");
    assert.equal(session?.supplying, true);
    assert.ok((session?.energyKwh ?? 0) >= (progress.at(-1)!["energy_kwh"] as number));
  });
});

Deno.test("a progress interval of 1 s gives a progress message every second", async () => {
  const { publisher, send, start, tick } = setUp({ progressIntervalMs: 1_000 });
  await start();
  await tick(3_000); // past the status window: the charging status goes out at once
  await send(chargingStarted);
  await tick(10_000);
  assert.equal(publisher.ofType("charging_progress").length, 10);
});

Deno.test("charging_stopped ends the session without charging_completed; available after the 2.5 s window", async () => {
  const { engine, publisher, meter, send, start, tick, fake } = setUp();
  await start();
  await tick(3_000);
  await send(chargingStarted);
  assert.deepEqual(publisher.statusChanges().at(-1), ["available", "charging"], "sent at once");
  await tick(1_000);
  await send({ action: "charging_stopped", event_type: "charging_stopped" });
  const stoppedAt = fake.now;

  assert.equal(engine.state.status, "available");
  assert.equal(engine.state.session, null);
  assert.equal(meter.sessions, 0, "the meter stopped");
  assert.deepEqual(publisher.ofType("charging_completed"), [], "Central already issued the ticket");

  await tick(1_499);
  assert.deepEqual(publisher.statusChanges().at(-1), ["available", "charging"], "held back");
  await tick(1);
  assert.deepEqual(publisher.statusChanges().at(-1), ["charging", "available"]);
  const sentAt = (publisher.ofType("cp_status_change").at(-1)!["timestamp"] as number) * 1000;
  assert.ok(sentAt - stoppedAt <= 2_500);

  const progressCount = publisher.ofType("charging_progress").length;
  await tick(20_000);
  assert.equal(
    publisher.ofType("charging_progress").length,
    progressCount,
    "no progress after the end",
  );
});

Deno.test("CP_STOP during a session: charging_completed stopped_by_central, then out_of_service", async () => {
  const { engine, publisher, meter, send, start, tick } = setUp();
  await start();
  await send(chargingStarted);
  await tick(30_400);
  const lastProgress = publisher.ofType("charging_progress").at(-1)!;
  await send({
    event_type: "CP_STOP",
    action: "stop",
    new_status: "out_of_service",
    reason: "Maintenance",
  });

  const completed = publisher.ofType("charging_completed");
  assert.equal(completed.length, 1);
  const ticket = completed[0]!;
  assert.equal(ticket["reason"], "stopped_by_central");
  assert.equal(ticket["username"], "alice");
  assert.equal(ticket["user_id"], 7);
  assert.ok(
    (ticket["energy_kwh"] as number) >= (lastProgress["energy_kwh"] as number),
    `completed ${ticket["energy_kwh"]} kWh, last progress ${lastProgress["energy_kwh"]} kWh`,
  );
  assert.equal(ticket["cost"], costOf(ticket["energy_kwh"] as number, TARIFF));
  assert.equal(ticket["duration_sec"], 30);
  assert.equal(meter.sessions, 0);
  assert.equal(engine.state.status, "out_of_service");

  await tick(2_000);
  assert.deepEqual(publisher.statusChanges().at(-1), ["charging", "out_of_service"]);
  const types = publisher.events.map((event) => event.value.event_type);
  assert.ok(
    types.lastIndexOf("charging_completed") < types.lastIndexOf("cp_status_change"),
    "the ticket goes out before the status",
  );
  const progressCount = publisher.ofType("charging_progress").length;
  await tick(10_000);
  assert.equal(publisher.ofType("charging_progress").length, progressCount);
});

Deno.test("CP_FAULT during a session: charging_completed fault, status fault, health KO", async () => {
  const { engine, publisher, send, start, tick } = setUp();
  await start();
  await send(chargingStarted);
  await tick(10_000);
  await send({ event_type: "CP_FAULT", action: "fault" });
  assert.equal(publisher.ofType("charging_completed")[0]?.["reason"], "fault");
  assert.equal(engine.healthAnswer(), "KO");
  await tick(2_000);
  assert.deepEqual(publisher.statusChanges().at(-1), ["charging", "fault"]);
});

Deno.test("a refused charging_started re-publishes the real status", async () => {
  const { engine, publisher, send, start, tick } = setUp();
  await start();
  await send({ event_type: "CP_STOP", action: "stop", reason: "Maintenance" });
  await tick(5_000);
  const before = publisher.statusChanges().length;
  await send(chargingStarted);
  assert.equal(engine.state.session, null);
  await tick(2_000);
  const changes = publisher.statusChanges();
  assert.equal(changes.length, before + 1);
  assert.deepEqual(changes.at(-1), ["out_of_service", "out_of_service"]);
});

Deno.test("a malformed message or a command for another cp id changes nothing and publishes nothing", async (t) => {
  const { engine, publisher, start, tick, fake } = setUp();
  await start();
  await tick(5_000);
  const messages: [string, string | Uint8Array | null][] = [
    ["not JSON", "{oops"],
    ["no value", null],
    ["an array", "[1, 2]"],
    ["a number", "42"],
    ["bytes", new Uint8Array([0xff, 0x00])],
    ["a mistyped field", JSON.stringify({ event_type: "CP_STOP", cp_id: CP, reason: 3 })],
    ["a mistyped cp_id", JSON.stringify({ event_type: "CP_STOP", cp_id: 7 })],
    ["another cp id", JSON.stringify({ event_type: "CP_STOP", cp_id: "CP_002", reason: "x" })],
    ["no cp id", JSON.stringify({ event_type: "CP_FAULT" })],
    [
      "too old",
      JSON.stringify({ event_type: "CP_FAULT", cp_id: CP, timestamp: fake.now / 1000 - 60 }),
    ],
    ["an unknown command", JSON.stringify({ event_type: "CP_SELF_DESTRUCT", cp_id: CP })],
    [
      "an inherited name carrying a command",
      JSON.stringify({ action: "constructor", cp_id: CP, type: "shutdown" }),
    ],
  ];
  for (const [name, raw] of messages) {
    await t.step(name, async () => {
      const state = engine.state;
      const count = publisher.events.length;
      assert.doesNotThrow(() => engine.receive(raw));
      await tick(3_000);
      assert.equal(engine.state, state, "the state is the same object");
      assert.equal(publisher.events.length, count, "nothing published");
    });
  }
});

Deno.test("a duplicate message_id is applied once", async (t) => {
  await t.step("a redelivered charging_started does not start a second session", async () => {
    const { engine, meter, publisher, send, start, tick } = setUp();
    await start();
    await send({ ...chargingStarted, message_id: "start-1" });
    await tick(5_000);
    await send({ action: "charging_stopped", message_id: "stop-1" });
    await tick(5_000);
    await send({ ...chargingStarted, message_id: "start-1" });
    await tick(5_000);
    assert.equal(engine.state.status, "available");
    assert.equal(engine.state.session, null);
    assert.equal(meter.sessions, 0);
    assert.deepEqual(publisher.statusChanges(), [
      ["offline", "offline"],
      ["offline", "available"],
      ["available", "charging"],
      ["charging", "available"],
    ]);
  });

  await t.step("a redelivered CP_STOP after a resume does not stop the point again", async () => {
    const { engine, send, start, tick } = setUp();
    await start();
    await send({ event_type: "CP_STOP", message_id: "stop-1" });
    assert.equal(engine.state.status, "out_of_service");
    await send({ event_type: "CP_RESUME", message_id: "resume-1" });
    assert.equal(engine.state.status, "available");
    await send({ event_type: "CP_STOP", message_id: "stop-1" });
    assert.equal(engine.state.status, "available");
    await tick(3_000);
  });

  await t.step("messages without an id are all applied", async () => {
    const { engine, send, start } = setUp();
    await start();
    await send({ event_type: "CP_STOP", message_id: null });
    await send({ event_type: "CP_RESUME", message_id: null });
    await send({ event_type: "CP_STOP", message_id: null });
    assert.equal(engine.state.status, "out_of_service");
  });
});

Deno.test("shutdown during a session publishes charging_completed engine_shutdown and offline, and resolves", async () => {
  const { engine, publisher, meter, send, start, tick, runUntil, fake } = setUp();
  await start();
  await send(chargingStarted);
  await tick(20_000);
  const lastProgress = publisher.ofType("charging_progress").at(-1)!;

  const delivered = await runUntil(engine.shutdown(4_500));

  assert.equal(delivered, true);
  assert.equal(publisher.flushes, 1, "the publisher was flushed");
  const completed = publisher.ofType("charging_completed");
  assert.equal(completed.length, 1);
  assert.equal(completed[0]?.["reason"], "engine_shutdown");
  assert.ok((completed[0]?.["energy_kwh"] as number) >= (lastProgress["energy_kwh"] as number));
  assert.equal(
    publisher.events.at(-1)?.value.event_type,
    "cp_status_change",
    "offline goes out last",
  );
  assert.deepEqual(publisher.statusChanges().at(-1), ["charging", "offline"]);
  assert.equal(engine.state.status, "offline");
  assert.equal(meter.sessions, 0);
  assert.equal(fake.countTimers(), 0, "no ticker or status timer left");
});

Deno.test("shutdown right after a status change waits out the window, then resolves", async () => {
  const { engine, publisher, start, runUntil, fake } = setUp();
  await start();
  const startedAt = fake.now;
  const delivered = await runUntil(engine.shutdown());
  assert.equal(delivered, true);
  assert.deepEqual(publisher.statusChanges(), [
    ["offline", "offline"],
    ["offline", "available"],
    ["available", "offline"],
  ]);
  assert.ok(fake.now - startedAt >= 2_000, "the offline status respected the 2 s window");
  assert.equal(fake.countTimers(), 0);
});

Deno.test("engines are independent objects", async () => {
  const first = setUp();
  const second = setUp({ cpId: "CP_002" });
  await first.start();
  await second.start();
  await first.send(chargingStarted);
  assert.equal(first.engine.state.status, "charging");
  assert.equal(second.engine.state.status, "available");
  second.engine.receive(JSON.stringify({ ...chargingStarted, cp_id: CP }));
  await second.settle();
  assert.equal(second.engine.state.status, "available", "a command for CP_001 is not for CP_002");
  await first.tick(3_000);
  await second.tick(3_000);
});

Deno.test("a command stamped more than 5 s before the engine started is skipped, even if younger than the max age", async (t) => {
  const { engine, publisher, start, settle, fake } = setUp();
  const startedAt = fake.now;
  await start();
  const stamped = (at: number, username: string) =>
    JSON.stringify({
      message_id: `start-${username}`,
      event_type: "charging_started",
      action: "charging_started",
      cp_id: CP,
      username,
      user_id: 1,
      timestamp: at / 1000,
    });

  await t.step("authorised 6 s before the start (while the engine was down): skipped", async () => {
    engine.receive(stamped(startedAt - 6_000, "ghost"));
    await settle();
    assert.equal(engine.state.session, null);
    assert.equal(publisher.ofType("charging_progress").length, 0);
  });

  await t.step("stamped 4 s before the start (clocks a little apart): applied", async () => {
    engine.receive(stamped(startedAt - 4_000, "alice"));
    await settle();
    assert.equal(engine.state.session?.driver.username, "alice");
  });
});

Deno.test("a session's progress never precedes its charging status on the wire, and still starts within 5 s", async () => {
  const { publisher, send, start, tick, fake } = setUp({ progressIntervalMs: 1_000 });
  await start(); // `available` has just gone out: the next status waits 2.5 s
  const commandAt = fake.now;
  await send(chargingStarted);
  await tick(6_000);
  const types = publisher.events.map((event) =>
    `${event.value.event_type}:${event.value["status"]}`
  );
  const charging = types.indexOf("cp_status_change:charging");
  const firstProgress = types.findIndex((type) => type.startsWith("charging_progress"));
  assert.ok(charging >= 0 && firstProgress > charging, types.join(", "));
  const firstAt = (publisher.ofType("charging_progress")[0]!["timestamp"] as number) * 1000;
  assert.ok(firstAt - commandAt <= 5_000, `first progress ${firstAt - commandAt} ms after`);
  assert.ok((publisher.ofType("charging_progress")[0]!["energy_kwh"] as number) > 0);
});

Deno.test("a watching Monitor that falls silent mid-session: ticket monitor_lost with the energy supplied, then offline", async () => {
  const { engine, publisher, send, start, tick } = setUp({ progressIntervalMs: 1_000 });
  await start();
  for (let i = 0; i < 3; i++) {
    engine.probe();
    await tick(1_000);
  }
  await send(chargingStarted);
  for (let i = 0; i < 10; i++) {
    engine.probe();
    await tick(1_000);
  }
  const lastProgress = publisher.ofType("charging_progress").at(-1)!;
  await tick(6_000); // the Monitor is gone: 5 s of silence, judged on the next tick
  const tickets = publisher.ofType("charging_completed");
  assert.equal(tickets.length, 1);
  assert.equal(tickets[0]!["reason"], "monitor_lost");
  assert.equal(tickets[0]!["username"], "alice");
  assert.ok((tickets[0]!["energy_kwh"] as number) >= (lastProgress["energy_kwh"] as number));
  await tick(3_000);
  assert.deepEqual(publisher.statusChanges().at(-1), ["charging", "offline"]);
  const types = publisher.events.map((event) => event.value.event_type);
  assert.ok(types.lastIndexOf("charging_completed") < types.lastIndexOf("cp_status_change"));
  assert.equal(engine.state.monitor.kind, "lost");
});

Deno.test("Central's own ticket for the session ends it: no charging_completed, offline until the Monitor watches", async () => {
  const { engine, publisher, meter, send, start, tick, fake } = setUp({
    progressIntervalMs: 1_000,
  });
  await start();
  for (let i = 0; i < 3; i++) {
    engine.probe();
    await tick(1_000);
  }
  const authorizedAt = fake.now / 1000;
  await send(chargingStarted);
  await tick(3_000);
  // An older ticket of alice's (stamped before this authorization) changes nothing.
  await send({ event_type: "CHARGING_TICKET", username: "alice", timestamp: authorizedAt - 60 });
  assert.equal(engine.state.session?.driver.username, "alice");
  // Central's Monitor timeout closed it (EV_Central_WebSocket.py:1089-1180).
  await send({
    event_type: "CHARGING_TICKET",
    username: "alice",
    energy_kwh: 0.01,
    cost: 0,
    reason: "monitor_timeout",
  });
  assert.equal(engine.state.session, null);
  assert.equal(meter.sessions, 0, "the meter stopped");
  const progressCount = publisher.ofType("charging_progress").length;
  await tick(5_000);
  assert.deepEqual(publisher.ofType("charging_completed"), [], "Central already billed it");
  assert.equal(publisher.ofType("charging_progress").length, progressCount, "no more progress");
  assert.deepEqual(publisher.statusChanges().at(-1), ["charging", "offline"]);
  for (let i = 0; i < 3; i++) {
    engine.probe();
    await tick(1_000);
  }
  await tick(3_000);
  assert.deepEqual(publisher.statusChanges().at(-1), ["offline", "available"]);
});

Deno.test("Central back after an outage: registration, the ticket it missed (same id, fresh time), then the status", async () => {
  const { engine, publisher, send, start, tick, fake } = setUp({ progressIntervalMs: 1_000 });
  await start();
  await send(chargingStarted);
  await tick(5_000);
  engine.centralPresence({ kind: "present" });
  engine.centralPresence({ kind: "away", since: fake.now });
  await send({ ...chargingStarted, username: "bob" }); // refused: Central is away
  assert.equal(engine.state.session?.driver.username, "alice");
  await send({ event_type: "CP_UNPLUG", action: "unplug" });
  const [missed] = publisher.ofType("charging_completed");
  assert.ok(missed);
  await tick(60_000);
  const before = publisher.events.length;
  engine.centralPresence({ kind: "present" });
  await tick(REGISTRATION_QUIET_MS + 1_000);
  const after = publisher.events.slice(before).map((event) => event.value);
  assert.deepEqual(after.map((value) => `${value.event_type}:${value["status"] ?? ""}`), [
    "CP_REGISTRATION:offline",
    "charging_completed:",
    "cp_status_change:available",
  ]);
  assert.equal(
    after[1]!.message_id,
    missed["message_id"],
    "the same ticket: Central drops repeats",
  );
  assert.ok((after[1]!.timestamp as number) > (missed["timestamp"] as number), "re-stamped");
});

Deno.test("Central back while a session runs: no registration (it would reset the point), charging re-sent", async () => {
  const { engine, publisher, send, start, tick, fake } = setUp({ progressIntervalMs: 1_000 });
  await start();
  engine.centralPresence({ kind: "present" });
  engine.centralPresence({ kind: "away", since: fake.now });
  await tick(3_000);
  engine.centralPresence({ kind: "present" });
  await send(chargingStarted); // refused while away? no: Central is back now
  assert.equal(engine.state.session?.driver.username, "alice");
  engine.centralPresence({ kind: "away", since: fake.now });
  await tick(3_000);
  const before = publisher.events.length;
  engine.centralPresence({ kind: "present" });
  await tick(3_000);
  const after = publisher.events.slice(before).map((event) => event.value.event_type);
  assert.ok(!after.includes("CP_REGISTRATION"), after.join(", "));
  assert.deepEqual(publisher.statusChanges().at(-1), ["charging", "charging"]);
});
