/**
 * Integration tests of fleet mode against the real broker, real health sockets and the real
 * charging Worker: many points in one process, each one indistinguishable on the wire from a
 * single engine.
 */
import assert from "node:assert/strict";
import { brokerAddress, CentralDouble, type SeenEvent, uniqueTopics } from "./support/kafka.ts";
import { EngineProcess } from "./support/engine_process.ts";
import { Fleet, type FleetLoad, type FleetMember } from "../src/fleet/fleet.ts";
import { WorkerChargingMeter } from "../src/adapters/charging/worker.ts";
import { HealthServer } from "../src/adapters/health/server.ts";
import { KafkaBus } from "../src/adapters/kafka/bus.ts";
import { engineLogger } from "../src/adapters/logging.ts";
import { processControl } from "../src/adapters/signals.ts";
import { SqliteOutbox } from "../src/adapters/storage/sqlite_store.ts";
import { systemClock } from "../src/adapters/clock.ts";
import { probeHealth } from "../src/adapters/health/probe_client.ts";
import type { FleetEvent } from "../src/fleet/schedule.ts";
import { KafkaCentralWatch } from "../src/adapters/kafka/central_watch.ts";
import type { CentralWatch } from "../src/app/ports.ts";
import { Kafka, logLevel } from "kafkajs";

const NO_LOAD: FleetLoad = {
  sessionsPerMinute: 0,
  sessionSeconds: { min: 60, max: 120 },
  faultsPerHourPerPoint: 0,
  faultSeconds: { min: 30, max: 60 },
};

function members(prefix: string, count: number): FleetMember[] {
  return Array.from({ length: count }, (_, i) => ({
    cpId: `${prefix}_${String(i + 1).padStart(4, "0")}`,
    location: `Bay ${i + 1}`,
    maxPowerKw: 22,
    tariffEurPerKwh: 0.3,
    healthPort: 0,
  }));
}

/**
 * A fleet wired to the real broker, real health ports, a real durable store and the real
 * Worker. (One Worker for the whole fleet is structural: the fleet is given one meter.)
 */
async function startFleet(
  topics: { cpEvents: string; centralEvents: string },
  points: FleetMember[],
  load: FleetLoad = NO_LOAD,
  timeScale = 1,
  centralWatch?: CentralWatch,
) {
  const broker = await brokerAddress();
  const stateDir = await Deno.makeTempDir({ prefix: "fleet-test-" });
  const groupId = `fleet_group_${crypto.randomUUID()}`;
  const store = SqliteOutbox.open(stateDir, groupId, { clock: systemClock });
  const bus = new KafkaBus({
    brokers: [broker],
    clientId: "fleet-test",
    groupId,
    cpEventsTopic: topics.cpEvents,
    centralEventsTopic: topics.centralEvents,
  }, { logger: engineLogger("kafka"), clock: systemClock, outbox: store });
  const fleet = new Fleet({
    members: points,
    healthHost: "127.0.0.1",
    behaviour: {
      progressIntervalMs: 1000,
      timeScale,
      cpEventsTopic: topics.cpEvents,
      commandMaxAgeMs: 30_000,
      powerRampSeconds: 0,
      settings: { monitorWaitMs: 0 },
    },
    seed: 7,
    load,
  }, {
    clock: systemClock,
    newId: () => crypto.randomUUID(),
    logger: engineLogger("fleet"),
    engineLogger: engineLogger("engine"),
    bus,
    meter: new WorkerChargingMeter({ timeScale }),
    journalOf: (cpId) => store.journal(cpId),
    openHealthPort: (address, source, logger) =>
      HealthServer.listen({ ...address, logger }, source),
    healthLogger: (cpId) => engineLogger("health").with({ cp_id: cpId }),
    process: processControl,
    ...(centralWatch === undefined ? {} : { centralWatch }),
  });
  await fleet.start();
  const stop = fleet.stop.bind(fleet);
  fleet.stop = async () => {
    const delivered = await stop();
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    return delivered;
  };
  return { fleet };
}

function from(cpId: string, name: string) {
  return (event: SeenEvent) =>
    event.value["cp_id"] === cpId &&
    (event.value["event_type"] === name || event.value["action"] === name);
}

function statusesOf(central: CentralDouble, cpId: string): string[] {
  return central.events.filter(from(cpId, "cp_status_change")).map((e) =>
    String(e.value["status"])
  );
}

Deno.test("a fleet of 20 points: each registers and goes available under its own key, answers health, and a command for one point only affects that point", async () => {
  const topics = uniqueTopics("fleet20");
  const central = await CentralDouble.start(await brokerAddress(), topics);
  const points = members("FLT20", 20);
  const { fleet } = await startFleet(topics, points);
  try {
    await central.waitFor(
      "20 registrations and 20 available statuses",
      (events) =>
        points.every((p) =>
          events.some(from(p.cpId, "CP_REGISTRATION")) &&
          events.some((e) =>
            from(p.cpId, "cp_status_change")(e) && e.value["status"] === "available"
          )
        ),
      20_000,
    );
    for (const point of points) {
      const own = central.events.filter((e) => e.value["cp_id"] === point.cpId);
      assert.ok(own.every((e) => e.key === point.cpId), `${point.cpId} events keyed by its id`);
      assert.ok(own.every((e) => e.value["engine_id"] === point.cpId));
      const registration = own.find(from(point.cpId, "CP_REGISTRATION"))!;
      const data = registration.value["data"] as Record<string, unknown>;
      assert.equal(data["location"], point.location);
      assert.equal(data["localizacion"], point.location);
      assert.equal(data["max_power_kw"], 22);
      // Registration (with an explicit offline, docs/decisions.md) before the health port
      // opened, then offline -> available (section 6).
      assert.deepEqual(statusesOf(central, point.cpId), ["offline", "available"]);
    }
    const answers = await Promise.all(
      points.map((p) => probeHealth({ host: "127.0.0.1", port: fleet.healthPort(p.cpId)! })),
    );
    assert.ok(answers.every((a) => a.kind === "answer" && a.answer === "OK"), String(answers));

    await central.send({ event_type: "CP_FAULT", action: "fault", cp_id: "FLT20_0007" });
    await central.waitFor(
      "FLT20_0007 in fault",
      () => statusesOf(central, "FLT20_0007").includes("fault"),
    );
    const after = await Promise.all(
      points.map(async (p) => {
        const result = await probeHealth({ host: "127.0.0.1", port: fleet.healthPort(p.cpId)! });
        return [p.cpId, result.kind === "answer" ? result.answer : result.reason];
      }),
    );
    assert.deepEqual(
      after.filter(([, answer]) => answer !== "OK"),
      [["FLT20_0007", "KO"]],
    );
    for (const point of points.filter((p) => p.cpId !== "FLT20_0007")) {
      assert.deepEqual(statusesOf(central, point.cpId), ["offline", "available"], point.cpId);
      assert.equal(fleet.engines.get(point.cpId)!.state.status, "available");
    }
  } finally {
    await fleet.stop();
    await central.close();
  }
});

Deno.test("sessions on several points of a fleet are metered by the one Worker and end with the fleet's shutdown", async () => {
  const topics = uniqueTopics("fleetcharge");
  const central = await CentralDouble.start(await brokerAddress(), topics);
  const points = members("FLTC", 4);
  const { fleet } = await startFleet(topics, points);
  let stopped = false;
  try {
    await central.waitFor(
      "4 available",
      () => points.every((p) => statusesOf(central, p.cpId).includes("available")),
      20_000,
    );
    for (const [index, point] of points.slice(0, 3).entries()) {
      await central.send({
        event_type: "charging_started",
        action: "charging_started",
        cp_id: point.cpId,
        username: `driver${index}`,
        user_id: index,
        client_id: `client${index}`,
      });
    }
    await central.waitFor(
      "progress from the 3 charging points",
      (events) =>
        points.slice(0, 3).every((p, index) =>
          events.some((e) =>
            from(p.cpId, "charging_progress")(e) && e.value["username"] === `driver${index}`
          )
        ),
    );
    assert.equal(central.events.filter(from("FLTC_0004", "charging_progress")).length, 0);
    assert.equal(await fleet.stop(), true);
    stopped = true;
    await central.waitFor(
      "charging_completed (engine_shutdown) and offline for every charging point",
      (events) =>
        points.slice(0, 3).every((p) =>
          events.some((e) =>
            from(p.cpId, "charging_completed")(e) && e.value["reason"] === "engine_shutdown"
          )
        ) && points.every((p) => statusesOf(central, p.cpId).at(-1) === "offline"),
    );
  } finally {
    if (!stopped) await fleet.stop();
    await central.close();
  }
});

/** A Central as the original joins: a new consumer group of `prefix` on every start, reading `topic`. */
async function joinAsCentral(broker: string, prefix: string, topic: string) {
  const kafka = new Kafka({ clientId: "central", brokers: [broker], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${prefix}${Date.now()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: false });
  await consumer.run({ eachMessage: () => Promise.resolve() });
  return consumer;
}

async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test("a fleet watches Central once: while it is away no point starts a session, and when it is back every point registers again", async () => {
  const broker = await brokerAddress();
  const topics = uniqueTopics("fleetcentral");
  const central = await CentralDouble.start(broker, topics);
  const prefix = `fleet_central_${crypto.randomUUID().slice(0, 8)}_`;
  let present = await joinAsCentral(broker, prefix, topics.cpEvents);
  const watch = new KafkaCentralWatch({
    brokers: [broker],
    clientId: "fleet-test-central",
    groupPrefix: prefix,
    cpEventsTopic: topics.cpEvents,
    intervalMs: 500,
  }, { logger: engineLogger("central"), clock: systemClock });
  const points = members("FLTW", 3);
  const { fleet } = await startFleet(topics, points, NO_LOAD, 1, watch);
  try {
    await central.waitFor(
      "3 available",
      () => points.every((p) => statusesOf(central, p.cpId).includes("available")),
      20_000,
    );
    await until("Central seen", () => watch.presence.kind === "present");
    await present.disconnect(); // a clean exit: its group is empty at once
    await until("Central away", () => watch.presence.kind === "away");
    const awaySince = central.events.length;
    await central.send({
      event_type: "charging_started",
      action: "charging_started",
      cp_id: points[0]!.cpId,
      username: "alice",
    });
    // Barrier: a command sent after it to another point, and its effect.
    await central.send({ event_type: "CP_FAULT", action: "fault", cp_id: points[1]!.cpId });
    await central.waitFor(
      "the fault of the second point",
      () => statusesOf(central, points[1]!.cpId).includes("fault"),
    );
    const first = central.events.slice(awaySince).filter((e) =>
      e.value["cp_id"] === points[0]!.cpId
    )
      .map((e) => e.value);
    assert.ok(
      first.every((e) => e["status"] !== "charging" && e["action"] !== "charging_progress"),
      `no session on the first point while Central is away: ${JSON.stringify(first)}`,
    );
    // The refusal is told as the point's unchanged status, with the reason.
    assert.match(
      String(first.at(-1)?.["reason"]),
      /Refused charging_started: Central is unreachable/,
    );

    present = await joinAsCentral(broker, prefix, topics.cpEvents);
    const backFrom = central.events.length;
    await central.waitFor(
      "every point registered again, then its real status",
      () =>
        points.every((p) => {
          const own = central.events.slice(backFrom).filter((e) => e.value["cp_id"] === p.cpId);
          const registered = own.findIndex(from(p.cpId, "CP_REGISTRATION"));
          return registered >= 0 &&
            own.slice(registered).some(from(p.cpId, "cp_status_change"));
        }),
      20_000,
    );
    const last = (cpId: string) => statusesOf(central, cpId).at(-1);
    assert.equal(last(points[0]!.cpId), "available");
    assert.equal(last(points[1]!.cpId), "fault");
    assert.equal(last(points[2]!.cpId), "available");
  } finally {
    await fleet.stop();
    await watch.close();
    await present.disconnect().catch(() => {});
    await central.close();
  }
});

Deno.test("auto sessions and chaos with a seed start local sessions and inject faults", async () => {
  const topics = uniqueTopics("fleetload");
  const central = await CentralDouble.start(await brokerAddress(), topics);
  const points = members("FLTL", 4);
  const carried: FleetEvent[] = [];
  // At 600x (a simulated minute is 0.1 real second): a new session whenever a point is idle,
  // lasting 2.5 to 5 real seconds (so it lives past its first progress, sent each real second),
  // and a fault every 6 real seconds per point, lasting under a second.
  const { fleet } = await startFleet(topics, points, {
    sessionsPerMinute: 1,
    sessionSeconds: { min: 1500, max: 3000 },
    faultsPerHourPerPoint: 1,
    faultSeconds: { min: 300, max: 500 },
  }, 600);
  fleet.onLoadEvent((event) => carried.push(event));
  try {
    await central.waitFor(
      "a local session's progress and an injected fault",
      (events) =>
        events.some((e) =>
          e.value["action"] === "charging_progress" &&
          String(e.value["username"]).startsWith("auto_driver_")
        ) &&
        events.some((e) =>
          e.value["action"] === "cp_status_change" && e.value["status"] === "fault"
        ),
      40_000,
    );
    assert.ok(carried.some((event) => event.kind === "session_start"));
    assert.ok(carried.some((event) => event.kind === "fault"));
  } finally {
    await fleet.stop();
    await central.close();
  }
});

Deno.test("`ev-cp-engine fleet --count 3` runs as its own process and shuts every point down on SIGTERM", async () => {
  const topics = uniqueTopics("fleetproc");
  const broker = await brokerAddress();
  const central = await CentralDouble.start(broker, topics);
  const engine = await EngineProcess.start([
    "fleet",
    "--count",
    "3",
    "--health-port-base",
    "0",
    "--health-host",
    "127.0.0.1",
    "--kafka-broker",
    broker,
    "--cp-events-topic",
    topics.cpEvents,
    "--central-events-topic",
    topics.centralEvents,
    "--group-id",
    `fleet_group_${crypto.randomUUID()}`,
    "--monitor-wait",
    "0",
  ]);
  try {
    await central.waitFor(
      "3 points available",
      () =>
        ["CP_0001", "CP_0002", "CP_0003"].every((id) =>
          statusesOf(central, id).includes("available")
        ),
      30_000,
    );
    engine.signal("SIGTERM");
    assert.equal(await engine.exited(10_000), 0, engine.output);
    await central.waitFor(
      "offline from each point",
      () =>
        ["CP_0001", "CP_0002", "CP_0003"].every((id) =>
          statusesOf(central, id).at(-1) === "offline"
        ),
    );
    assert.match(engine.output, /fleet of 3 points \(CP_0001\.\.CP_0003\)/);
  } finally {
    await engine.dispose();
    await central.close();
  }
});
