/**
 * The Kafka side of the engine (kafkajs): one producer that drains the outbox in order, one
 * consumer for the command topic, and a connection that retries with capped exponential
 * backoff and jitter, saying once that Kafka is unreachable and once that it is back.
 *
 * @module
 */
import process from "node:process";
import {
  type Admin,
  type Consumer,
  Kafka,
  type KafkaConfig,
  type LogEntry,
  logLevel,
  type Producer,
} from "kafkajs";
import type {
  Clock,
  CommandHandler,
  EventBus,
  OutboundEvent,
  Outbox,
  RandomSource,
  StoredEvent,
} from "../../app/ports.ts";
import type { Logger } from "../logging.ts";
import { systemRandom } from "../clock.ts";
import { MemoryOutbox } from "../storage/memory_store.ts";
// Side effect: stops kafkajs' idle timer loop (see the module).
import "./idle_fix.ts";
import {
  isAuthenticationFailure,
  KafkaAuthenticationError,
  type SaslMechanism,
} from "./security.ts";

/** How to reach and use Kafka. */
export interface KafkaSettings {
  /** `host:port` of one or more brokers. */
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Consumer group for commands, stable across restarts (`engine_group_<cp_id>`). */
  readonly groupId: string;
  readonly cpEventsTopic: string;
  readonly centralEventsTopic: string;
  /** TLS and SASL, passed to kafkajs as they are. */
  readonly ssl?: KafkaConfig["ssl"];
  readonly sasl?: KafkaConfig["sasl"];
  /** Events sent per second while a backlog drains (default 100). */
  readonly drainRatePerSecond?: number;
  /** Events older than this when finally sent get a fresh timestamp (default 30 s). */
  readonly restampAfterMs?: number;
  /** Longest wait between two connection attempts (default 5 s). */
  readonly maxBackoffMs?: number;
  /**
   * What the unreachable warning suggests, e.g. how to start a local broker; it is repeated with
   * the warning once a minute while Kafka stays unreachable.
   */
  readonly unreachableHint?: string;
  /** How often the unreachable warning is repeated (default {@linkcode UNREACHABLE_REPEAT_MS}). */
  readonly unreachableRepeatMs?: number;
  /**
   * Added to every message sent as `engine_instance` (when set): the id of this engine process,
   * so that two engines running as the same cp id can tell each other apart. Stamped when sent,
   * not when stored: a backlog left by a crashed run goes out under the instance that sends it.
   */
  readonly engineInstance?: string;
}

/** What the adapter needs besides its settings. */
export interface KafkaDependencies {
  readonly logger: Logger;
  readonly clock: Clock;
  /** Where events wait; in memory unless a durable one is given. */
  readonly outbox?: Outbox;
  /** [0, 1) for the backoff jitter (default: the platform's randomness). */
  readonly random?: RandomSource;
}

export type { CommandHandler };

const INITIAL_BACKOFF_MS = 250;
/**
 * The cap of the reconnection backoff: short enough that a charging point is back within a few
 * seconds of its broker, long enough that a fleet of engines does not hammer a broker that is down.
 */
const DEFAULT_MAX_BACKOFF_MS = 5_000;
/** How often a failing outbox store is tried again. */
const STORE_RETRY_MS = 1_000;
const BATCH_SIZE = 100;
const CONNECT_TIMEOUT_MS = 3_000;
/** While Kafka stays unreachable, the warning is repeated this often (one line, never more). */
export const UNREACHABLE_REPEAT_MS = 60_000;

silenceKafkajsNegativeTimeoutWarning();

/**
 * kafkajs 2.2.4 schedules a timer with a negative delay when it is not throttled, which
 * newer runtimes report as a `TimeoutNegativeWarning` on stderr. The timer behaves as a zero
 * delay, so the warning is noise; this drops exactly that warning and nothing else.
 */
function silenceKafkajsNegativeTimeoutWarning(): void {
  const original = process.emitWarning.bind(process);
  const filtered = (warning: string | Error, ...rest: unknown[]) => {
    const type = typeof rest[0] === "string"
      ? rest[0]
      : (rest[0] as { type?: string } | undefined)?.type;
    const name = warning instanceof Error ? warning.name : type;
    if (name === "TimeoutNegativeWarning") return;
    (original as (...args: unknown[]) => void)(warning, ...rest);
  };
  process.emitWarning = filtered as typeof process.emitWarning;
}

/** Splits `"a:9092,b:9093"` into broker addresses (validation is the config's job). */
export function parseBrokers(list: string): string[] {
  return list.split(",").map((broker) => broker.trim()).filter((broker) => broker !== "");
}

/** The connection to Kafka: publisher of events and consumer of commands. */
export class KafkaBus implements EventBus {
  readonly #settings: KafkaSettings;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #outbox: Outbox;
  readonly #random: () => number;
  readonly #kafka: Kafka;
  readonly #producer: Producer;
  #consumer: Consumer | null = null;
  #commandHandler: CommandHandler | null = null;
  #connected = false;
  #everConnected = false;
  #unreachableSaid = false;
  /** When the current outage was first reported, and when it was last reported (epoch ms). */
  #unreachableSince = 0;
  #unreachableSaidAt = 0;
  /** Events an earlier run left in the outbox: they are a backlog even on the first connection. */
  readonly #leftByEarlierRun: boolean;
  #connecting: Promise<boolean> | null = null;
  #attempt = 0;
  #draining = false;
  #closed = false;
  #flushWaiters: (() => void)[] = [];
  #connectedListeners: (() => void)[] = [];
  #consumingListeners: (() => void)[] = [];
  #wake: (() => void) | null = null;
  readonly #sleepers = new Set<() => void>();
  #backlogMode = false;
  /** Events the outbox could not store yet, oldest first (see #storeUnstored). */
  readonly #unstored: OutboundEvent[] = [];
  #storeFailing = false;
  #backlogSince = 0;
  #failureWaiters: (() => void)[] = [];
  #reportAuthenticationFailure: (failure: KafkaAuthenticationError) => void = () => {};
  /**
   * Resolves (never rejects) if the broker rejects the SASL credentials before the first
   * connection: the bus has then stopped, and the engine should exit with the error's message.
   */
  readonly authenticationFailure: Promise<KafkaAuthenticationError>;

  constructor(settings: KafkaSettings, deps: KafkaDependencies) {
    this.#settings = settings;
    this.authenticationFailure = new Promise((resolve) => {
      this.#reportAuthenticationFailure = resolve;
    });
    this.#log = deps.logger;
    this.#clock = deps.clock;
    this.#outbox = deps.outbox ?? new MemoryOutbox();
    this.#leftByEarlierRun = this.#outbox.size() > 0;
    this.#random = deps.random ?? systemRandom;
    const kafkaLog = deps.logger.getChild("kafkajs");
    this.#kafka = new Kafka({
      clientId: settings.clientId,
      brokers: [...settings.brokers],
      ...(settings.ssl === undefined ? {} : { ssl: settings.ssl }),
      ...(settings.sasl === undefined ? {} : { sasl: settings.sasl }),
      connectionTimeout: CONNECT_TIMEOUT_MS,
      // Our own loop retries with backoff and says what happens; kafkajs should fail fast.
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2_000 },
      logLevel: logLevel.INFO,
      logCreator: () => (entry: LogEntry) => {
        // kafkajs reports every retriable hiccup as ERROR; the adapter logs what matters.
        kafkaLog.debug("{namespace}: {message}", {
          namespace: entry.namespace,
          message: entry.log.message,
          error: entry.log["error"],
        });
      },
    });
    this.#producer = this.#kafka.producer({ allowAutoTopicCreation: true });
  }

  /** Whether the last attempt to talk to Kafka succeeded. */
  get connected(): boolean {
    return this.#connected;
  }

  /** How many events wait to be delivered. */
  get backlog(): number {
    return this.#outbox.size() + this.#unstored.length;
  }

  /** Calls `listener` every time the connection (re)opens. */
  onConnected(listener: () => void): void {
    this.#connectedListeners.push(listener);
    if (this.#connected) listener();
  }

  /**
   * Calls `listener` every time the command consumer has joined its group and completed a
   * fetch: from then on no command sent to this charging point can be missed.
   */
  onConsuming(listener: () => void): void {
    this.#consumingListeners.push(listener);
  }

  /**
   * Resolves the next time an attempt to reach Kafka fails: start-up opens the health port then
   * instead of waiting for a broker that is not there.
   */
  nextFailure(): Promise<void> {
    return new Promise((resolve) => this.#failureWaiters.push(resolve));
  }

  /** Starts connecting in the background (retrying until closed). */
  start(): void {
    void this.#ensureConnected();
    void this.#drain();
  }

  /** Stores the event and delivers it as soon as Kafka takes it. Never throws. */
  publish(event: OutboundEvent): void {
    this.#unstored.push(event);
    this.#storeUnstored();
    this.#wake?.();
    void this.#drain();
  }

  /**
   * Moves events into the outbox, oldest first. When the store fails (disk full, I/O error),
   * they wait in memory, in order, and the store is tried again: accepted events are not lost
   * while the process lives.
   */
  #storeUnstored(): void {
    while (this.#unstored.length > 0) {
      const event = this.#unstored[0]!;
      try {
        this.#outbox.append(event);
      } catch (error) {
        if (!this.#storeFailing) {
          this.#storeFailing = true;
          this.#log.error(
            "Cannot store events in the outbox: {error}. They wait in memory until it works again",
            { error: describeError(error) },
          );
        }
        return;
      }
      this.#unstored.shift();
      this.#log.debug("Stored {event_type} {message_id} in the outbox", {
        event_type: event.value.event_type,
        message_id: event.value.message_id,
      });
    }
    if (this.#storeFailing) {
      this.#storeFailing = false;
      this.#log.info("The outbox stores events again");
    }
  }

  /** Resolves true once the outbox is empty, false if `deadlineMs` passes first. */
  async flush(deadlineMs: number): Promise<boolean> {
    if (this.#outbox.size() === 0 && this.#unstored.length === 0) return true;
    let timer: unknown = null;
    const emptied = new Promise<boolean>((resolve) => this.#flushWaiters.push(() => resolve(true)));
    const timedOut = new Promise<boolean>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve(false), deadlineMs);
    });
    const result = await Promise.race([emptied, timedOut]);
    this.#clock.clearTimeout(timer);
    return result;
  }

  /**
   * Starts consuming the command topic with the engine's consumer group, from the committed
   * offset (new groups start at the end: old commands are not replayed).
   */
  async consumeCommands(handler: CommandHandler): Promise<void> {
    this.#commandHandler = handler;
    if (this.#connected) await this.#startConsumer();
  }

  /** Stops consuming, delivers nothing more, and disconnects. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    for (const stopSleeping of [...this.#sleepers]) stopSleeping();
    const consumer = this.#consumer;
    this.#consumer = null;
    await Promise.allSettled([consumer?.disconnect(), this.#producer.disconnect()]);
    this.#outbox.close();
  }

  async #ensureConnected(): Promise<boolean> {
    if (this.#connected) return true;
    this.#connecting ??= this.#connectLoop().finally(() => {
      this.#connecting = null;
    });
    return await this.#connecting;
  }

  async #connectLoop(): Promise<boolean> {
    while (!this.#closed) {
      if (this.#attempt === 0) {
        this.#log.info("Connecting to Kafka at {brokers}", {
          brokers: this.#settings.brokers.join(","),
        });
      }
      try {
        await this.#producer.connect();
        await this.#ensureTopics();
        this.#onConnected();
        return true;
      } catch (error) {
        if (isAuthenticationFailure(error) && this.#rejectCredentials(error)) return false;
        this.#onUnreachable(error);
        await this.#sleep(this.#backoff());
      }
    }
    return false;
  }

  /**
   * The broker rejected the SASL credentials. That is not transient: before the first connection
   * the bus gives up (returns true) and {@linkcode KafkaBus.authenticationFailure} resolves, so
   * that the engine exits with one clear error. Credentials revoked while the engine runs are
   * logged as that error and retried like an outage (returns false): a session in progress goes
   * on and its events are kept.
   */
  #rejectCredentials(error: unknown): boolean {
    const sasl = this.#settings.sasl;
    const failure = new KafkaAuthenticationError(
      sasl !== undefined && "username" in sasl ? String(sasl.username) : "(none)",
      (sasl?.mechanism ?? "plain") as SaslMechanism,
      { cause: error },
    );
    if (this.#everConnected) {
      if (!this.#unreachableSaid) {
        this.#log.error("{message}; retrying in the background", { message: failure.message });
      }
      return false;
    }
    this.#closed = true;
    this.#reportAuthenticationFailure(failure);
    const waiters = this.#failureWaiters;
    this.#failureWaiters = [];
    for (const resolve of waiters) resolve();
    return true;
  }

  #onConnected(): void {
    const wasBack = this.#everConnected;
    const afterOutage = this.#unreachableSaid || wasBack;
    this.#connected = true;
    this.#everConnected = true;
    this.#attempt = 0;
    const backlog = this.#outbox.size();
    const brokers = this.#settings.brokers.join(",");
    const waiting = backlog === 0 ? "" : ` (${countOf(backlog, "event")} to deliver)`;
    if (wasBack) {
      this.#log.info("Kafka is reachable again at {brokers}{waiting}", { brokers, waiting });
    } else {
      this.#log.info("Kafka connected at {brokers}{waiting}", {
        brokers,
        waiting: afterOutage || this.#leftByEarlierRun ? waiting : "",
      });
    }
    // A backlog left by an outage, or by an earlier run in the durable outbox, drains at the
    // bounded rate. The events of a first start (the registration) are no backlog.
    this.#backlogMode = backlog > 0 && (afterOutage || this.#leftByEarlierRun);
    this.#backlogSince = this.#clock.now();
    this.#unreachableSaid = false;
    if (this.#commandHandler !== null && this.#consumer === null) {
      this.#startConsumer().catch((error) => {
        this.#log.error("Cannot consume commands from {topic}: {error}", {
          topic: this.#settings.centralEventsTopic,
          error: describeError(error),
        });
      });
    }
    for (const listener of this.#connectedListeners) listener();
  }

  #onUnreachable(error: unknown): void {
    this.#connected = false;
    const waiters = this.#failureWaiters;
    this.#failureWaiters = [];
    for (const resolve of waiters) resolve();
    this.#attempt++;
    const now = this.#clock.now();
    const brokers = this.#settings.brokers.join(",");
    const hint = this.#settings.unreachableHint === undefined
      ? ""
      : ` ${this.#settings.unreachableHint}`;
    if (!this.#unreachableSaid) {
      this.#unreachableSaid = true;
      this.#unreachableSince = now;
      this.#unreachableSaidAt = now;
      this.#log.warn(
        "Kafka is unreachable at {brokers}: {cause}. Retrying in the background; events are kept until it is back.{hint}",
        { brokers, cause: describeError(error), hint },
      );
    } else if (
      now - this.#unreachableSaidAt >= (this.#settings.unreachableRepeatMs ?? UNREACHABLE_REPEAT_MS)
    ) {
      // Said again once a minute: a first warning scrolled away must not leave a silent engine.
      this.#unreachableSaidAt = now;
      this.#log.warn(
        "Kafka is still unreachable at {brokers} after {seconds} s: {cause}.{hint}",
        {
          brokers,
          seconds: Math.round((now - this.#unreachableSince) / 1000),
          cause: describeError(error),
          hint,
        },
      );
    } else {
      this.#log.debug("Kafka still unreachable (attempt {attempt}): {cause}", {
        attempt: this.#attempt,
        cause: describeError(error),
      });
    }
  }

  #backoff(): number {
    const cap = this.#settings.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
    const exponential = Math.min(cap, INITIAL_BACKOFF_MS * 2 ** Math.min(this.#attempt, 16));
    // "Equal jitter": half fixed, half random, so engines restarted together spread out.
    return exponential / 2 + this.#random() * (exponential / 2);
  }

  /** Creates the two topics when the broker does not auto-create them. */
  async #ensureTopics(): Promise<void> {
    const admin: Admin = this.#kafka.admin();
    await admin.connect();
    try {
      const wanted = [this.#settings.cpEventsTopic, this.#settings.centralEventsTopic];
      const existing = new Set(await admin.listTopics());
      const missing = wanted.filter((topic) => !existing.has(topic));
      if (missing.length === 0) return;
      try {
        await admin.createTopics({
          topics: missing.map((topic) => ({ topic })),
          waitForLeaders: true,
        });
        this.#log.info("Created the topics {topics}", { topics: missing.join(", ") });
      } catch (error) {
        const again = new Set(await admin.listTopics());
        if (missing.every((topic) => again.has(topic))) return;
        throw new Error(
          `The topics ${missing.join(", ")} do not exist and cannot be created (${
            describeError(error)
          }); create them on the broker or allow this client to create topics`,
        );
      }
    } finally {
      await admin.disconnect();
    }
  }

  async #startConsumer(): Promise<void> {
    if (this.#consumer !== null || this.#commandHandler === null) return;
    const handler = this.#commandHandler;
    const consumer = this.#kafka.consumer({
      groupId: this.#settings.groupId,
      // Commands, not throughput: answer a fetch as soon as one message is there (minBytes 1).
      // The broker holds an empty fetch up to maxWaitTimeInMs and answers the moment a command
      // arrives, so a longer wait costs no latency; it only makes idle polling cheaper (100 ms
      // polls were about 0.5 % of a core; see `deno task bench engine`).
      maxWaitTimeInMs: 500,
      minBytes: 1,
      sessionTimeout: 10_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: 1_000,
      retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload;
      this.#log.warn("The command consumer stopped: {error}{restarting}", {
        error: describeError(error),
        restarting: restart ? " (kafkajs restarts it)" : " (restarting it once Kafka is back)",
      });
      if (!restart && this.#consumer === consumer) {
        this.#consumer = null;
        this.#connected = false;
        void consumer.disconnect().catch(() => {});
        void this.#ensureConnected();
      }
    });
    const removeFetchListener = consumer.on(consumer.events.FETCH, () => {
      removeFetchListener();
      this.#log.info("Listening for commands on {topic} (group {group})", {
        topic: this.#settings.centralEventsTopic,
        group: this.#settings.groupId,
      });
      for (const listener of this.#consumingListeners) listener();
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.#settings.centralEventsTopic, fromBeginning: false });
    await consumer.run({
      eachMessage: ({ message }) => {
        try {
          handler(message.value);
        } catch (error) {
          this.#log.error("A command handler failed: {error}", { error: describeError(error) });
        }
        return Promise.resolve();
      },
    });
  }

  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (!this.#closed) {
        this.#storeUnstored();
        let batch = this.#outbox.peek(this.#backlogMode ? this.#drainBatchSize() : BATCH_SIZE);
        if (batch.length === 0 && this.#unstored.length > 0) {
          await this.#sleep(STORE_RETRY_MS);
          continue;
        }
        if (batch.length === 0) {
          if (this.#backlogMode) {
            this.#log.info("Backlog delivered in {ms} ms", {
              ms: this.#clock.now() - this.#backlogSince,
            });
          }
          this.#backlogMode = false;
          this.#releaseFlushWaiters();
          await this.#waitForWork();
          continue;
        }
        if (!(await this.#ensureConnected())) break;
        // Connecting may have found a backlog: then only a rate-sized batch goes.
        if (this.#backlogMode) batch = batch.slice(0, this.#drainBatchSize());
        const started = this.#clock.now();
        try {
          await this.#send(batch);
          this.#outbox.remove(batch.map((stored) => stored.seq));
        } catch (error) {
          this.#onUnreachable(error);
          await this.#sleep(this.#backoff());
          continue;
        }
        if (this.#backlogMode) {
          const minimum = (batch.length / (this.#settings.drainRatePerSecond ?? 100)) * 1000;
          const spent = this.#clock.now() - started;
          if (spent < minimum) await this.#sleep(minimum - spent);
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  #drainBatchSize(): number {
    return Math.max(
      1,
      Math.min(BATCH_SIZE, Math.floor((this.#settings.drainRatePerSecond ?? 100) / 10)),
    );
  }

  async #send(batch: StoredEvent[]): Promise<void> {
    const now = this.#clock.now();
    const restampAfter = this.#settings.restampAfterMs ?? 30_000;
    const byTopic = new Map<string, { key: string; value: string }[]>();
    for (const stored of batch) {
      let event = stored.event;
      if (now - event.value.timestamp * 1000 > restampAfter) {
        event = { ...event, value: { ...event.value, timestamp: now / 1000 } };
        this.#outbox.replace(stored.seq, event);
      }
      const messages = byTopic.get(event.topic) ?? [];
      const value = this.#settings.engineInstance === undefined
        ? event.value
        : { ...event.value, engine_instance: this.#settings.engineInstance };
      messages.push({ key: event.key, value: JSON.stringify(value) });
      byTopic.set(event.topic, messages);
    }
    await this.#producer.sendBatch({
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      acks: -1,
    });
  }

  #waitForWork(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = () => {
        this.#wake = null;
        resolve();
      };
    });
  }

  #releaseFlushWaiters(): void {
    const waiters = this.#flushWaiters;
    this.#flushWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Waits `ms`; close() cuts every wait short. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#clock.clearTimeout(timer);
        this.#sleepers.delete(done);
        resolve();
      };
      const timer = this.#clock.setTimeout(done, ms);
      this.#sleepers.add(done);
    });
  }
}

/** `1 event`, `2 events`. */
export function countOf(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** The useful part of a kafkajs error: its message and, when there is one, its cause. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  const causeText = cause instanceof Error && cause.message !== error.message
    ? ` (${cause.message})`
    : "";
  return `${error.message}${causeText}`;
}
