/**
 * ev-cp-engine: the charging point engine of an EVCharging network.
 *
 * The composition root: reads the configuration, builds the adapters, wires them to the
 * engine in the start-up order of the wire contract, and shuts down on SIGINT / SIGTERM.
 *
 * @module
 */
import { type EngineConfig, parseCli, processIo } from "./src/config.ts";
import { Engine } from "./src/engine.ts";
import { seededRandom } from "./src/domain/random.ts";
import { systemClock } from "./src/ports.ts";
import { engineLogger, setupLogging } from "./src/adapters/logging.ts";
import { KafkaBus } from "./src/adapters/kafka.ts";
import { HealthPortInUseError, HealthServer } from "./src/adapters/health_server.ts";
import { WorkerChargingMeter } from "./src/adapters/charging_worker.ts";
import { VERSION } from "./src/version.ts";

/** How long start-up waits for the registration to reach Kafka before opening the port. */
const REGISTRATION_WAIT_MS = 10_000;
/** Graceful shutdown must be over within this time (the contract allows 5 s). */
const SHUTDOWN_DEADLINE_MS = 4_500;

/** Exit code when the health port cannot be opened. */
export const EXIT_PORT_IN_USE = 1;

/** Runs the program with `args` (without the program name); resolves to the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const cli = parseCli(args, processIo);
  if (cli.kind === "exit") return cli.code;
  return await runEngine(cli.config);
}

async function runEngine(config: EngineConfig): Promise<number> {
  await setupLogging({ level: config.logLevel, format: config.logFormat });
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

  const meter = new WorkerChargingMeter({ timeScale: config.timeScale });
  const bus = new KafkaBus({
    brokers: config.kafkaBrokers,
    clientId: `ev-cp-engine-${config.cpId}`,
    groupId: config.kafkaGroupId,
    cpEventsTopic: config.cpEventsTopic,
    centralEventsTopic: config.centralEventsTopic,
  }, { logger: engineLogger("kafka").with({ cp_id: config.cpId }), clock: systemClock });
  const engine = new Engine({
    cpId: config.cpId,
    location: config.location,
    maxPowerKw: config.maxPowerKw,
    tariffEurPerKwh: config.tariffEurPerKwh,
    progressIntervalMs: config.progressIntervalSeconds * 1000,
    timeScale: config.timeScale,
    cpEventsTopic: config.cpEventsTopic,
    commandMaxAgeMs: config.commandMaxAgeSeconds * 1000,
    settings: {
      plugInMode: config.plugIn,
      plugInTimeoutMs: config.plugInTimeoutSeconds * 1000,
      monitorTimeoutMs: config.monitorTimeoutSeconds * 1000,
    },
  }, {
    clock: systemClock,
    random: seededRandom(seed),
    newId: () => crypto.randomUUID(),
    publisher: bus,
    meter,
    logger: engineLogger("engine"),
  });

  // Start-up order (protocol.md section 6): Kafka and registration, then the health port,
  // then `offline -> available` and commands.
  bus.start();
  engine.register();
  if (!(await bus.flush(REGISTRATION_WAIT_MS))) {
    log.warn("Registration not delivered yet: it goes out first when Kafka is reachable");
  }

  let health: HealthServer;
  try {
    health = HealthServer.listen({ hostname: config.healthHost, port: config.healthPort }, {
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
  await bus.consumeCommands((value) => engine.receive(value));

  const signal = await waitForSignal();
  log.info("Received {signal}: shutting down", { signal });
  const guard = setTimeout(() => {
    log.error("Shutdown took too long: exiting anyway");
    Deno.exit(1);
  }, SHUTDOWN_DEADLINE_MS + 500);
  const delivered = await engine.shutdown(SHUTDOWN_DEADLINE_MS);
  if (!delivered) log.warn("Some events could not be delivered before exit");
  await Promise.allSettled([health.close(), bus.close(), meter.close()]);
  clearTimeout(guard);
  log.info("Stopped");
  return 0;
}

function waitForSignal(): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = Deno.build.os === "windows"
      ? ["SIGINT", "SIGBREAK"]
      : ["SIGINT", "SIGTERM"];
    const handlers = signals.map((signal) => {
      const handler = () => {
        for (const [name, fn] of handlers) Deno.removeSignalListener(name, fn);
        resolve(signal);
      };
      Deno.addSignalListener(signal, handler);
      return [signal, handler] as const;
    });
  });
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
