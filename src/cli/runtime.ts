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
import type { Clock, Logger, PanelFactory, RandomSource } from "../app/ports.ts";
import { randomUuid, systemClock, systemRandom } from "../adapters/clock.ts";
import { WorkerChargingMeter } from "../adapters/charging/worker.ts";
import { HealthServer } from "../adapters/health/server.ts";
import { KafkaBus } from "../adapters/kafka/bus.ts";
import { describeSecurity, kafkaSecurityOptions } from "../adapters/kafka/security.ts";
import { engineLogger } from "../adapters/logging.ts";
import { processControl } from "../adapters/signals.ts";
import { SqliteOutbox, StateDirError } from "../adapters/storage/sqlite_store.ts";
import { WebPanel } from "../adapters/web/server.ts";
import { chargePointSettings, type EngineConfig } from "./settings.ts";
import { VERSION } from "./version.ts";

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
    store = SqliteOutbox.open(config.stateDir, plan.stateName, { clock: systemClock });
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
  return {
    clock: systemClock,
    store,
    bus,
    logger: log,
    meter: new WorkerChargingMeter({ timeScale: config.timeScale }),
    openHealthPort: (address, source, logger) =>
      HealthServer.listen(
        { ...address, logger, clock: systemClock },
        metrics === null ? source : metrics.countProbes(source),
      ),
    healthLogger: (cpId) => healthLog.with({ cp_id: cpId }),
    process: processControl,
    ...(metrics === null ? {} : { panel: webPanel(config, metrics) }),
  };
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
