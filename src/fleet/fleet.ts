/**
 * Fleet mode: many charging points in one process. Each point is a full engine (its own state
 * machine, session, journal, status coalescing and health port), so on the wire it is
 * indistinguishable from a single engine; what they share is the expensive part: ONE Kafka
 * producer and ONE consumer (commands are routed by `cp_id`), ONE durable store and ONE
 * charging Worker. The points live the same life as a single point (`src/app/lifecycle.ts`).
 *
 * A fleet can also drive load and chaos by itself (`load.ts`): sessions started as if drivers
 * plugged in at the points, and faults that come and go, reproducible with a seed.
 *
 * @module
 */
import type { Engine } from "../app/engine.ts";
import {
  Lifecycle,
  type LifecycleDependencies,
  type LifecycleOutcome,
  type LifecyclePoint,
} from "../app/lifecycle.ts";
import { createPoints, type PointBehaviour, type PointSpec } from "../app/points.ts";
import type { Clock, HealthAddress, IdGenerator, Logger, SessionJournal } from "../app/ports.ts";
import { seededRandom } from "../domain/random.ts";
import { type FleetLoad, LoadDriver } from "./load.ts";
import { commandRouter } from "./router.ts";
import type { FleetEvent } from "./schedule.ts";

export type { FleetLoad } from "./load.ts";

/** One charging point of a fleet. */
export interface FleetMember extends PointSpec {
  /** Its own health port (0: any free port). */
  readonly healthPort: number;
}

/** Everything a fleet is configured with. */
export interface FleetOptions {
  readonly members: readonly FleetMember[];
  readonly healthHost: string;
  readonly behaviour: PointBehaviour;
  /** Seeds the power draws of every point and the load schedule. */
  readonly seed: number;
  readonly load: FleetLoad;
}

/** What a fleet needs: the lifecycle's adapters, and each point's journal. */
export interface FleetDependencies
  extends Omit<LifecycleDependencies, "onConsuming" | "onStopping" | "console"> {
  readonly clock: Clock;
  readonly newId: IdGenerator;
  /** The journal of the point `cpId` (in the fleet's one durable store). */
  readonly journalOf: (cpId: string) => SessionJournal;
  /** The points' engines log here (each adds its cp id). */
  readonly engineLogger: Logger;
}

/** A running fleet of charging points. */
export class Fleet {
  readonly #options: FleetOptions;
  readonly #log: Logger;
  readonly #engines = new Map<string, Engine>();
  readonly #load: LoadDriver;
  readonly #lifecycle: Lifecycle;
  readonly #router: ReturnType<typeof commandRouter>;

  /** Builds the engines; nothing is opened until {@linkcode start}. */
  constructor(options: FleetOptions, deps: FleetDependencies) {
    const ids = new Set(options.members.map((member) => member.cpId));
    if (ids.size !== options.members.length) {
      throw new RangeError("A fleet cannot hold two charging points with the same id");
    }
    this.#options = options;
    this.#log = deps.logger.with({ fleet_size: options.members.length });
    const engines = createPoints(options.members, options.behaviour, {
      clock: deps.clock,
      newId: deps.newId,
      publisher: deps.bus,
      meter: deps.meter,
      logger: deps.engineLogger,
      journalOf: deps.journalOf,
      randomOf: (index) => seededRandom(memberSeed(options.seed, index)),
    });
    for (const engine of engines) this.#engines.set(engine.cpId, engine);
    this.#load = new LoadDriver(
      this.#engines,
      options.load,
      { timeScale: options.behaviour.timeScale, seed: options.seed },
      deps.clock,
      this.#log,
    );
    this.#router = commandRouter(this.#engines, this.#log, deps.clock);
    const points: LifecyclePoint[] = options.members.map((member, index) => ({
      engine: engines[index]!,
      health: { hostname: options.healthHost, port: member.healthPort } satisfies HealthAddress,
    }));
    this.#lifecycle = new Lifecycle({ points, route: this.#router }, {
      ...deps,
      onStarted: () =>
        this.#log.info(
          "Fleet of {count} charging points started: one Kafka producer and consumer, one charging worker",
          { count: this.#engines.size },
        ),
      onConsuming: () => this.#load.start(),
      onStopping: () => {
        this.#load.stop();
        this.#router.dispose();
      },
    });
  }

  /** The engines, by cp id. */
  get engines(): ReadonlyMap<string, Engine> {
    return this.#engines;
  }

  /** The health port each point listens on (known once started). */
  healthPort(cpId: string): number | undefined {
    return this.#lifecycle.healthPorts.get(cpId);
  }

  /** Calls `listener` for every auto-session and chaos event the fleet carries out. */
  onLoadEvent(listener: (event: FleetEvent) => void): () => void {
    return this.#load.onEvent(listener);
  }

  /**
   * Start-up in the contract's order, for every point (see `src/app/lifecycle.ts`).
   *
   * @throws {PortInUseError} when a point's health port (or the web panel's port) is taken
   * (everything opened so far is closed again first).
   */
  async start(): Promise<void> {
    const failed = await this.#lifecycle.start();
    if (failed?.kind === "port_in_use") throw failed.error;
  }

  /** Runs until a stop signal or a fatal error; resolves how it ended. */
  run(): Promise<LifecycleOutcome> {
    return this.#lifecycle.run();
  }

  /**
   * Graceful shutdown of every point, then the ports, the bus and the Worker close. Resolves
   * whether every event was delivered in time.
   */
  stop(): Promise<boolean> {
    return this.#lifecycle.stop();
  }
}

/** Each point's power draws get their own stream, derived from the fleet's seed. */
function memberSeed(seed: number, index: number): number {
  return (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
}
