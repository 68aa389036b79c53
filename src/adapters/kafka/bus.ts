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
  BusObserver,
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
  isUntrustedCertificate,
  KafkaAuthenticationError,
  type SaslMechanism,
  UNTRUSTED_CERTIFICATE_HINT,
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
  /**
   * Builds the kafkajs client (default: `new Kafka(config)`). Tests of this adapter pass a
   * client whose calls fail the way kafkajs' do, to prove the retries.
   */
  readonly createClient?: (config: KafkaConfig) => Pick<Kafka, "producer" | "consumer" | "admin">;
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
/**
 * Events per request to Kafka. A fleet of 10,000 points publishes 10,000 progress samples a
 * second, and one request is on its way at a time (order): at 100 a request the delivery could
 * fall behind whenever a round trip took over 10 ms (a busy broker or machine).
 */
const BATCH_SIZE = 500;
const CONNECT_TIMEOUT_MS = 3_000;
/** While Kafka stays unreachable, the warning is repeated this often (one line, never more). */
export const UNREACHABLE_REPEAT_MS = 60_000;
/** Send retries made quickly (a leader change) before backing off as for a lost broker. */
const QUICK_SEND_RETRIES = 15;
/** How long closing waits for kafkajs to disconnect. */
const CLOSE_WAIT_MS = 300;
/** Beyond the fetch in flight, what leaving the command group may take. */
const LEAVE_MARGIN_MS = 200;
/** The longest the command consumer's fetch waits on an idle topic (see #startConsumer). */
export const COMMAND_FETCH_WAIT_MS = 1_000;
/** Events kept in memory while the store fails, before old progress samples are let go. */
const MAX_UNSTORED = 10_000;

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
  readonly #kafka: Pick<Kafka, "producer" | "consumer" | "admin">;
  readonly #producer: Producer;
  #consumer: Consumer | null = null;
  #consumerStarting = false;
  /** The command consumer's disconnect once stopCommands ran, and until when to wait for it. */
  #consumerLeaving: Promise<void> | null = null;
  #consumerLeaveDeadline = 0;
  #lastStoredCount = 0;
  #sendingFromMemory = false;
  #sendFailures = 0;
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
  readonly #unstored: { event: OutboundEvent; alongside?: () => void }[] = [];
  #storeFailing = false;
  /** Events published in this turn are stored at its end (see publish). */
  #storeScheduled = false;
  /** A ticket was stored whose commit may not be on disk yet (see #drain). */
  #ticketNotDurable = false;
  #backlogSince = 0;
  #failureWaiters: (() => void)[] = [];
  #reportAuthenticationFailure: (failure: KafkaAuthenticationError) => void = () => {};
  /** The metrics' view of the traffic (see {@linkcode KafkaBus.observe}); none by default. */
  #observer: BusObserver | null = null;
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
    const createClient = deps.createClient ?? ((config: KafkaConfig) => new Kafka(config));
    this.#kafka = createClient({
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
    return this.#storedCount() + this.#unstored.length;
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

  /**
   * Tells `observer` about every event accepted and delivered and every command handled from
   * now on (the web panel's metrics). One observer; a second call replaces the first.
   */
  observe(observer: BusObserver): void {
    this.#observer = observer;
  }

  /** Starts connecting in the background (retrying until closed). */
  start(): void {
    void this.#ensureConnected();
    this.#wakeDrain();
  }

  /**
   * Stores the event and delivers it as soon as Kafka takes it. Never throws. The event is
   * stored at the end of the current turn of the event loop, with every other event published
   * in it: one commit for a fleet's whole tick (10,000 progress samples) instead of one each.
   * Nothing observable happens in between (no I/O runs within a turn, and nothing is sent before
   * it is stored), so a crash loses no more than it did when each was stored at once.
   */
  publish(event: OutboundEvent): void {
    this.#observer?.accepted(event);
    this.#unstored.push({ event });
    this.#boundUnstored();
    if (!this.#storeScheduled) {
      this.#storeScheduled = true;
      queueMicrotask(() => {
        this.#storeScheduled = false;
        this.#storeUnstored();
        this.#wakeDrain();
      });
    }
  }

  /**
   * Stores the event and runs `alongside` in the same transaction of the outbox, then delivers
   * the event. Never throws: when the store fails, both wait in memory, in order, and are done
   * together once it works again (see `EventPublisher.publishWith`).
   */
  publishWith(event: OutboundEvent, alongside: () => void): void {
    this.#observer?.accepted(event);
    this.#unstored.push({ event, alongside });
    this.#storeUnstored();
    this.#wakeDrain();
  }

  #wakeDrain(): void {
    this.#wake?.();
    this.#drain().catch((error) => {
      this.#log.error("The delivery loop failed: {error}", { error: describeError(error) });
    });
  }

  /**
   * While the store fails, events wait in memory; beyond {@linkcode MAX_UNSTORED} the oldest
   * progress samples go (as the durable outbox collapses stale ones): status changes, tickets
   * and registrations are kept, so memory stays bounded by what matters.
   */
  #boundUnstored(): void {
    // While the store works, what waits here is this turn's events only (see publish).
    if (!this.#storeFailing || this.#unstored.length <= MAX_UNSTORED) return;
    const index = this.#unstored.findIndex((waiting) =>
      waiting.alongside === undefined && waiting.event.value.event_type === "charging_progress"
    );
    if (index >= 0 && index < this.#unstored.length - 1) this.#unstored.splice(index, 1);
  }

  /**
   * Moves events into the outbox, oldest first. When the store fails (disk full, I/O error),
   * they wait in memory, in order, and the store is tried again: accepted events are not lost
   * while the process lives.
   */
  #storeUnstored(): void {
    if (this.#sendingFromMemory) return;
    while (this.#unstored.length > 0) {
      const { alongside } = this.#unstored[0]!;
      // Plain events in a row are committed together: one fsync for all of them (a fleet's
      // progress samples of one tick, a status and its progress), each kept all the same.
      let count = 1;
      if (alongside === undefined) {
        while (
          count < this.#unstored.length && this.#unstored[count]!.alongside === undefined
        ) count++;
      }
      const run = this.#unstored.slice(0, count);
      try {
        if (alongside !== undefined) {
          this.#outbox.atomically(() => {
            this.#outbox.append(run[0]!.event);
            alongside();
          });
          this.#ticketNotDurable = true;
        } else if (count === 1) {
          this.#outbox.append(run[0]!.event);
        } else {
          this.#outbox.atomically(() => {
            for (const waiting of run) this.#outbox.append(waiting.event);
          });
        }
      } catch (error) {
        this.#reportStoreFailure(error);
        return;
      }
      this.#unstored.splice(0, count);
      for (const { event } of run) {
        this.#log.debug("Stored {event_type} {message_id} in the outbox", {
          event_type: event.value.event_type,
          message_id: event.value.message_id,
        });
      }
    }
    if (this.#storeFailing) {
      this.#storeFailing = false;
      this.#log.info("The outbox stores events again");
    }
  }

  /** How many events the store holds (the last known count when it cannot be read). */
  #storedCount(): number {
    try {
      this.#lastStoredCount = this.#outbox.size();
    } catch (error) {
      this.#reportStoreFailure(error);
    }
    return this.#lastStoredCount;
  }

  /** Says once that the store fails (until it works again). */
  #reportStoreFailure(error: unknown): void {
    if (this.#storeFailing) return;
    this.#storeFailing = true;
    this.#log.error(
      "Cannot store events in the outbox: {error}. They wait in memory until it works again",
      { error: describeError(error) },
    );
  }

  /** Resolves true once the outbox is empty, false if `deadlineMs` passes first. */
  async flush(deadlineMs: number): Promise<boolean> {
    if (this.#storedCount() === 0 && this.#unstored.length === 0) return true;
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
   * offset (new groups start at the end: old commands are not replayed). Never rejects: the
   * consumer starts in the background as soon as Kafka is reachable, and is retried until it
   * runs (see {@linkcode onConsuming}).
   */
  consumeCommands(handler: CommandHandler): Promise<void> {
    this.#commandHandler = handler;
    if (this.#connected) this.#keepConsumerRunning();
    return Promise.resolve();
  }

  /**
   * Stops consuming commands (shutdown has begun: the points ignore them from now on) while
   * events still go out. The command consumer leaves its group only once its fetch in flight
   * ends (up to {@linkcode COMMAND_FETCH_WAIT_MS}): starting now, while the points shut down,
   * lets it leave in time, so that an engine restarted at once joins without waiting for the
   * broker to time the old member out.
   */
  stopCommands(): void {
    this.#commandHandler = null;
    const consumer = this.#consumer;
    this.#consumer = null;
    if (consumer === null) return;
    this.#consumerLeaveDeadline = this.#clock.now() + COMMAND_FETCH_WAIT_MS + LEAVE_MARGIN_MS;
    this.#consumerLeaving = consumer.disconnect().catch(() => {});
  }

  /** Stops consuming, delivers nothing more, and disconnects. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    for (const stopSleeping of [...this.#sleepers]) stopSleeping();
    this.stopCommands();
    // A broker that does not answer must not hold the shutdown past its deadline; a consumer
    // leaving its group gets the end of its fetch.
    const wait = Math.max(CLOSE_WAIT_MS, this.#consumerLeaveDeadline - this.#clock.now());
    let timer: unknown = null;
    await Promise.race([
      Promise.allSettled([this.#consumerLeaving, this.#producer.disconnect()]),
      new Promise((resolve) => timer = this.#clock.setTimeout(() => resolve(null), wait)),
    ]);
    this.#clock.clearTimeout(timer);
    try {
      this.#outbox.close();
    } catch (error) {
      this.#log.error("Cannot close the outbox: {error}", { error: describeError(error) });
    }
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
    const backlog = this.#storedCount();
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
    this.#keepConsumerRunning();
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
    const hint = isUntrustedCertificate(error)
      ? ` ${UNTRUSTED_CERTIFICATE_HINT}`
      : this.#settings.unreachableHint === undefined
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

  /**
   * The wait before sending again after a failed send. A send fails for a moment when a
   * partition's leader dies (a cluster elects another within seconds): retry quickly at first,
   * and back off like a lost connection only when it keeps failing.
   */
  #sendRetryDelay(): number {
    this.#sendFailures++;
    if (this.#sendFailures > QUICK_SEND_RETRIES) return this.#backoff();
    return Math.min(1_000, 100 * 2 ** (this.#sendFailures - 1)) * (0.5 + this.#random() / 2);
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

  /**
   * Starts the command consumer if it does not run, and tries again with backoff while it
   * cannot start (kafkajs' connect or subscribe failing: the group coordinator moving, a broker
   * restarting): without commands the points would never become available.
   */
  #keepConsumerRunning(): void {
    if (this.#consumerStarting || this.#consumer !== null || this.#commandHandler === null) return;
    this.#consumerStarting = true;
    void (async () => {
      let attempt = 0;
      try {
        while (!this.#closed && this.#consumer === null) {
          try {
            await this.#startConsumer();
            return;
          } catch (error) {
            attempt++;
            const failed = this.#consumer as Consumer | null;
            this.#consumer = null;
            await failed?.disconnect().catch(() => {});
            this.#log.warn(
              "Cannot consume commands from {topic} yet (attempt {attempt}): {error}; retrying",
              {
                topic: this.#settings.centralEventsTopic,
                attempt,
                error: describeError(error),
              },
            );
            await this.#sleep(consumerBackoffMs(attempt, this.#random));
          }
        }
      } finally {
        this.#consumerStarting = false;
      }
    })();
  }

  async #startConsumer(): Promise<void> {
    if (this.#consumer !== null || this.#commandHandler === null) return;
    const handler = this.#commandHandler;
    const consumer = this.#kafka.consumer({
      groupId: this.#settings.groupId,
      // Commands, not throughput: answer a fetch as soon as one message is there (minBytes 1).
      // The broker holds an empty fetch up to maxWaitTimeInMs and answers the moment a command
      // arrives, so a longer wait costs no latency; it only makes idle polling cheaper. Every
      // idle request costs the engine a socket write and a read, and they were most of its idle
      // CPU (1 s fetches and 3 s heartbeats: 1.3 requests a second instead of 3; 2 s fetches
      // saved little more, see docs/benchmarks.md). The first fetch of a new group waits the
      // whole time, which start-up hides: `available` waits 6 s after the registration anyway.
      // Leaving the group waits for the fetch in flight: see stopCommands.
      maxWaitTimeInMs: COMMAND_FETCH_WAIT_MS,
      minBytes: 1,
      // After a kill -9 the restarted engine reads no command until the broker gives up on the
      // dead member of its group: 6 s, the broker's smallest (group.min.session.timeout.ms).
      // With the real peers, 10 s let Central's commands of those seconds pile up unread.
      sessionTimeout: 6_000,
      rebalanceTimeout: 10_000,
      // A third of the session timeout, as Kafka advises: kafkajs heartbeats between fetches
      // (up to COMMAND_FETCH_WAIT_MS apart), so 3 s could leave a busy engine's member evicted.
      heartbeatInterval: 2_000,
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
        void this.#ensureConnected().then((connected) => {
          if (connected) this.#keepConsumerRunning();
        });
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
        this.#observer?.commandHandled(Number(message.timestamp));
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
        let batch: StoredEvent[];
        try {
          batch = this.#outbox.peek(this.#backlogMode ? this.#drainBatchSize() : BATCH_SIZE);
        } catch (error) {
          // The store cannot be read (I/O error): what it holds is still there; try again.
          this.#reportStoreFailure(error);
          await this.#sleep(STORE_RETRY_MS);
          continue;
        }
        if (batch.length === 0 && this.#unstored.length > 0) {
          // The store fails (a full disk): plain events are sent from memory, in order, so
          // Central still sees the session; a ticket waits for the store, where it is kept
          // together with its journal's deletion (exactly once), and so does what follows it.
          await this.#sendUnstored();
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
        if (this.#ticketNotDurable) {
          // A ticket goes out only once it, and its journal's deletion, would survive a power
          // cut: else the restarted engine would recover the session and send a second one.
          // Other events need not wait: sent before their fsync, they are delivered either way.
          this.#ticketNotDurable = false;
          try {
            await this.#outbox.durable();
          } catch (error) {
            this.#ticketNotDurable = true;
            this.#reportStoreFailure(error);
            await this.#sleep(STORE_RETRY_MS);
            continue;
          }
        }
        const started = this.#clock.now();
        try {
          await this.#send(batch);
          this.#sendFailures = 0;
          this.#log.debug("Delivered {count} events", { count: batch.length });
        } catch (error) {
          this.#onUnreachable(error);
          await this.#sleep(this.#sendRetryDelay());
          continue;
        }
        this.#observer?.delivered(batch.map((stored) => stored.event));
        try {
          this.#outbox.remove(batch.map((stored) => stored.seq));
        } catch (error) {
          // Delivered but not forgotten: they go again (same message ids, which Central drops).
          this.#reportStoreFailure(error);
          await this.#sleep(STORE_RETRY_MS);
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

  /** Sends the events waiting in memory before the first one that must be stored first. */
  async #sendUnstored(): Promise<void> {
    const plain: OutboundEvent[] = [];
    for (const waiting of this.#unstored) {
      if (waiting.alongside !== undefined || plain.length >= BATCH_SIZE) break;
      plain.push(waiting.event);
    }
    if (plain.length === 0 || !(await this.#ensureConnected())) {
      await this.#sleep(STORE_RETRY_MS);
      return;
    }
    // Nothing may be stored while these are on their way: it would overtake them.
    this.#sendingFromMemory = true;
    try {
      await this.#send(plain.map((event) => ({ seq: null, event })));
      this.#unstored.splice(0, plain.length);
      this.#observer?.delivered(plain);
    } catch (error) {
      this.#onUnreachable(error);
      await this.#sleep(this.#backoff());
    } finally {
      this.#sendingFromMemory = false;
    }
  }

  #drainBatchSize(): number {
    return Math.max(
      1,
      Math.min(BATCH_SIZE, Math.floor((this.#settings.drainRatePerSecond ?? 100) / 10)),
    );
  }

  /** Sends events, stored (`seq`) or from memory (`seq` null), re-stamping stale ones. */
  async #send(batch: readonly { seq: number | null; event: OutboundEvent }[]): Promise<void> {
    const now = this.#clock.now();
    const restampAfter = this.#settings.restampAfterMs ?? 30_000;
    const byTopic = new Map<string, { key: string; value: string }[]>();
    for (const stored of batch) {
      let event = stored.event;
      if (now - event.value.timestamp * 1000 > restampAfter) {
        event = { ...event, value: { ...event.value, timestamp: now / 1000 } };
        try {
          if (stored.seq !== null) this.#outbox.replace(stored.seq, event);
        } catch {
          // Not kept on disk: the stored copy is re-stamped again the next time it is sent.
        }
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

/** Wait before the `attempt`-th retry of the command consumer: 0.5 s doubling to 10 s, jittered. */
function consumerBackoffMs(attempt: number, random: RandomSource): number {
  const exponential = Math.min(10_000, 500 * 2 ** Math.min(attempt - 1, 10));
  return exponential / 2 + random() * (exponential / 2);
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
