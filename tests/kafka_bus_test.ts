/**
 * The Kafka adapter keeps going when the parts under it fail: a command consumer that cannot
 * start is retried until it runs (without it the point would never be available), and a store
 * that cannot be read never ends the process.
 *
 * The consumer case uses a kafkajs client whose first consumer fails to connect exactly as
 * kafkajs' does when the group coordinator is not reachable (it rejects `connect()` with a
 * `KafkaJSConnectionError`), and otherwise behaves like kafkajs towards the adapter.
 */
import assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import type { KafkaConfig } from "kafkajs";
import { KafkaBus } from "../src/adapters/kafka/bus.ts";
import { SqliteOutbox } from "../src/adapters/storage/sqlite_store.ts";
import { MemoryOutbox } from "../src/adapters/storage/memory_store.ts";
import { systemClock } from "../src/adapters/clock.ts";
import { memorySink, resetLogging, setupLogging } from "../src/adapters/logging.ts";

const SETTINGS = {
  brokers: ["127.0.0.1:9"],
  clientId: "bus-test",
  groupId: "bus-test",
  cpEventsTopic: "cp-events",
  centralEventsTopic: "central-events",
};

/** A connection error as kafkajs raises it. */
class KafkaJSConnectionError extends Error {
  override name = "KafkaJSConnectionError";
  retriable = true;
}

/**
 * A kafkajs client for the adapter: the producer and the admin work, and the first
 * `failingConsumers` consumers fail to connect; the next one joins and fetches.
 */
function kafkaWithFailingConsumers(failingConsumers: number) {
  let consumersMade = 0;
  const made = { consumers: 0 };
  const client = (_config: KafkaConfig) => ({
    producer: () => ({
      connect: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
      sendBatch: () => Promise.resolve([]),
    }),
    admin: () => ({
      connect: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
      listTopics: () => Promise.resolve([SETTINGS.cpEventsTopic, SETTINGS.centralEventsTopic]),
      createTopics: () => Promise.resolve(true),
    }),
    consumer: () => {
      const index = ++consumersMade;
      made.consumers = consumersMade;
      const listeners = new Map<string, () => void>();
      return {
        events: { CRASH: "consumer.crash", FETCH: "consumer.fetch" },
        on: (event: string, listener: () => void) => {
          listeners.set(event, listener);
          return () => listeners.delete(event);
        },
        connect: () =>
          index <= failingConsumers
            ? Promise.reject(new KafkaJSConnectionError("Connection timeout"))
            : Promise.resolve(),
        subscribe: () => Promise.resolve(),
        run: () => {
          setTimeout(() => listeners.get("consumer.fetch")?.(), 10);
          return Promise.resolve();
        },
        disconnect: () => Promise.resolve(),
      };
    },
  });
  return { client, made };
}

Deno.test("a command consumer that cannot start is retried until it runs", async () => {
  const sink = memorySink();
  await setupLogging({ level: "info", format: "text", sink });
  const { client, made } = kafkaWithFailingConsumers(2);
  const bus = new KafkaBus(SETTINGS, {
    logger: getLogger(["ev-cp-engine", "kafka"]),
    clock: systemClock,
    random: () => 0,
    // deno-lint-ignore no-explicit-any
    createClient: client as any,
  });
  try {
    const consuming = new Promise<void>((resolve) => bus.onConsuming(resolve));
    bus.start();
    await bus.consumeCommands(() => {});
    let deadline: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      consuming,
      new Promise((_, reject) => {
        deadline = setTimeout(() => reject(new Error("the consumer was never retried")), 10_000);
      }),
    ]).finally(() => clearTimeout(deadline));
    assert.equal(made.consumers, 3, "two failed, the third runs");
    const warnings = sink.messages().filter((line) => line.includes("Cannot consume commands"));
    assert.equal(warnings.length, 2, sink.messages().join("\n"));
  } finally {
    await bus.close();
    await resetLogging();
  }
});

Deno.test("a store that cannot be read is said once and retried, never a crash", async () => {
  const sink = memorySink();
  await setupLogging({ level: "info", format: "text", sink });
  const dir = await Deno.makeTempDir({ prefix: "bus-test-" });
  const outbox = SqliteOutbox.open(dir, "CP_BUS", { clock: systemClock });
  const bus = new KafkaBus(SETTINGS, {
    logger: getLogger(["ev-cp-engine", "kafka"]),
    clock: systemClock,
    outbox,
  });
  try {
    outbox.close(); // every read of the store now fails, as with an I/O error
    bus.publish({
      topic: "cp-events",
      key: "CP_BUS",
      value: { message_id: "m1", event_type: "cp_status_change", timestamp: Date.now() / 1000 },
    });
    const said = () => sink.messages().some((line) => line.includes("Cannot store events"));
    for (let waited = 0; !said() && waited < 5_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(said(), sink.messages().join("\n"));
    assert.equal(bus.backlog, 1, "the event is kept in memory");
  } finally {
    await bus.close();
    await resetLogging();
    await Deno.remove(dir, { recursive: true });
  }
});

/** An outbox whose fsync completes only when the test says so. */
class SlowDiskOutbox extends MemoryOutbox {
  #pending: (() => void)[] = [];
  #asked = Promise.withResolvers<void>();
  override durable(): Promise<void> {
    this.#asked.resolve();
    return new Promise((resolve) => this.#pending.push(resolve));
  }
  /** Resolves once someone waits for the disk (the bus, before it sends a ticket). */
  get asked(): Promise<void> {
    return this.#asked.promise;
  }
  /** Completes every fsync asked for so far. */
  syncNow(): void {
    for (const resolve of this.#pending.splice(0)) resolve();
  }
}

Deno.test("a ticket is sent only once its commit is on disk; other events do not wait for the disk", async () => {
  const outbox = new SlowDiskOutbox();
  const sent: string[] = [];
  const delivered = new Set<(ids: string[]) => void>();
  const client = (_config: KafkaConfig) => ({
    ...kafkaWithFailingConsumers(0).client(_config),
    producer: () => ({
      connect: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
      sendBatch: (
        { topicMessages }: { topicMessages: { messages: { value: string }[] }[] },
      ) => {
        for (const { messages } of topicMessages) {
          for (const { value } of messages) sent.push(JSON.parse(value).message_id);
        }
        for (const listener of delivered) listener(sent);
        return Promise.resolve([]);
      },
    }),
  });
  const bus = new KafkaBus(SETTINGS, {
    logger: getLogger(["test"]),
    clock: systemClock,
    outbox,
    // deno-lint-ignore no-explicit-any
    createClient: client as any,
  });
  const sentWhere = (check: (ids: string[]) => boolean) =>
    new Promise<void>((resolve) => {
      const listener = (ids: string[]) => {
        if (check(ids)) {
          delivered.delete(listener);
          resolve();
        }
      };
      delivered.add(listener);
      listener(sent);
    });
  const event = (id: string, type: string) => ({
    topic: "cp-events",
    key: "CP_001",
    value: { message_id: id, event_type: type, timestamp: Date.now() / 1000 },
  });
  try {
    bus.start();
    await bus.flush(5_000);
    bus.publish(event("status-1", "cp_status_change"));
    await sentWhere((ids) => ids.includes("status-1"));
    let journalCleared = false;
    bus.publishWith(event("ticket-1", "charging_completed"), () => journalCleared = true);
    assert.ok(journalCleared, "stored with its journal's deletion at once");
    // The delivery loop has the ticket in hand and waits for the disk.
    await outbox.asked;
    assert.ok(!sent.includes("ticket-1"), "not on the wire before its fsync");
    outbox.syncNow();
    await sentWhere((ids) => ids.includes("ticket-1"));
  } finally {
    outbox.syncNow();
    await bus.close();
  }
});
