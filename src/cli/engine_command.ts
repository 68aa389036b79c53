/**
 * `ev-cp-engine [options]`: one charging point, with its operator console when it runs on a
 * terminal. Exit codes: 0 after a graceful shutdown, 1 when the health port or the web panel's
 * port is in use, 2 for a bad flag, environment value or state directory, 3 when Kafka rejects
 * the credentials.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { Lifecycle, type LifecycleOutcome } from "../app/lifecycle.ts";
import { createPoints } from "../app/points.ts";
import { systemClock } from "../adapters/clock.ts";
import type { OperatorConsole } from "../adapters/console/console.ts";
import { DuplicateEngineWatch } from "../adapters/kafka/duplicate_engine.ts";
import { kafkaSecurityOptions } from "../adapters/kafka/security.ts";
import { engineLogger, setupLogging } from "../adapters/logging.ts";
import { seededRandom } from "../domain/random.ts";
import { addSettings, type CliIo, newCommand, parseCommand, readConfig } from "./command_line.ts";
import { EXIT_BAD_CONFIG, EXIT_KAFKA_AUTH, EXIT_OK, EXIT_PORT_IN_USE } from "./exit_codes.ts";
import {
  buildRuntime,
  healthPortsFree,
  newEngineInstance,
  newMessageId,
  pointBehaviour,
  resolveSeed,
  webPortFree,
} from "./runtime.ts";
import type { EngineConfig } from "./settings.ts";
import { VERSION, versionText } from "./version.ts";

/** The result of reading the command line. */
export type CliResult =
  | { readonly kind: "engine"; readonly config: EngineConfig }
  /** Help, version or an error was printed; exit with `code`. */
  | { readonly kind: "exit"; readonly code: number };

/** Examples shown by `--help`: a first run, a lab without a Monitor, a real site, a container. */
export const ENGINE_EXAMPLES: readonly string[] = [
  "ev-cp-engine                                        # CP_001 against localhost:9092",
  "ev-cp-engine --monitor-wait 0 --local-user alice    # a lab: available at once, M starts a session",
  "ev-cp-engine --cp-id CP_007 --health-port 5107 --kafka-broker kafka1:9092,kafka2:9092",
  "CP_ID=CP_002 KAFKA_BROKER=kafka:9092 ev-cp-engine --log-format json",
  "ev-cp-engine send charging_started --cp-id CP_001 --user alice",
];

/** Builds the `ev-cp-engine` command line. */
export function buildCli(io: CliIo): Command {
  const program = newCommand(
    "ev-cp-engine",
    "Charging point engine of an EVCharging network: registers with Central over Kafka, " +
      "simulates charging sessions and answers the Monitor's health checks.",
    io,
  )
    .version(versionText(), "-V, --version", "print the version, the Deno version and target")
    .addHelpText(
      "after",
      "\nCommands (`ev-cp-engine <command> --help` for each):" +
        "\n  probe  ask an engine's health port once (exit 0: OK, 1: KO, 2: no answer)" +
        "\n  fleet  many charging points in one process, with optional auto sessions and chaos" +
        "\n  send   play Central: send a command to a point (charging_started, CP_FAULT, ...)" +
        `\n\nExamples:\n${ENGINE_EXAMPLES.map((line) => `  ${line}`).join("\n")}` +
        "\n\nWithout a broker the engine starts anyway, keeps its events and retries; in the " +
        "source tree `deno task dev` starts a local broker and the engine together.",
    );
  return addSettings(program).addOption(new Option("--no-console", "same as --console off"));
}

/** Parses the command line (`args` without the program name). Prints help, version, errors. */
export function parseCli(args: readonly string[], io: CliIo): CliResult {
  const program = buildCli(io);
  let config: EngineConfig | null = null;
  program.action(() => {
    config = readConfig(program, io);
  });
  const exitCode = parseCommand(program, args, io, EXIT_BAD_CONFIG);
  if (exitCode !== null) return { kind: "exit", code: exitCode };
  if (config === null) return { kind: "exit", code: EXIT_BAD_CONFIG };
  return { kind: "engine", config };
}

/** The exit code of how a process ended. */
export function exitCodeOf(outcome: LifecycleOutcome): number {
  switch (outcome.kind) {
    case "stopped":
      return EXIT_OK;
    case "port_in_use":
      return EXIT_PORT_IN_USE;
    case "authentication_failed":
      return EXIT_KAFKA_AUTH;
  }
}

/** Runs one charging point until SIGINT / SIGTERM (or the console's Q); resolves to the exit code. */
export async function runEngineCommand(args: readonly string[], io: CliIo): Promise<number> {
  const cli = parseCli(args, io);
  if (cli.kind === "exit") return cli.code;
  const config = cli.config;
  // The operator console (only on a terminal) prints the log lines above its panel. Its modules
  // load only when it may be shown: an engine run as a service never pays for them.
  const operatorConsole = await createConsole(config);
  await setupLogging({
    level: config.logLevel,
    format: config.logFormat,
    ...(operatorConsole === null ? {} : { sink: operatorConsole.logSink }),
  });
  const log = engineLogger("main").with({ cp_id: config.cpId });
  const seed = resolveSeed(config.seed);
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
  // This process's id, in every event it publishes (`engine_instance`): two engines running as
  // the same cp id see each other (src/adapters/kafka/duplicate_engine.ts).
  const engineInstance = newEngineInstance();
  const health = { hostname: config.healthHost, port: config.healthPort };
  if (!healthPortsFree([health], log) || !webPortFree(config, log)) {
    operatorConsole?.close();
    return EXIT_PORT_IN_USE;
  }
  const runtime = buildRuntime({
    config,
    stateName: config.cpId,
    groupId: config.kafkaGroupId,
    clientId: `ev-cp-engine-${config.cpId}`,
    drainRatePerSecond: config.outboxDrainRate,
    engineInstance,
    logCpId: config.cpId,
  }, log);
  if (runtime === null) return EXIT_BAD_CONFIG;
  const [engine] = createPoints([config], pointBehaviour(config), {
    clock: runtime.clock,
    newId: newMessageId,
    publisher: runtime.bus,
    meter: runtime.meter,
    logger: engineLogger("engine"),
    journalOf: () => runtime.store,
    randomOf: () => seededRandom(seed),
  });
  const duplicates = new DuplicateEngineWatch({
    ...kafkaSecurityOptions(config),
    brokers: config.kafkaBrokers,
    clientId: `ev-cp-engine-${config.cpId}`,
    cpId: config.cpId,
    cpEventsTopic: config.cpEventsTopic,
    commandGroupId: config.kafkaGroupId,
    engineInstance,
  }, { logger: engineLogger("duplicates").with({ cp_id: config.cpId }), clock: systemClock });
  const lifecycle = new Lifecycle({
    points: [{ engine: engine!, health }],
    route: (value) => engine!.receive(value),
  }, {
    ...runtime,
    duplicateWatch: duplicates,
    ...(operatorConsole === null ? {} : { console: operatorConsole }),
  });
  return exitCodeOf(await lifecycle.run());
}

/** The operator console, when the engine runs on a terminal with the console on; else null. */
async function createConsole(config: EngineConfig): Promise<OperatorConsole | null> {
  if (config.consoleMode === "off" || !Deno.stdin.isTerminal() || !Deno.stdout.isTerminal()) {
    return null;
  }
  const { OperatorConsole } = await import("../adapters/console/console.ts");
  return OperatorConsole.create(config);
}
