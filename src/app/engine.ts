/**
 * The application service of one charging point: it owns the state, applies commands through
 * the pure state machine ({@linkcode transition}) and carries out the effects with its helpers:
 * the {@linkcode StatusCoalescer} (Central's timing rules), the {@linkcode SessionTracker} (meter,
 * progress, journal, ticket) and {@linkcode recoverInterruptedSession}.
 *
 * An engine is a plain object: create as many as you like in one process. Time, randomness,
 * ids, the event publisher, the meter and the journal are passed in.
 *
 * @module
 */
import {
  type ChargePointSettings,
  type ChargePointState,
  type Command,
  DEFAULT_SETTINGS,
  type Effect,
  healthAnswer,
  initialState,
  lastProbeAt,
  transition,
} from "../domain/charge_point.ts";
import { decodeCommand, type DecodedCommand } from "../protocol/commands.ts";
import {
  type EventContext,
  type EventPayload,
  registrationEvent,
  statusChangeEvent,
} from "../protocol/events.ts";
import { CommandInputLog, sameFields } from "./command_log.ts";
import type {
  CentralPresence,
  ChargingMeter,
  Clock,
  EventPublisher,
  HealthAnswer,
  IdGenerator,
  JournaledSession,
  Logger,
  RandomSource,
  SessionJournal,
} from "./ports.ts";
import { RecentIds } from "./recent_ids.ts";
import { recoverInterruptedSession } from "./recovery.ts";
import { SessionTracker } from "./session_tracker.ts";
import {
  DEFAULT_STATUS_WINDOW_MS,
  REGISTRATION_QUIET_MS,
  type StatusChange,
  StatusCoalescer,
} from "./status_coalescer.ts";
import type { CommandSource, EngineSnapshot, PointControl, StartupView } from "./view.ts";

export type { CommandSource, EngineSnapshot, SessionView } from "./view.ts";

/** What a charging point is and how it behaves. */
export interface EngineOptions {
  readonly cpId: string;
  readonly location: string;
  readonly maxPowerKw: number;
  readonly tariffEurPerKwh: number;
  /** Real milliseconds between two `charging_progress` messages of a session. */
  readonly progressIntervalMs: number;
  /** Simulated seconds per real second (durations on the wire are simulated). */
  readonly timeScale: number;
  /** Topic the events go to. */
  readonly cpEventsTopic: string;
  /** Commands older than this are skipped (default 30 s). */
  readonly commandMaxAgeMs?: number;
  /** Minimum time between two status changes (default 2.5 s: Central's 2 s and a margin). */
  readonly statusWindowMs?: number;
  /**
   * Simulated seconds a session's power takes to ramp up to its plateau (default 0: the plateau
   * from the first second, as the Python engine does).
   */
  readonly powerRampSeconds?: number;
  readonly settings?: Partial<ChargePointSettings>;
}

/** What the engine needs from the world. */
export interface EngineDependencies {
  readonly clock: Clock;
  /** Seeded for reproducible power draws. */
  readonly random: RandomSource;
  readonly newId: IdGenerator;
  readonly publisher: EventPublisher;
  readonly meter: ChargingMeter;
  readonly logger: Logger;
  /** Where the session in progress is journaled for crash recovery. */
  readonly journal: SessionJournal;
}

const DEFAULT_COMMAND_MAX_AGE_MS = 30_000;
const TICK_MS = 1_000;
/**
 * Tickets are kept this long after they were published, to be handed again to a Central that
 * comes back: it cannot tell a Central that died from one that is still winding down at once.
 */
const TICKET_MEMORY_MS = 5 * 60_000;
/** A ticket published this long before Central was found away may not have been read by it. */
const AWAY_DETECTION_SLACK_MS = 30_000;

/** One charging point. */
export class Engine implements PointControl {
  readonly #options: EngineOptions;
  readonly #settings: ChargePointSettings;
  readonly #deps: EngineDependencies;
  readonly #log: Logger;
  readonly #statuses: StatusCoalescer;
  readonly #sessions: SessionTracker;
  /** Made by the first subscriber (a console, a web panel): a fleet's points mostly have none. */
  #listeners: Set<() => void> | null = null;
  readonly #appliedIds = new RecentIds();
  readonly #inputLog: CommandInputLog;
  /** When this engine started: commands sent well before it are skipped (see decodeCommand). */
  readonly #startedAt: number;
  #state: ChargePointState = initialState();
  #work: Promise<void> = Promise.resolve();
  #ticker: unknown = null;
  #stopping = false;
  /** Whether the start-up registration went out (later ones are re-registrations). */
  #registeredBefore = false;
  /** Recent tickets, with when they were published (see TICKET_MEMORY_MS). */
  #recentTickets: { readonly payload: EventPayload; readonly at: number }[] = [];

  constructor(options: EngineOptions, deps: EngineDependencies) {
    this.#options = options;
    this.#settings = { ...DEFAULT_SETTINGS, ...options.settings };
    this.#deps = deps;
    this.#log = deps.logger.with({ cp_id: options.cpId });
    this.#inputLog = new CommandInputLog(this.#log, deps.clock);
    this.#startedAt = deps.clock.now();
    const windowMs = options.statusWindowMs ?? DEFAULT_STATUS_WINDOW_MS;
    this.#statuses = new StatusCoalescer(
      deps.clock,
      windowMs,
      (change) => this.#publishStatus(change),
      "offline",
      // Benchmarks turn Central's pacing rules off altogether.
      windowMs === 0 ? 0 : REGISTRATION_QUIET_MS,
    );
    this.#sessions = new SessionTracker({
      maxPowerKw: options.maxPowerKw,
      tariffEurPerKwh: options.tariffEurPerKwh,
      progressIntervalMs: options.progressIntervalMs,
      timeScale: options.timeScale,
      powerRampSeconds: options.powerRampSeconds ?? 0,
    }, {
      clock: deps.clock,
      random: deps.random,
      meter: deps.meter,
      journal: deps.journal,
      logger: this.#log,
      context: () => this.#context(),
      publish: (payload) => this.#publish(payload),
      publishWith: (payload, alongside) => this.#publishWith(payload, alongside),
      changed: () => this.#notify(),
    });
  }

  /** The charging point's id. */
  get cpId(): string {
    return this.#options.cpId;
  }

  /** The current state (read-only). */
  get state(): ChargePointState {
    return this.#state;
  }

  /** Start-up step 2: publishes `CP_REGISTRATION` (never while charging). */
  register(): void {
    if (this.#state.session !== null) {
      this.#log.warn("Not re-registering: a session is in progress");
      return;
    }
    this.#log.info("Auto-registering with Central");
    this.#publish(registrationEvent(this.#context(), {
      location: this.#options.location,
      maxPowerKw: this.#options.maxPowerKw,
      tariffEurPerKwh: this.#options.tariffEurPerKwh,
    }));
    this.#statuses.registered();
    if (this.#registeredBefore) return;
    this.#registeredBefore = true;
    // Central ignores the registration of a point it still holds as `available` (an engine
    // killed and restarted: EV_Central_WebSocket.py:1862-1870), and would hand out sessions to
    // it before its Monitor is back; an explicit `offline` reaches it (unless the previous
    // registration was less than 30 s ago, :2490). Where Central did take the registration,
    // it already has `offline` and ignores this one. (A Central that comes back has set every
    // point offline itself, :2815-2825: no need when registering again.)
    this.#statuses.update("offline", "Registered: offline until ready", true);
  }

  /**
   * Start-up, between the registration and step 4: closes a session that a crash left in the
   * journal (`engine_recovered`), exactly once. Returns the session recovered, or null.
   */
  recover(): JournaledSession | null {
    const recovered = recoverInterruptedSession({
      journal: this.#deps.journal,
      context: () => this.#context(),
      publishWith: (payload, alongside) => this.#publishWith(payload, alongside),
      logger: this.#log,
      tariffEurPerKwh: this.#options.tariffEurPerKwh,
      timeScale: this.#options.timeScale,
    });
    // Killed after applying the command but before its offset was committed, the engine is
    // handed the same charging_started again: it began the session just closed, not a new one.
    const commandId = recovered?.commandId;
    if (commandId !== undefined && commandId !== null) this.#appliedIds.seenBefore(commandId);
    return recovered;
  }

  /** Start-up step 4: commands flow; the periodic checks start. */
  markReady(): void {
    if (this.#state.startup.phase !== "starting") return;
    this.apply({ type: "ready" }, "engine");
    if (this.#ticker === null) {
      this.#ticker = this.#deps.clock.setInterval(
        () => this.apply({ type: "tick" }, "engine"),
        TICK_MS,
      );
    }
    this.#log.info("Ready");
  }

  /** Decodes and applies one raw `central-events` message; never throws. */
  receive(raw: string | Uint8Array | null): void {
    const decoded = decodeCommand(raw, {
      cpId: this.#options.cpId,
      now: this.#deps.clock.now(),
      maxAgeMs: this.#options.commandMaxAgeMs ?? DEFAULT_COMMAND_MAX_AGE_MS,
      startedAt: this.#startedAt,
    });
    switch (decoded.kind) {
      case "rejected":
        this.#inputLog.rejected(decoded.reason);
        return;
      case "ignored":
        if (decoded.stale) this.#inputLog.skipped(decoded.name, decoded.reason);
        else this.#inputLog.ignored(decoded.name, decoded.reason);
        return;
      case "command":
        if (decoded.messageId !== null && this.#appliedIds.seenBefore(decoded.messageId)) {
          this.#inputLog.duplicate(decoded.name, decoded.messageId);
          return;
        }
        // Lines about commands that change nothing are rate limited (hostile floods).
        this.apply(
          decoded.command.type === "charging_started" && decoded.messageId !== null
            ? { ...decoded.command, commandId: decoded.messageId }
            : decoded.command,
          "kafka",
          (changed) => this.#inputLog.command(decoded.name, changed, this.#state.status),
        );
    }
  }

  /**
   * Applies a command from any source (Kafka, the console, the engine itself). `admitLogs`, when
   * given, is asked whether the command's log lines may be written (it is told whether the state
   * changed); a false answer drops them, nothing else.
   */
  apply(
    command: Command | DecodedCommand,
    source: CommandSource,
    admitLogs?: (stateChanged: boolean) => boolean,
  ): void {
    if (this.#stopping) {
      this.#log.info("Ignored {command}: the engine is shutting down", { command: command.type });
      return;
    }
    const full: Command = command.type === "charging_started" && !("sessionId" in command)
      ? {
        ...command,
        origin: source === "console" ? "local" : "central",
        sessionId: this.#deps.newId(),
      }
      : command as Command;
    const result = transition(this.#state, full, this.#deps.clock.now(), this.#settings);
    const changed = result.state !== this.#state;
    const quiet = admitLogs !== undefined && !admitLogs(!sameFields(result.state, this.#state));
    const effects = quiet
      ? result.effects.filter((effect) => effect.kind !== "log")
      : result.effects;
    this.#state = result.state;
    if (effects.length > 0) this.#run(effects);
    if (changed || effects.length > 0) this.#notify();
  }

  /** Central came or went (the process's watch of Central's consumer groups). */
  centralPresence(presence: CentralPresence): void {
    this.apply({ type: "central_presence", presence }, "engine");
  }

  /** A Monitor probed the health port. */
  probe(): void {
    this.apply({ type: "monitor_probe" }, "engine");
  }

  /** What the health port answers now. */
  healthAnswer(): HealthAnswer {
    return healthAnswer(this.#state);
  }

  /** The engine as an operator sees it. */
  snapshot(): EngineSnapshot {
    const state = this.#state;
    return {
      cpId: this.#options.cpId,
      location: this.#options.location,
      maxPowerKw: this.#options.maxPowerKw,
      tariffEurPerKwh: this.#options.tariffEurPerKwh,
      status: state.status,
      health: healthAnswer(state),
      vehiclePluggedIn: state.vehiclePluggedIn,
      lastProbeAt: lastProbeAt(state),
      monitorWatching: state.monitor.kind === "watching",
      monitorLost: state.monitor.kind === "lost",
      centralAwaySince: state.central.kind === "away" ? state.central.since : null,
      session: state.session === null ? null : this.#sessions.view(state.session),
      startup: this.#startupView(),
    };
  }

  #startupView(): StartupView | null {
    const startup = this.#state.startup;
    if (startup.phase === "starting") return { phase: "registering" };
    if (startup.phase !== "waiting") return null;
    return {
      phase: "waiting_for_monitor",
      until: startup.readyAt + this.#settings.monitorWaitMs,
      waitSeconds: Math.round(this.#settings.monitorWaitMs / 1000),
    };
  }

  /** Calls `listener` after every change of state or figures; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    const listeners = this.#listeners ??= new Set();
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /** Resolves when every effect applied so far has been carried out. */
  idle(): Promise<void> {
    return this.#work;
  }

  /**
   * Graceful shutdown: ends a session with `charging_completed` (`engine_shutdown`), publishes
   * `offline` (waiting out the status window), then waits for the publisher to deliver.
   */
  async shutdown(deadlineMs = 5_000): Promise<boolean> {
    const started = this.#deps.clock.now();
    if (this.#ticker !== null) this.#deps.clock.clearInterval(this.#ticker);
    this.#ticker = null;
    this.apply({ type: "shutdown" }, "engine");
    // From here on nothing may change the state: a command arriving while the last status
    // waits out its window must not replace `offline`.
    this.#stopping = true;
    await this.#work;
    await this.#statuses.settled();
    this.#statuses.dispose();
    this.#inputLog.dispose();
    const left = Math.max(0, deadlineMs - (this.#deps.clock.now() - started));
    return await this.#deps.publisher.flush(left);
  }

  #run(effects: readonly Effect[]): void {
    this.#work = this.#work.then(async () => {
      for (const effect of effects) {
        try {
          await this.#carryOut(effect);
        } catch (error) {
          this.#log.error("Failed to carry out {effect}: {error}", {
            effect: effect.kind,
            error,
          });
        }
      }
    });
  }

  async #carryOut(effect: Effect): Promise<void> {
    switch (effect.kind) {
      case "log":
        this.#log[effect.level === "warning" ? "warn" : effect.level](effect.message);
        return;
      case "publish_status":
        this.#statuses.update(effect.status, effect.reason, effect.force);
        return;
      case "start_session":
        this.#sessions.start(effect.session);
        return;
      case "supply_session":
        this.#sessions.supply(effect.sessionId);
        return;
      case "end_session":
        await this.#sessions.end(effect);
        return;
      case "rejoin_central":
        this.#rejoinCentral(effect.awaySince);
        return;
    }
  }

  /**
   * Central is back, and a restarted Central sees every point offline and never reads what was
   * published while it was down (it starts a new consumer group at the latest offset). So: the
   * registration (unless a session runs: a registration resets the point to offline in
   * Central), the tickets it may have missed (same message ids, re-stamped: Central drops an
   * event older than its start), then the real status, forced (the status window applies).
   */
  #rejoinCentral(awaySince: number): void {
    if (this.#state.session === null) this.register();
    const missedSince = awaySince - AWAY_DETECTION_SLACK_MS;
    for (const { payload, at } of this.#recentTickets) {
      if (at < missedSince) continue;
      this.#log.info("Handing Central the ticket of {username} it may have missed", {
        username: payload["username"],
        message_id: payload.message_id,
      });
      this.#publish({ ...payload, timestamp: this.#deps.clock.now() / 1000 });
    }
    this.#statuses.update(this.#state.status, "Central is back", true);
  }

  #publishStatus(change: StatusChange): void {
    this.#log.info("Status change {from} -> {to} ({reason})", {
      from: change.previousStatus,
      to: change.status,
      reason: change.reason,
    });
    this.#publish(statusChangeEvent(this.#context(), change));
    // The session's `charging` is on its way: the progress held back since the start follows.
    if (change.status === "charging") this.#sessions.announced();
  }

  #publish(payload: EventPayload): void {
    this.#deps.publisher.publish({
      topic: this.#options.cpEventsTopic,
      key: this.#options.cpId,
      value: payload,
    });
  }

  #publishWith(payload: EventPayload, alongside: () => void): void {
    if (payload.event_type === "charging_completed") {
      const now = this.#deps.clock.now();
      this.#recentTickets = this.#recentTickets.filter((ticket) =>
        now - ticket.at < TICKET_MEMORY_MS
      );
      this.#recentTickets.push({ payload, at: now });
    }
    this.#deps.publisher.publishWith(
      { topic: this.#options.cpEventsTopic, key: this.#options.cpId, value: payload },
      alongside,
    );
  }

  #context(): EventContext {
    return { cpId: this.#options.cpId, messageId: this.#deps.newId(), now: this.#deps.clock.now() };
  }

  #notify(): void {
    if (this.#listeners === null) return;
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (error) {
        this.#log.error("A state listener failed: {error}", { error });
      }
    }
  }
}
