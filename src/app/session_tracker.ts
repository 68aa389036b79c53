/**
 * The session in progress of one charging point, between its start and its end: the meter's
 * readings, the `charging_progress` cadence, the journal that lets a crash be recovered, and the
 * ticket (`charging_completed`) at the end, stored with the journal's deletion in one transaction.
 *
 * @module
 */
import type { EndReason, SilentEndReason } from "../domain/charge_point.ts";
import type { Session } from "../domain/charge_point.ts";
import {
  costOf,
  drawProfile,
  type MeterReading,
  type PowerProfile,
  roundEnergy,
} from "../domain/session.ts";
import {
  completedEvent,
  type EventContext,
  type EventPayload,
  progressEvent,
} from "../protocol/events.ts";
import type { ChargingMeter, Clock, Logger, RandomSource, SessionJournal } from "./ports.ts";
import type { SessionView } from "./view.ts";

/** How the point meters and reports a session. */
export interface SessionTrackerOptions {
  readonly maxPowerKw: number;
  readonly tariffEurPerKwh: number;
  /** Real milliseconds between two `charging_progress` messages of a session. */
  readonly progressIntervalMs: number;
  /** Simulated seconds per real second (durations on the wire are simulated). */
  readonly timeScale: number;
  /** Simulated seconds of a session's power ramp (0: the plateau from the first second). */
  readonly powerRampSeconds: number;
}

/** What the tracker needs from the engine and the world. */
export interface SessionTrackerDependencies {
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly meter: ChargingMeter;
  readonly journal: SessionJournal;
  readonly logger: Logger;
  /** A fresh envelope context (cp id, message id, now) for each event. */
  readonly context: () => EventContext;
  /** Publishes one event of this point. */
  readonly publish: (payload: EventPayload) => void;
  /** Publishes one event and runs `alongside` in the same transaction of the store. */
  readonly publishWith: (payload: EventPayload, alongside: () => void) => void;
  /** Called after every change of the session's figures. */
  readonly changed: () => void;
}

/** How a session ended, as the state machine decided it. */
export interface SessionEnd {
  readonly session: Session;
  /** The `charging_completed` reason, or null when Central already closed the session. */
  readonly completed: EndReason | null;
  readonly cause: EndReason | SilentEndReason;
}

interface Track {
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

/** Half a tick of slack in the progress cadence, ms (readings come once a second). */
const CADENCE_SLACK_MS = 500;
/** A session's first progress needs this much supply behind it (real seconds). */
const FIRST_SAMPLE_REAL_SECONDS = 0.9;

/** The session in progress of one point (at most one). */
export class SessionTracker {
  readonly #options: SessionTrackerOptions;
  readonly #deps: SessionTrackerDependencies;
  #track: Track | null = null;
  #journalFailing = false;

  constructor(options: SessionTrackerOptions, deps: SessionTrackerDependencies) {
    this.#options = options;
    this.#deps = deps;
  }

  /** Starts metering `session` (energy flows once {@linkcode supply} follows). */
  start(session: Session): void {
    const profile = drawProfile(
      this.#options.maxPowerKw,
      this.#deps.random,
      this.#options.powerRampSeconds,
    );
    const track: Track = {
      session,
      profile,
      lastReading: null,
      lastProgressAt: null,
      publishedEnergyKwh: 0,
      announced: false,
    };
    this.#track = track;
    this.#journal(track, null, this.#deps.clock.now());
    this.#deps.logger.info("Charging started for user {username} ({power} kW)", {
      username: session.driver.username,
      power: (profile.maxPowerKw * profile.plateauFraction).toFixed(2),
      session_id: session.id,
    });
    this.#deps.meter.start(session.id, profile, 0, (reading) => this.#onReading(reading));
  }

  /** The vehicle is connected: energy starts to flow. */
  supply(sessionId: string): void {
    this.#deps.meter.supply(sessionId);
  }

  /**
   * The session's `charging` status has gone out: the progress held back since the start
   * follows it at once.
   */
  announced(): void {
    const track = this.#track;
    if (track === null || track.announced) return;
    track.announced = true;
    const reading = track.lastReading;
    if (reading !== null && reading.energyKwh > 0) {
      this.#publishProgress(track, reading, this.#deps.clock.now());
    }
  }

  /**
   * Ends a session: stops the meter and, when the end has a `charging_completed` reason, stores
   * the ticket and forgets the journaled session in one transaction, so that a crash, a full
   * disk or both leave one or the other, and exactly one ticket is ever sent for the session.
   */
  async end(end: SessionEnd): Promise<void> {
    const track = this.#track?.session.id === end.session.id ? this.#track : null;
    this.#track = null;
    const final = await this.#deps.meter.stop(end.session.id);
    const energy = Math.max(
      final?.energyKwh ?? track?.lastReading?.energyKwh ?? 0,
      track?.publishedEnergyKwh ?? 0,
    );
    const durationSeconds = this.#simulatedSecondsSince(end.session.authorizedAt);
    const figures = {
      username: end.session.driver.username,
      energy: roundEnergy(energy).toFixed(3),
      cost: costOf(energy, this.#options.tariffEurPerKwh).toFixed(2),
      duration: Math.round(durationSeconds),
      reason: end.cause,
    };
    const journal = this.#deps.journal;
    if (end.completed === null) {
      try {
        journal.clear(end.session.id);
      } catch (error) {
        // Left journaled: a crash before the next session replaces it would send a recovered
        // ticket Central ignores (it holds no active session for it).
        this.#deps.logger.error("Cannot forget the ended session in the journal: {error}", {
          error,
        });
      }
      this.#deps.logger.info(
        "Session ended for {username} ({reason}): {energy} kWh, {cost} EUR, {duration} s",
        figures,
      );
    } else {
      const ticket = completedEvent(this.#deps.context(), {
        driver: end.session.driver,
        energyKwh: energy,
        tariffEurPerKwh: this.#options.tariffEurPerKwh,
        durationSeconds,
        reason: end.completed,
      });
      this.#deps.publishWith(ticket, () => journal.clear(end.session.id));
      this.#deps.logger.info(
        "Session completed for {username} ({reason}): {energy} kWh, {cost} EUR, {duration} s",
        figures,
      );
    }
    this.#deps.changed();
  }

  /** The figures of `session` for an operator's screen, or null when it is not tracked. */
  view(session: Session): SessionView | null {
    const track = this.#track;
    if (track === null || track.session.id !== session.id) return null;
    const energy = track.lastReading?.energyKwh ?? 0;
    return {
      id: track.session.id,
      username: track.session.driver.username,
      userId: track.session.driver.userId,
      supplying: session.supplying,
      energyKwh: roundEnergy(energy),
      costEur: costOf(energy, this.#options.tariffEurPerKwh),
      powerKw: track.lastReading?.powerKw ?? 0,
      elapsedSeconds: this.#simulatedSecondsSince(track.session.authorizedAt),
    };
  }

  #onReading(reading: MeterReading): void {
    const track = this.#track;
    if (track === null || track.session.id !== reading.sessionId) return;
    track.lastReading = reading;
    const now = this.#deps.clock.now();
    const due = track.lastProgressAt === null ||
      now - track.lastProgressAt >= this.#options.progressIntervalMs - CADENCE_SLACK_MS;
    // The Worker's tick is shared by all sessions, so a session's first reading may come a
    // moment after the supply started; it waits for the next one, as the original engine's
    // first progress comes after a whole second of charging (never a 0.000 kWh sample).
    const justStarted = reading.powerKw > 0 &&
      reading.suppliedSeconds < FIRST_SAMPLE_REAL_SECONDS * this.#options.timeScale;
    if (due && track.announced && !justStarted) this.#publishProgress(track, reading, now);
    this.#journal(track, reading, now);
    this.#deps.changed();
  }

  #publishProgress(track: Track, reading: MeterReading, now: number): void {
    track.lastProgressAt = now;
    track.publishedEnergyKwh = Math.max(track.publishedEnergyKwh, reading.energyKwh);
    const event = progressEvent(this.#deps.context(), {
      driver: track.session.driver,
      energyKwh: track.publishedEnergyKwh,
      powerKw: reading.powerKw,
      tariffEurPerKwh: this.#options.tariffEurPerKwh,
    });
    this.#deps.publish(event);
    // The same precision as the wire (and the ticket's line): `0.000 kWh, 0.00 EUR`, never `0 EUR`.
    this.#deps.logger.info("Charging {username}: {energy} kWh, {cost} EUR, {power} kW", {
      username: track.session.driver.username,
      energy: Number(event["energy_kwh"]).toFixed(3),
      cost: Number(event["cost"]).toFixed(2),
      power: Number(event["power_kw"]).toFixed(2),
    });
  }

  /**
   * Keeps the session's latest figures on disk (one row, replaced on every meter reading). When
   * the disk fails this says so once, and once more when it works again.
   */
  #journal(track: Track, reading: MeterReading | null, now: number): void {
    const energyKwh = reading?.energyKwh ?? 0;
    try {
      this.#deps.journal.save({
        sessionId: track.session.id,
        driver: track.session.driver,
        origin: track.session.origin,
        authorizedAt: track.session.authorizedAt,
        commandId: track.session.commandId,
        supplying: reading !== null && reading.suppliedSeconds > 0,
        energyKwh,
        costEur: costOf(energyKwh, this.#options.tariffEurPerKwh),
        powerKw: reading?.powerKw ?? 0,
        suppliedSeconds: reading?.suppliedSeconds ?? 0,
        profile: track.profile,
        publishedEnergyKwh: track.publishedEnergyKwh,
        journaledAt: now,
      });
      if (this.#journalFailing) {
        this.#journalFailing = false;
        this.#deps.logger.info("The session is journaled again");
      }
    } catch (error) {
      if (this.#journalFailing) return;
      this.#journalFailing = true;
      this.#deps.logger.error(
        "Cannot journal the session: {error}. It goes on; a crash now would lose its last figures",
        { error },
      );
    }
  }

  #simulatedSecondsSince(epochMs: number): number {
    return Math.max(0, (this.#deps.clock.now() - epochMs) / 1000) * this.#options.timeScale;
  }
}
