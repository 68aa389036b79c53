/**
 * The application service of one charging point: it owns the state, applies commands through
 * the pure state machine, and carries out the effects (events, meter, status coalescing).
 *
 * An engine is a plain object: create as many as you like in one process. Time, randomness,
 * ids, the event bus and the meter are passed in.
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
  type Session,
  type Status,
  transition,
} from "../domain/charge_point.ts";
import {
  costOf,
  drawProfile,
  type MeterReading,
  type PowerProfile,
  roundEnergy,
} from "../domain/session.ts";
import { decodeCommand, type DecodedCommand } from "../protocol/commands.ts";
import {
  completedEvent,
  type EventPayload,
  progressEvent,
  registrationEvent,
  statusChangeEvent,
} from "../protocol/events.ts";
import type { ChargingMeter, Clock, EventPublisher } from "./ports.ts";
import {
  DEFAULT_STATUS_WINDOW_MS,
  REGISTRATION_QUIET_MS,
  type StatusChange,
  StatusCoalescer,
} from "./status_coalescer.ts";
import { type JournaledSession, NULL_JOURNAL, type SessionJournal } from "./session_journal.ts";
import { CommandInputLog, sameFields } from "./command_log.ts";
import type { Logger } from "../adapters/logging.ts";

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
  /** Numbers in [0, 1); seeded for reproducible power draws. */
  readonly random: () => number;
  /** A fresh UUID v4 per call. */
  readonly newId: () => string;
  readonly publisher: EventPublisher;
  readonly meter: ChargingMeter;
  readonly logger: Logger;
  /** Where the session in progress is journaled for crash recovery (nowhere when omitted). */
  readonly journal?: SessionJournal;
}

/** Where a command came from, for the logs. */
export type CommandSource = "kafka" | "console" | "engine";

/** The figures of the session in progress. */
export interface SessionView {
  readonly id: string;
  readonly username: string;
  readonly userId: number | string | null;
  readonly supplying: boolean;
  readonly energyKwh: number;
  readonly costEur: number;
  readonly powerKw: number;
  /** Simulated seconds since the session was authorized. */
  readonly elapsedSeconds: number;
}

/** What an operator sees of the engine at one moment. */
export interface EngineSnapshot {
  readonly cpId: string;
  readonly location: string;
  readonly maxPowerKw: number;
  readonly tariffEurPerKwh: number;
  readonly status: Status;
  readonly health: "OK" | "KO";
  readonly vehiclePluggedIn: boolean;
  readonly lastProbeAt: number | null;
  /** Whether a Monitor probes at its cadence (only then does its silence count). */
  readonly monitorWatching: boolean;
  readonly monitorLost: boolean;
  readonly session: SessionView | null;
}

interface SessionTrack {
  readonly session: Session;
  readonly profile: PowerProfile;
  lastReading: MeterReading | null;
  lastProgressAt: number | null;
  publishedEnergyKwh: number;
  /**
   * Whether Central has been sent this session's `charging` status: until then its progress is
   * held back, so that on the wire a session's progress never precedes its `charging`.
   */
  announced: boolean;
}

const DEFAULT_COMMAND_MAX_AGE_MS = 30_000;
const TICK_MS = 1_000;
/** A session's first progress needs this much supply behind it (real seconds). */
const FIRST_SAMPLE_REAL_SECONDS = 0.9;
const REMEMBERED_COMMAND_IDS = 1_000;

/** One charging point. */
export class Engine {
  readonly #options: EngineOptions;
  readonly #settings: ChargePointSettings;
  readonly #deps: EngineDependencies;
  readonly #log: Logger;
  readonly #statuses: StatusCoalescer;
  readonly #listeners = new Set<() => void>();
  readonly #seenCommandIds = new Set<string>();
  readonly #inputLog: CommandInputLog;
  #state: ChargePointState = initialState();
  #track: SessionTrack | null = null;
  #work: Promise<void> = Promise.resolve();
  #ticker: unknown = null;
  #stopping = false;
  /** When this engine started: commands sent well before it are skipped (see decodeCommand). */
  readonly #startedAt: number;

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
  }

  /**
   * Start-up, between the registration and step 4: a session that a crash left in the journal
   * is closed with `charging_completed` (`engine_recovered`), with the energy supplied up to the
   * last journaled reading and never less than the last published progress. The event is
   * stored and the journal row deleted in one transaction, so this happens exactly once.
   * Returns the session recovered, or null.
   */
  recover(): JournaledSession | null {
    const journaled = this.#journal.load();
    if (journaled === null) return null;
    const energy = Math.max(journaled.energyKwh, journaled.publishedEnergyKwh);
    const durationSeconds = Math.max(0, (journaled.journaledAt - journaled.authorizedAt) / 1000) *
      this.#options.timeScale;
    this.#journal.atomically(() => {
      this.#publish(completedEvent(this.#context(), {
        driver: journaled.driver,
        energyKwh: energy,
        tariffEurPerKwh: this.#options.tariffEurPerKwh,
        durationSeconds,
        reason: "engine_recovered",
      }));
      this.#journal.clear(journaled.sessionId);
    });
    this.#log.warn(
      "Recovered the session of {username} interrupted by a crash: {energy} kWh, {cost} EUR, {duration} s (engine_recovered)",
      {
        username: journaled.driver.username,
        energy: roundEnergy(energy).toFixed(3),
        cost: costOf(energy, this.#options.tariffEurPerKwh).toFixed(2),
        duration: Math.round(durationSeconds),
        session_id: journaled.sessionId,
      },
    );
    return journaled;
  }

  /** Start-up step 4: `offline -> available`, and the periodic checks start. */
  markReady(): void {
    if (this.#state.ready) return;
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
        if (decoded.messageId !== null) {
          if (this.#seenCommandIds.has(decoded.messageId)) {
            this.#inputLog.duplicate(decoded.name, decoded.messageId);
            return;
          }
          this.#rememberCommandId(decoded.messageId);
        }
        // Lines about commands that change nothing are rate limited (hostile floods).
        this.apply(
          decoded.command,
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

  /** A Monitor probed the health port. */
  probe(): void {
    this.apply({ type: "monitor_probe" }, "engine");
  }

  /** What the health port answers now. */
  healthAnswer(): "OK" | "KO" {
    return healthAnswer(this.#state);
  }

  /** The engine as an operator sees it. */
  snapshot(): EngineSnapshot {
    const state = this.#state;
    const track = this.#track;
    let session: SessionView | null = null;
    if (track !== null && state.session !== null && track.session.id === state.session.id) {
      const energy = track.lastReading?.energyKwh ?? 0;
      session = {
        id: track.session.id,
        username: track.session.driver.username,
        userId: track.session.driver.userId,
        supplying: state.session.supplying,
        energyKwh: roundEnergy(energy),
        costEur: costOf(energy, this.#options.tariffEurPerKwh),
        powerKw: track.lastReading?.powerKw ?? 0,
        elapsedSeconds: this.#simulatedSecondsSince(track.session.authorizedAt),
      };
    }
    return {
      cpId: this.#options.cpId,
      location: this.#options.location,
      maxPowerKw: this.#options.maxPowerKw,
      tariffEurPerKwh: this.#options.tariffEurPerKwh,
      status: state.status,
      health: healthAnswer(state),
      vehiclePluggedIn: state.vehiclePluggedIn,
      lastProbeAt: state.lastProbeAt,
      monitorWatching: state.monitorWatching,
      monitorLost: state.monitorLost,
      session,
    };
  }

  /** Calls `listener` after every change of state or figures; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
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
        this.#startSession(effect.session);
        return;
      case "supply_session":
        this.#deps.meter.supply(effect.sessionId);
        return;
      case "end_session":
        await this.#endSession(effect);
        return;
    }
  }

  #startSession(session: Session): void {
    const profile = drawProfile(
      this.#options.maxPowerKw,
      this.#deps.random,
      this.#options.powerRampSeconds ?? 0,
    );
    const track: SessionTrack = {
      session,
      profile,
      lastReading: null,
      lastProgressAt: null,
      publishedEnergyKwh: 0,
      announced: false,
    };
    this.#track = track;
    this.#journalSession(track, null, this.#deps.clock.now());
    this.#log.info("Charging started for user {username} ({power} kW)", {
      username: session.driver.username,
      power: (profile.maxPowerKw * profile.plateauFraction).toFixed(2),
      session_id: session.id,
    });
    this.#deps.meter.start(session.id, profile, 0, (reading) => this.#onReading(reading));
  }

  #onReading(reading: MeterReading): void {
    const track = this.#track;
    if (track === null || this.#state.session?.id !== reading.sessionId) return;
    track.lastReading = reading;
    const now = this.#deps.clock.now();
    const due = track.lastProgressAt === null ||
      now - track.lastProgressAt >= this.#options.progressIntervalMs - TICK_MS / 2;
    // The Worker's tick is shared by all sessions, so a session's first reading may come a
    // moment after the supply started; it waits for the next one, as the original engine's
    // first progress comes after a whole second of charging (never a 0.000 kWh sample).
    const justStarted = reading.powerKw > 0 &&
      reading.suppliedSeconds < FIRST_SAMPLE_REAL_SECONDS * this.#options.timeScale;
    if (due && track.announced && !justStarted) this.#publishProgress(track, reading, now);
    this.#journalSession(track, reading, now);
    this.#notify();
  }

  #publishProgress(track: SessionTrack, reading: MeterReading, now: number): void {
    track.lastProgressAt = now;
    track.publishedEnergyKwh = Math.max(track.publishedEnergyKwh, reading.energyKwh);
    const event = progressEvent(this.#context(), {
      driver: track.session.driver,
      energyKwh: track.publishedEnergyKwh,
      powerKw: reading.powerKw,
      tariffEurPerKwh: this.#options.tariffEurPerKwh,
    });
    this.#publish(event);
    this.#log.info("Charging {username}: {energy} kWh, {cost} EUR, {power} kW", {
      username: track.session.driver.username,
      energy: event["energy_kwh"],
      cost: event["cost"],
      power: event["power_kw"],
    });
  }

  /** Keeps the session's latest figures on disk (one row, replaced on every meter reading). */
  #journalSession(track: SessionTrack, reading: MeterReading | null, now: number): void {
    const energyKwh = reading?.energyKwh ?? 0;
    try {
      this.#journal.save({
        sessionId: track.session.id,
        driver: track.session.driver,
        origin: track.session.origin,
        authorizedAt: track.session.authorizedAt,
        supplying: reading !== null && reading.suppliedSeconds > 0,
        energyKwh,
        costEur: costOf(energyKwh, this.#options.tariffEurPerKwh),
        powerKw: reading?.powerKw ?? 0,
        suppliedSeconds: reading?.suppliedSeconds ?? 0,
        profile: track.profile,
        publishedEnergyKwh: track.publishedEnergyKwh,
        journaledAt: now,
      });
    } catch (error) {
      this.#log.error("Cannot journal the session: {error}", { error });
    }
  }

  get #journal(): SessionJournal {
    return this.#deps.journal ?? NULL_JOURNAL;
  }

  async #endSession(effect: Extract<Effect, { kind: "end_session" }>): Promise<void> {
    const track = this.#track?.session.id === effect.session.id ? this.#track : null;
    this.#track = null;
    const final = await this.#deps.meter.stop(effect.session.id);
    const energy = Math.max(
      final?.energyKwh ?? track?.lastReading?.energyKwh ?? 0,
      track?.publishedEnergyKwh ?? 0,
    );
    const durationSeconds = this.#simulatedSecondsSince(effect.session.authorizedAt);
    const figures = {
      username: effect.session.driver.username,
      energy: roundEnergy(energy).toFixed(3),
      cost: costOf(energy, this.#options.tariffEurPerKwh).toFixed(2),
      duration: Math.round(durationSeconds),
      reason: effect.cause,
    };
    if (effect.completed === null) {
      this.#journal.clear(effect.session.id);
      this.#log.info(
        "Session ended for {username} ({reason}): {energy} kWh, {cost} EUR, {duration} s",
        figures,
      );
    } else {
      const reason = effect.completed;
      // The ticket is stored and the journal row deleted together: a crash leaves one or the
      // other, so a restart never sends a second ticket for the same session.
      this.#journal.atomically(() => {
        this.#publish(completedEvent(this.#context(), {
          driver: effect.session.driver,
          energyKwh: energy,
          tariffEurPerKwh: this.#options.tariffEurPerKwh,
          durationSeconds,
          reason,
        }));
        this.#journal.clear(effect.session.id);
      });
      this.#log.info(
        "Session completed for {username} ({reason}): {energy} kWh, {cost} EUR, {duration} s",
        figures,
      );
    }
    this.#notify();
  }

  #publishStatus(change: StatusChange): void {
    this.#log.info("Status change {from} -> {to} ({reason})", {
      from: change.previousStatus,
      to: change.status,
      reason: change.reason,
    });
    this.#publish(statusChangeEvent(this.#context(), change));
    // The session's `charging` is on its way: the progress held back since the start follows it.
    const track = this.#track;
    if (change.status === "charging" && track !== null && !track.announced) {
      track.announced = true;
      const reading = track.lastReading;
      if (reading !== null && reading.energyKwh > 0) {
        this.#publishProgress(track, reading, this.#deps.clock.now());
      }
    }
  }

  #publish(payload: EventPayload): void {
    this.#deps.publisher.publish({
      topic: this.#options.cpEventsTopic,
      key: this.#options.cpId,
      value: payload,
    });
  }

  #context() {
    return { cpId: this.#options.cpId, messageId: this.#deps.newId(), now: this.#deps.clock.now() };
  }

  #simulatedSecondsSince(epochMs: number): number {
    return Math.max(0, (this.#deps.clock.now() - epochMs) / 1000) * this.#options.timeScale;
  }

  #rememberCommandId(id: string): void {
    this.#seenCommandIds.add(id);
    if (this.#seenCommandIds.size > REMEMBERED_COMMAND_IDS) {
      const oldest = this.#seenCommandIds.values().next().value;
      if (oldest !== undefined) this.#seenCommandIds.delete(oldest);
    }
  }

  #notify(): void {
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (error) {
        this.#log.error("A state listener failed: {error}", { error });
      }
    }
  }
}
