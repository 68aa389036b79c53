/**
 * Durability, with real parts: brokers this file starts, stops and starts again
 * (`KafkaTestBroker`), the engine as a real process (`EngineProcess`, the `start` task's flags and
 * permissions), and a Central double. Each test prints its figures.
 */
import assert from "node:assert/strict";
import { KafkaTestBroker } from "../tools/kafka_broker.ts";
import {
  engineArgs,
  EngineProcess,
  type EngineTarget,
  freePort,
} from "./support/engine_process.ts";
import { brokerAddress, CentralDouble, uniqueTopics } from "./support/kafka.ts";
import { logLines, readTopic, storedEvents, testStateDir } from "./support/engine_state.ts";
import { probeHealth } from "../src/adapters/health/probe_client.ts";
import { KafkaBus } from "../src/adapters/kafka/bus.ts";
import { SqliteOutbox } from "../src/adapters/storage/sqlite_store.ts";
import { engineLogger } from "../src/adapters/logging.ts";
import { systemClock } from "../src/adapters/clock.ts";
import { parseCli } from "../src/cli/engine_command.ts";
import { statusChangeEvent } from "../src/protocol/events.ts";

const REAL_PARTS = {} as const;

/** The flags of the engines of this file: the shared ones, a state directory and JSON logs. */
function durableEngineArgs(options: EngineTarget & { stateDir: string }): string[] {
  return [
    ...engineArgs(options),
    "--state-dir",
    options.stateDir,
    "--progress-interval",
    "1",
    "--log-format",
    "json",
    "--log-level",
    "debug",
  ];
}

/**
 * A backlog test's parts: a Central double on fresh topics and an outbox in a temporary
 * directory (`close` removes both).
 */
async function backlogRig(label: string, cpId: string) {
  const broker = await brokerAddress();
  const topics = uniqueTopics(label);
  const dir = await Deno.makeTempDir({ prefix: `${label}-test-` });
  const central = await CentralDouble.start(broker, topics);
  const outbox = SqliteOutbox.open(dir, cpId, { clock: systemClock });
  return {
    broker,
    topics,
    central,
    outbox,
    close: async () => {
      await central.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A Kafka bus that sends the rig's backlog, in a consumer group of its own. */
function backlogBus(
  label: string,
  rig: Awaited<ReturnType<typeof backlogRig>>,
  drainRatePerSecond?: number,
): KafkaBus {
  return new KafkaBus({
    brokers: [rig.broker],
    clientId: `${label}-test`,
    groupId: `${label}-test-${crypto.randomUUID()}`,
    cpEventsTopic: rig.topics.cpEvents,
    centralEventsTopic: rig.topics.centralEvents,
    ...(drainRatePerSecond === undefined ? {} : { drainRatePerSecond }),
  }, { logger: engineLogger(`${label}-test`), clock: systemClock, outbox: rig.outbox });
}

function startCommand(cpId: string, username: string): Record<string, unknown> {
  return {
    event_type: "charging_started",
    action: "charging_started",
    cp_id: cpId,
    username,
    user_id: 42,
    client_id: `client-${username}`,
  };
}

/** Polls `predicate` until it holds, or fails after `timeoutMs` saying `what`. */
async function waitUntil(what: string, predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function logTimeOf(output: string, pattern: RegExp, occurrence = 0): number {
  const found = logLines(output).filter((line) => pattern.test(line.message));
  const line = found[occurrence];
  if (line === undefined) throw new Error(`No log line #${occurrence + 1} matching ${pattern}`);
  return Date.parse(line.time);
}

function firstLogTimeAfter(output: string, pattern: RegExp, after: number): number | null {
  const line = logLines(output).find((line) =>
    pattern.test(line.message) && Date.parse(line.time) >= after
  );
  return line === undefined ? null : Date.parse(line.time);
}

function countLines(output: string, pattern: RegExp): number {
  return logLines(output).filter((line) => pattern.test(line.message)).length;
}

Deno.test({
  name:
    "a broker that stops mid-session and comes back loses nothing: the session goes on and the backlog arrives in order",
  ...REAL_PARTS,
  fn: async () => {
    const broker = await KafkaTestBroker.create();
    const state = testStateDir("outage");
    const topics = uniqueTopics("outage");
    const cpId = `CP_OUT_${crypto.randomUUID().slice(0, 6)}`;
    let engine: EngineProcess | null = null;
    let central: CentralDouble | null = null;
    try {
      await broker.start();
      central = await CentralDouble.start(broker.bootstrap, topics);
      engine = await EngineProcess.start(durableEngineArgs({
        cpId,
        broker: broker.bootstrap,
        topics,
        healthPort: freePort(),
        stateDir: state.arg,
      }));
      const running = engine;
      await central.waitForStatus("available", 0, 60_000);
      await central.send(startCommand(cpId, "outage-driver"));
      const before = central;
      await before.waitFor(
        "3 progress",
        () => before.seen("charging_progress").length >= 3,
        20_000,
      );
      // This double's consumer would not survive the outage; a fresh one reads everything later.
      await central.close();
      central = null;

      const progressProduced = () =>
        storedEvents(running.output).filter((event) => event.eventType === "charging_progress")
          .length;
      const progressBeforeOutages = progressProduced();
      // A short outage (nothing goes stale) and one longer than 30 s (stale progress collapses).
      const outages: {
        samples: number;
        stoppedAt: number;
        brokerBackAt: number;
        reconnectedAt: number;
        drainedAt: number;
      }[] = [];
      for (const [index, samples] of [10, 40].entries()) {
        const progressBefore = progressProduced();
        await broker.stop();
        const stoppedAt = Date.now();
        await waitUntil(
          "Kafka said to be unreachable",
          () => countLines(running.output, /^Kafka is unreachable/) > index,
          30_000,
        );
        // The session goes on without the broker.
        await waitUntil(
          `${samples} progress samples while the broker is away`,
          () => progressProduced() >= progressBefore + samples,
          samples * 1000 + 30_000,
        );
        await broker.start();
        const brokerBackAt = Date.now();
        await waitUntil(
          "Kafka said to be back",
          () => countLines(running.output, /^Kafka is reachable again/) > index,
          90_000,
        );
        const reconnectedAt = logTimeOf(running.output, /^Kafka is reachable again/, index);
        await waitUntil(
          "the backlog to be delivered",
          () => firstLogTimeAfter(running.output, /^Backlog delivered/, reconnectedAt) !== null,
          60_000,
        );
        const drainedAt = firstLogTimeAfter(running.output, /^Backlog delivered/, reconnectedAt)!;
        outages.push({ samples, stoppedAt, brokerBackAt, reconnectedAt, drainedAt });
      }

      // The session is still running: end it, then check what Central received.
      central = await CentralDouble.start(broker.bootstrap, topics);
      const after = central;
      await after.send({ event_type: "CP_UNPLUG", action: "unplug", cp_id: cpId });
      await after.waitFor(
        "charging_completed",
        () => after.seen("charging_completed").length === 1,
        30_000,
      );
      const produced = storedEvents(running.output);
      const producedIds = new Set(produced.map((event) => event.messageId));
      const mustArrive = produced.filter((event, index) =>
        event.eventType !== "charging_progress" ||
        produced.slice(index + 1).every((later) => later.eventType !== "charging_progress")
      );
      await after.waitFor(
        "every status change, registration and session end produced",
        () => {
          const seen = new Set(after.events.map((event) => String(event.value["message_id"])));
          return storedEvents(running.output).filter((event) =>
            event.eventType !== "charging_progress"
          ).every((event) => seen.has(event.messageId));
        },
        30_000,
      );

      const delivered = await readTopic(broker.bootstrap, topics.cpEvents);
      const firstCopy = new Map<string, Record<string, unknown>>();
      const order: string[] = [];
      for (const value of delivered) {
        const id = String(value["message_id"]);
        const copy = firstCopy.get(id);
        if (copy === undefined) {
          firstCopy.set(id, value);
          order.push(id);
        } else {
          // A duplicate is a retry of the same message: same id, same content but the time.
          assert.deepEqual({ ...value, timestamp: 0 }, { ...copy, timestamp: 0 });
        }
      }
      const duplicates = delivered.length - order.length;
      for (const id of order) assert.ok(producedIds.has(id), `delivered ${id} was never produced`);
      for (const event of mustArrive) {
        assert.ok(firstCopy.has(event.messageId), `${event.eventType} ${event.messageId} lost`);
      }
      // In order: the deliveries follow the order of production.
      const position = new Map(produced.map((event, index) => [event.messageId, index]));
      const positions = order.map((id) => position.get(id)!);
      assert.deepEqual(positions, [...positions].sort((a, b) => a - b));
      // Progress not delivered was collapsed: produced during an outage, stale (over 30 s)
      // before Kafka came back.
      const lostProgress = produced.filter((event) => !firstCopy.has(event.messageId));
      for (const event of lostProgress) {
        assert.equal(event.eventType, "charging_progress");
        const outage = outages.find((outage) =>
          outage.stoppedAt - 5_000 <= event.at && event.at <= outage.reconnectedAt
        );
        assert.ok(outage, "only progress produced while Kafka was away is collapsed");
        assert.ok(event.at < outage.reconnectedAt - 30_000 + 1_000, "only stale progress");
      }
      const collapsedIn = (outage: typeof outages[number]) =>
        lostProgress.filter((event) =>
          outage.stoppedAt - 5_000 <= event.at && event.at <= outage.reconnectedAt
        ).length;
      assert.equal(collapsedIn(outages[0]!), 0, "a short outage loses nothing at all");
      assert.ok(collapsedIn(outages[1]!) > 0, "a long outage collapses stale progress");
      assert.equal(countLines(running.output, /^Kafka is unreachable/), 2, "said once per outage");
      assert.equal(countLines(running.output, /^Kafka is reachable again/), 2);
      const progress = order.map((id) => firstCopy.get(id)!).filter((value) =>
        value["event_type"] === "charging_progress"
      );
      const energies = progress.map((value) => Number(value["energy_kwh"]));
      assert.deepEqual(energies, [...energies].sort((a, b) => a - b), "energy never decreases");
      const completed = after.seen("charging_completed")[0]!;
      assert.equal(completed["reason"], "unplugged_by_user");
      assert.ok(Number(completed["energy_kwh"]) >= Math.max(...energies));
      assert.ok(progressProduced() - progressBeforeOutages >= 50, "the session went on");

      console.log(
        `[figures] outages: produced ${produced.length} events, delivered ${order.length} ` +
          `distinct (${delivered.length} messages, ${duplicates} duplicates by message_id, ` +
          `${lostProgress.length} stale progress samples collapsed)`,
      );
      for (const outage of outages) {
        console.log(
          `[figures] outage with ${outage.samples} samples: ${
            Math.round((outage.brokerBackAt - outage.stoppedAt) / 1000)
          } s without a broker, ${collapsedIn(outage)} collapsed; broker back -> reconnected ` +
            `${outage.reconnectedAt - outage.brokerBackAt} ms, reconnected -> backlog drained ` +
            `${outage.drainedAt - outage.reconnectedAt} ms, broker back -> drained ` +
            `${outage.drainedAt - outage.brokerBackAt} ms`,
        );
      }
    } finally {
      await central?.close();
      await engine?.dispose();
      await broker.dispose();
      await state.remove();
    }
  },
});

Deno.test({
  name:
    "after kill -9 mid-session the restarted engine registers, sends one engine_recovered ticket with the energy supplied, then its status",
  ...REAL_PARTS,
  fn: async () => {
    const broker = await brokerAddress();
    const state = testStateDir("crash");
    const topics = uniqueTopics("crash");
    const cpId = `CP_CRASH_${crypto.randomUUID().slice(0, 6)}`;
    const args = () => [
      ...durableEngineArgs({ cpId, broker, topics, healthPort: freePort(), stateDir: state.arg }),
      // Ten simulated seconds per second: past the 30 s ramp, so the energy is substantial.
      "--time-scale",
      "10",
    ];
    const engines: EngineProcess[] = [];
    const central = await CentralDouble.start(broker, topics);
    try {
      const first = await EngineProcess.start(args());
      engines.push(first);
      await central.waitForStatus("available", 0, 60_000);
      await central.send(startCommand(cpId, "crash-driver"));
      await central.waitFor(
        "4 progress",
        () => central.seen("charging_progress").length >= 4,
        20_000,
      );
      first.signal("SIGKILL");
      await first.exited();

      const second = await EngineProcess.start(args());
      engines.push(second);
      await central.waitFor(
        "engine_recovered and then available",
        (events) => {
          const afterRecovery = events.findIndex((event) =>
            event.value["reason"] === "engine_recovered"
          );
          return afterRecovery >= 0 &&
            events.slice(afterRecovery).some((event) =>
              event.value["event_type"] === "cp_status_change" &&
              event.value["status"] === "available"
            );
        },
        60_000,
      );
      const names = central.events.map((event) => String(event.value["event_type"]));
      const lastRegistration = names.lastIndexOf("CP_REGISTRATION");
      const sequence = central.events.slice(lastRegistration).map((event) =>
        `${event.value["event_type"]}:${
          event.value["event_type"] === "charging_completed"
            ? event.value["reason"]
            : event.value["status"]
        }`
      );
      assert.deepEqual(sequence.slice(0, 4), [
        "CP_REGISTRATION:offline",
        "cp_status_change:offline",
        "charging_completed:engine_recovered",
        "cp_status_change:available",
      ]);
      const recovered = central.seen("charging_completed");
      assert.equal(recovered.length, 1);
      const ticket = recovered[0]!;
      const lastProgress = Math.max(
        ...central.seen("charging_progress").map((value) => Number(value["energy_kwh"])),
      );
      assert.ok(Number(ticket["energy_kwh"]) >= lastProgress, "no energy lost");
      assert.ok(Number(ticket["energy_kwh"]) > 0);
      assert.equal(ticket["username"], "crash-driver");
      assert.equal(ticket["user_id"], 42);
      assert.ok(Number(ticket["duration_sec"]) >= 30);

      // A second restart does not send the ticket again.
      second.signal("SIGTERM");
      assert.equal(await second.exited(), 0);
      const registrations = central.seen("CP_REGISTRATION").length;
      const third = await EngineProcess.start(args());
      engines.push(third);
      await central.waitFor(
        "the third registration and its available status",
        () => {
          const events = central.events.map((event) => event.value);
          const index = events.findLastIndex((value) => value["event_type"] === "CP_REGISTRATION");
          return central.seen("CP_REGISTRATION").length > registrations &&
            events.slice(index).some((value) => value["status"] === "available");
        },
        60_000,
      );
      assert.equal(central.seen("charging_completed").length, 1);
      console.log(
        `[figures] kill -9: last progress ${lastProgress} kWh, engine_recovered ticket ` +
          `${ticket["energy_kwh"]} kWh after ${
            ticket["duration_sec"]
          } s, sent once over 2 restarts`,
      );
    } finally {
      await central.close();
      for (const engine of engines) await engine.dispose();
      await state.remove();
    }
  },
});

Deno.test({
  name:
    "an engine started before its broker exists answers health checks, then registers and goes available once the broker is up",
  ...REAL_PARTS,
  fn: async () => {
    const broker = await KafkaTestBroker.create();
    const state = testStateDir("late-broker");
    const topics = uniqueTopics("late-broker");
    const cpId = `CP_LATE_${crypto.randomUUID().slice(0, 6)}`;
    const healthPort = freePort();
    let engine: EngineProcess | null = null;
    let central: CentralDouble | null = null;
    try {
      const startedAt = Date.now();
      engine = await EngineProcess.start(durableEngineArgs({
        cpId,
        broker: broker.bootstrap,
        topics,
        healthPort,
        stateDir: state.arg,
      }));
      await engine.waitForOutput("Health server listening", 30_000);
      const portOpenAfter = Date.now() - startedAt;
      const answer = await probeHealth({ host: "127.0.0.1", port: healthPort, timeoutMs: 2_000 });
      assert.deepEqual(answer.kind === "answer" ? answer.answer : answer, "OK");
      assert.ok(engine.output.includes("Kafka is unreachable at " + broker.bootstrap));

      await broker.start();
      central = await CentralDouble.start(broker.bootstrap, topics);
      await central.waitForStatus("available", 0, 90_000);
      const names = central.events.map((event) => String(event.value["event_type"]));
      assert.deepEqual(names.slice(0, 2), ["CP_REGISTRATION", "cp_status_change"]);
      const again = await probeHealth({ host: "127.0.0.1", port: healthPort, timeoutMs: 2_000 });
      assert.equal(again.kind === "answer" ? again.answer : again.reason, "OK");
      assert.equal(countLines(engine.output, /^Kafka is unreachable/), 1, "said once");
      assert.equal(countLines(engine.output, /^Kafka connected at /), 1, "said once");
      console.log(
        `[figures] late broker: health port open ${portOpenAfter} ms after start without a broker`,
      );
    } finally {
      await central?.close();
      await engine?.dispose();
      await broker.dispose();
      await state.remove();
    }
  },
});

Deno.test({
  name: "a backlog drains no faster than the outbox drain rate, in order",
  ...REAL_PARTS,
  fn: async () => {
    const rig = await backlogRig("drain", "CP_DRAIN");
    const { topics, central, outbox } = rig;
    const count = 150;
    const rate = 50;
    // A backlog an earlier run left behind (fresh status changes: never collapsed).
    for (let i = 0; i < count; i++) {
      outbox.append({
        topic: topics.cpEvents,
        key: "CP_DRAIN",
        value: statusChangeEvent(
          { cpId: "CP_DRAIN", messageId: crypto.randomUUID(), now: Date.now() },
          { status: "available", previousStatus: "offline", reason: `backlog ${i}` },
        ),
      });
    }
    const bus = backlogBus("drain", rig, rate);
    try {
      bus.start();
      await central.waitFor("the backlog", (events) => events.length >= count, 60_000);
      const received = central.events.slice(0, count);
      assert.deepEqual(
        received.map((event) => event.value["reason"]),
        Array.from({ length: count }, (_, i) => `backlog ${i}`),
      );
      // No prefix of the backlog goes out faster than the rate (no burst at reconnection); the
      // pause is measured from the start of a send, so a slow first send may bring one batch
      // closer to the next.
      const batch = rate / 10;
      for (let i = 2 * batch; i < count; i++) {
        const elapsed = received[i]!.receivedAt - received[0]!.receivedAt;
        const floor = ((Math.floor(i / batch) - 1) * batch / rate) * 1000;
        assert.ok(
          elapsed >= floor - 50,
          `${i + 1} events after ${elapsed} ms: faster than ${rate}/s`,
        );
      }
      const spreadMs = received.at(-1)!.receivedAt - received[0]!.receivedAt;
      // Batches of rate/10 events every 100 ms: the first batch is free.
      const floorMs = ((count - batch) / rate) * 1000;
      assert.ok(spreadMs >= floorMs * 0.95, `drained in ${spreadMs} ms, faster than ${rate}/s`);
      assert.ok(await bus.flush(5_000));
      assert.equal(bus.backlog, 0);
      console.log(
        `[figures] drain: ${count} events at --outbox-drain-rate ${rate} took ${
          Math.round(spreadMs)
        } ms (floor ${floorMs} ms, ${(count / (spreadMs / 1000)).toFixed(1)} events/s)`,
      );
    } finally {
      await bus.close();
      await rig.close();
    }
  },
});

Deno.test("--state-dir and --outbox-drain-rate take flags and env, with one-line errors", () => {
  const output: string[] = [];
  const io = (env: Record<string, string>) => ({
    env: (name: string) => env[name],
    stdout: (text: string) => output.push(text),
    stderr: (text: string) => output.push(text),
  });
  const defaults = parseCli([], io({}));
  assert.ok(defaults.kind === "engine");
  assert.equal(defaults.config.stateDir, "./state");
  assert.equal(defaults.config.outboxDrainRate, 100);
  const fromEnv = parseCli([], io({ STATE_DIR: "./state/a", OUTBOX_DRAIN_RATE: "20" }));
  assert.ok(fromEnv.kind === "engine");
  assert.equal(fromEnv.config.stateDir, "./state/a");
  assert.equal(fromEnv.config.outboxDrainRate, 20);
  const flag = parseCli(["--outbox-drain-rate", "5"], io({ OUTBOX_DRAIN_RATE: "20" }));
  assert.ok(flag.kind === "engine" && flag.config.outboxDrainRate === 5);
  for (const bad of [["--outbox-drain-rate", "0"], ["--outbox-drain-rate", "fast"]]) {
    output.length = 0;
    assert.deepEqual(parseCli(bad, io({})), { kind: "exit", code: 2 });
    const text = output.join("");
    assert.match(text, /--outbox-drain-rate/);
    assert.equal(text.trim().split("\n").length, 1);
  }
});

Deno.test({
  name: "a state directory the engine may not write is one clear line and exit code 2",
  ...REAL_PARTS,
  fn: async () => {
    const engine = await EngineProcess.start([
      "--cp-id",
      "CP_NOWRITE",
      "--kafka-broker",
      "127.0.0.1:1",
      "--health-port",
      "0",
      "--state-dir",
      "./not-granted",
    ]);
    try {
      assert.equal(await engine.exited(15_000), 2);
      assert.match(engine.output, /Cannot use the state directory "not-granted\/CP_NOWRITE"/);
      assert.equal(engine.output.split("\n").filter((line) => line.includes("ERROR")).length, 1);
    } finally {
      await engine.dispose();
    }
  },
});

Deno.test({
  name: "a backlog event older than 30 s goes out re-stamped with the same message_id",
  ...REAL_PARTS,
  fn: async () => {
    const rig = await backlogRig("restamp", "CP_RESTAMP");
    const { topics, central, outbox } = rig;
    const createdAt = Date.now() - 90_000;
    const stale = statusChangeEvent(
      { cpId: "CP_RESTAMP", messageId: crypto.randomUUID(), now: createdAt },
      { status: "available", previousStatus: "offline", reason: "before the outage" },
    );
    outbox.append({ topic: topics.cpEvents, key: "CP_RESTAMP", value: stale });
    const bus = backlogBus("restamp", rig);
    try {
      const sentAfter = Date.now();
      bus.start();
      await central.waitFor("the stale event", (events) => events.length >= 1, 30_000);
      const received = central.events[0]!.value;
      assert.equal(received["message_id"], stale.message_id);
      assert.equal(received["reason"], "before the outage");
      assert.ok(Number(received["timestamp"]) * 1000 >= sentAfter, "re-stamped when sent");
      assert.ok(await bus.flush(5_000));
    } finally {
      await bus.close();
      await rig.close();
    }
  },
});
