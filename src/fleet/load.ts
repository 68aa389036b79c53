/**
 * The fleet's self-driven load: auto sessions and chaos from the seeded schedule
 * (`schedule.ts`), carried out on the points through the same commands as the keypad's.
 *
 * @module
 */
import type { CommandSource } from "../app/view.ts";
import type { Command } from "../domain/charge_point.ts";
import type { DecodedCommand } from "../protocol/commands.ts";
import type { Clock, Logger } from "../app/ports.ts";
import { type FleetEvent, FleetSchedule, type SecondsRange } from "./schedule.ts";

/** Self-driven load: auto sessions and chaos. Rates are in simulated time. */
export interface FleetLoad {
  /** Sessions started per simulated minute across the fleet (0: none). */
  readonly sessionsPerMinute: number;
  readonly sessionSeconds: SecondsRange;
  /** Faults per point per simulated hour (0: none). */
  readonly faultsPerHourPerPoint: number;
  readonly faultSeconds: SecondsRange;
}

/** A point the load acts on. */
export interface LoadTarget {
  readonly state: { readonly session: { readonly origin: "central" | "local" } | null };
  apply(command: Command | DecodedCommand, source: CommandSource): void;
}

/** How often the load driver looks at the schedule, real milliseconds. */
const LOAD_TICK_MS = 250;

/** Carries out the schedule on the points, from when commands flow until shutdown. */
export class LoadDriver {
  readonly #listeners = new Set<(event: FleetEvent) => void>();
  #schedule: FleetSchedule | null = null;
  #timer: unknown = null;
  #startedAt = 0;

  constructor(
    private readonly points: ReadonlyMap<string, LoadTarget>,
    private readonly load: FleetLoad,
    private readonly options: { readonly timeScale: number; readonly seed: number },
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Calls `listener` for every auto-session and chaos event carried out. */
  onEvent(listener: (event: FleetEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts the schedule (once; nothing happens when there is no load). */
  start(): void {
    const load = this.load;
    if (this.#schedule !== null) return;
    if (load.sessionsPerMinute <= 0 && load.faultsPerHourPerPoint <= 0) return;
    this.#schedule = new FleetSchedule({
      cpIds: [...this.points.keys()],
      sessionsPerMinute: load.sessionsPerMinute,
      sessionSeconds: load.sessionSeconds,
      faultsPerHourPerPoint: load.faultsPerHourPerPoint,
      faultSeconds: load.faultSeconds,
      seed: scheduleSeed(this.options.seed),
    });
    this.#startedAt = this.clock.now();
    this.log.info(
      "Load: {sessions} sessions per simulated minute, {chaos} faults per point per simulated hour, seed {seed}",
      {
        sessions: load.sessionsPerMinute,
        chaos: load.faultsPerHourPerPoint,
        seed: this.options.seed,
      },
    );
    this.#timer = this.clock.setInterval(() => this.#drive(), LOAD_TICK_MS);
  }

  /** Stops carrying out the schedule. */
  stop(): void {
    if (this.#timer !== null) this.clock.clearInterval(this.#timer);
    this.#timer = null;
  }

  #drive(): void {
    const schedule = this.#schedule;
    if (schedule === null) return;
    const simulated = ((this.clock.now() - this.#startedAt) / 1000) * this.options.timeScale;
    for (const event of schedule.until(simulated)) {
      const point = this.points.get(event.cpId);
      if (point === undefined) continue;
      this.#carryOut(point, event);
      for (const listener of this.#listeners) listener(event);
    }
  }

  #carryOut(point: LoadTarget, event: FleetEvent): void {
    const log = this.log.with({ cp_id: event.cpId, simulated_seconds: Math.round(event.at) });
    switch (event.kind) {
      case "session_start":
        log.info("Auto session: {username} plugs in at {cp_id}", { username: event.username });
        point.apply({
          type: "charging_started",
          driver: { username: event.username, userId: event.userId, clientId: null },
        }, "console");
        return;
      case "session_end":
        if (point.state.session?.origin !== "local") return;
        log.info("Auto session: the driver unplugs at {cp_id}");
        point.apply({ type: "unplug" }, "console");
        return;
      case "fault":
        log.info("Chaos: hardware fault injected at {cp_id}");
        point.apply({ type: "fault" }, "console");
        return;
      case "recover":
        log.info("Chaos: {cp_id} recovers");
        point.apply({ type: "recover" }, "console");
        return;
    }
  }
}

/** The load schedule's stream, apart from every point's. */
function scheduleSeed(seed: number): number {
  return (seed ^ 0x5bd1e995) >>> 0;
}
