/**
 * Fleet mode: many charging points in one process. Each point is a full {@linkcode Engine}
 * (its own state machine, session, status coalescing and health port), so on the wire it is
 * indistinguishable from a single engine; what they share is the expensive part: ONE Kafka
 * producer and ONE consumer (commands are routed by `cp_id`) and ONE charging Worker that
 * meters every session.
 *
 * A fleet can also drive load and chaos by itself (see `fleet_schedule.ts`): sessions started
 * as if drivers plugged in at the points, and faults that come and go, all reproducible with
 * a seed.
 *
 * @module
 */
import { Engine } from "../app/engine.ts";
import type { ChargePointSettings } from "../domain/charge_point.ts";
import { seededRandom } from "../domain/random.ts";
import type { ChargingMeter, Clock, EventPublisher } from "../app/ports.ts";
import { type CommandHandler, KafkaBus, type KafkaSettings } from "../adapters/kafka/bus.ts";
import { HealthServer } from "../adapters/health/server.ts";
import { WorkerChargingMeter } from "../adapters/charging/worker.ts";
import { engineLogger, type Logger } from "../adapters/logging.ts";
import { type FleetEvent, FleetSchedule, type SecondsRange } from "./schedule.ts";

/** One charging point of a fleet. */
export interface FleetMember {
  readonly cpId: string;
  readonly location: string;
  readonly maxPowerKw: number;
  readonly tariffEurPerKwh: number;
  /** Its own health port (0: any free port). */
  readonly healthPort: number;
}

/** Self-driven load: auto sessions and chaos. Rates are in simulated time. */
export interface FleetLoad {
  /** Sessions started per simulated minute across the fleet (0: none). */
  readonly sessionsPerMinute: number;
  readonly sessionSeconds: SecondsRange;
  /** Faults per point per simulated hour (0: none). */
  readonly faultsPerHourPerPoint: number;
  readonly faultSeconds: SecondsRange;
}

/** Everything a fleet is configured with. */
export interface FleetOptions {
  readonly members: readonly FleetMember[];
  readonly healthHost: string;
  /** Kafka connection: one producer and one consumer (one group) for the whole fleet. */
  readonly kafka: KafkaSettings;
  readonly progressIntervalMs: number;
  readonly timeScale: number;
  readonly commandMaxAgeMs: number;
  /** Simulated seconds of each session's power ramp (0: none). */
  readonly powerRampSeconds?: number;
  readonly settings: Partial<ChargePointSettings>;
  /** Seeds the power draws of every point and the load schedule. */
  readonly seed: number;
  readonly load: FleetLoad;
  /** Minimum time between two status changes of one point (default 2 s; 0 only for benchmarks). */
  readonly statusWindowMs?: number;
}

/** A charging meter that can be shut down (the Worker). */
export interface ClosableMeter extends ChargingMeter {
  close(): Promise<void>;
}

/** The event bus as the fleet uses it (the Kafka adapter; tests may pass another). */
export interface FleetBus extends EventPublisher {
  start(): void;
  onConsuming(listener: () => void): void;
  consumeCommands(handler: CommandHandler): Promise<void>;
  close(): Promise<void>;
}

/** What a fleet needs from the world; every part has a real default. */
export interface FleetDependencies {
  readonly clock: Clock;
  /** Builds the one charging meter of the fleet (default: a Worker). Called exactly once. */
  readonly createMeter?: (timeScale: number) => ClosableMeter;
  /** Builds the one bus of the fleet (default: {@linkcode KafkaBus}). Called exactly once. */
  readonly createBus?: (settings: KafkaSettings) => FleetBus;
  readonly logger?: Logger;
}

/** How long start-up waits for the registrations to reach Kafka before opening the ports. */
const REGISTRATION_WAIT_MS = 10_000;
/** How often the load driver looks at the schedule, real milliseconds. */
const LOAD_TICK_MS = 250;

const decoder = new TextDecoder();

/** A running fleet of charging points. */
export class Fleet {
  readonly #options: FleetOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #meter: ClosableMeter;
  readonly #bus: FleetBus;
  readonly #engines = new Map<string, Engine>();
  readonly #health = new Map<string, HealthServer>();
  readonly #loadListeners = new Set<(event: FleetEvent) => void>();
  #schedule: FleetSchedule | null = null;
  #loadTimer: unknown = null;
  #loadStartedAt = 0;
  #stopped: Promise<boolean> | null = null;

  /** Builds the engines, the bus and the meter; nothing is opened until {@linkcode start}. */
  constructor(options: FleetOptions, deps: FleetDependencies) {
    const ids = new Set(options.members.map((member) => member.cpId));
    if (ids.size !== options.members.length) {
      throw new RangeError("A fleet cannot hold two charging points with the same id");
    }
    this.#options = options;
    this.#clock = deps.clock;
    this.#log = (deps.logger ?? engineLogger("fleet")).with({ fleet_size: options.members.length });
    this.#meter = (deps.createMeter ?? ((timeScale) => new WorkerChargingMeter({ timeScale })))(
      options.timeScale,
    );
    const logger = engineLogger("kafka");
    this.#bus = (deps.createBus ??
      ((settings) => new KafkaBus(settings, { logger, clock: deps.clock })))(options.kafka);
    const engineLog = engineLogger("engine");
    options.members.forEach((member, index) => {
      this.#engines.set(
        member.cpId,
        new Engine({
          cpId: member.cpId,
          location: member.location,
          maxPowerKw: member.maxPowerKw,
          tariffEurPerKwh: member.tariffEurPerKwh,
          progressIntervalMs: options.progressIntervalMs,
          timeScale: options.timeScale,
          cpEventsTopic: options.kafka.cpEventsTopic,
          commandMaxAgeMs: options.commandMaxAgeMs,
          powerRampSeconds: options.powerRampSeconds ?? 0,
          ...(options.statusWindowMs === undefined
            ? {}
            : { statusWindowMs: options.statusWindowMs }),
          settings: options.settings,
        }, {
          clock: deps.clock,
          random: seededRandom(memberSeed(options.seed, index)),
          newId: () => crypto.randomUUID(),
          publisher: this.#bus,
          meter: this.#meter,
          logger: engineLog,
        }),
      );
    });
  }

  /** The engines, by cp id. */
  get engines(): ReadonlyMap<string, Engine> {
    return this.#engines;
  }

  /** The health port each point listens on (known once started). */
  healthPort(cpId: string): number | undefined {
    return this.#health.get(cpId)?.port;
  }

  /** Calls `listener` for every auto-session and chaos event the fleet carries out. */
  onLoadEvent(listener: (event: FleetEvent) => void): () => void {
    this.#loadListeners.add(listener);
    return () => this.#loadListeners.delete(listener);
  }

  /**
   * Start-up in the contract's order, for every point: Kafka and the registrations, then the
   * health ports, then `offline -> available` once the shared consumer fetches commands.
   *
   * @throws {HealthPortInUseError} when a point's health port is taken (everything opened so
   * far is closed again first).
   */
  async start(): Promise<void> {
    this.#bus.start();
    for (const engine of this.#engines.values()) engine.register();
    if (!(await this.#bus.flush(REGISTRATION_WAIT_MS))) {
      this.#log.warn("Registrations not delivered yet: they go out first when Kafka is reachable");
    }
    const healthLog = engineLogger("health");
    try {
      for (const member of this.#options.members) {
        const engine = this.#engines.get(member.cpId)!;
        this.#health.set(
          member.cpId,
          HealthServer.listen({
            hostname: this.#options.healthHost,
            port: member.healthPort,
            logger: healthLog.with({ cp_id: member.cpId }),
          }, {
            healthAnswer: () => engine.healthAnswer(),
            onProbe: () => engine.probe(),
          }),
        );
      }
    } catch (error) {
      await this.#closeAll();
      throw error;
    }
    this.#bus.onConsuming(() => {
      for (const engine of this.#engines.values()) engine.markReady();
      this.#startLoad();
    });
    await this.#bus.consumeCommands((value) => this.#route(value));
    this.#log.info(
      "Fleet of {count} charging points started: one Kafka producer and consumer, one charging worker",
      { count: this.#engines.size },
    );
  }

  /**
   * Graceful shutdown of every point (sessions end with `engine_shutdown`, `offline` is
   * published), then the ports, the bus and the Worker close. Resolves whether every event
   * was delivered in time.
   */
  stop(deadlineMs = 4_500): Promise<boolean> {
    this.#stopped ??= (async () => {
      this.#stopLoad();
      const results = await Promise.all(
        [...this.#engines.values()].map((engine) => engine.shutdown(deadlineMs)),
      );
      await this.#closeAll();
      return results.every((delivered) => delivered);
    })();
    return this.#stopped;
  }

  /** Hands a command's raw value to the one engine it names; the cp id is decoded once here. */
  #route(value: Uint8Array | null): void {
    let parsed: unknown;
    try {
      parsed = value === null ? null : JSON.parse(decoder.decode(value));
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      this.#log.warn("Rejected a message on the command topic: not a JSON object");
      return;
    }
    const cpId = (parsed as Record<string, unknown>)["cp_id"];
    const engine = typeof cpId === "string" ? this.#engines.get(cpId) : undefined;
    if (engine === undefined) {
      this.#log.debug("Ignored a command for {cp_id}: not a point of this fleet", {
        cp_id: String(cpId),
      });
      return;
    }
    engine.receive(value);
  }

  #startLoad(): void {
    const load = this.#options.load;
    if (this.#schedule !== null) return;
    if (load.sessionsPerMinute <= 0 && load.faultsPerHourPerPoint <= 0) return;
    this.#schedule = new FleetSchedule({
      cpIds: this.#options.members.map((member) => member.cpId),
      sessionsPerMinute: load.sessionsPerMinute,
      sessionSeconds: load.sessionSeconds,
      faultsPerHourPerPoint: load.faultsPerHourPerPoint,
      faultSeconds: load.faultSeconds,
      seed: scheduleSeed(this.#options.seed),
    });
    this.#loadStartedAt = this.#clock.now();
    this.#log.info(
      "Load: {sessions} sessions per simulated minute, {chaos} faults per point per simulated hour, seed {seed}",
      {
        sessions: load.sessionsPerMinute,
        chaos: load.faultsPerHourPerPoint,
        seed: this.#options.seed,
      },
    );
    this.#loadTimer = this.#clock.setInterval(() => this.#driveLoad(), LOAD_TICK_MS);
  }

  #stopLoad(): void {
    if (this.#loadTimer !== null) this.#clock.clearInterval(this.#loadTimer);
    this.#loadTimer = null;
  }

  #driveLoad(): void {
    const schedule = this.#schedule;
    if (schedule === null) return;
    const simulated = ((this.#clock.now() - this.#loadStartedAt) / 1000) * this.#options.timeScale;
    for (const event of schedule.until(simulated)) {
      const engine = this.#engines.get(event.cpId);
      if (engine === undefined) continue;
      this.#carryOut(engine, event);
      for (const listener of this.#loadListeners) listener(event);
    }
  }

  #carryOut(engine: Engine, event: FleetEvent): void {
    const log = this.#log.with({ cp_id: event.cpId, simulated_seconds: Math.round(event.at) });
    switch (event.kind) {
      case "session_start":
        log.info("Auto session: {username} plugs in at {cp_id}", { username: event.username });
        engine.apply({
          type: "charging_started",
          driver: { username: event.username, userId: event.userId, clientId: null },
        }, "console");
        return;
      case "session_end":
        if (engine.state.session?.origin !== "local") return;
        log.info("Auto session: the driver unplugs at {cp_id}");
        engine.apply({ type: "unplug" }, "console");
        return;
      case "fault":
        log.info("Chaos: hardware fault injected at {cp_id}");
        engine.apply({ type: "fault" }, "console");
        return;
      case "recover":
        log.info("Chaos: {cp_id} recovers");
        engine.apply({ type: "recover" }, "console");
        return;
    }
  }

  async #closeAll(): Promise<void> {
    this.#stopLoad();
    await Promise.allSettled([...this.#health.values()].map((server) => server.close()));
    await Promise.allSettled([this.#bus.close(), this.#meter.close()]);
  }
}

/** Each point's power draws get their own stream, derived from the fleet's seed. */
function memberSeed(seed: number, index: number): number {
  return (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
}

/** The load schedule's stream, apart from every point's. */
function scheduleSeed(seed: number): number {
  return (seed ^ 0x5bd1e995) >>> 0;
}
