/**
 * The charging loop in-process, for unit tests of the engine: the test says when time passes
 * and readings are due, instead of a worker on a real timer.
 *
 * @module
 */
import type { ChargingMeter } from "../../src/app/ports.ts";
import { MeterBank, type MeterReading, type PowerProfile } from "../../src/domain/session.ts";

/** A `ChargingMeter` the test drives with {@linkcode InProcessMeter.deliver}. */
export class InProcessMeter implements ChargingMeter {
  readonly #bank = new MeterBank();
  readonly #listeners = new Map<string, (reading: MeterReading) => void>();

  /** `timeScale`: simulated seconds per real second, as the engine is configured. */
  constructor(private readonly timeScale: number) {}

  start(
    sessionId: string,
    profile: PowerProfile,
    baseEnergyKwh: number,
    onReading: (reading: MeterReading) => void,
  ): void {
    this.#bank.start(sessionId, profile, baseEnergyKwh);
    this.#listeners.set(sessionId, onReading);
  }

  supply(sessionId: string): void {
    this.#bank.supply(sessionId);
  }

  stop(sessionId: string): Promise<MeterReading | null> {
    this.#listeners.delete(sessionId);
    return Promise.resolve(this.#bank.stop(sessionId));
  }

  /** `realMs` pass; every session gets one reading. */
  deliver(realMs: number): void {
    this.#bank.advance((realMs / 1000) * this.timeScale);
    for (const reading of this.#bank.readings()) this.#listeners.get(reading.sessionId)?.(reading);
  }

  /** How many sessions the meter is running. */
  get sessions(): number {
    return this.#bank.size;
  }
}
