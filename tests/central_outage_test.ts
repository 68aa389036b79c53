/**
 * Central goes away and comes back, with the engine as a real process and a Central double that
 * reads `cp-events` the way the original does: a NEW consumer group on every start
 * (`ev_central_ws_group_<epoch>`), from the latest offset, so it never sees what was published
 * while it was down.
 */
import assert from "node:assert/strict";
import { type Consumer, Kafka, logLevel } from "kafkajs";
import { engineArgs, EngineProcess, freePort } from "./support/engine_process.ts";
import { brokerAddress, CentralDouble, uniqueTopics } from "./support/kafka.ts";

/** A Central that joins a fresh group and collects what it reads from then on. */
class RestartingCentral {
  readonly events: Record<string, unknown>[] = [];
  #consumer: Consumer | null = null;

  constructor(private readonly broker: string, private readonly topic: string) {}

  async start(): Promise<void> {
    this.events.length = 0; // a restarted Central remembers nothing
    const consumer = new Kafka({
      clientId: "ev-central",
      brokers: [this.broker],
      logLevel: logLevel.NOTHING,
    }).consumer({ groupId: `ev_central_ws_group_${Date.now()}`, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: false });
    await consumer.run({
      eachMessage: ({ message }) => {
        this.events.push(JSON.parse(message.value?.toString() ?? "null"));
        return Promise.resolve();
      },
    });
    this.#consumer = consumer;
  }

  async stop(): Promise<void> {
    await this.#consumer?.disconnect();
    this.#consumer = null;
  }

  async waitFor(what: string, predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!predicate()) {
      if (performance.now() > deadline) {
        throw new Error(`Timed out waiting for ${what}; read: ${JSON.stringify(this.events)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

Deno.test({
  name:
    "Central away: the session goes on, new ones are refused; Central back: the point is announced again with the ticket it missed",
  async fn() {
    const broker = await brokerAddress();
    const topics = uniqueTopics("central-outage");
    const cpId = `CP_CO_${crypto.randomUUID().slice(0, 6)}`;
    // Commands, and a full record of what the engine published (a reader of its own).
    const record = await CentralDouble.start(broker, topics);
    const central = new RestartingCentral(broker, topics.cpEvents);
    await central.start();
    const engine = await EngineProcess.start([
      ...engineArgs({ cpId, broker, healthPort: freePort(), topics }),
    ]);
    const send = (command: Record<string, unknown>) => record.send({ cp_id: cpId, ...command });
    try {
      await engine.waitForOutput("Central is there");
      await record.waitForStatus("available");
      await send({ event_type: "charging_started", action: "charging_started", username: "alice" });
      await record.waitFor(
        "alice's progress",
        () => record.seen("charging_progress").some((event) => event["username"] === "alice"),
      );

      const stoppedAt = performance.now();
      await central.stop();
      await engine.waitForOutput("Central unreachable since", 20_000);
      const detectedAfter = (performance.now() - stoppedAt) / 1000;
      assert.ok(detectedAfter < 15, `found away after ${detectedAfter.toFixed(1)} s`);

      assert.equal(await health(engine), "OK", "the health answer is the hardware's");
      await send({ event_type: "CP_UNPLUG", action: "unplug" });
      await record.waitFor(
        "alice's ticket",
        () => record.seen("charging_completed").some((event) => event["username"] === "alice"),
      );
      const [ticket] = record.seen("charging_completed");
      await send({ event_type: "charging_started", action: "charging_started", username: "bob" });
      await engine.waitForOutput("charging_started for bob refused: Central is unreachable");

      const backAt = performance.now();
      await central.start(); // a new group, from the latest offset: it missed the ticket
      await central.waitFor(
        "the registration, then the missed ticket, then the status",
        () => {
          const registration = central.events.findIndex((event) =>
            event["event_type"] === "CP_REGISTRATION"
          );
          const missed = central.events.findIndex((event) =>
            event["message_id"] === ticket!["message_id"]
          );
          const status = central.events.findLastIndex((event) =>
            event["event_type"] === "cp_status_change" && event["status"] === "available"
          );
          return registration >= 0 && missed > registration && status > missed;
        },
      );
      const shownAfter = (performance.now() - backAt) / 1000;
      assert.ok(shownAfter < 15, `announced again ${shownAfter.toFixed(1)} s after it came back`);
      const resent = central.events.find((event) => event["message_id"] === ticket!["message_id"])!;
      assert.ok((resent["timestamp"] as number) > (ticket!["timestamp"] as number), "re-stamped");
    } finally {
      await engine.dispose();
      await central.stop();
      await record.close();
    }
  },
});

async function health(engine: EngineProcess): Promise<string> {
  const port = Number(/Health server listening on [\d.]+:(\d+)/.exec(engine.output)?.[1]);
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await connection.write(new TextEncoder().encode("STATUS?\n"));
    const buffer = new Uint8Array(8);
    const read = await connection.read(buffer);
    return new TextDecoder().decode(buffer.subarray(0, read ?? 0)).trim();
  } finally {
    connection.close();
  }
}
