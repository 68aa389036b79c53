/**
 * The composition root shared by a single point and a fleet: from the settings, it builds the
 * real adapters (the durable store, the Kafka bus, the charging Worker, the health ports, the
 * process's signals, and the web panel with its metrics when `--http-port` is given) exactly once
 * and the same way for both.
 *
 * @module
 */
import type { LifecycleDependencies } from "../app/lifecycle.ts";
import type { PointBehaviour } from "../app/points.ts";
import { MetricsCollector } from "../app/metrics.ts";
import {
  type Clock,
  HealthPortInUseError,
  type Logger,
  type PanelFactory,
  PortInUseError,
  type RandomSource,
} from "../app/ports.ts";
import { randomUuid, SharedIntervalClock, systemClock, systemRandom } from "../adapters/clock.ts";
import { WorkerChargingMeter } from "../adapters/charging/worker.ts";
import { HealthServer } from "../adapters/health/server.ts";
import { KafkaBus } from "../adapters/kafka/bus.ts";
import { KafkaCentralWatch } from "../adapters/kafka/central_watch.ts";
import { describeSecurity, kafkaSecurityOptions } from "../adapters/kafka/security.ts";
import { engineLogger } from "../adapters/logging.ts";
import { processControl } from "../adapters/signals.ts";
import { SqliteOutbox, StateDirError } from "../adapters/storage/sqlite_store.ts";
import { WebPanel } from "../adapters/web/server.ts";
import { chargePointSettings, type EngineConfig } from "./settings.ts";
import { VERSION } from "./version.ts";

/**
 * What the "Kafka is unreachable" warning suggests (repeated once a minute): the two ways out
 * for a newcomer whose first run finds no broker.
 */
export const UNREACHABLE_HINT =
  "Is the address right (--kafka-broker, KAFKA_BROKER)? No broker yet: in the source tree, " +
  "`deno task kafka` starts a local one on localhost:9092 (`deno task dev` starts it by itself).";

/** What makes one process's adapters: a single point's, or a fleet's. */
export interface RuntimePlan {
  readonly config: EngineConfig;
  /** The directory under `--state-dir` of this process's store: the cp id, or the fleet's group. */
  readonly stateName: string;
  /** The consumer group of the command consumer. */
  readonly groupId: string;
  /** The Kafka client id. */
  readonly clientId: string;
  /** Events per second while a backlog drains (a fleet scales it with its size). */
  readonly drainRatePerSecond: number;
  /** This process's id, in every event it publishes (`engine_instance`). */
  readonly engineInstance: string;
  /** The cp id the Kafka logs name, for a single point. */
  readonly logCpId?: string;
}

/** The adapters of one process, ready for the lifecycle. */
export interface Runtime extends Omit<LifecycleDependencies, "console" | "duplicateWatch"> {
  readonly centralWatch: KafkaCentralWatch;
  readonly clock: Clock;
  readonly store: SqliteOutbox;
  readonly bus: KafkaBus;
}

/**
 * Opens the store and builds the bus, the meter and the rest for `plan`. Returns null after
 * logging why when the state directory cannot be used (exit code 2).
 */
export function buildRuntime(plan: RuntimePlan, log: Logger): Runtime | null {
  const { config } = plan;
  let store: SqliteOutbox;
  try {
    store = SqliteOutbox.open(config.stateDir, plan.stateName, {
      clock: systemClock,
      ...(config.stateMaxMb === null ? {} : { maxBytes: config.stateMaxMb * 1_000_000 }),
    });
  } catch (error) {
    if (!(error instanceof StateDirError)) throw error;
    log.error(error.message);
    return null;
  }
  const security = kafkaSecurityOptions(config);
  log.info("Kafka connection: {security}; engine instance {instance}", {
    security: describeSecurity(config),
    instance: plan.engineInstance,
  });
  const kafkaLog = engineLogger("kafka");
  const bus = new KafkaBus({
    ...security,
    engineInstance: plan.engineInstance,
    brokers: config.kafkaBrokers,
    clientId: plan.clientId,
    groupId: plan.groupId,
    cpEventsTopic: config.cpEventsTopic,
    centralEventsTopic: config.centralEventsTopic,
    drainRatePerSecond: plan.drainRatePerSecond,
    unreachableHint: UNREACHABLE_HINT,
  }, {
    logger: plan.logCpId === undefined ? kafkaLog : kafkaLog.with({ cp_id: plan.logCpId }),
    clock: systemClock,
    outbox: store,
    random: systemRandom,
  });
  const healthLog = engineLogger("health");
  // Metrics are counted only for a web panel to serve them: without one, nothing is watched.
  const metrics = config.httpPort === null ? null : new MetricsCollector(systemClock);
  if (metrics !== null) {
    bus.observe(metrics);
    bus.onConnected(() => metrics.kafkaConnected());
  }
  // Every point's once-a-second tick (and every open health port's idle sweep) on one timer.
  const clock = new SharedIntervalClock(systemClock);
  const centralWatch = new KafkaCentralWatch({
    ...security,
    brokers: config.kafkaBrokers,
    clientId: plan.clientId,
    groupPrefix: config.centralGroupPrefix,
    cpEventsTopic: config.cpEventsTopic,
  }, { logger: engineLogger("central"), clock: systemClock });
  return {
    centralWatch,
    clock,
    store,
    bus,
    logger: log,
    meter: new WorkerChargingMeter({
      timeScale: config.timeScale,
      logger: engineLogger("charging"),
    }),
    openHealthPort: (address, source, logger) =>
      HealthServer.listen(
        { ...address, logger, clock },
        metrics === null ? source : metrics.countProbes(source),
      ),
    healthLogger: (cpId) => healthLog.with({ cp_id: cpId }),
    process: processControl,
    ...(metrics === null ? {} : { panel: webPanel(config, metrics) }),
  };
}

/**
 * Checks every health port is free before anything else happens: a point whose port is taken
 * must not register with Central nor create its state. Logs the one clear line and returns
 * false when one is taken (exit code 1).
 */
export function healthPortsFree(
  addresses: readonly { readonly hostname: string; readonly port: number }[],
  log: Logger,
): boolean {
  try {
    for (const address of addresses) HealthServer.ensureFree(address);
    return true;
  } catch (error) {
    if (!(error instanceof HealthPortInUseError)) throw error;
    log.error(error.message);
    return false;
  }
}

/**
 * Checks the web panel's port (`--http-port`) is free, with the health ports, before anything
 * else happens. Logs the one clear line and returns false when it is taken (exit code 1).
 */
export function webPortFree(config: EngineConfig, log: Logger): boolean {
  if (config.httpPort === null) return true;
  try {
    WebPanel.ensureFree({ hostname: config.httpHost, port: config.httpPort });
    return true;
  } catch (error) {
    if (!(error instanceof PortInUseError)) throw error;
    log.error(error.message);
    return false;
  }
}

/** Opens the web panel (`--http-port`, `--http-host`) with the process's metrics. */
function webPanel(config: EngineConfig, metrics: MetricsCollector): PanelFactory {
  return (points, bus) =>
    WebPanel.listen(
      {
        hostname: config.httpHost,
        port: config.httpPort ?? 0,
        logger: engineLogger("web"),
        clock: systemClock,
        metrics,
        version: VERSION,
        localUser: config.localUser,
      },
      points,
      bus,
    );
}

/** How every point behaves, from the settings. */
export function pointBehaviour(config: EngineConfig, statusWindowMs?: number): PointBehaviour {
  return {
    progressIntervalMs: config.progressIntervalSeconds * 1000,
    timeScale: config.timeScale,
    cpEventsTopic: config.cpEventsTopic,
    commandMaxAgeMs: config.commandMaxAgeSeconds * 1000,
    powerRampSeconds: config.powerRampSeconds,
    ...(statusWindowMs === undefined ? {} : { statusWindowMs }),
    settings: chargePointSettings(config),
  };
}

/** The seed of the power draws: the one given, or one drawn (and logged) for this run. */
export function resolveSeed(seed: number | null, random: RandomSource = systemRandom): number {
  return seed ?? Math.floor(random() * 2 ** 31);
}

/** A fresh id for this process (`engine_instance`). */
export const newEngineInstance = randomUuid;

/** Fresh message ids. */
export const newMessageId = randomUuid;
