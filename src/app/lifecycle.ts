/**
 * The life of the charging points of one process, from start-up to shutdown: the same code for
 * a single point and for a fleet of thousands, so that a fix to start-up, shutdown or durability
 * reaches both.
 *
 * Start-up follows the wire contract (protocol.md section 6): Kafka and the registrations (and
 * the tickets of sessions a crash interrupted), then the health ports, then, once the command
 * consumer has joined its group and fetched, start-up step 4 (`offline -> available`, commands).
 * Shutdown ends every session with `charging_completed` (`engine_shutdown`), publishes
 * `offline`, delivers what it can within the deadline, and closes everything.
 *
 * @module
 */
import type { Engine } from "./engine.ts";
import {
  type CentralPresence,
  type CentralWatch,
  type ClosableMeter,
  type CommandHandler,
  type DuplicateWatch,
  type EventBus,
  type HealthAddress,
  type HealthListener,
  type HealthListenerFactory,
  type Logger,
  type OperatorView,
  type PanelFactory,
  type PanelListener,
  PortInUseError,
  type ProcessControl,
} from "./ports.ts";

/** How long start-up waits for the registrations to reach Kafka before opening the ports. */
export const REGISTRATION_WAIT_MS = 10_000;
/** Graceful shutdown must be over within this time (the contract allows 5 s). */
export const SHUTDOWN_DEADLINE_MS = 4_500;
/** Beyond the deadline, this much more is allowed before the process is ended anyway. */
const SHUTDOWN_GRACE_MS = 500;

/** One charging point of the process, and where its health port listens. */
export interface LifecyclePoint {
  readonly engine: Engine;
  readonly health: HealthAddress;
}

/** What the process runs. */
export interface LifecycleOptions {
  /** One point, or a fleet's. */
  readonly points: readonly LifecyclePoint[];
  /** Hands a raw command to the point it names (never throws). */
  readonly route: CommandHandler;
}

/** The adapters the points share, and the hooks of the process that runs them. */
export interface LifecycleDependencies {
  readonly logger: Logger;
  readonly bus: EventBus;
  readonly meter: ClosableMeter;
  readonly openHealthPort: HealthListenerFactory;
  /** The logger of a point's health port. */
  readonly healthLogger: (cpId: string) => Logger;
  readonly process: ProcessControl;
  /** Watches for another engine with the same cp id (a single point). */
  readonly duplicateWatch?: DuplicateWatch;
  /** Watches whether Central is there: one watch for all the points of the process. */
  readonly centralWatch?: CentralWatch;
  /** The operator's console (a single point on a terminal). */
  readonly console?: OperatorView;
  /** The web panel (`--http-port`): opened after the health ports, closed last. */
  readonly panel?: PanelFactory;
  /** Called every time commands flow again, after every point was made ready. */
  readonly onConsuming?: () => void;
  /** Called once, when shutdown begins, before the points shut down. */
  readonly onStopping?: () => void;
  /** Called once start-up is over (the ports are open, commands are being consumed). */
  readonly onStarted?: () => void;
}

/** How the process ended. */
export type LifecycleOutcome =
  /** A stop signal (or the console's quit key): every point was shut down gracefully. */
  | { readonly kind: "stopped"; readonly signal: string; readonly delivered: boolean }
  /** A health port or the web panel's port was taken: nothing was left open. */
  | { readonly kind: "port_in_use"; readonly error: PortInUseError }
  /** Kafka rejected the credentials at start-up: retrying cannot help. */
  | { readonly kind: "authentication_failed"; readonly error: Error };

/** Starts and stops the points of a process. */
export class Lifecycle {
  readonly #options: LifecycleOptions;
  readonly #deps: LifecycleDependencies;
  readonly #log: Logger;
  readonly #listeners: HealthListener[] = [];
  #panel: PanelListener | null = null;
  #stopped = false;
  #stopRequest: Promise<string> | null = null;
  #centralBefore: CentralPresence["kind"] = "unknown";

  constructor(options: LifecycleOptions, deps: LifecycleDependencies) {
    this.#options = options;
    this.#deps = deps;
    this.#log = deps.logger;
  }

  /** The health ports actually listened on, by cp id (known once started). */
  readonly healthPorts = new Map<string, number>();

  /** The web panel's port (known once started), or null when there is none. */
  get panelPort(): number | null {
    return this.#panel?.port ?? null;
  }

  /**
   * Runs the points until a stop signal, the console's quit key or a fatal error. The stop
   * signals are heard from the very start: a SIGTERM during start-up (which can wait up to 10 s
   * for Kafka) shuts the points down as cleanly as one after it.
   */
  async run(): Promise<LifecycleOutcome> {
    this.#stopRequest = this.#deps.process.waitForStop(this.#deps.console?.quitRequested);
    const failed = await this.start();
    if (failed !== null) return failed;
    return await this.waitAndStop();
  }

  /**
   * Start-up in the contract's order. Resolves once commands are being consumed (or retried in
   * the background), or with the outcome that ends the process early; a stop request during it
   * cuts it short (the shutdown follows in {@linkcode waitAndStop}).
   */
  async start(): Promise<LifecycleOutcome | null> {
    const stopRequested = this.#stopRequest?.then(() => "stop" as const) ?? new Promise(() => {});
    const { bus } = this.#deps;
    const points = this.#options.points;
    for (const { engine } of points) this.#deps.console?.attach(engine, bus);
    // Offline-first: the ports open once the registrations are delivered, or as soon as a first
    // attempt finds Kafka unreachable; the registrations still go out first, from the outbox.
    const firstFailure = bus.nextFailure().then(() => false);
    bus.start();
    for (const { engine } of points) {
      engine.register();
      // A session a crash interrupted is closed after the registration, before any status.
      engine.recover();
    }
    const delivered = await Promise.race([
      bus.flush(REGISTRATION_WAIT_MS),
      firstFailure,
      stopRequested,
    ]);
    if (delivered === "stop") return null;
    if (!delivered) {
      this.#log.warn(
        points.length === 1
          ? "Registration not delivered yet: it goes out first when Kafka is reachable"
          : "Registrations not delivered yet: they go out first when Kafka is reachable",
      );
    }

    try {
      for (const { engine, health } of points) {
        const listener = this.#deps.openHealthPort(
          health,
          { healthAnswer: () => engine.healthAnswer(), onProbe: () => engine.probe() },
          this.#deps.healthLogger(engine.cpId),
        );
        this.#listeners.push(listener);
        this.healthPorts.set(engine.cpId, listener.port);
      }
      this.#panel = this.#deps.panel?.(points.map(({ engine }) => engine), bus) ?? null;
    } catch (error) {
      if (!(error instanceof PortInUseError)) throw error;
      this.#log.error(error.message);
      await this.#closeAll();
      this.#deps.console?.close();
      return { kind: "port_in_use", error };
    }

    // Start-up step 4 only once commands flow: a charging_started sent the moment Central sees
    // `available` must not fall before the consumer group's starting offset.
    bus.onConsuming(() => {
      for (const { engine } of points) engine.markReady();
      this.#deps.onConsuming?.();
    });
    const watch = this.#deps.duplicateWatch;
    if (watch !== undefined) {
      bus.onConnected(() => watch.start());
      bus.onConsuming(() => void watch.checkGroup());
    }
    const central = this.#deps.centralWatch;
    if (central !== undefined) {
      central.onChange((presence) => this.#centralChanged(presence));
      central.start();
    }
    await bus.consumeCommands(this.#options.route);
    this.#deps.onStarted?.();
    return null;
  }

  /** Waits for a stop signal (or a fatal error), then shuts every point down. */
  async waitAndStop(): Promise<LifecycleOutcome> {
    const { bus } = this.#deps;
    this.#stopRequest ??= this.#deps.process.waitForStop(this.#deps.console?.quitRequested);
    const stop = await Promise.race([this.#stopRequest, bus.authenticationFailure]);
    if (typeof stop !== "string") {
      this.#log.error(stop.message);
      await this.#closeAll();
      this.#deps.console?.close();
      return { kind: "authentication_failed", error: stop };
    }
    const count = this.#options.points.length;
    if (count === 1) this.#log.info("Received {signal}: shutting down", { signal: stop });
    else {
      this.#log.info("Received {signal}: shutting down {count} points", { signal: stop, count });
    }
    const delivered = await this.stop();
    this.#deps.console?.close();
    return { kind: "stopped", signal: stop, delivered };
  }

  /**
   * Graceful shutdown of every point (sessions end with `engine_shutdown`, `offline` is
   * published), then the ports, the bus and the meter close. Resolves whether every event was
   * delivered in time; the process is ended if it takes much longer than the deadline.
   */
  async stop(): Promise<boolean> {
    if (this.#stopped) return true;
    this.#stopped = true;
    const cancelGuard = this.#deps.process.guardShutdown(
      this.#log,
      SHUTDOWN_DEADLINE_MS + SHUTDOWN_GRACE_MS,
    );
    this.#deps.onStopping?.();
    // The points ignore commands from now on; the consumer leaves its group meanwhile.
    this.#deps.bus.stopCommands();
    const results = await Promise.all(
      this.#options.points.map(({ engine }) => engine.shutdown(SHUTDOWN_DEADLINE_MS)),
    );
    const delivered = results.every((ok) => ok);
    if (!delivered) this.#log.warn("Some events could not be delivered before exit");
    await this.#closeAll();
    cancelGuard();
    this.#log.info("Stopped");
    return delivered;
  }

  /** Central came or went: one line for the process, then every point is told. */
  #centralChanged(presence: CentralPresence): void {
    const count = this.#options.points.length;
    const points = count === 1 ? "the point" : `${count} points`;
    switch (presence.kind) {
      case "away":
        this.#log.warn(
          "Central unreachable since {since} (its consumer group is gone): sessions in progress " +
            "go on, new ones are refused until it is back",
          { since: `${new Date(presence.since).toISOString().slice(11, 19)} UTC` },
        );
        break;
      case "present":
        if (this.#centralBefore === "away") {
          this.#log.info("Central is back: announcing {points} to it again", { points });
        } else {
          this.#log.info("Central is there (its consumer group reads the events)");
        }
        break;
      case "unknown":
        break;
    }
    this.#centralBefore = presence.kind;
    for (const { engine } of this.#options.points) engine.centralPresence(presence);
  }

  async #closeAll(): Promise<void> {
    await Promise.allSettled([
      ...this.#listeners.map((listener) => listener.close()),
      this.#panel?.close(),
    ]);
    await Promise.allSettled([
      this.#deps.bus.close(),
      this.#deps.meter.close(),
      this.#deps.duplicateWatch?.close(),
      this.#deps.centralWatch?.close(),
    ]);
  }
}
