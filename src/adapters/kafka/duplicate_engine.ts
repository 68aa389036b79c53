/**
 * Detection of a second engine running with the same cp id (protocol.md section 1: an operator
 * error to detect and report). Two engines as `CP_001` both register, both publish statuses and
 * share the command group, so Central sees a point that flips between two states and half the
 * commands go to each engine.
 *
 * Two independent signs, each enough:
 *
 * - Every event this engine publishes carries `engine_instance`, a UUID drawn at start (peers
 *   ignore unknown fields). The engine reads `cp-events` back with a throwaway consumer group from
 *   the latest offset; an event for its cp id from another instance (or without an instance id:
 *   an engine of the first generation) means another engine runs. The engine that starts first
 *   sees the second one's registration at once.
 * - The command consumer group (`engine_group_<cp_id>`) has more than one member: the engine that
 *   starts second sees the first one there as soon as it has joined, even if the first one stays
 *   silent. (A member of an engine that was killed does not count: it is evicted at the
 *   rebalance that lets the new engine in.)
 *
 * Reports are logged as errors, at most once per {@linkcode DUPLICATE_REPORT_INTERVAL_MS}.
 *
 * @module
 */
import { type Admin, type Consumer, Kafka, logLevel } from "kafkajs";
import type { KafkaSecurityOptions } from "./security.ts";
import type { Clock, DuplicateWatch } from "../../app/ports.ts";
import type { Logger } from "../logging.ts";

/** At most one report per minute: the operator needs to know, not to be flooded. */
export const DUPLICATE_REPORT_INTERVAL_MS = 60_000;
/** How often the command group's members are checked. */
export const GROUP_CHECK_INTERVAL_MS = 30_000;
/** The longest a fetch of the read-back consumer waits on an idle topic. */
const WATCH_FETCH_WAIT_MS = 5_000;
/** How long closing waits for kafkajs to disconnect. */
const CLOSE_WAIT_MS = 300;

/** One member of a consumer group, as the broker describes it. */
export interface GroupMember {
  /** The broker's id of the member. */
  readonly memberId: string;
  /** The client id the member connected with (`ev-cp-engine-<cp_id>` for an engine). */
  readonly clientId: string;
  /** Where the member connects from, e.g. `/10.0.0.7`. */
  readonly clientHost: string;
}

/**
 * The pure part: decides from what is seen whether to report another engine, and words the
 * report. Time is passed in.
 */
export class DuplicateEngineDetector {
  readonly #cpId: string;
  readonly #instance: string;
  readonly #intervalMs: number;
  #lastReportAt = Number.NEGATIVE_INFINITY;
  #unreported = 0;

  /** For the engine running as `cpId` with the instance id `instance`. */
  constructor(cpId: string, instance: string, intervalMs = DUPLICATE_REPORT_INTERVAL_MS) {
    this.#cpId = cpId;
    this.#instance = instance;
    this.#intervalMs = intervalMs;
  }

  /**
   * An event read back from `cp-events` (the parsed JSON value). Returns the report to log, or
   * null when the event is this engine's own, for another cp id, or a report was made recently.
   */
  observeEvent(value: unknown, now: number): string | null {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
    const event = value as Record<string, unknown>;
    if (event["cp_id"] !== this.#cpId) return null;
    const instance = event["engine_instance"];
    if (instance === this.#instance) return null;
    const who = typeof instance === "string"
      ? `instance ${printable(instance)}`
      : "an engine without an instance id, e.g. of the first generation";
    return this.#report(`${who}, seen in its ${printable(String(event["event_type"]))}`, now);
  }

  /**
   * The members of this engine's command consumer group. Returns the report to log, or null when
   * this engine is alone there or a report was made recently.
   */
  observeGroup(groupId: string, members: readonly GroupMember[], now: number): string | null {
    if (members.length <= 1) return null;
    const others = members.map((member) => `${member.clientId} at ${member.clientHost}`);
    return this.#report(
      `${members.length} consumers share the command group ${groupId}: ${others.join(", ")}`,
      now,
    );
  }

  #report(evidence: string, now: number): string | null {
    if (now - this.#lastReportAt < this.#intervalMs) {
      this.#unreported++;
      return null;
    }
    const more = this.#unreported > 0
      ? ` (${this.#unreported} more signs since the last report)`
      : "";
    this.#lastReportAt = now;
    this.#unreported = 0;
    return `Another engine is running as ${this.#cpId} (${evidence}): two engines with the same ` +
      `cp id confuse Central; stop one of them${more}`;
  }
}

function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > 64 ? `${clean.slice(0, 64)}...` : clean;
}

/** How the watch reaches Kafka and what it watches. */
export interface DuplicateEngineWatchSettings extends KafkaSecurityOptions {
  /** `host:port` of one or more brokers. */
  readonly brokers: readonly string[];
  /** The engine's Kafka client id; the watch adds `-watch`. */
  readonly clientId: string;
  /** The cp id this engine runs as. */
  readonly cpId: string;
  /** The topic the engine publishes on (and the watch reads back). */
  readonly cpEventsTopic: string;
  /** The engine's command consumer group. */
  readonly commandGroupId: string;
  /** This engine's instance id (the `engine_instance` of its events). */
  readonly engineInstance: string;
}

/** Reads `cp-events` back and checks the command group; logs an error when another engine runs. */
export class DuplicateEngineWatch implements DuplicateWatch {
  readonly #settings: DuplicateEngineWatchSettings;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #detector: DuplicateEngineDetector;
  readonly #kafka: Kafka;
  #consumer: Consumer | null = null;
  #admin: Admin | null = null;
  #groupTimer: unknown = null;
  #closed = false;

  /** Creates the watch; nothing happens before {@linkcode DuplicateEngineWatch.start}. */
  constructor(settings: DuplicateEngineWatchSettings, deps: { logger: Logger; clock: Clock }) {
    this.#settings = settings;
    this.#log = deps.logger;
    this.#clock = deps.clock;
    this.#detector = new DuplicateEngineDetector(settings.cpId, settings.engineInstance);
    const kafkaLog = deps.logger.getChild("kafkajs");
    this.#kafka = new Kafka({
      clientId: `${settings.clientId}-watch`,
      brokers: [...settings.brokers],
      ...(settings.ssl === undefined ? {} : { ssl: settings.ssl }),
      ...(settings.sasl === undefined ? {} : { sasl: settings.sasl }),
      connectionTimeout: 3_000,
      retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5_000 },
      logLevel: logLevel.INFO,
      logCreator: () => (entry) => {
        kafkaLog.debug("{namespace}: {message}", {
          namespace: entry.namespace,
          message: entry.log.message,
        });
      },
    });
  }

  /**
   * Starts reading `cp-events` (from the latest offset) and checking the command group. Call it
   * whenever Kafka is reachable: it does nothing while the watch runs, and restarts it after a
   * failure.
   */
  start(): void {
    if (this.#closed) return;
    if (this.#groupTimer === null) {
      this.#groupTimer = this.#clock.setInterval(
        () => void this.checkGroup(),
        GROUP_CHECK_INTERVAL_MS,
      );
    }
    if (this.#consumer !== null) return;
    const consumer = this.#kafka.consumer({
      // Throwaway: nothing is committed, so the group disappears with this process.
      groupId: `ev-cp-engine-watch-${this.#settings.cpId}-${this.#settings.engineInstance}`,
      // A watch, not a command path: the broker answers a fetch the moment an event arrives
      // (minBytes 1), so a long wait costs no detection time; it only spares the idle engine a
      // request every half second. kafkajs heartbeats between fetches, so the heartbeat and the
      // session timeout follow the fetch wait (its defaults: 3 s and 30 s). Nothing depends on
      // this group's session: it is the process's own, and vanishes with it.
      maxWaitTimeInMs: WATCH_FETCH_WAIT_MS,
      sessionTimeout: 30_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: 3_000,
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.CRASH, (event) => {
      if (!event.payload.restart && this.#consumer === consumer) this.#forget(consumer);
    });
    (async () => {
      await consumer.connect();
      await consumer.subscribe({ topic: this.#settings.cpEventsTopic, fromBeginning: false });
      await consumer.run({
        autoCommit: false,
        eachMessage: ({ message }) => {
          this.#onEvent(message.value);
          return Promise.resolve();
        },
      });
      this.#log.debug("Watching {topic} for another engine running as {cp_id} (instance {id})", {
        topic: this.#settings.cpEventsTopic,
        cp_id: this.#settings.cpId,
        id: this.#settings.engineInstance,
      });
    })().catch((error) => {
      this.#log.debug("Cannot watch for duplicate engines yet: {error}", { error });
      if (this.#consumer === consumer) this.#forget(consumer);
    });
  }

  /** Checks the command group's members now (also done every 30 s once started). */
  async checkGroup(): Promise<void> {
    if (this.#closed) return;
    try {
      this.#admin ??= this.#kafka.admin();
      await this.#admin.connect();
      const { groups } = await this.#admin.describeGroups([this.#settings.commandGroupId]);
      // Only a settled group: during a rebalance a member that is gone may still be listed.
      const group = groups[0];
      const members = group?.state === "Stable" ? group.members : [];
      const report = this.#detector.observeGroup(
        this.#settings.commandGroupId,
        members,
        this.#clock.now(),
      );
      if (report !== null) this.#log.error(report);
    } catch (error) {
      this.#log.debug("Cannot check the command group for duplicate engines: {error}", { error });
    }
  }

  /** Stops watching. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#groupTimer !== null) this.#clock.clearInterval(this.#groupTimer);
    this.#groupTimer = null;
    const consumer = this.#consumer;
    this.#consumer = null;
    // kafkajs lets a consumer's fetch finish before it leaves (up to the 5 s fetch wait): the
    // shutdown does not wait for that, its group is this process's own and goes with it.
    let timer: unknown = null;
    await Promise.race([
      Promise.allSettled([consumer?.disconnect(), this.#admin?.disconnect()]),
      new Promise((resolve) => timer = this.#clock.setTimeout(() => resolve(null), CLOSE_WAIT_MS)),
    ]);
    this.#clock.clearTimeout(timer);
  }

  #onEvent(value: Uint8Array | null): void {
    if (value === null) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(value));
    } catch {
      return; // Not an engine's event: someone else's problem.
    }
    const report = this.#detector.observeEvent(parsed, this.#clock.now());
    if (report !== null) this.#log.error(report);
  }

  #forget(consumer: Consumer): void {
    this.#consumer = null;
    void consumer.disconnect().catch(() => {});
  }
}
