/**
 * ev-cp-engine: the charging point engine of an EVCharging network.
 *
 * The composition root: reads the configuration, builds the adapters, wires them to the
 * engine in the start-up order of the wire contract, and shuts down on SIGINT / SIGTERM.
 *
 * @module
 */
import {
  chargePointSettings,
  type EngineConfig,
  EXIT_BAD_CONFIG,
  parseCli,
  processIo,
} from "./src/cli/settings.ts";
import { Engine } from "./src/app/engine.ts";
import { seededRandom } from "./src/domain/random.ts";
import { systemClock } from "./src/app/ports.ts";
import { engineLogger, setupLogging } from "./src/adapters/logging.ts";
import { KafkaBus } from "./src/adapters/kafka/bus.ts";
import { describeSecurity, kafkaSecurityOptions } from "./src/adapters/kafka/security.ts";
import { DuplicateEngineWatch } from "./src/adapters/kafka/duplicate_engine.ts";
import { HealthPortInUseError, HealthServer } from "./src/adapters/health/server.ts";
import { WorkerChargingMeter } from "./src/adapters/charging/worker.ts";
import { SqliteOutbox, StateDirError } from "./src/adapters/storage/sqlite_store.ts";
import { VERSION } from "./src/cli/version.ts";
import { OperatorConsole } from "./src/adapters/console/console.ts";
import { exitIfShutdownHangs, waitForStopSignal } from "./src/adapters/signals.ts";
import { PROBE_COMMAND, runProbeCommand } from "./src/cli/probe_command.ts";
import { FLEET_COMMAND, runFleetCommand } from "./src/cli/fleet_command.ts";

/** How long start-up waits for the registration to reach Kafka before opening the port. */
const REGISTRATION_WAIT_MS = 10_000;
/** Graceful shutdown must be over within this time (the contract allows 5 s). */
const SHUTDOWN_DEADLINE_MS = 4_500;

/** Exit code when the health port cannot be opened. */
export const EXIT_PORT_IN_USE = 1;
/** Exit code when Kafka rejects the SASL credentials (not transient: retrying cannot help). */
export const EXIT_KAFKA_AUTH = 3;

/** Runs the program with `args` (without the program name); resolves to the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  if (args[0] === PROBE_COMMAND) return await runProbeCommand(args.slice(1), processIo);
  if (args[0] === FLEET_COMMAND) return await runFleetCommand(args.slice(1), processIo);
  const cli = parseCli(args, processIo);
  if (cli.kind === "exit") return cli.code;
  return await runEngine(cli.config);
}

async function runEngine(config: EngineConfig): Promise<number> {
  // The operator console (only on a terminal) prints the log lines above its panel.
  const operatorConsole = OperatorConsole.create(config);
  await setupLogging({
    level: config.logLevel,
    format: config.logFormat,
    ...(operatorConsole === null ? {} : { sink: operatorConsole.logSink }),
  });
  const log = engineLogger("main").with({ cp_id: config.cpId });
  const seed = config.seed ?? Math.floor(Math.random() * 2 ** 31);
  log.info(
    "ev-cp-engine {version} starting: {location}, {max_power} kW, {tariff} EUR/kWh, seed {seed}",
    {
      version: VERSION,
      location: config.location,
      max_power: config.maxPowerKw,
      tariff: config.tariffEurPerKwh,
      seed,
    },
  );

  // The durable outbox and session journal: nothing starts without them.
  let store: SqliteOutbox;
  try {
    store = SqliteOutbox.open(config.stateDir, config.cpId, { clock: systemClock });
  } catch (error) {
    if (!(error instanceof StateDirError)) throw error;
    log.error(error.message);
    return EXIT_BAD_CONFIG;
  }
  const meter = new WorkerChargingMeter({ timeScale: config.timeScale });
  // This process's id, in every event it publishes (`engine_instance`): two engines running as
  // the same cp id see each other (src/adapters/duplicate_engine.ts).
  const engineInstance = crypto.randomUUID();
  const security = kafkaSecurityOptions(config);
  log.info("Kafka connection: {security}; engine instance {instance}", {
    security: describeSecurity(config),
    instance: engineInstance,
  });
  const bus = new KafkaBus({
    ...security,
    engineInstance,
    brokers: config.kafkaBrokers,
    clientId: `ev-cp-engine-${config.cpId}`,
    groupId: config.kafkaGroupId,
    cpEventsTopic: config.cpEventsTopic,
    centralEventsTopic: config.centralEventsTopic,
    drainRatePerSecond: config.outboxDrainRate,
  }, {
    logger: engineLogger("kafka").with({ cp_id: config.cpId }),
    clock: systemClock,
    outbox: store,
  });
  const engine = new Engine({
    cpId: config.cpId,
    location: config.location,
    maxPowerKw: config.maxPowerKw,
    tariffEurPerKwh: config.tariffEurPerKwh,
    progressIntervalMs: config.progressIntervalSeconds * 1000,
    timeScale: config.timeScale,
    cpEventsTopic: config.cpEventsTopic,
    commandMaxAgeMs: config.commandMaxAgeSeconds * 1000,
    powerRampSeconds: config.powerRampSeconds,
    settings: chargePointSettings(config),
  }, {
    clock: systemClock,
    random: seededRandom(seed),
    newId: () => crypto.randomUUID(),
    publisher: bus,
    meter,
    logger: engineLogger("engine"),
    journal: store,
  });

  operatorConsole?.attach(engine, bus);
  // Start-up order (protocol.md section 6): Kafka and registration, then the health port,
  // then `offline -> available` and commands.
  // Offline-first: the port opens once the registration is delivered, or as soon as a first
  // attempt finds Kafka unreachable; the registration still goes out first, from the outbox.
  const firstFailure = bus.nextFailure().then(() => false);
  bus.start();
  engine.register();
  // A session a crash interrupted is closed after the registration, before any status.
  engine.recover();
  if (!(await Promise.race([bus.flush(REGISTRATION_WAIT_MS), firstFailure]))) {
    log.warn("Registration not delivered yet: it goes out first when Kafka is reachable");
  }

  let health: HealthServer;
  try {
    health = HealthServer.listen({
      hostname: config.healthHost,
      port: config.healthPort,
      logger: engineLogger("health").with({ cp_id: config.cpId }),
    }, {
      healthAnswer: () => engine.healthAnswer(),
      onProbe: () => engine.probe(),
    });
  } catch (error) {
    if (!(error instanceof HealthPortInUseError)) throw error;
    log.error(error.message);
    await Promise.allSettled([bus.close(), meter.close()]);
    return EXIT_PORT_IN_USE;
  }
  // Available only once commands flow: a charging_started sent the moment Central sees
  // `available` must not fall before the consumer group's starting offset.
  bus.onConsuming(() => engine.markReady());
  const duplicates = new DuplicateEngineWatch({
    ...security,
    brokers: config.kafkaBrokers,
    clientId: `ev-cp-engine-${config.cpId}`,
    cpId: config.cpId,
    cpEventsTopic: config.cpEventsTopic,
    commandGroupId: config.kafkaGroupId,
    engineInstance,
  }, { logger: engineLogger("duplicates").with({ cp_id: config.cpId }), clock: systemClock });
  bus.onConnected(() => duplicates.start());
  bus.onConsuming(() => void duplicates.checkGroup());
  await bus.consumeCommands((value) => engine.receive(value));

  const stop = await Promise.race([
    waitForStopSignal(operatorConsole?.quitRequested),
    bus.authenticationFailure,
  ]);
  if (typeof stop !== "string") {
    log.error(stop.message);
    await Promise.allSettled([health.close(), bus.close(), meter.close(), duplicates.close()]);
    operatorConsole?.close();
    return EXIT_KAFKA_AUTH;
  }
  const signal = stop;
  log.info("Received {signal}: shutting down", { signal });
  const cancelGuard = exitIfShutdownHangs(log, SHUTDOWN_DEADLINE_MS + 500);
  const delivered = await engine.shutdown(SHUTDOWN_DEADLINE_MS);
  if (!delivered) log.warn("Some events could not be delivered before exit");
  await Promise.allSettled([health.close(), bus.close(), meter.close(), duplicates.close()]);
  cancelGuard();
  log.info("Stopped");
  operatorConsole?.close();
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
