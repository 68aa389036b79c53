/**
 * Specification of the session journal as the engine uses it: a fake clock and an in-process
 * meter, the real Kafka adapter (never connected: what it is asked to publish waits in its
 * outbox) and the real SQLite outbox/journal in a temporary directory, so the transactions, and
 * the failures of a full disk, are the real ones. No network.
 */
import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { getLogger } from "@logtape/logtape";
import { Engine } from "../src/app/engine.ts";
import { seededRandom } from "../src/domain/random.ts";
import { KafkaBus } from "../src/adapters/kafka/bus.ts";
import { SqliteOutbox } from "../src/adapters/storage/sqlite_store.ts";
import { portOf } from "./support/fake_clock.ts";
import { REGISTRATION_QUIET_MS } from "../src/app/status_coalescer.ts";
import { InProcessMeter } from "./support/in_process_meter.ts";

const T0 = Date.UTC(2026, 0, 1);
const CP = "CP_J1";

/** The real Kafka adapter over `outbox`, never started: events wait in the outbox. */
class OutboxPublisher extends KafkaBus {
  constructor(readonly outbox: SqliteOutbox, clock: ReturnType<typeof portOf>) {
    super({
      brokers: ["127.0.0.1:9"],
      clientId: "journal-test",
      groupId: "journal-test",
      cpEventsTopic: "cp-events",
      centralEventsTopic: "central-events",
    }, { logger: getLogger(["test", "kafka"]), clock, outbox });
  }

  /** `event_type:reason-or-status` of every waiting event, in order. */
  waiting(): string[] {
    return this.outbox.peek(1000).map(({ event }) =>
      `${event.value.event_type}:${
        event.value.event_type === "charging_completed"
          ? event.value["reason"]
          : event.value["status"]
      }`
    );
  }

  values(eventType: string): Record<string, unknown>[] {
    return this.outbox.peek(1000).map(({ event }) => event.value as Record<string, unknown>)
      .filter((value) => value["event_type"] === eventType);
  }
}

async function withEngine(
  body: (rig: {
    engine: Engine;
    outbox: SqliteOutbox;
    publisher: OutboxPublisher;
    tick: (ms: number) => Promise<void>;
    send: (message: Record<string, unknown>) => Promise<void>;
    restart: () => Engine;
  }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "engine-journal-test-" });
  const fake = FakeTimers.createClock(T0);
  const timeScale = 10;
  let outbox = SqliteOutbox.open(dir, CP, { clock: { now: () => fake.now } });
  let meter = new InProcessMeter(timeScale);
  let ids = 0;
  let commands = 0;
  const build = (publisher: OutboxPublisher) =>
    new Engine({
      cpId: CP,
      location: "Test Street 1",
      maxPowerKw: 22,
      tariffEurPerKwh: 0.3,
      progressIntervalMs: 1_000,
      timeScale,
      cpEventsTopic: "cp-events",
      settings: { monitorWaitMs: 0 },
    }, {
      clock: portOf(fake),
      random: seededRandom(1),
      newId: () => `00000000-0000-4000-8000-${String(++ids).padStart(12, "0")}`,
      publisher,
      meter,
      logger: getLogger(["test", "engine-journal"]),
      journal: publisher.outbox,
    });
  const rig = {
    outbox,
    publisher: new OutboxPublisher(outbox, portOf(fake)),
    engine: null as unknown as Engine,
    async tick(ms: number) {
      for (let left = ms; left > 0; left -= 1_000) {
        const step = Math.min(1_000, left);
        fake.tick(step);
        meter.deliver(step);
        await rig.engine.idle();
      }
    },
    async send(message: Record<string, unknown>) {
      rig.engine.receive(JSON.stringify({
        message_id: `command-${++commands}`,
        cp_id: CP,
        timestamp: fake.now / 1000,
        ...message,
      }));
      for (let i = 0; i < 3; i++) await rig.engine.idle();
    },
    /** A crash: the database is closed without any cleanup and opened again by a new engine. */
    restart() {
      // The crash takes the charging loop with it.
      meter = new InProcessMeter(timeScale);
      rig.outbox.close();
      outbox = SqliteOutbox.open(dir, CP, { clock: { now: () => fake.now } });
      rig.outbox = outbox;
      rig.publisher = new OutboxPublisher(outbox, portOf(fake));
      rig.engine = build(rig.publisher);
      return rig.engine;
    },
  };
  rig.engine = build(rig.publisher);
  try {
    await body(rig);
  } finally {
    rig.outbox.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Fills the real database until SQLite says it is full: the size is capped at what it holds
 * (`limitSize`) and filler rows take the free pages left.
 */
function fillDisk(outbox: SqliteOutbox): void {
  outbox.limitSize(0);
  for (let i = 0; i < 100_000; i++) {
    try {
      outbox.append({
        topic: "filler",
        key: "FILL",
        value: { message_id: `fill-${i}`, event_type: "filler", timestamp: T0 / 1000 },
      });
    } catch (error) {
      assert.match(String(error), /full/);
      return;
    }
  }
  throw new Error("the database never filled up");
}

const START = {
  event_type: "charging_started",
  action: "charging_started",
  username: "ana",
  user_id: 7,
  client_id: "client-ana",
};

Deno.test("the session in progress is journaled on every meter reading with what closing it needs", async () => {
  await withEngine(async ({ engine, outbox, tick, send }) => {
    engine.register();
    engine.markReady();
    await send(START);
    const session = engine.state.session!;
    assert.equal(outbox.load()?.sessionId, session.id, "journaled from the start");
    await tick(5_000);
    const journaled = outbox.load()!;
    assert.equal(journaled.driver.username, "ana");
    assert.equal(journaled.driver.userId, 7);
    assert.equal(journaled.driver.clientId, "client-ana");
    assert.equal(journaled.authorizedAt, session.authorizedAt);
    assert.equal(journaled.journaledAt, T0 + 5_000);
    assert.equal(journaled.suppliedSeconds, 50, "five readings at time scale 10");
    assert.ok(journaled.energyKwh > 0 && journaled.powerKw > 0);
    assert.ok(journaled.publishedEnergyKwh > 0);
    assert.ok(journaled.energyKwh >= journaled.publishedEnergyKwh);
    assert.ok(journaled.profile.plateauFraction >= 0.8);
  });
});

Deno.test("a session that ends with a ticket, or silently, leaves no journal row", async (t) => {
  await t.step("unplug: the ticket and the journal row go together", async () => {
    await withEngine(async ({ engine, outbox, publisher, tick, send }) => {
      engine.register();
      engine.markReady();
      await send(START);
      await tick(3_000);
      await send({ event_type: "CP_UNPLUG", action: "unplug" });
      assert.equal(outbox.load(), null);
      assert.equal(publisher.values("charging_completed").length, 1);
    });
  });
  await t.step("charging_stopped: no ticket and no journal row", async () => {
    await withEngine(async ({ engine, outbox, publisher, tick, send }) => {
      engine.register();
      engine.markReady();
      await send(START);
      await tick(3_000);
      await send({ event_type: "charging_stopped", action: "charging_stopped" });
      assert.equal(outbox.load(), null);
      assert.equal(publisher.values("charging_completed").length, 0);
    });
  });
});

Deno.test("after a crash, recover sends one engine_recovered ticket after the registration, never twice", async () => {
  await withEngine(async (rig) => {
    rig.engine.register();
    rig.engine.markReady();
    await rig.send(START);
    await rig.tick(6_000);
    const lastProgress = Math.max(
      ...rig.publisher.values("charging_progress").map((value) => Number(value["energy_kwh"])),
    );
    const journaled = rig.outbox.load()!;
    // Everything delivered before the crash: only what the restart produces waits.
    rig.outbox.remove(rig.outbox.peek(1000).map((stored) => stored.seq));

    const restarted = rig.restart();
    restarted.register();
    assert.equal(restarted.recover()?.sessionId, journaled.sessionId);
    restarted.markReady();
    await rig.tick(REGISTRATION_QUIET_MS); // Central ignores available within 5 s of registering
    assert.deepEqual(rig.publisher.waiting(), [
      "CP_REGISTRATION:offline",
      "cp_status_change:offline",
      "charging_completed:engine_recovered",
      "cp_status_change:available",
    ]);
    const ticket = rig.publisher.values("charging_completed")[0]!;
    assert.ok(Number(ticket["energy_kwh"]) >= lastProgress);
    assert.equal(ticket["username"], "ana");
    assert.equal(ticket["user_id"], 7);
    assert.equal(ticket["duration_sec"], 60, "6 s at time scale 10, up to the last reading");
    assert.equal(rig.outbox.load(), null);

    const again = rig.restart();
    again.register();
    assert.equal(again.recover(), null);
    assert.equal(rig.publisher.values("charging_completed").length, 1);
  });
});

Deno.test("a ticket that cannot be stored (a full disk) keeps the journal row: exactly one ticket, whatever fails", async (t) => {
  await t.step(
    "the disk frees up: the ticket is stored with the journal row's deletion",
    async () => {
      await withEngine(async (rig) => {
        rig.engine.register();
        rig.engine.markReady();
        await rig.send(START);
        await rig.tick(3_000);
        fillDisk(rig.outbox); // the disk is full from now on
        await rig.send({ event_type: "CP_UNPLUG", action: "unplug" });
        assert.equal(rig.publisher.values("charging_completed").length, 0, "not stored");
        assert.notEqual(rig.outbox.load(), null, "so the session is still journaled");
        rig.outbox.limitSize(null);
        await rig.tick(1_000);
        rig.publisher.publish({ // the next event of the engine also flushes what waits, in order
          topic: "cp-events",
          key: CP,
          value: { message_id: "probe", event_type: "probe", timestamp: T0 / 1000 },
        });
        await Promise.resolve(); // an event is stored at the end of the turn it was published in
        assert.equal(rig.publisher.values("charging_completed").length, 1);
        assert.equal(rig.outbox.load(), null);
      });
    },
  );

  await t.step(
    "the engine crashes while the disk is full: the restart sends the one ticket",
    async () => {
      await withEngine(async (rig) => {
        rig.engine.register();
        rig.engine.markReady();
        await rig.send(START);
        await rig.tick(3_000);
        fillDisk(rig.outbox);
        await rig.send({ event_type: "CP_UNPLUG", action: "unplug" });
        rig.outbox.limitSize(null);
        const restarted = rig.restart(); // the ticket that waited in memory dies with the process
        restarted.register();
        assert.equal(restarted.recover()?.driver.username, "ana");
        const tickets = rig.publisher.values("charging_completed");
        assert.deepEqual(tickets.map((ticket) => ticket["reason"]), ["engine_recovered"]);
        assert.equal(rig.outbox.load(), null);
        assert.equal(rig.restart().recover(), null, "never twice");
      });
    },
  );
});

Deno.test("killed before its offset was committed: the charging_started delivered again after the recovery is not a new session", async () => {
  await withEngine(async (rig) => {
    rig.engine.register();
    rig.engine.markReady();
    const sentAt = T0 / 1000;
    await rig.send({ ...START, message_id: "start-ana", timestamp: sentAt });
    await rig.tick(2_000);
    assert.equal(rig.engine.state.session?.commandId, "start-ana");

    const restarted = rig.restart();
    restarted.register();
    assert.equal(restarted.recover()?.commandId, "start-ana");
    restarted.markReady();
    // Kafka hands the same command over again (2 s old: within the start-up grace).
    await rig.send({ ...START, message_id: "start-ana", timestamp: sentAt });
    const afterRedelivery = restarted.state;
    assert.equal(afterRedelivery.session, null, "the session just recovered is not begun again");
    await rig.tick(REGISTRATION_QUIET_MS);
    assert.deepEqual(
      rig.publisher.values("charging_completed").map((ticket) => ticket["reason"]),
      ["engine_recovered"],
    );
    // A new authorisation for the same driver is a new session.
    await rig.send({ ...START, message_id: "start-ana-2" });
    const afterNew: { session: { driver: { username: string } } | null } = restarted.state;
    assert.equal(afterNew.session?.driver.username, "ana");
  });
});
