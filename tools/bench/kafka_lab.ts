/**
 * The benchmark's side of Kafka: an observer that consumes the topics the subjects publish on
 * (one consumer, JSON-parsing each value and noting when it arrived, nothing else: no contract
 * checks, so the harness stays light), and a producer that plays Central.
 *
 * @module
 */
import process from "node:process";
import { type Consumer, Kafka, logLevel, type Producer } from "kafkajs";

// kafkajs 2.2.4 arms timers with a negative delay, which the runtime reports as a
// TimeoutNegativeWarning on stderr: noise in the bench's output, dropped here (only that one).
const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const text = warning instanceof Error
    ? `${warning.name} ${warning.message}`
    : `${warning} ${rest[0]}`;
  if (!text.includes("TimeoutNegativeWarning") && !text.includes("is a negative number")) {
    emitWarning(warning, ...rest);
  }
}) as typeof process.emitWarning;

/** One message seen on a watched topic. */
export interface Seen {
  readonly topic: string;
  readonly value: Record<string, unknown>;
  /** `performance.now()` when the observer got it. */
  readonly receivedAt: number;
}

/** Fresh topic names for one subject. */
export function uniqueTopics(label: string): { cpEvents: string; centralEvents: string } {
  const suffix = `${label}-${crypto.randomUUID().slice(0, 8)}`;
  return { cpEvents: `bench-cp-events-${suffix}`, centralEvents: `bench-central-events-${suffix}` };
}

/** Consumes topics from their beginning and tells listeners about every message. */
export class Observer {
  readonly #consumer: Consumer;
  readonly #listeners = new Set<(seen: Seen) => void>();

  private constructor(consumer: Consumer) {
    this.#consumer = consumer;
  }

  /** Creates the topics (if missing), joins a fresh group and starts consuming. */
  static async start(broker: string, topics: readonly string[]): Promise<Observer> {
    const kafka = new Kafka({
      clientId: "bench-observer",
      brokers: [broker],
      logLevel: logLevel.NOTHING,
    });
    await createTopics(kafka, topics);
    const consumer = kafka.consumer({
      groupId: `bench-observer-${crypto.randomUUID()}`,
      maxWaitTimeInMs: 100,
      minBytes: 1,
    });
    const observer = new Observer(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    const joined = new Promise<void>((resolve) =>
      consumer.on(consumer.events.GROUP_JOIN, () => resolve())
    );
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          const receivedAt = performance.now();
          let value: Record<string, unknown>;
          try {
            value = JSON.parse(message.value?.toString() ?? "null") ?? {};
          } catch {
            continue;
          }
          const seen = { topic: batch.topic, value, receivedAt };
          for (const listener of observer.#listeners) listener(seen);
        }
        await Promise.resolve();
      },
    });
    await joined;
    return observer;
  }

  /** Calls `listener` with every message from now on; returns the unsubscribe. */
  on(listener: (seen: Seen) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves with the first message from now on for which `done` returns true (`done` may keep
   * state, e.g. count points); fails after `timeoutMs` with `what`, or when `alive` throws (it is
   * called every 200 ms: pass a check that the subjects still run).
   */
  next(
    what: string,
    done: (seen: Seen) => boolean,
    timeoutMs: number,
    alive: () => void = () => {},
  ): Promise<Seen> {
    let unsubscribe = () => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    let poll: ReturnType<typeof setInterval> | undefined;
    const promise = new Promise<Seen>((resolve, reject) => {
      unsubscribe = this.on((seen) => {
        if (done(seen)) resolve(seen);
      });
      timer = setTimeout(
        () => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)),
        timeoutMs,
      );
      poll = setInterval(() => {
        try {
          alive();
        } catch (error) {
          reject(error);
        }
      }, 200);
    });
    const result = promise.finally(() => {
      unsubscribe();
      clearTimeout(timer);
      clearInterval(poll);
    });
    // Waits are often set up before the action and awaited after others: a failure before the
    // await is the awaiter's to report, not an unhandled rejection.
    result.catch(() => {});
    return result;
  }

  /** Stops consuming. */
  async close(): Promise<void> {
    this.#listeners.clear();
    await this.#consumer.disconnect().catch(() => {});
  }
}

/** Creates topics that do not exist yet (one partition each, as the engine's auto-created ones). */
export async function createTopics(kafka: Kafka, topics: readonly string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      await admin.createTopics({
        topics: missing.map((topic) => ({ topic })),
        waitForLeaders: true,
      });
    }
  } finally {
    await admin.disconnect();
  }
}

/** Plays Central: sends commands (JSON values) to a topic. */
export class Commander {
  readonly #producer: Producer;

  private constructor(producer: Producer) {
    this.#producer = producer;
  }

  /** Connects a producer. */
  static async start(broker: string): Promise<Commander> {
    const kafka = new Kafka({
      clientId: "bench-central",
      brokers: [broker],
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer();
    await producer.connect();
    return new Commander(producer);
  }

  /** Sends values in one request; resolves when the broker acknowledged them. */
  async send(topic: string, values: readonly Record<string, unknown>[]): Promise<void> {
    await this.#producer.send({
      topic,
      messages: values.map((value) => ({ value: JSON.stringify(value) })),
    });
  }

  /** Sends many values in requests of at most `batch`. */
  async sendAll(
    topic: string,
    values: readonly Record<string, unknown>[],
    batch = 500,
  ): Promise<void> {
    for (let i = 0; i < values.length; i += batch) {
      await this.send(topic, values.slice(i, i + batch));
    }
  }

  /** Disconnects. */
  async close(): Promise<void> {
    await this.#producer.disconnect().catch(() => {});
  }
}

/** A command as Central sends it: a fresh message id and timestamp (epoch seconds). */
export function command(
  cpId: string,
  eventType: string,
  action: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    message_id: crypto.randomUUID(),
    event_type: eventType,
    action,
    cp_id: cpId,
    timestamp: Date.now() / 1000,
    ...extra,
  };
}

/** `charging_started` for `cpId`, as Central sends it once a driver is authorised. */
export function chargingStarted(cpId: string, userId: number): Record<string, unknown> {
  return command(cpId, "charging_started", "charging_started", {
    username: `driver${userId}`,
    user_id: userId,
    client_id: `client${userId}`,
  });
}
