/**
 * The settings table: for every setting of the engine and of the fleet, its flag, environment
 * variable, typed default, help text and validation, in one place. The command line
 * (`command_line.ts`), the help, the permissions of the tasks and binaries (`tools/permissions.ts`)
 * and the configuration page of the docs all read it. A flag beats its environment variable,
 * which beats the default.
 *
 * Pure data and validators: no command-line library here.
 *
 * @module
 */
import {
  type EngineLogFormat,
  type EngineLogLevel,
  LOG_FORMATS,
  LOG_LEVELS,
} from "../adapters/logging.ts";
import type { ChargePointSettings, PlugInMode } from "../domain/charge_point.ts";
import {
  type KafkaSecuritySettings,
  parseSwitch,
  readCaFile,
  readPasswordFile,
  SASL_MECHANISMS,
  Secret,
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
  /** The most the state database may grow to, MB; null: no limit. */
  readonly stateMaxMb: number | null;
  /** Central's consumer groups start with this ("": do not watch for Central). */
  readonly centralGroupPrefix: string;
  /** Port of the web panel and metrics; null: no web panel (the default). */
  readonly httpPort: number | null;
  /** Address the web panel listens on (loopback by default: no controls exposed by accident). */
  readonly httpHost: string;
}

/** Whether the operator console may be shown (`--console`, `--no-console`, `CONSOLE`). */
export type ConsoleMode = "auto" | "off";

/** A value a validator does not accept; the message says what is expected. */
export class InvalidSettingError extends Error {
  /** `message` is what was expected, e.g. `expected a TCP port from 0 to 65535`. */
  constructor(message: string) {
    super(message);
    this.name = "InvalidSettingError";
  }
}

// --- Validators: each returns the value or throws InvalidSettingError saying what is expected.

function number(what: string, check: (n: number) => boolean): (raw: string) => number {
  return (raw) => {
    const value = raw.trim() === "" ? Number.NaN : Number(raw);
    if (!Number.isFinite(value) || !check(value)) {
      throw new InvalidSettingError(`expected ${what}`);
    }
    return value;
  };
}

function text(what: string, pattern: RegExp): (raw: string) => string {
  return (raw) => {
    const value = raw.trim();
    if (!pattern.test(value)) throw new InvalidSettingError(`expected ${what}`);
    return value;
  };
}

function oneOf<T extends string>(choices: readonly T[], aliases: Record<string, T> = {}) {
  return (raw: string): T => {
    const value = raw.trim().toLowerCase();
    const found = choices.find((choice) => choice === value) ?? aliases[value];
    if (found === undefined) {
      throw new InvalidSettingError(`expected one of ${choices.join(", ")}`);
    }
    return found;
  };
}

/** A validator from another module, its error turned into ours. */
function checked<T>(parse: (raw: string) => T): (raw: string) => T {
  return (raw) => {
    try {
      return parse(raw);
    } catch (error) {
      throw new InvalidSettingError((error as Error).message);
    }
  };
}

const BROKER = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

function brokers(raw: string): string[] {
  const list = raw.split(",").map((item) => item.trim());
  if (list.length === 0 || list.some((item) => item === "")) {
    throw new InvalidSettingError("expected a comma-separated list of host:port");
  }
  for (const item of list) {
    const match = BROKER.exec(item);
    const port = match ? Number(match[2]) : 0;
    if (!match || port < 1 || port > 65535) {
      throw new InvalidSettingError(
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
  /** The value when neither the flag nor the variable is given (none when absent). */
  readonly default?: unknown;
  /** How the help shows a default that is not a plain value (e.g. `engine_group_<cp-id>`). */
  readonly shown?: string;
  readonly parse: (raw: string) => unknown;
  /** Set by an environment variable only, never a flag (a secret would show in `ps`). */
  readonly envOnly?: boolean;
}

/** The default of `setting` as the help and the docs show it, or undefined when it has none. */
export function shownDefault(setting: Setting): string | undefined {
  if (setting.shown !== undefined) return setting.shown;
  return formatValue(setting.default);
}

/** A setting's value as one would type it (`a:1,b:2`, `15-120`, `on`), or undefined for none. */
export function formatValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value.join(",");
  if (typeof value === "boolean") return value ? "on" : "off";
  if (typeof value === "object" && "min" in value && "max" in value) {
    return `${value.min}-${value.max}`;
  }
  return String(value);
}

/** The settings table: the single source of flags, env vars, defaults and validation. */
export const SETTINGS = {
  cpId: {
    flag: "--cp-id <id>",
    env: "CP_ID",
    description: "charging point id (letters, digits, . _ -; at most 64)",
    default: "CP_001",
    parse: text("a non-empty id of letters, digits, '.', '_' or '-' (at most 64)", CP_ID),
  },
  location: {
    flag: "--location <text>",
    env: "LOCATION",
    description: "where the charging point is",
    default: "Unknown Location",
    parse: text("a non-empty location", /^.{1,200}$/),
  },
  maxPowerKw: {
    flag: "--max-power <kW>",
    env: "MAX_POWER",
    description: "maximum power in kW",
    default: 22.0,
    parse: number("a positive number of kW up to 1000", (n) => n > 0 && n <= 1000),
  },
  tariffEurPerKwh: {
    flag: "--tariff <EUR/kWh>",
    env: "TARIFF",
    description: "price in EUR per kWh",
    default: 0.30,
    parse: number("a price in EUR per kWh from 0 to 100", (n) => n >= 0 && n <= 100),
  },
  healthPort: {
    flag: "--health-port <port>",
    env: "HEALTH_PORT",
    description: "TCP port of the health check (0 picks a free one)",
    default: 5100,
    parse: number("a TCP port from 0 to 65535", (n) => Number.isInteger(n) && n >= 0 && n <= 65535),
  },
  healthHost: {
    flag: "--health-host <address>",
    env: "HEALTH_HOST",
    description: "address the health check listens on",
    default: "0.0.0.0",
    parse: text("a host name or IP address", /^[A-Za-z0-9.:[\]-]{1,253}$/),
  },
  kafkaBrokers: {
    flag: "--kafka-broker <host:port,...>",
    env: "KAFKA_BROKER",
    description: "Kafka bootstrap brokers, comma separated",
    default: ["localhost:9092"],
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
    default: 1,
    parse: number("a number of seconds from 1 to 3600", (n) => n >= 1 && n <= 3600),
  },
  cpEventsTopic: {
    flag: "--cp-events-topic <topic>",
    env: "CP_EVENTS_TOPIC",
    description: "topic the engine publishes on",
    default: "cp-events",
    parse: text("a Kafka topic name (letters, digits, . _ -)", TOPIC),
  },
  centralEventsTopic: {
    flag: "--central-events-topic <topic>",
    env: "CENTRAL_EVENTS_TOPIC",
    description: "topic of Central's commands",
    default: "central-events",
    parse: text("a Kafka topic name (letters, digits, . _ -)", TOPIC),
  },
  timeScale: {
    flag: "--time-scale <factor>",
    env: "TIME_SCALE",
    description: "simulated seconds per real second (60: a minute per second)",
    default: 1,
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
    default: "info",
    parse: oneOf(LOG_LEVELS, { warn: "warning" }),
  },
  logFormat: {
    flag: "--log-format <format>",
    env: "LOG_FORMAT",
    description: `log format: ${LOG_FORMATS.join(", ")}`,
    default: "text",
    parse: oneOf(LOG_FORMATS),
  },
  powerRampSeconds: {
    flag: "--power-ramp <s>",
    env: "POWER_RAMP",
    description: "simulated seconds a session's power takes to reach its plateau " +
      "(0: the plateau from the first second, as the original engine)",
    default: 0,
    parse: number("a number of seconds from 0 to 3600", (n) => n >= 0 && n <= 3600),
  },
  monitorWaitSeconds: {
    flag: "--monitor-wait <s>",
    env: "MONITOR_WAIT",
    description: "at start-up, seconds to wait for a Monitor to start probing before going " +
      "available without one (0: do not wait)",
    default: 20,
    parse: number("a number of seconds from 0 to 3600", (n) => n >= 0 && n <= 3600),
  },
  monitorTimeoutSeconds: {
    flag: "--monitor-timeout <s>",
    env: "MONITOR_TIMEOUT",
    description: "seconds without a Monitor probe before the Monitor counts as lost",
    default: 5,
    parse: number("a number of seconds from 1 to 3600", (n) => n >= 1 && n <= 3600),
  },
  commandMaxAgeSeconds: {
    flag: "--command-max-age <s>",
    env: "COMMAND_MAX_AGE",
    description: "commands older than this are skipped",
    default: 30,
    parse: number("a positive number of seconds", (n) => n > 0),
  },
  plugIn: {
    flag: "--plug-in <mode>",
    env: "PLUG_IN",
    description: "auto: supply at once; manual: wait for the vehicle (key P or CP_PLUG_IN)",
    default: "auto",
    parse: oneOf(["auto", "manual"] as const),
  },
  plugInTimeoutSeconds: {
    flag: "--plug-in-timeout <s>",
    env: "PLUG_IN_TIMEOUT",
    description: "manual mode: seconds to wait for the vehicle",
    default: 60,
    parse: number("a positive number of seconds", (n) => n > 0),
  },
  consoleMode: {
    flag: "--console <mode>",
    env: "CONSOLE",
    description: "auto: operator console when stdin and stdout are terminals; " +
      "off (also --no-console, CONSOLE=false): plain logs",
    default: "auto",
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
    default: "./state",
    parse: text("a directory path", /^[^\0]{1,4096}$/),
  },
  stateMaxMb: {
    flag: "--state-max-mb <MB>",
    env: "STATE_MAX_MB",
    description: "the most the state database may grow to; beyond it the engine runs on as on " +
      "a full disk (events from memory, tickets kept until there is room)",
    shown: "no limit",
    default: null,
    parse: number("a number of megabytes from 0.01 to 1000000", (n) => n >= 0.01 && n <= 1_000_000),
  },
  centralGroupPrefix: {
    flag: "--central-group-prefix <prefix>",
    env: "CENTRAL_GROUP_PREFIX",
    description: "Central is there while a consumer group named so reads the events topic " +
      '("" turns the watch off)',
    default: "ev_central_ws_group_",
    parse: (raw: string) => {
      const value = raw.trim();
      if (!/^[A-Za-z0-9._-]{0,249}$/.test(value)) {
        throw new InvalidSettingError(
          "expected a consumer group id prefix (letters, digits, . _ -)",
        );
      }
      return value;
    },
  },
  outboxDrainRate: {
    flag: "--outbox-drain-rate <events/s>",
    env: "OUTBOX_DRAIN_RATE",
    description: "events per second sent while a backlog drains after an outage",
    default: 100,
    parse: number("a number of events per second from 1 to 100000", (n) => n >= 1 && n <= 100_000),
  },
  httpPort: {
    flag: "--http-port <port>",
    env: "HTTP_PORT",
    description: "TCP port of the web panel, /metrics and /healthz (0 picks a free one; " +
      "default: no web panel)",
    shown: "off",
    default: null,
    parse: number("a TCP port from 0 to 65535", (n) => Number.isInteger(n) && n >= 0 && n <= 65535),
  },
  httpHost: {
    flag: "--http-host <address>",
    env: "HTTP_HOST",
    description: "address the web panel listens on (0.0.0.0 exposes its controls to the network)",
    default: "127.0.0.1",
    parse: text("a host name or IP address", /^[A-Za-z0-9.:[\]-]{1,253}$/),
  },
  kafkaSsl: {
    flag: "--kafka-ssl [on|off]",
    env: "KAFKA_SSL",
    description: "connect to Kafka over TLS",
    default: false,
    parse: checked(parseSwitch),
  },
  kafkaSslCa: {
    flag: "--kafka-ssl-ca-file <path>",
    env: "KAFKA_SSL_CA_FILE",
    description: "PEM file of the CA certificates that signed the brokers' (instead of the " +
      "default roots); under ./secrets or /run/secrets",
    default: null,
    parse: checked(readCaFile),
  },
  kafkaSaslMechanism: {
    flag: "--kafka-sasl-mechanism <mechanism>",
    env: "KAFKA_SASL_MECHANISM",
    description: `SASL authentication with Kafka: ${SASL_MECHANISMS.join(", ")}`,
    shown: "none",
    default: null,
    parse: oneOf(SASL_MECHANISMS),
  },
  kafkaSaslUsername: {
    flag: "--kafka-sasl-username <user>",
    env: "KAFKA_SASL_USERNAME",
    description: "SASL user name",
    default: null,
    parse: text("a user name of 1 to 255 characters, no control characters", /^[^\p{C}]{1,255}$/u),
  },
  kafkaSaslPassword: {
    flag: "--kafka-sasl-password <password>",
    env: "KAFKA_SASL_PASSWORD",
    description: "SASL password (environment only)",
    envOnly: true,
    default: null,
    parse: (raw: string) => new Secret(raw),
  },
  kafkaSaslPasswordFile: {
    flag: "--kafka-sasl-password-file <path>",
    env: "KAFKA_SASL_PASSWORD_FILE",
    description: "file holding the SASL password, under ./secrets or /run/secrets " +
      "(or set KAFKA_SASL_PASSWORD)",
    default: null,
    parse: checked(readPasswordFile),
  },
} as const satisfies Record<keyof EngineConfig, Setting>;

/** Defaults of the settings that have one. */

/** The `fleet` sub-command's own settings (src/cli/fleet_command.ts); it also takes the engine's. */
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
      throw new InvalidSettingError(`expected ${what} as min-max with 0 < min <= max`);
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
    default: 5100,
    parse: number("a TCP port from 0 to 65535", (n) => Number.isInteger(n) && n >= 0 && n <= 65535),
  },
  autoSessions: {
    flag: "--auto-sessions <per-minute>",
    env: "AUTO_SESSIONS",
    description: "sessions started on idle points per simulated minute, fleet-wide (0: none)",
    default: 0,
    parse: number(
      "a number of sessions per minute from 0 to 100000",
      (n) => n >= 0 && n <= 100_000,
    ),
  },
  sessionMinutes: {
    flag: "--session-minutes <min-max>",
    env: "SESSION_MINUTES",
    description: "length of an auto session in simulated minutes",
    default: { min: 15, max: 120 },
    parse: range("minutes"),
  },
  chaos: {
    flag: "--chaos <per-hour>",
    env: "CHAOS",
    description: "faults injected per point per simulated hour, each recovering later (0: none)",
    default: 0,
    parse: number("a number of faults per hour from 0 to 3600", (n) => n >= 0 && n <= 3600),
  },
  faultSeconds: {
    flag: "--fault-seconds <min-max>",
    env: "FAULT_SECONDS",
    description: "length of an injected fault in simulated seconds",
    default: { min: 30, max: 300 },
    parse: range("seconds"),
  },
} as const satisfies Record<keyof FleetSettings, Setting>;

/** Every environment variable the engine reads (for permissions and documentation). */
export const ENV_VARS: readonly string[] = [
  ...Object.values(SETTINGS),
  ...Object.values(FLEET_SETTINGS),
].map((setting) => setting.env);

/** The state machine's settings from a configuration (single engine and fleet alike). */
export function chargePointSettings(config: EngineConfig): Partial<ChargePointSettings> {
  return {
    plugInMode: config.plugIn,
    plugInTimeoutMs: config.plugInTimeoutSeconds * 1000,
    monitorTimeoutMs: config.monitorTimeoutSeconds * 1000,
    monitorWaitMs: config.monitorWaitSeconds * 1000,
  };
}

/**
 * Engine settings a fleet does not take: each point has its own id and port, and the operator
 * console belongs to a single engine.
 */
export const PER_POINT_ONLY: ReadonlySet<keyof EngineConfig> = new Set([
  "cpId",
  "healthPort",
  "consoleMode",
  "localUser",
]);

/** How the fleet's help differs from a single engine's for the settings they share. */
export const FLEET_HELP: Partial<Record<keyof EngineConfig, Partial<Setting>>> = {
  kafkaGroupId: {
    description: "consumer group of the fleet's one command consumer",
    shown: "fleet_group_<first>-<last>",
  },
  plugIn: {
    description: "auto: supply at once; manual: wait for the vehicle (CP_PLUG_IN)",
  },
  stateDir: {
    description: "directory of the durable outbox and session journals (<dir>/<group-id>/)",
  },
};
