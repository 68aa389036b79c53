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
} from "../adapters/logging.ts";
import type { ChargePointSettings, PlugInMode } from "../domain/charge_point.ts";
import { versionText } from "./version.ts";
import {
  type KafkaSecuritySettings,
  parseSwitch,
  readCaFile,
  readPasswordFile,
  SASL_MECHANISMS,
  Secret,
  securityProblem,
} from "../adapters/kafka/security.ts";

/**
 * Everything one engine is configured with; the Kafka security fields (TLS, SASL) are those of
 * {@linkcode KafkaSecuritySettings}.
 */
export interface EngineConfig extends KafkaSecuritySettings {
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
  /** Simulated seconds of a session's power ramp (0: none). */
  readonly powerRampSeconds: number;
  /** Seconds to wait at start-up for a Monitor before going available without one. */
  readonly monitorWaitSeconds: number;
  readonly monitorTimeoutSeconds: number;
  readonly commandMaxAgeSeconds: number;
  readonly plugIn: PlugInMode;
  readonly plugInTimeoutSeconds: number;
  /** `auto`: the operator console when stdin and stdout are terminals; `off`: plain logs. */
  readonly consoleMode: ConsoleMode;
  /** User of a manual session started with the console's `M` key; null: the console asks. */
  readonly localUser: string | null;
  /** Directory of the durable state; one sub-directory per cp id. */
  readonly stateDir: string;
  /** Events per second sent while a backlog drains. */
  readonly outboxDrainRate: number;
}

/** Whether the operator console may be shown (`--console`, `--no-console`, `CONSOLE`). */
export type ConsoleMode = "auto" | "off";

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

/** A validator from another module, its error turned into commander's. */
function checked<T>(parse: (raw: string) => T): (raw: string) => T {
  return (raw) => {
    try {
      return parse(raw);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
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
export interface Setting {
  readonly flag: string;
  readonly env: string;
  readonly description: string;
  /** The default as the help shows it, or undefined for none. */
  readonly shown?: string;
  readonly parse: (raw: string) => unknown;
  /** Set by an environment variable only, never a flag (a secret would show in `ps`). */
  readonly envOnly?: boolean;
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
    shown: "1",
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
  powerRampSeconds: {
    flag: "--power-ramp <s>",
    env: "POWER_RAMP",
    description: "simulated seconds a session's power takes to reach its plateau " +
      "(0: the plateau from the first second, as the original engine)",
    shown: "0",
    parse: number("a number of seconds from 0 to 3600", (n) => n >= 0 && n <= 3600),
  },
  monitorWaitSeconds: {
    flag: "--monitor-wait <s>",
    env: "MONITOR_WAIT",
    description: "at start-up, seconds to wait for a Monitor to start probing before going " +
      "available without one (0: do not wait)",
    shown: "20",
    parse: number("a number of seconds from 0 to 3600", (n) => n >= 0 && n <= 3600),
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
  consoleMode: {
    flag: "--console <mode>",
    env: "CONSOLE",
    description: "auto: operator console when stdin and stdout are terminals; " +
      "off (also --no-console, CONSOLE=false): plain logs",
    shown: "auto",
    parse: oneOf(["auto", "off"] as const, { true: "auto", on: "auto", false: "off", no: "off" }),
  },
  localUser: {
    flag: "--local-user <name>",
    env: "LOCAL_USER",
    description: "user of a manual session started with the console's M key (default: ask)",
    parse: text("a user name of 1 to 64 characters, no control characters", /^[^\p{C}]{1,64}$/u),
  },
  stateDir: {
    flag: "--state-dir <dir>",
    env: "STATE_DIR",
    description: "directory of the durable outbox and session journal (<dir>/<cp-id>/)",
    shown: "./state",
    parse: text("a directory path", /^[^\0]{1,4096}$/),
  },
  outboxDrainRate: {
    flag: "--outbox-drain-rate <events/s>",
    env: "OUTBOX_DRAIN_RATE",
    description: "events per second sent while a backlog drains after an outage",
    shown: "100",
    parse: number("a number of events per second from 1 to 100000", (n) => n >= 1 && n <= 100_000),
  },
  kafkaSsl: {
    flag: "--kafka-ssl [on|off]",
    env: "KAFKA_SSL",
    description: "connect to Kafka over TLS",
    shown: "off",
    parse: checked(parseSwitch),
  },
  kafkaSslCa: {
    flag: "--kafka-ssl-ca-file <path>",
    env: "KAFKA_SSL_CA_FILE",
    description: "PEM file of the CA certificates that signed the brokers' (instead of the " +
      "default roots); under ./secrets or /run/secrets",
    parse: checked(readCaFile),
  },
  kafkaSaslMechanism: {
    flag: "--kafka-sasl-mechanism <mechanism>",
    env: "KAFKA_SASL_MECHANISM",
    description: `SASL authentication with Kafka: ${SASL_MECHANISMS.join(", ")}`,
    shown: "none",
    parse: oneOf(SASL_MECHANISMS),
  },
  kafkaSaslUsername: {
    flag: "--kafka-sasl-username <user>",
    env: "KAFKA_SASL_USERNAME",
    description: "SASL user name",
    parse: text("a user name of 1 to 255 characters, no control characters", /^[^\p{C}]{1,255}$/u),
  },
  kafkaSaslPassword: {
    flag: "--kafka-sasl-password <password>",
    env: "KAFKA_SASL_PASSWORD",
    description: "SASL password (environment only)",
    envOnly: true,
    parse: (raw: string) => new Secret(raw),
  },
  kafkaSaslPasswordFile: {
    flag: "--kafka-sasl-password-file <path>",
    env: "KAFKA_SASL_PASSWORD_FILE",
    description: "file holding the SASL password, under ./secrets or /run/secrets " +
      "(or set KAFKA_SASL_PASSWORD)",
    parse: checked(readPasswordFile),
  },
} as const satisfies Record<keyof EngineConfig, Setting>;

/** Defaults of the settings that have one. */
const DEFAULTS: Omit<EngineConfig, "kafkaGroupId" | "seed" | "localUser"> = {
  cpId: "CP_001",
  location: "Unknown Location",
  maxPowerKw: 22.0,
  tariffEurPerKwh: 0.30,
  healthPort: 5100,
  healthHost: "0.0.0.0",
  kafkaBrokers: ["localhost:9092"],
  progressIntervalSeconds: 1,
  powerRampSeconds: 0,
  monitorWaitSeconds: 20,
  cpEventsTopic: "cp-events",
  centralEventsTopic: "central-events",
  timeScale: 1,
  logLevel: "info",
  logFormat: "text",
  monitorTimeoutSeconds: 5,
  commandMaxAgeSeconds: 30,
  plugIn: "auto",
  plugInTimeoutSeconds: 60,
  consoleMode: "auto",
  stateDir: "./state",
  outboxDrainRate: 100,
  kafkaSsl: false,
  kafkaSslCa: null,
  kafkaSaslMechanism: null,
  kafkaSaslUsername: null,
  kafkaSaslPassword: null,
  kafkaSaslPasswordFile: null,
};

/** The `fleet` sub-command's own settings (src/cli_fleet.ts); it also takes the engine's. */
export interface FleetSettings {
  /** How many generated points (`CP_0001`...); null when `--file` lists them. */
  readonly count: number | null;
  /** A JSON or YAML file listing the points; null with `--count`. */
  readonly file: string | null;
  /** Health port of the first generated point; the next ones follow (0: any free port). */
  readonly healthPortBase: number;
  /** Auto sessions started per simulated minute across the fleet (0: none). */
  readonly autoSessions: number;
  /** Length of an auto session, simulated minutes `min-max`. */
  readonly sessionMinutes: { readonly min: number; readonly max: number };
  /** Chaos: faults per point per simulated hour (0: none). */
  readonly chaos: number;
  /** Length of an injected fault, simulated seconds `min-max`. */
  readonly faultSeconds: { readonly min: number; readonly max: number };
}

function range(what: string): (raw: string) => { min: number; max: number } {
  return (raw) => {
    const match = /^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$/.exec(raw);
    const min = Number(match?.[1]);
    const max = Number(match?.[2]);
    if (!match || !(min > 0) || !(max >= min)) {
      throw new InvalidArgumentError(`expected ${what} as min-max with 0 < min <= max`);
    }
    return { min, max };
  };
}

/** The `fleet` sub-command's rows of the settings table. */
export const FLEET_SETTINGS = {
  count: {
    flag: "--count <n>",
    env: "FLEET_COUNT",
    description: "number of charging points CP_0001... (or use --file)",
    parse: number(
      "a whole number of charging points from 1 to 10000",
      (n) => Number.isInteger(n) && n >= 1 && n <= 10_000,
    ),
  },
  file: {
    flag: "--file <path>",
    env: "FLEET_FILE",
    description: "JSON or YAML list of points: id, location, max_power, tariff, health_port",
    parse: text("a file path", /^.{1,4096}$/),
  },
  healthPortBase: {
    flag: "--health-port-base <port>",
    env: "HEALTH_PORT_BASE",
    description: "health port of CP_0001, the next points count up (0: any free ports)",
    shown: "5100",
    parse: number("a TCP port from 0 to 65535", (n) => Number.isInteger(n) && n >= 0 && n <= 65535),
  },
  autoSessions: {
    flag: "--auto-sessions <per-minute>",
    env: "AUTO_SESSIONS",
    description: "sessions started on idle points per simulated minute, fleet-wide (0: none)",
    shown: "0",
    parse: number(
      "a number of sessions per minute from 0 to 100000",
      (n) => n >= 0 && n <= 100_000,
    ),
  },
  sessionMinutes: {
    flag: "--session-minutes <min-max>",
    env: "SESSION_MINUTES",
    description: "length of an auto session in simulated minutes",
    shown: "15-120",
    parse: range("minutes"),
  },
  chaos: {
    flag: "--chaos <per-hour>",
    env: "CHAOS",
    description: "faults injected per point per simulated hour, each recovering later (0: none)",
    shown: "0",
    parse: number("a number of faults per hour from 0 to 3600", (n) => n >= 0 && n <= 3600),
  },
  faultSeconds: {
    flag: "--fault-seconds <min-max>",
    env: "FAULT_SECONDS",
    description: "length of an injected fault in simulated seconds",
    shown: "30-300",
    parse: range("seconds"),
  },
} as const satisfies Record<keyof FleetSettings, Setting>;

/** Every environment variable the engine reads (for permissions and documentation). */
export const ENV_VARS: readonly string[] = [
  ...Object.values(SETTINGS),
  ...Object.values(FLEET_SETTINGS),
].map((setting) => setting.env);

/** Adds the options of a settings table (the engine's by default) to `command`. */
export function addSettings(
  command: Command,
  table: Readonly<Record<string, Setting>> = SETTINGS,
): Command {
  for (const setting of Object.values(table)) {
    if (setting.envOnly) continue;
    // Environment variables are read in readConfig, through CliIo: tests stay hermetic and
    // every variable is named, which scoped --allow-env permissions need.
    const shown = setting.shown === undefined ? "" : `, default: ${setting.shown}`;
    const option = new Option(setting.flag, `${setting.description} [env: ${setting.env}${shown}]`)
      .argParser((raw) => setting.parse(raw));
    command.addOption(option);
  }
  return command;
}

/**
 * A command with the engine's command-line conventions: help on `-h, --help`, output through `io`
 * without colours, errors on one line with a suggestion for a mistyped flag, no stray arguments,
 * and `exitOverride` (parsing throws a `CommanderError` instead of exiting; see
 * {@linkcode parseCommand}). Used by the engine and its `probe` and `fleet` sub-commands.
 */
export function newCommand(name: string, description: string, io: CliIo): Command {
  return new Command(name)
    .description(description)
    .helpOption("-h, --help", "show this help")
    .exitOverride()
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      // Plain help text: commander would otherwise read NO_COLOR, FORCE_COLOR and
      // CLICOLOR_FORCE, which the scoped --allow-env does not grant.
      getOutHasColors: () => false,
      getErrHasColors: () => false,
      outputError: (message, write) => write(message.replace(/\n(?=.)/g, " ")),
    })
    .showSuggestionAfterError(true)
    .allowExcessArguments(false);
}

/**
 * The code of a `CommanderError` an action throws for a bad environment value or configuration:
 * {@linkcode parseCommand} prints its message, since commander prints only its own errors.
 */
const INVALID_ENV = "config.invalidEnv";

/**
 * Parses `args` (without the program name) with a command built by {@linkcode newCommand}.
 * Returns null when the command's action ran; otherwise help, the version or an error was
 * printed and the result is the exit code: 0 after help or the version, `failureCode` for an
 * error.
 */
export function parseCommand(
  command: Command,
  args: readonly string[],
  io: CliIo,
  failureCode: number,
): number | null {
  try {
    command.parse([...args], { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.code === INVALID_ENV) io.stderr(`${error.message}\n`);
    const success = error.code === "commander.helpDisplayed" || error.code === "commander.version";
    return success ? 0 : failureCode;
  }
  return null;
}

/** Builds the `ev-cp-engine` command line (shared with sub-commands added elsewhere). */
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
      "\nCommands:\n  probe [--host H] [--port P] [--framed] [--timeout S]  ask an engine's health " +
        "port once (exit 0: OK, 1: KO, 2: no answer); see `ev-cp-engine probe --help`" +
        "\n  fleet --count N | --file F  many charging points in one process, with optional " +
        "auto sessions and chaos; see `ev-cp-engine fleet --help`",
    );
  return addSettings(program).addOption(new Option("--no-console", "same as --console off"));
}

/**
 * The error for a bad environment value, thrown from an action: one line naming the variable, the
 * flag it stands for, the value and what is expected (`problem`, the validator's message).
 */
export function invalidEnvError(
  env: string,
  flag: string,
  raw: string,
  problem: string,
): CommanderError {
  return invalidConfigError(`${env}=${JSON.stringify(raw)} (for ${flag}) is invalid: ${problem}`);
}

/** The error for a bad configuration found in an action (`message` without `error: `). */
export function invalidConfigError(message: string): CommanderError {
  return new CommanderError(EXIT_BAD_CONFIG, INVALID_ENV, `error: ${message}`);
}

/**
 * One setting of a table: the value of its flag among `options` (`command.opts()`), else its
 * environment variable's parsed, else undefined (no default applied).
 */
export function readSetting(
  options: Readonly<Record<string, unknown>>,
  setting: Setting,
  io: CliIo,
): unknown {
  const fromFlag = options[new Option(setting.flag).attributeName()];
  if (fromFlag !== undefined) return fromFlag;
  const raw = io.env(setting.env);
  if (raw === undefined || raw === "") return undefined;
  try {
    return setting.parse(raw);
  } catch (error) {
    throw invalidEnvError(setting.env, setting.flag.split(" ")[0]!, raw, (error as Error).message);
  }
}

/** Reads the options commander collected, with environment values and defaults applied. */
export function readConfig(command: Command, io: CliIo): EngineConfig {
  const options = command.opts<Record<string, unknown>>();
  const pick = <K extends keyof EngineConfig>(key: K) =>
    readSetting(options, SETTINGS[key], io) as EngineConfig[K] | undefined;
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
    powerRampSeconds: value("powerRampSeconds"),
    monitorWaitSeconds: value("monitorWaitSeconds"),
    monitorTimeoutSeconds: value("monitorTimeoutSeconds"),
    commandMaxAgeSeconds: value("commandMaxAgeSeconds"),
    plugIn: value("plugIn"),
    plugInTimeoutSeconds: value("plugInTimeoutSeconds"),
    // `--no-console` sets the same option to false.
    consoleMode: (pick("consoleMode") as unknown) === false ? "off" : value("consoleMode"),
    localUser: pick("localUser") ?? null,
    stateDir: value("stateDir"),
    outboxDrainRate: value("outboxDrainRate"),
    kafkaSsl: value("kafkaSsl"),
    kafkaSslCa: value("kafkaSslCa"),
    kafkaSaslMechanism: value("kafkaSaslMechanism"),
    kafkaSaslUsername: value("kafkaSaslUsername"),
    kafkaSaslPassword: value("kafkaSaslPassword"),
    kafkaSaslPasswordFile: value("kafkaSaslPasswordFile"),
  };
}

/** Parses the command line (`args` without the program name). Prints help, version, errors. */
export function parseCli(args: readonly string[], io: CliIo): CliResult {
  const program = buildCli(io);
  let config: EngineConfig | null = null;
  program.action(() => {
    config = readConfig(program, io);
    const problem = securityProblem(config);
    if (problem !== null) {
      throw invalidConfigError(problem);
    }
  });
  const exitCode = parseCommand(program, args, io, EXIT_BAD_CONFIG);
  if (exitCode !== null) return { kind: "exit", code: exitCode };
  if (config === null) return { kind: "exit", code: EXIT_BAD_CONFIG };
  return { kind: "engine", config };
}

/** The real process environment and output streams. */
export const processIo: CliIo = {
  env: (name) => Deno.env.get(name),
  stdout: (text) => Deno.stdout.writeSync(new TextEncoder().encode(text)),
  stderr: (text) => Deno.stderr.writeSync(new TextEncoder().encode(text)),
};

/** The state machine's settings from a configuration (single engine and fleet alike). */
export function chargePointSettings(config: EngineConfig): Partial<ChargePointSettings> {
  return {
    plugInMode: config.plugIn,
    plugInTimeoutMs: config.plugInTimeoutSeconds * 1000,
    monitorTimeoutMs: config.monitorTimeoutSeconds * 1000,
    monitorWaitMs: config.monitorWaitSeconds * 1000,
  };
}
