/**
 * The load and chaos plan of a fleet, as a pure, seeded discrete-event schedule: when auto
 * sessions start and end (a driver plugs in locally, later unplugs) and when faults strike and
 * clear. Everything is in simulated seconds since the fleet started, so `--time-scale` speeds
 * the whole day up, and the same seed and settings always give the same sequence of events,
 * whatever the machine's timing.
 *
 * The schedule keeps its own model of which points it has put in a session or a fault, so a
 * session is only planned on a point the schedule believes idle and healthy. Commands from
 * Central (which the schedule does not see) may still make the engine refuse one: the fleet
 * logs that and the plan goes on unchanged.
 *
 * @module
 */
import { seededRandom } from "../domain/random.ts";

/** One planned event. */
export type FleetEvent =
  /** A driver plugs in locally and a session starts (`charging_started` from the keypad). */
  | {
    readonly kind: "session_start";
    readonly at: number;
    readonly cpId: string;
    readonly username: string;
    readonly userId: number;
  }
  /** The driver unplugs: the session ends with `charging_completed` (`unplugged_by_user`). */
  | { readonly kind: "session_end"; readonly at: number; readonly cpId: string }
  /** A local hardware fault (`CP_FAULT`): any session ends, status `fault`, health `KO`. */
  | { readonly kind: "fault"; readonly at: number; readonly cpId: string }
  /** The fault clears (`CP_RECOVER`): health `OK`, status `available`. */
  | { readonly kind: "recover"; readonly at: number; readonly cpId: string };

/** A closed range of simulated seconds. */
export interface SecondsRange {
  readonly min: number;
  readonly max: number;
}

/** What to plan. Rates are in simulated time. */
export interface FleetScheduleOptions {
  /** The fleet's charging points, in order. */
  readonly cpIds: readonly string[];
  /** Sessions started per simulated minute across the whole fleet (0: none). */
  readonly sessionsPerMinute: number;
  /** How long an auto session lasts before the driver unplugs, simulated seconds. */
  readonly sessionSeconds: SecondsRange;
  /** Faults per charging point per simulated hour (0: no chaos). */
  readonly faultsPerHourPerPoint: number;
  /** How long a fault lasts before it clears, simulated seconds. */
  readonly faultSeconds: SecondsRange;
  readonly seed: number;
}

/** Default length of an auto session: 15 minutes to 2 hours. */
export const DEFAULT_SESSION_SECONDS: SecondsRange = { min: 15 * 60, max: 2 * 3600 };
/** Default length of an injected fault: 30 seconds to 5 minutes. */
export const DEFAULT_FAULT_SECONDS: SecondsRange = { min: 30, max: 300 };

type Arrival = "session" | "fault";

interface Pending {
  readonly event: FleetEvent | {
    readonly kind: "arrival";
    readonly of: Arrival;
    readonly at: number;
  };
  /** Tie-breaker: events due at the same time come out in the order they were planned. */
  readonly order: number;
}

/**
 * A seeded schedule of fleet events. Call {@linkcode FleetSchedule.until} with the simulated
 * time reached so far; it returns the events due by then, in time order, each exactly once.
 *
 * @example
 * ```ts
 * const schedule = new FleetSchedule({
 *   cpIds: ["CP_0001", "CP_0002"],
 *   sessionsPerMinute: 1,
 *   sessionSeconds: DEFAULT_SESSION_SECONDS,
 *   faultsPerHourPerPoint: 0.5,
 *   faultSeconds: DEFAULT_FAULT_SECONDS,
 *   seed: 42,
 * });
 * for (const event of schedule.until(3600)) console.log(event.at, event.kind, event.cpId);
 * ```
 */
export class FleetSchedule {
  readonly #options: FleetScheduleOptions;
  readonly #random: () => number;
  /** Sorted by `at`, then `order`. */
  readonly #queue: Pending[] = [];
  readonly #charging = new Set<string>();
  readonly #faulted = new Set<string>();
  /** The planned end of each session, cancelled when a fault ends the session first. */
  readonly #plannedEnds = new Map<string, Pending>();
  #order = 0;
  #sessions = 0;
  #reached = 0;

  /** @throws {RangeError} when a rate or a range is negative, reversed or not finite. */
  constructor(options: FleetScheduleOptions) {
    for (
      const [name, value] of [
        ["sessionsPerMinute", options.sessionsPerMinute],
        ["faultsPerHourPerPoint", options.faultsPerHourPerPoint],
      ] as const
    ) {
      if (!(value >= 0) || !Number.isFinite(value)) {
        throw new RangeError(`Invalid ${name} ${value}: expected a finite number >= 0`);
      }
    }
    for (
      const [name, range] of [
        ["sessionSeconds", options.sessionSeconds],
        ["faultSeconds", options.faultSeconds],
      ] as const
    ) {
      if (!(range.min > 0) || !(range.max >= range.min) || !Number.isFinite(range.max)) {
        throw new RangeError(
          `Invalid ${name} ${range.min}-${range.max}: expected 0 < min <= max, finite`,
        );
      }
    }
    this.#options = options;
    this.#random = seededRandom(options.seed);
    if (options.cpIds.length > 0) {
      this.#planArrival("session", 0);
      this.#planArrival("fault", 0);
    }
  }

  /** How many sessions have been planned to start so far. */
  get sessionsPlanned(): number {
    return this.#sessions;
  }

  /** The events due at or before `simulatedSeconds`, in time order. Time never goes back. */
  until(simulatedSeconds: number): FleetEvent[] {
    this.#reached = Math.max(this.#reached, simulatedSeconds);
    const due: FleetEvent[] = [];
    while (this.#queue.length > 0 && this.#queue[0]!.event.at <= this.#reached) {
      const next = this.#queue.shift()!;
      const event = next.event;
      if (event.kind === "arrival") {
        const happened = event.of === "session"
          ? this.#startSession(event.at)
          : this.#strike(event.at);
        if (happened !== null) due.push(happened);
        this.#planArrival(event.of, event.at);
        continue;
      }
      this.#apply(event);
      due.push(event);
    }
    return due;
  }

  #rateFor(kind: Arrival): number {
    // Per simulated second.
    return kind === "session"
      ? this.#options.sessionsPerMinute / 60
      : (this.#options.faultsPerHourPerPoint * this.#options.cpIds.length) / 3600;
  }

  /** Poisson arrivals: exponential gaps with the kind's rate. */
  #planArrival(kind: Arrival, after: number): void {
    const rate = this.#rateFor(kind);
    if (rate <= 0) return;
    const gap = -Math.log(1 - this.#random()) / rate;
    this.#push({ kind: "arrival", of: kind, at: after + gap });
  }

  #startSession(at: number): FleetEvent | null {
    const idle = this.#options.cpIds.filter((id) =>
      !this.#charging.has(id) && !this.#faulted.has(id)
    );
    if (idle.length === 0) return null;
    const cpId = idle[Math.floor(this.#random() * idle.length)]!;
    this.#sessions++;
    this.#charging.add(cpId);
    const end = {
      kind: "session_end",
      at: at + this.#draw(this.#options.sessionSeconds),
      cpId,
    } as const;
    this.#plannedEnds.set(cpId, this.#push(end));
    return {
      kind: "session_start",
      at,
      cpId,
      username: `auto_driver_${this.#sessions}`,
      userId: this.#sessions,
    };
  }

  #strike(at: number): FleetEvent | null {
    const healthy = this.#options.cpIds.filter((id) => !this.#faulted.has(id));
    if (healthy.length === 0) return null;
    const cpId = healthy[Math.floor(this.#random() * healthy.length)]!;
    this.#faulted.add(cpId);
    // A fault ends the session in progress: its planned unplug no longer happens.
    const plannedEnd = this.#plannedEnds.get(cpId);
    if (plannedEnd !== undefined) {
      this.#queue.splice(this.#queue.indexOf(plannedEnd), 1);
      this.#plannedEnds.delete(cpId);
      this.#charging.delete(cpId);
    }
    this.#push({ kind: "recover", at: at + this.#draw(this.#options.faultSeconds), cpId });
    return { kind: "fault", at, cpId };
  }

  #apply(event: FleetEvent): void {
    if (event.kind === "session_end") {
      this.#charging.delete(event.cpId);
      this.#plannedEnds.delete(event.cpId);
    } else if (event.kind === "recover") {
      this.#faulted.delete(event.cpId);
    }
  }

  #draw(range: SecondsRange): number {
    return range.min + (range.max - range.min) * this.#random();
  }

  #push(event: Pending["event"]): Pending {
    const pending: Pending = { event, order: this.#order++ };
    let index = this.#queue.length;
    while (index > 0) {
      const before = this.#queue[index - 1]!;
      if (
        before.event.at < event.at || (before.event.at === event.at && before.order < pending.order)
      ) {
        break;
      }
      index--;
    }
    this.#queue.splice(index, 0, pending);
    return pending;
  }
}
