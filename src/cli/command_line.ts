/**
 * The command-line conventions of every command of the program, on top of the settings table:
 * help on `-h, --help`, output through {@linkcode CliIo}, errors on one line naming the flag (or
 * environment variable), the value and what is expected, and exit code 2 for a bad value.
 *
 * The command-line library (commander) is used only here.
 *
 * @module
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { securityProblem } from "../adapters/kafka/security.ts";
import { EXIT_BAD_CONFIG } from "./exit_codes.ts";
import {
  type EngineConfig,
  InvalidSettingError,
  type Setting,
  SETTINGS,
  shownDefault,
} from "./settings.ts";

/** Where a command reads the environment and writes its output (tests pass their own). */
export interface CliIo {
  readonly env: (name: string) => string | undefined;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** The real process environment and output streams. */
export const processIo: CliIo = {
  env: (name) => Deno.env.get(name),
  stdout: (text) => Deno.stdout.writeSync(new TextEncoder().encode(text)),
  stderr: (text) => Deno.stderr.writeSync(new TextEncoder().encode(text)),
};

/**
 * Adds the options of a settings table (the engine's by default) to `command`; `help` changes
 * the text of some of them (the fleet's group id, for instance).
 */
export function addSettings(
  command: Command,
  table: Readonly<Record<string, Setting>> = SETTINGS,
  help: Readonly<Record<string, Partial<Setting>>> = {},
): Command {
  for (const [key, base] of Object.entries(table)) {
    const setting = { ...base, ...help[key] };
    if (setting.envOnly) continue;
    // Environment variables are read in readSetting, through CliIo: tests stay hermetic and
    // every variable is named, which scoped --allow-env permissions need.
    const shown = shownDefault(setting);
    const suffix = shown === undefined ? "" : `, default: ${shown}`;
    const option = new Option(setting.flag, `${setting.description} [env: ${setting.env}${suffix}]`)
      .argParser((raw) => {
        try {
          return setting.parse(raw);
        } catch (error) {
          if (!(error instanceof InvalidSettingError)) throw error;
          throw new InvalidArgumentError(error.message);
        }
      });
    command.addOption(option);
  }
  return command;
}

/**
 * A command with the program's conventions: help on `-h, --help`, output through `io` without
 * colours, errors on one line with a suggestion for a mistyped flag, no stray arguments, and
 * `exitOverride` (parsing throws a `CommanderError` instead of exiting; see
 * {@linkcode parseCommand}).
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

/** Each setting of `table`: its flag's value, else its variable's, else its default. */
export function readTable<T>(
  command: Command,
  table: Readonly<Record<string, Setting>>,
  io: CliIo,
): T {
  const options = command.opts<Record<string, unknown>>();
  const values: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(table)) {
    values[key] = readSetting(options, setting, io) ?? setting.default ?? null;
  }
  return values as T;
}

/**
 * The engine's settings read from the options commander collected, with environment values and
 * defaults applied, then checked as a whole (TLS and SASL go together).
 */
export function readConfig(command: Command, io: CliIo): EngineConfig {
  const raw = readTable<Record<keyof EngineConfig, unknown>>(command, SETTINGS, io);
  const config = {
    ...raw,
    kafkaGroupId: raw.kafkaGroupId ?? `engine_group_${raw.cpId}`,
    // `--no-console` sets the same option to false.
    consoleMode: raw.consoleMode === false ? "off" : raw.consoleMode,
  } as EngineConfig;
  const problem = securityProblem(config);
  if (problem !== null) throw invalidConfigError(problem);
  return config;
}
