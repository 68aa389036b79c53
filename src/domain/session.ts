/**
 * Energy and cost of a charging session: a power curve and its exact integral.
 *
 * Energy is the integral of power over elapsed (simulated) time, computed in closed form, so a
 * late or irregular timer changes when readings are taken but never how much energy they show.
 * Pure: the caller says how much simulated time has passed.
 *
 * @module
 */

/**
 * How one session draws power: a plateau of 80-95 % of the maximum, drawn once per session, and
 * optionally a ramp from zero to it, as a car's charger negotiates.
 */
export interface PowerProfile {
  /** The charging point's maximum power, kW. */
  readonly maxPowerKw: number;
  /** The plateau as a fraction of the maximum, drawn per session in [0.80, 0.95]. */
  readonly plateauFraction: number;
  /** Simulated seconds from zero to the plateau. */
  readonly rampSeconds: number;
}

/** Lowest and highest share of the maximum power a session draws (wire contract 3.3). */
export const PLATEAU_RANGE = { min: 0.80, max: 0.95 } as const;
/**
 * Seconds a vehicle takes to reach full power after energy starts to flow: none by default, the
 * plateau from the first second, as the Python engine does (EV_CP_E.py:455-483); a ramp is
 * opt-in (`--power-ramp`).
 */
export const DEFAULT_RAMP_SECONDS = 0;

/** Draws a session's power profile; `random` returns a number in [0, 1). */
export function drawProfile(
  maxPowerKw: number,
  random: () => number,
  rampSeconds = DEFAULT_RAMP_SECONDS,
): PowerProfile {
  const span = PLATEAU_RANGE.max - PLATEAU_RANGE.min;
  return { maxPowerKw, plateauFraction: PLATEAU_RANGE.min + span * random(), rampSeconds };
}

/** Power in kW at `t` simulated seconds after energy started to flow. */
export function powerAt(profile: PowerProfile, t: number): number {
  const plateau = profile.maxPowerKw * profile.plateauFraction;
  if (t <= 0) return 0;
  if (profile.rampSeconds <= 0 || t >= profile.rampSeconds) return plateau;
  return plateau * (t / profile.rampSeconds);
}

/** Energy in kWh supplied from the start of the flow until `t` simulated seconds: exact. */
export function energyUntil(profile: PowerProfile, t: number): number {
  if (t <= 0) return 0;
  const plateau = profile.maxPowerKw * profile.plateauFraction;
  const ramp = Math.max(0, profile.rampSeconds);
  const kwSeconds = t <= ramp
    ? plateau * t * t / (2 * ramp)
    : plateau * ramp / 2 + plateau * (t - ramp);
  return kwSeconds / 3600;
}

/** One reading of a session's meter. */
export interface MeterReading {
  readonly sessionId: string;
  /** Energy supplied since the session started, kWh (unrounded). */
  readonly energyKwh: number;
  /** Instantaneous power, kW (unrounded). */
  readonly powerKw: number;
  /** Simulated seconds energy has been flowing. */
  readonly suppliedSeconds: number;
}

/**
 * The meter of one session. Energy flows only after {@linkcode SessionMeter.supply}; a meter
 * can go on from an earlier reading of the session (`baseEnergyKwh` supplied after
 * `startSeconds` of supply: a new charging Worker taking over).
 */
export class SessionMeter {
  #supplying = false;
  #suppliedSeconds: number;
  readonly #baseEnergyKwh: number;
  readonly #startSeconds: number;

  constructor(
    readonly sessionId: string,
    readonly profile: PowerProfile,
    baseEnergyKwh = 0,
    startSeconds = 0,
  ) {
    this.#baseEnergyKwh = baseEnergyKwh;
    this.#startSeconds = Math.max(0, startSeconds);
    this.#suppliedSeconds = this.#startSeconds;
  }

  /** Energy starts to flow from now on. */
  supply(): void {
    this.#supplying = true;
  }

  /** Lets `simulatedSeconds` pass; negative or non-finite steps are ignored. */
  advance(simulatedSeconds: number): void {
    if (!this.#supplying || !(simulatedSeconds > 0) || !Number.isFinite(simulatedSeconds)) return;
    this.#suppliedSeconds += simulatedSeconds;
  }

  /** The meter's current reading. */
  reading(): MeterReading {
    return {
      sessionId: this.sessionId,
      energyKwh: this.#baseEnergyKwh + energyUntil(this.profile, this.#suppliedSeconds) -
        energyUntil(this.profile, this.#startSeconds),
      powerKw: this.#supplying ? powerAt(this.profile, this.#suppliedSeconds) : 0,
      suppliedSeconds: this.#suppliedSeconds,
    };
  }
}

/**
 * The meters of many sessions advanced together: what the charging Worker runs (one Worker
 * serves every session of a process, a fleet included).
 */
export class MeterBank {
  readonly #meters = new Map<string, SessionMeter>();

  /** Starts metering a session (not yet supplying), or goes on from an earlier reading. */
  start(sessionId: string, profile: PowerProfile, baseEnergyKwh = 0, startSeconds = 0): void {
    this.#meters.set(
      sessionId,
      new SessionMeter(sessionId, profile, baseEnergyKwh, startSeconds),
    );
  }

  /** Energy starts to flow for a session; unknown ids are ignored. */
  supply(sessionId: string): void {
    this.#meters.get(sessionId)?.supply();
  }

  /** Removes a session and returns its final reading, or null when unknown. */
  stop(sessionId: string): MeterReading | null {
    const meter = this.#meters.get(sessionId);
    if (meter === undefined) return null;
    this.#meters.delete(sessionId);
    return meter.reading();
  }

  /** Lets simulated time pass for every session. */
  advance(simulatedSeconds: number): void {
    for (const meter of this.#meters.values()) meter.advance(simulatedSeconds);
  }

  /** The readings of all sessions. */
  readings(): MeterReading[] {
    return [...this.#meters.values()].map((meter) => meter.reading());
  }

  /** How many sessions are metered. */
  get size(): number {
    return this.#meters.size;
  }
}

/** Rounds energy to the 3 decimals of the wire contract. */
export function roundEnergy(kwh: number): number {
  return Math.round(kwh * 1000) / 1000;
}

/** Rounds money and power to the 2 decimals of the wire contract. */
export function roundCents(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Cost in EUR of an energy, computed from the energy as published (3 decimals). */
export function costOf(energyKwh: number, tariffEurPerKwh: number): number {
  return roundCents(roundEnergy(energyKwh) * tariffEurPerKwh);
}
