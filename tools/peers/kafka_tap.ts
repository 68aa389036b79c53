/**
 * The harness's own Kafka client: it records every message on the four topics of the peers
 * (what the engine published, what Central commanded, what the Monitor and the Driver reported),
 * stamped with the run's clock, and it sends what a CP control tool or a readiness probe sends.
 *
 * @module
 */
import process from "node:process";
import { type Consumer, Kafka, logLevel, type Producer } from "kafkajs";
import type { RunClock, RunSeconds } from "./clock.ts";

/** The topics of the peers, all created before any peer starts (see {@link KafkaTap.start}). */
export const PEER_TOPICS = ["cp-events", "central-events", "driver-events", "monitor-events"];

/** One message seen on a peer topic. */
export interface TapEvent {
  /** Run seconds when the harness received it. */
  readonly t: RunSeconds;
  /** The topic. */
  readonly topic: string;
  /** The JSON object (a non-object value is wrapped as `{ raw }`). */
  readonly value: Record<string, unknown>;
  /** Its `timestamp` field as run seconds, when it has a numeric one. */
  readonly sentT: RunSeconds | null;
}

/** The message's `event_type`, else its `action`, else `?`. */
export function eventName(value: Record<string, unknown>): string {
  const type = value["event_type"];
  if (typeof type === "string" && type !== "") return type;
  const action = value["action"];
  return typeof action === "string" && action !== "" ? action : "?";
}

/** Whether the message is `name` by its `event_type` or its `action`. */
export function isEvent(value: Record<string, unknown>, name: string): boolean {
  return value["event_type"] === name || value["action"] === name;
}

/** The commands a CP control tool (`SD/EV_CP_E/cp_control.py`) sends to a charging point. */
export type ControlCommand = "plug_in" | "unplug" | "fault" | "recover";

/**
 * The message a CP control tool sends for `command`: upper-case `event_type` `CP_<COMMAND>`,
 * lower-case `action`, the `cp_id`, a fresh `message_id` and the epoch `timestamp`.
 */
export function controlMessage(
  cpId: string,
  command: ControlCommand,
  nowEpochSeconds: number,
): Record<string, unknown> {
  return {
    message_id: crypto.randomUUID(),
    event_type: `CP_${command.toUpperCase()}`,
    action: command,
    cp_id: cpId,
    timestamp: nowEpochSeconds,
  };
}

// kafkajs 2.2.4 arms timers with negative delays, which newer runtimes report on stderr.
const originalEmitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const name = typeof rest[0] === "string"
    ? rest[0]
    : (rest[0] as { type?: string } | undefined)?.type;
  if (name === "TimeoutNegativeWarning") return;
  if (warning instanceof Error && warning.name === "TimeoutNegativeWarning") return;
  (originalEmitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

/** Records the peers' traffic and sends messages of its own. */
export class KafkaTap {
  /** Every message seen, in the order received. */
  readonly events: TapEvent[] = [];
  readonly #clock: RunClock;
  readonly #producer: Producer;
  readonly #consumer: Consumer;
  readonly #waiters = new Set<() => void>();

  private constructor(kafka: Kafka, clock: RunClock) {
    this.#clock = clock;
    this.#producer = kafka.producer();
    this.#consumer = kafka.consumer({
      groupId: `real-peers-tap-${crypto.randomUUID()}`,
      maxWaitTimeInMs: 50,
    });
  }

  /**
   * Creates the peer topics on `broker` and starts recording them from their beginning.
   *
   * The topics must exist before Central starts: kafka-python subscribes to the topics that
   * exist when it starts and refreshes its metadata only every 5 minutes, so a Central started
   * before its topics hears nothing on them for minutes.
   *
   * @throws {Error} when the broker cannot be reached or the consumer does not join in 30 s.
   */
  static async start(broker: string, clock: RunClock): Promise<KafkaTap> {
    const kafka = new Kafka({
      clientId: "real-peers-harness",
      brokers: [broker],
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: PEER_TOPICS.map((topic) => ({ topic, numPartitions: 1 })),
        waitForLeaders: true,
      });
    } finally {
      await admin.disconnect();
    }
    const tap = new KafkaTap(kafka, clock);
    await tap.#producer.connect();
    await tap.#consumer.connect();
    const joined = new Promise<void>((resolve) => {
      tap.#consumer.on(tap.#consumer.events.GROUP_JOIN, () => resolve());
    });
    await tap.#consumer.subscribe({ topics: PEER_TOPICS, fromBeginning: true });
    await tap.#consumer.run({
      eachMessage: ({ topic, message }) => {
        tap.#record(topic, message.value?.toString() ?? "null");
        return Promise.resolve();
      },
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`The harness's Kafka consumer did not join within 30 s`)),
        30_000,
      );
    });
    try {
      await Promise.race([joined, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return tap;
  }

  /** The messages seen at or after `since` on `topic` (any topic when null) that match. */
  select(
    topic: string | null,
    predicate: (value: Record<string, unknown>) => boolean = () => true,
    since: RunSeconds = -Infinity,
  ): TapEvent[] {
    return this.events.filter((event) =>
      event.t >= since && (topic === null || event.topic === topic) && predicate(event.value)
    );
  }

  /**
   * Waits for a message at or after `since` on `topic` that matches `predicate`; resolves to it,
   * or to `null` after `timeoutMs`.
   */
  waitFor(
    topic: string | null,
    predicate: (value: Record<string, unknown>) => boolean,
    timeoutMs: number,
    since: RunSeconds = -Infinity,
  ): Promise<TapEvent | null> {
    const found = () => this.select(topic, predicate, since)[0];
    const first = found();
    if (first) return Promise.resolve(first);
    return new Promise((resolve) => {
      const done = (event: TapEvent | null) => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(event);
      };
      const wake = () => {
        const event = found();
        if (event) done(event);
      };
      const timer = setTimeout(() => done(null), timeoutMs);
      this.#waiters.add(wake);
    });
  }

  /** Sends one JSON message to `topic`. */
  async send(topic: string, value: Record<string, unknown>): Promise<void> {
    await this.#producer.send({ topic, messages: [{ value: JSON.stringify(value) }] });
  }

  /** Sends what `cp_control.py <cp> <command>` sends, on `central-events`. */
  async sendControl(cpId: string, command: ControlCommand): Promise<void> {
    await this.send("central-events", controlMessage(cpId, command, Date.now() / 1000));
  }

  /** Stops recording and disconnects. */
  async close(): Promise<void> {
    await Promise.allSettled([this.#consumer.disconnect(), this.#producer.disconnect()]);
  }

  #record(topic: string, text: string): void {
    let value: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(text);
      value = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
        ? parsed as Record<string, unknown>
        : { raw: parsed };
    } catch {
      value = { raw: text };
    }
    const stamp = value["timestamp"];
    this.events.push({
      t: this.#clock.now(),
      topic,
      value,
      sentT: typeof stamp === "number" ? this.#clock.fromEpoch(stamp) : null,
    });
    for (const wake of this.#waiters) wake();
  }
}
