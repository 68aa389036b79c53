/**
 * The engine's settings in one table: flag, environment variable, default, description and
 * validation. A flag beats its environment variable, which beats the default. A bad value gives
 * one line naming the flag, the value and what is expected, and exit code 2.
 *
 * The command-line library (commander) is used only here.
 *
 * @module
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import {
  type EngineLogFormat,
  type EngineLogLevel,
  LOG_FORMATS,
  LOG_LEVELS,
} from "./adapters/logging.ts";
import type { PlugInMode } from "./domain/charge_point.ts";
import { VERSION } from "./version.ts";

/** Everything one engine is configured with. */
export interface EngineConfig {
  readonly cpId: string;
  readonly location: string;
  readonly maxPowerKw: number;
  readonly tariffEurPerKwh: number;
  readonly healthPort: number;
  readonly healthHost: string;
  readonly kafkaBrokers: readonly string[];
  readonly kafkaGroupId: string;
  readonly progressIntervalSeconds: number;
  readonly cpEventsTopic: string;
  readonly centralEventsTopic: string;
  readonly timeScale: number;
  /** Null when no seed was given (a random one is drawn and logged). */
  readonly seed: number | null;
  readonly logLevel: EngineLogLevel;
  readonly logFormat: EngineLogFormat;
  readonly monitorTimeoutSeconds: number;
  readonly commandMaxAgeSeconds: number;
  readonly plugIn: PlugInMode;
  readonly plugInTimeoutSeconds: number;
}

/** The result of reading the command line. */
export type CliResult =
  | { readonly kind: "engine"; readonly config: EngineConfig }
  /** Help, version or an error was printed; exit with `code`. */
  | { readonly kind: "exit"; readonly code: number };

/** Where the parser reads the environment and writes its output (tests pass their own). */
export interface CliIo {
  readonly env: (name: string) => string | undefined;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** Exit code for a bad flag or environment value. */
export const EXIT_BAD_CONFIG = 2;

// --- Validators: each returns the value or throws InvalidArgumentError saying what is expected.

function number(what: string, check: (n: number) => boolean): (raw: string) => number {
  return (raw) => {
    const value = raw.trim() === "" ? Number.NaN : Number(raw);
    if (!Number.isFinite(value) || !check(value)) {
      throw new InvalidArgumentError(`expected ${what}`);
    }
    return value;
  };
}

function text(what: string, pattern: RegExp): (raw: string) => string {
  return (raw) => {
    const value = raw.trim();
    if (!pattern.test(value)) throw new InvalidArgumentError(`expected ${what}`);
    return value;
  };
}

function oneOf<T extends string>(choices: readonly T[], aliases: Record<string, T> = {}) {
  return (raw: string): T => {
    const value = raw.trim().toLowerCase();
    const found = choices.find((choice) => choice === value) ?? aliases[value];
    if (found === undefined) {
      throw new InvalidArgumentError(`expected one of ${choices.join(", ")}`);
    }
    return found;
  };
}

const BROKER = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

function brokers(raw: string): string[] {
  const list = raw.split(",").map((item) => item.trim());
  if (list.length === 0 || list.some((item) => item === "")) {
    throw new InvalidArgumentError("expected a comma-separated list of host:port");
  }
  for (const item of list) {
    const match = BROKER.exec(item);
    const port = match ? Number(match[2]) : 0;
    if (!match || port < 1 || port > 65535) {
      throw new InvalidArgumentError(
        `expected a comma-separated list of host:port with a port from 1 to 65535 ("${item}" is not)`,
      );
    }
  }
  return list;
}

const CP_ID = /^[A-Za-z0-9._-]{1,64}$/;
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

/** One row of the settings table. */
interface Setting {
  readonly flag: string;
  readonly env: string;
  readonly description: string;
  /** The default as the help shows it, or undefined for none. */
  readonly shown?: string;
  readonly parse: (raw: string) => unknown;
}

/** The settings table: the single source of flags, env vars, defaults and validation. */
export const SETTINGS = {
  cpId: {
    flag: "--cp-id <id>",
    env: "CP_ID",
    description: "charging point id (letters, digits, . _ -; at most 64)",
    shown: "CP_001",
    parse: text("a non-empty id of letters, digits, '.', '_' or '-' (at most 64)", CP_ID),
  },
  location: {
    flag: "--location <text>",
    env: "LOCATION",
    description: "where the charging point is",
    shown: "Unknown Location",
    parse: text("a non-empty location", /^.{1,200}$/),
  },
  maxPowerKw: {
    flag: "--max-power <kW>",
    env: "MAX_POWER",
    description: "maximum power in kW",
    shown: "22.0",
    parse: number("a positive number of kW up to 1000", (n) => n > 0 && n <= 1000),
  },
  tariffEurPerKwh: {
    flag: "--tariff <EUR/kWh>",
    env: "TARIFF",
    description: "price in EUR per kWh",
    shown: "0.30",
    parse: number("a price in EUR per kWh from 0 to 100", (n) => n >= 0 && n <= 100),
  },
  healthPort: {
    flag: "--health-port <port>",
    env: "HEALTH_PORT",
    description: "TCP port of the health check (0 picks a free one)",
    shown: "5100",
    parse: number("a TCP port from 0 to 65535", (n) => Number.isInteger(n) && n >= 0 && n <= 65535),
  },
  healthHost: {
    flag: "--health-host <address>",
    env: "HEALTH_HOST",
    description: "address the health check listens on",
    shown: "0.0.0.0",
    parse: text("a host name or IP address", /^[A-Za-z0-9.:[\]-]{1,253}$/),
  },
  kafkaBrokers: {
    flag: "--kafka-broker <host:port,...>",
    env: "KAFKA_BROKER",
    description: "Kafka bootstrap brokers, comma separated",
    shown: "localhost:9092",
    parse: brokers,
  },
  kafkaGroupId: {
    flag: "--group-id <id>",
    env: "KAFKA_GROUP_ID",
    description: "consumer group for commands",
    shown: "engine_group_<cp-id>",
    parse: text("a non-empty consumer group id", /^[A-Za-z0-9._-]{1,249}$/),
  },
  progressIntervalSeconds: {
    flag: "--progress-interval <s>",
    env: "PROGRESS_INTERVAL",
    description: "seconds between two charging_progress messages",
    shown: "5",
    parse: number("a number of seconds from 1 to 3600", (n) => n >= 1 && n <= 3600),
  },
  cpEventsTopic: {
    flag: "--cp-events-topic <topic>",
    env: "CP_EVENTS_TOPIC",
    description: "topic the engine publishes on",
    shown: "cp-events",
    parse: text("a Kafka topic name (letters, digits, . _ -)", TOPIC),
  },
  centralEventsTopic: {
    flag: "--central-events-topic <topic>",
    env: "CENTRAL_EVENTS_TOPIC",
    description: "topic of Central's commands",
    shown: "central-events",
    parse: text("a Kafka topic name (letters, digits, . _ -)", TOPIC),
  },
  timeScale: {
    flag: "--time-scale <factor>",
    env: "TIME_SCALE",
    description: "simulated seconds per real second (60: a minute per second)",
    shown: "1",
    parse: number("a positive factor up to 100000", (n) => n > 0 && n <= 100_000),
  },
  seed: {
    flag: "--seed <integer>",
    env: "SEED",
    description: "seed of the power draw, for reproducible runs",
    shown: "random",
    parse: number("an integer", (n) => Number.isSafeInteger(n)),
  },
  logLevel: {
    flag: "--log-level <level>",
    env: "LOG_LEVEL",
    description: `log level: ${LOG_LEVELS.join(", ")}`,
    shown: "info",
    parse: oneOf(LOG_LEVELS, { warn: "warning" }),
  },
  logFormat: {
    flag: "--log-format <format>",
    env: "LOG_FORMAT",
    description: `log format: ${LOG_FORMATS.join(", ")}`,
    shown: "text",
    parse: oneOf(LOG_FORMATS),
  },
  monitorTimeoutSeconds: {
    flag: "--monitor-timeout <s>",
    env: "MONITOR_TIMEOUT",
    description: "seconds without a Monitor probe before the Monitor counts as lost",
    shown: "5",
    parse: number("a number of seconds from 1 to 3600", (n) => n >= 1 && n <= 3600),
  },
  commandMaxAgeSeconds: {
    flag: "--command-max-age <s>",
    env: "COMMAND_MAX_AGE",
    description: "commands older than this are skipped",
    shown: "30",
    parse: number("a positive number of seconds", (n) => n > 0),
  },
  plugIn: {
    flag: "--plug-in <mode>",
    env: "PLUG_IN",
    description: "auto: supply at once; manual: wait for the vehicle (key P or CP_PLUG_IN)",
    shown: "auto",
    parse: oneOf(["auto", "manual"] as const),
  },
  plugInTimeoutSeconds: {
    flag: "--plug-in-timeout <s>",
    env: "PLUG_IN_TIMEOUT",
    description: "manual mode: seconds to wait for the vehicle",
    shown: "60",
    parse: number("a positive number of seconds", (n) => n > 0),
  },
} as const satisfies Record<keyof EngineConfig, Setting>;

/** Defaults of the settings that have one. */
const DEFAULTS: Omit<EngineConfig, "kafkaGroupId" | "seed"> = {
  cpId: "CP_001",
  location: "Unknown Location",
  maxPowerKw: 22.0,
  tariffEurPerKwh: 0.30,
  healthPort: 5100,
  healthHost: "0.0.0.0",
  kafkaBrokers: ["localhost:9092"],
  progressIntervalSeconds: 5,
  cpEventsTopic: "cp-events",
  centralEventsTopic: "central-events",
  timeScale: 1,
  logLevel: "info",
  logFormat: "text",
  monitorTimeoutSeconds: 5,
  commandMaxAgeSeconds: 30,
  plugIn: "auto",
  plugInTimeoutSeconds: 60,
};

/** Every environment variable the engine reads (for permissions and documentation). */
export const ENV_VARS: readonly string[] = Object.values(SETTINGS).map((setting) => setting.env);

function addSettings(command: Command): Command {
  for (const setting of Object.values(SETTINGS) as Setting[]) {
    // Environment variables are read in readConfig, through CliIo: tests stay hermetic and
    // every variable is named, which scoped --allow-env permissions need.
    const option = new Option(setting.flag, `${setting.description} [env: ${setting.env}]`)
      .argParser((raw) => setting.parse(raw));
    if (setting.shown !== undefined) option.default(undefined, setting.shown);
    command.addOption(option);
  }
  return command;
}

/** Builds the `ev-cp-engine` command line (shared with sub-commands added elsewhere). */
export function buildCli(io: CliIo): Command {
  const program = new Command("ev-cp-engine")
    .description(
      "Charging point engine of an EVCharging network: registers with Central over Kafka, " +
        "simulates charging sessions and answers the Monitor's health checks.",
    )
    .version(VERSION, "-V, --version", "print the version")
    .helpOption("-h, --help", "show this help")
    .exitOverride()
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      outputError: (message, write) => write(message),
    })
    .showSuggestionAfterError(true)
    .allowExcessArguments(false);
  return addSettings(program);
}

/** Reads the options commander collected, with environment values and defaults applied. */
function readConfig(command: Command, io: CliIo): EngineConfig {
  const options = command.opts<Record<string, unknown>>();
  const pick = <K extends keyof EngineConfig>(key: K): EngineConfig[K] | undefined => {
    const setting: Setting = SETTINGS[key];
    const fromFlag = options[new Option(setting.flag).attributeName()];
    if (fromFlag !== undefined) return fromFlag as EngineConfig[K];
    const raw = io.env(setting.env);
    if (raw === undefined || raw === "") return undefined;
    try {
      return setting.parse(raw) as EngineConfig[K];
    } catch (error) {
      const flag = setting.flag.split(" ")[0];
      throw new CommanderError(
        EXIT_BAD_CONFIG,
        "config.invalidEnv",
        `error: ${setting.env}=${JSON.stringify(raw)} (for ${flag}) is invalid: ${
          (error as Error).message
        }`,
      );
    }
  };
  const value = <K extends keyof typeof DEFAULTS>(key: K) => pick(key) ?? DEFAULTS[key];
  const cpId = value("cpId");
  return {
    cpId,
    location: value("location"),
    maxPowerKw: value("maxPowerKw"),
    tariffEurPerKwh: value("tariffEurPerKwh"),
    healthPort: value("healthPort"),
    healthHost: value("healthHost"),
    kafkaBrokers: value("kafkaBrokers"),
    kafkaGroupId: pick("kafkaGroupId") ?? `engine_group_${cpId}`,
    progressIntervalSeconds: value("progressIntervalSeconds"),
    cpEventsTopic: value("cpEventsTopic"),
    centralEventsTopic: value("centralEventsTopic"),
    timeScale: value("timeScale"),
    seed: pick("seed") ?? null,
    logLevel: value("logLevel"),
    logFormat: value("logFormat"),
    monitorTimeoutSeconds: value("monitorTimeoutSeconds"),
    commandMaxAgeSeconds: value("commandMaxAgeSeconds"),
    plugIn: value("plugIn"),
    plugInTimeoutSeconds: value("plugInTimeoutSeconds"),
  };
}

/** Parses the command line (`args` without the program name). Prints help, version, errors. */
export function parseCli(args: readonly string[], io: CliIo): CliResult {
  const program = buildCli(io);
  let config: EngineConfig | null = null;
  program.action(() => {
    config = readConfig(program, io);
  });
  try {
    program.parse([...args], { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.code === "config.invalidEnv") io.stderr(`${error.message}\n`);
    const success = error.code === "commander.helpDisplayed" || error.code === "commander.version";
    return { kind: "exit", code: success ? 0 : EXIT_BAD_CONFIG };
  }
  if (config === null) return { kind: "exit", code: EXIT_BAD_CONFIG };
  return { kind: "engine", config };
}

/** The real process environment and output streams. */
export const processIo: CliIo = {
  env: (name) => Deno.env.get(name),
  stdout: (text) => Deno.stdout.writeSync(new TextEncoder().encode(text)),
  stderr: (text) => Deno.stderr.writeSync(new TextEncoder().encode(text)),
};
