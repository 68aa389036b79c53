/**
 * Whether Central is there. Kafka stays up when Central stops, so nothing the engine publishes
 * fails; what tells is Central's consumer group: the original Central reads `cp-events` with a
 * NEW group on every start (`ev_central_ws_group_<epoch>`, EV_Central_WebSocket.py:1251-1261).
 * Central is present while a group whose id starts with the configured prefix has live members
 * that consume `cp-events`; away when, after it was seen once, no such group has any (before
 * Central is first seen its presence is unknown: a lab may have no Central at all).
 *
 * Checked every few seconds with the admin API (list and describe the groups), never per
 * event. A cluster that does not let the engine describe groups ("cannot tell") counts as
 * Central present, said once, so that a locked-down cluster runs the engine normally.
 *
 * @module
 */
import { AssignerProtocol, type GroupDescription, Kafka, logLevel } from "kafkajs";
import type { KafkaSecurityOptions } from "./security.ts";
import type { CentralPresence, CentralWatch, Clock, Logger } from "../../app/ports.ts";

/** The original Central's consumer groups: `ev_central_ws_group_<epoch>`. */
export const DEFAULT_CENTRAL_GROUP_PREFIX = "ev_central_ws_group_";
/** How often the groups are looked at. */
export const CENTRAL_CHECK_INTERVAL_MS = 5_000;

/** How the watch reaches Kafka and what it looks for. */
export interface CentralWatchSettings extends KafkaSecurityOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Central's consumer groups start with this; empty: do not watch (Central always present). */
  readonly groupPrefix: string;
  /** The topic Central reads the engines' events from. */
  readonly cpEventsTopic: string;
  readonly intervalMs?: number;
}

/** The admin calls the watch makes (kafkajs' admin client). */
export interface GroupAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  listGroups(): Promise<{ groups: { groupId: string }[] }>;
  describeGroups(ids: string[]): Promise<{ groups: GroupDescription[] }>;
}

/**
 * The pure rule: among `groups` (described), is there a live Central group: its id starts with
 * `prefix`, it has members, and a member subscribes to `topic`?
 */
export function centralGroupAlive(
  groups: readonly GroupDescription[],
  prefix: string,
  topic: string,
): boolean {
  return groups.some((group) =>
    group.groupId.startsWith(prefix) && group.state !== "Dead" && group.state !== "Empty" &&
    group.members.some((member) => subscribesTo(member.memberMetadata, topic))
  );
}

/** Whether a consumer member's metadata (the standard consumer protocol) names `topic`. */
function subscribesTo(metadata: Uint8Array | undefined, topic: string): boolean {
  if (metadata === undefined || metadata.length === 0) return true; // cannot tell: count it
  try {
    const decoded = AssignerProtocol.MemberMetadata.decode(metadata as never);
    return decoded === null || decoded.topics.length === 0 || decoded.topics.includes(topic);
  } catch {
    return true;
  }
}

/** Whether an error means the engine may not describe groups (an ACL), not an outage. */
function notAllowed(error: unknown): boolean {
  const text = `${(error as { type?: string })?.type ?? ""} ${String(error)}`;
  return /AUTHORIZATION|not authorized|Authorization/i.test(text);
}

/** Watches Central's consumer groups and says when Central comes and goes. */
export class KafkaCentralWatch implements CentralWatch {
  readonly #settings: CentralWatchSettings;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #admin: GroupAdmin;
  readonly #listeners = new Set<(presence: CentralPresence) => void>();
  #presence: CentralPresence = { kind: "unknown" };
  #timer: unknown = null;
  #checking = false;
  #cannotTellSaid = false;
  #connected = false;
  #closed = false;

  /** `admin` builds the admin client (default: kafkajs'); tests pass one that fails like it. */
  constructor(
    settings: CentralWatchSettings,
    deps: { readonly logger: Logger; readonly clock: Clock; readonly admin?: GroupAdmin },
  ) {
    this.#settings = settings;
    this.#log = deps.logger;
    this.#clock = deps.clock;
    this.#admin = deps.admin ?? new Kafka({
      clientId: `${settings.clientId}-central-watch`,
      brokers: [...settings.brokers],
      ...(settings.ssl === undefined ? {} : { ssl: settings.ssl }),
      ...(settings.sasl === undefined ? {} : { sasl: settings.sasl }),
      connectionTimeout: 3_000,
      retry: { retries: 1, initialRetryTime: 300, maxRetryTime: 1_000 },
      logLevel: logLevel.NOTHING,
    }).admin();
  }

  /** What is known now. */
  get presence(): CentralPresence {
    return this.#presence;
  }

  onChange(listener: (presence: CentralPresence) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): void {
    if (this.#settings.groupPrefix === "" || this.#timer !== null || this.#closed) return;
    this.#timer = this.#clock.setInterval(
      () => void this.check(),
      this.#settings.intervalMs ?? CENTRAL_CHECK_INTERVAL_MS,
    );
    void this.check();
  }

  /** Looks at the groups now (also done every few seconds once started). */
  async check(): Promise<void> {
    if (this.#checking || this.#closed) return;
    this.#checking = true;
    try {
      if (!this.#connected) {
        await this.#admin.connect();
        this.#connected = true;
      }
      const { groups } = await this.#admin.listGroups();
      const candidates = groups.map((group) => group.groupId).filter((id) =>
        id.startsWith(this.#settings.groupPrefix)
      );
      const described = candidates.length === 0
        ? []
        : (await this.#admin.describeGroups(candidates)).groups;
      const alive = centralGroupAlive(
        described,
        this.#settings.groupPrefix,
        this.#settings.cpEventsTopic,
      );
      // Away only once Central has been seen: a lab without any Central (a laptop, the local
      // lab) is not a Central that went away.
      if (alive) this.#set({ kind: "present" });
      else if (this.#presence.kind !== "unknown") this.#set(this.#awayFromNow());
    } catch (error) {
      if (notAllowed(error)) {
        if (!this.#cannotTellSaid) {
          this.#cannotTellSaid = true;
          this.#log.info(
            "Cannot tell whether Central is there (not allowed to describe consumer groups): " +
              "counting it as present",
          );
        }
        this.#set({ kind: "present" });
      } else {
        // Kafka itself is away: the bus says so; Central's presence is unknown, not changed.
        this.#log.debug("Cannot look at Central's consumer groups now: {error}", { error });
        this.#connected = false;
      }
    } finally {
      this.#checking = false;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) this.#clock.clearInterval(this.#timer);
    this.#timer = null;
    await this.#admin.disconnect().catch(() => {});
  }

  #awayFromNow(): CentralPresence {
    return this.#presence.kind === "away" ? this.#presence : {
      kind: "away",
      since: this.#clock.now(),
    };
  }

  #set(presence: CentralPresence): void {
    const before = this.#presence;
    if (before.kind === presence.kind) return;
    this.#presence = presence;
    for (const listener of this.#listeners) listener(presence);
  }
}
