/**
 * Test doubles that talk to a real Kafka broker: a Central that sends commands and collects
 * the engine's events. Each test uses its own topics, so tests never see each other's traffic.
 *
 * @module
 */
import { type Consumer, Kafka, logLevel, type Producer } from "kafkajs";
import { KafkaTestBroker } from "../../tools/kafka_broker.ts";
// The engine's Kafka adapter also silences kafkajs' spurious TimeoutNegativeWarning here.
import "../../src/adapters/kafka/bus.ts";
import { contractViolations } from "./contract.ts";

let ownBroker: Promise<KafkaTestBroker> | null = null;

/**
 * The one broker this test process starts for itself when a listener it needs was not passed in
 * by `deno task test` (the tests run on their own, `deno test` without the runner). It is killed
 * when the process ends.
 */
export function ownTestBroker(): Promise<KafkaTestBroker> {
  ownBroker ??= (async () => {
    const broker = await KafkaTestBroker.create();
    await broker.start();
    globalThis.addEventListener("unload", () => void broker.kill());
    return broker;
  })();
  return ownBroker;
}

/**
 * The broker the tests use: `KAFKA_BROKER` (set by `deno task test`), or the PLAINTEXT listener
 * of {@linkcode ownTestBroker}.
 */
export async function brokerAddress(): Promise<string> {
  const fromEnv = Deno.env.get("KAFKA_BROKER");
  if (fromEnv) return fromEnv;
  return (await ownTestBroker()).bootstrap;
}

/**
 * Waits until consumer group `groupId` has committed, on every partition of `topic`, the
 * offset of the end of that partition: everything written to it so far was consumed and will
 * not be read again by the group after a restart.
 */
export async function waitForCommitted(
  broker: string,
  groupId: string,
  topic: string,
  timeoutMs = 15_000,
): Promise<void> {
  const admin = new Kafka({
    clientId: "offsets-probe",
    brokers: [broker],
    logLevel: logLevel.NOTHING,
  })
    .admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ends = await admin.fetchTopicOffsets(topic);
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const done = ends.every((end) => {
        const partition = committed?.partitions.find((p) => p.partition === end.partition);
        return partition !== undefined && Number(partition.offset) >= Number(end.offset);
      });
      if (done) return;
      if (Date.now() > deadline) {
        throw new Error(`Group ${groupId} did not commit the end of ${topic} in ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await admin.disconnect();
  }
}

/** Fresh, unique topic names for one test. */
export function uniqueTopics(label: string): { cpEvents: string; centralEvents: string } {
  const suffix = `${label}-${crypto.randomUUID().slice(0, 8)}`;
  return { cpEvents: `cp-events-${suffix}`, centralEvents: `central-events-${suffix}` };
}

/** One event the engine published, parsed. */
export interface SeenEvent {
  readonly key: string | null;
  readonly value: Record<string, unknown>;
  /** `performance.now()` when the double received it. */
  readonly receivedAt: number;
}

/** Plays Central: produces on `central-events`, consumes `cp-events` from the beginning. */
export class CentralDouble {
  readonly events: SeenEvent[] = [];
  /**
   * Every way a received event broke the published contract (docs/asyncapi.yaml), one line per
   * violation; {@linkcode CentralDouble.close} fails the test when there is any.
   */
  readonly contractViolations: string[] = [];
  readonly #kafka: Kafka;
  readonly #producer: Producer;
  readonly #consumer: Consumer;
  readonly #waiters = new Set<() => void>();
  readonly #listeners = new Set<(event: SeenEvent) => void>();

  private constructor(
    brokers: string[],
    readonly topics: { cpEvents: string; centralEvents: string },
  ) {
    this.#kafka = new Kafka({
      clientId: "central-double",
      brokers,
      logLevel: logLevel.NOTHING,
    });
    this.#producer = this.#kafka.producer();
    this.#consumer = this.#kafka.consumer({
      groupId: `central-double-${crypto.randomUUID()}`,
      maxWaitTimeInMs: 50,
    });
  }

  /** Creates the topics and starts collecting the engine's events. */
  static async start(
    broker: string,
    topics: { cpEvents: string; centralEvents: string },
  ): Promise<CentralDouble> {
    const central = new CentralDouble(broker.split(","), topics);
    const admin = central.#kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: [{ topic: topics.cpEvents }, { topic: topics.centralEvents }],
        waitForLeaders: true,
      });
    } finally {
      await admin.disconnect();
    }
    await central.#producer.connect();
    await central.#consumer.connect();
    await central.#consumer.subscribe({ topic: topics.cpEvents, fromBeginning: true });
    await central.#consumer.run({
      eachMessage: ({ message }) => {
        const text = message.value?.toString() ?? "null";
        const value = JSON.parse(text);
        for (const violation of contractViolations(value)) {
          central.contractViolations.push(`${text}: ${violation}`);
        }
        const seen = { key: message.key?.toString() ?? null, value, receivedAt: performance.now() };
        central.events.push(seen);
        for (const listener of central.#listeners) listener(seen);
        for (const wake of central.#waiters) wake();
        return Promise.resolve();
      },
    });
    return central;
  }

  /** Calls `listener` with every event as it arrives (before any waiter is woken). */
  onEvent(listener: (event: SeenEvent) => void): void {
    this.#listeners.add(listener);
  }

  /** Sends a command; `timestamp` is set to now unless given, `message_id` is fresh. */
  async send(command: Record<string, unknown>): Promise<void> {
    const value = {
      message_id: crypto.randomUUID(),
      timestamp: Date.now() / 1000,
      ...command,
    };
    await this.sendRaw(JSON.stringify(value));
  }

  /** Sends bytes as they are (for malformed input). */
  async sendRaw(value: string): Promise<void> {
    await this.#producer.send({ topic: this.topics.centralEvents, messages: [{ value }] });
  }

  /** Events seen so far whose `event_type` or `action` is `name`. */
  seen(name: string): Record<string, unknown>[] {
    return this.events.map((event) => event.value).filter((value) =>
      value["event_type"] === name || value["action"] === name
    );
  }

  /** The statuses sent with `cp_status_change`, in order. */
  statuses(): string[] {
    return this.seen("cp_status_change").map((value) => String(value["status"]));
  }

  /**
   * Waits until `predicate` holds for the events seen (checked on every new event), or fails
   * after `timeoutMs` with `what` and the events seen so far.
   */
  async waitFor(
    what: string,
    predicate: (events: SeenEvent[]) => boolean,
    timeoutMs = 15_000,
  ): Promise<void> {
    if (predicate(this.events)) return;
    let wake = () => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        wake = () => {
          if (predicate(this.events)) resolve();
        };
        this.#waiters.add(wake);
        timer = setTimeout(() => {
          const seen = this.events.map((event) =>
            `${event.value["event_type"]}:${event.value["status"] ?? event.value["reason"] ?? ""}`
          );
          reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; seen: ${seen}`));
        }, timeoutMs);
      });
    } finally {
      this.#waiters.delete(wake);
      clearTimeout(timer);
    }
  }

  /** Waits for a `cp_status_change` to `status` after the first `after` status changes. */
  async waitForStatus(status: string, after = 0, timeoutMs = 15_000): Promise<void> {
    await this.waitFor(
      `status ${status}`,
      () => this.statuses().slice(after).includes(status),
      timeoutMs,
    );
  }

  /**
   * Stops consuming and disconnects.
   *
   * @throws {Error} when an event broke the published contract (the contract test).
   */
  async close(): Promise<void> {
    await Promise.allSettled([this.#consumer.disconnect(), this.#producer.disconnect()]);
    if (this.contractViolations.length > 0) {
      throw new Error(
        `The engine's events broke docs/asyncapi.yaml (${this.contractViolations.length} ` +
          `violation(s)):\n${this.contractViolations.join("\n")}`,
      );
    }
  }
}
