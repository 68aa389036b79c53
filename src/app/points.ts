/**
 * The charging points of a process, built one way whether there is one or ten thousand: each an
 * {@linkcode Engine} with its own state machine, session and journal, sharing the process's
 * publisher, meter and clock.
 *
 * @module
 */
import type { ChargePointSettings } from "../domain/charge_point.ts";
import { Engine } from "./engine.ts";
import type {
  ChargingMeter,
  Clock,
  EventPublisher,
  IdGenerator,
  Logger,
  RandomSource,
  SessionJournal,
} from "./ports.ts";

/** What one charging point is. */
export interface PointSpec {
  readonly cpId: string;
  readonly location: string;
  readonly maxPowerKw: number;
  readonly tariffEurPerKwh: number;
}

/** How every point of the process behaves. */
export interface PointBehaviour {
  /** Real milliseconds between two `charging_progress` messages of a session. */
  readonly progressIntervalMs: number;
  /** Simulated seconds per real second. */
  readonly timeScale: number;
  readonly cpEventsTopic: string;
  readonly commandMaxAgeMs: number;
  /** Simulated seconds of a session's power ramp (0: none). */
  readonly powerRampSeconds: number;
  /** Minimum time between two status changes of a point (benchmarks only: 0). */
  readonly statusWindowMs?: number;
  readonly settings: Partial<ChargePointSettings>;
}

/** What the points share, and what each gets of its own. */
export interface PointsDependencies {
  readonly clock: Clock;
  readonly newId: IdGenerator;
  readonly publisher: EventPublisher;
  readonly meter: ChargingMeter;
  readonly logger: Logger;
  /** The journal of the point `cpId`. */
  readonly journalOf: (cpId: string) => SessionJournal;
  /** The power-draw randomness of the `index`-th point (seeded: reproducible runs). */
  readonly randomOf: (index: number) => RandomSource;
}

/** Builds one engine per spec, in order. */
export function createPoints(
  specs: readonly PointSpec[],
  behaviour: PointBehaviour,
  deps: PointsDependencies,
): Engine[] {
  return specs.map((spec, index) =>
    new Engine({
      cpId: spec.cpId,
      location: spec.location,
      maxPowerKw: spec.maxPowerKw,
      tariffEurPerKwh: spec.tariffEurPerKwh,
      progressIntervalMs: behaviour.progressIntervalMs,
      timeScale: behaviour.timeScale,
      cpEventsTopic: behaviour.cpEventsTopic,
      commandMaxAgeMs: behaviour.commandMaxAgeMs,
      powerRampSeconds: behaviour.powerRampSeconds,
      ...(behaviour.statusWindowMs === undefined
        ? {}
        : { statusWindowMs: behaviour.statusWindowMs }),
      settings: behaviour.settings,
    }, {
      clock: deps.clock,
      random: deps.randomOf(index),
      newId: deps.newId,
      publisher: deps.publisher,
      meter: deps.meter,
      logger: deps.logger,
      journal: deps.journalOf(spec.cpId),
    })
  );
}
