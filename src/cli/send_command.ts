/**
 * `ev-cp-engine send <command> [options]`: plays Central from the command line, for labs without
 * one. It publishes one command on Central's topic, shaped as Central shapes it (protocol.md
 * section 4), and exits: 0 when Kafka took it, 1 when it could not be sent, 2 for a bad flag.
 *
 * ```sh
 * ev-cp-engine send charging_started --cp-id CP_001 --user alice
 * ev-cp-engine send CP_FAULT --cp-id CP_001
 * ```
 *
 * It reads the engine's own Kafka settings (brokers, command topic, TLS and SASL) from the same
 * flags and environment variables, so it reaches whatever broker the engine does.
 *
 * @module
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { CommandNotSentError, sendCommand } from "../adapters/kafka/command_sender.ts";
import {
  kafkaSecurityOptions,
  type KafkaSecuritySettings,
  securityProblem,
} from "../adapters/kafka/security.ts";
import {
  CENTRAL_COMMAND_NAMES,
  CENTRAL_COMMANDS,
  centralCommand,
  type CentralCommandFields,
  type CentralCommandName,
  centralCommandNamed,
  ERROR_STATUSES,
  type ErrorStatus,
} from "../protocol/central_commands.ts";
import {
  addSettings,
  type CliIo,
  invalidConfigError,
  newCommand,
  parseCommand,
  readTable,
} from "./command_line.ts";
import { EXIT_BAD_CONFIG, EXIT_OK } from "./exit_codes.ts";
import { newMessageId } from "./runtime.ts";
import { type EngineConfig, SETTINGS } from "./settings.ts";

import { SEND_COMMAND } from "./command_names.ts";
export { SEND_COMMAND };

/** Exit code of `send` when Kafka did not take the command. */
export const EXIT_NOT_SENT = 1;

/** The engine settings `send` reads: where Central's topic is, and how to reach Kafka. */
const SEND_SETTING_KEYS = [
  "cpId",
  "kafkaBrokers",
  "centralEventsTopic",
  "kafkaSsl",
  "kafkaSslCa",
  "kafkaSaslMechanism",
  "kafkaSaslUsername",
  "kafkaSaslPassword",
  "kafkaSaslPasswordFile",
] as const satisfies readonly (keyof EngineConfig)[];

type SendConfig = Pick<EngineConfig, (typeof SEND_SETTING_KEYS)[number]>;

const SEND_SETTINGS = Object.fromEntries(SEND_SETTING_KEYS.map((key) => [key, SETTINGS[key]]));

/** What one `send` does, after defaults. */
export interface SendRequest {
  readonly command: CentralCommandName;
  readonly config: SendConfig;
  readonly fields: CentralCommandFields;
}

function parseCommandName(raw: string): CentralCommandName {
  const name = centralCommandNamed(raw);
  if (name === undefined) {
    throw new InvalidArgumentError(`expected one of ${CENTRAL_COMMAND_NAMES.join(", ")}`);
  }
  return name;
}

function parseText(what: string): (raw: string) => string {
  return (raw) => {
    const value = raw.trim();
    if (value === "" || value.length > 200 || /\p{Cc}/u.test(value)) {
      throw new InvalidArgumentError(`expected ${what} of 1 to 200 characters`);
    }
    return value;
  };
}

function parseUserId(raw: string): number {
  const value = raw.trim() === "" ? Number.NaN : Number(raw);
  if (!Number.isSafeInteger(value)) throw new InvalidArgumentError("expected an integer");
  return value;
}

function parseErrorStatus(raw: string): ErrorStatus {
  const value = raw.trim().toLowerCase();
  const found = ERROR_STATUSES.find((status) => status === value);
  if (found === undefined) {
    throw new InvalidArgumentError(`expected one of ${ERROR_STATUSES.join(", ")}`);
  }
  return found;
}

const COMMAND_LIST = CENTRAL_COMMAND_NAMES
  .map((name) => `  ${name.padEnd(20)}${CENTRAL_COMMANDS[name].summary}`)
  .join("\n");

/** Examples shown by `send --help` (docs/console.md shows the same). */
export const SEND_EXAMPLES: readonly string[] = [
  "ev-cp-engine send charging_started --cp-id CP_001 --user alice",
  "ev-cp-engine send charging_stopped --cp-id CP_001",
  "ev-cp-engine send CP_ERROR_SIMULATED --cp-id CP_001 --error-type overheating --new-status fault",
  "ev-cp-engine send CP_STOP --cp-id CP_001 --reason maintenance",
];

function buildSendCommand(io: CliIo): Command {
  const command = newCommand(
    `ev-cp-engine ${SEND_COMMAND}`,
    "Play Central: publish one command on Central's topic, shaped as Central sends it, " +
      "for a charging point to react to. Exit code 0: sent, 1: not sent, 2: a bad flag.",
    io,
  )
    .argument("<command>", "the command to send (case does not matter)", parseCommandName)
    .addOption(
      new Option("--user <name>", "charging_started: the driver's user name")
        .argParser(parseText("a user name")),
    )
    .addOption(
      new Option("--user-id <n>", "charging_started: the driver's id in Central (default null)")
        .argParser(parseUserId),
    )
    .addOption(
      new Option("--client-id <id>", "charging_started: the Driver app's client id (default null)")
        .argParser(parseText("a client id")),
    )
    .addOption(
      new Option("--error-type <text>", "CP_ERROR_SIMULATED: what went wrong")
        .default("simulated").argParser(parseText("an error type")),
    )
    .addOption(
      new Option("--new-status <status>", "CP_ERROR_SIMULATED: the status it sets")
        .default("fault").argParser(parseErrorStatus),
    )
    .addOption(
      new Option("--reason <text>", "CP_STOP, CP_RESUME: why").argParser(parseText("a reason")),
    )
    .addHelpText(
      "after",
      `\nCommands:\n${COMMAND_LIST}\n\nExamples:\n${
        SEND_EXAMPLES.map((line) => `  ${line}`).join("\n")
      }`,
    );
  return addSettings(command, SEND_SETTINGS);
}

/**
 * Reads the `send` command line (`args` without `send`): the request, or the exit code after help
 * or an error was printed.
 */
export function parseSendArgs(
  args: readonly string[],
  io: CliIo,
): { kind: "send"; request: SendRequest } | { kind: "exit"; code: number } {
  const command = buildSendCommand(io);
  let request: SendRequest | null = null;
  command.action((name: CentralCommandName) => {
    const config = readTable<SendConfig>(command, SEND_SETTINGS, io);
    const problem = securityProblem(config as KafkaSecuritySettings);
    if (problem !== null) throw invalidConfigError(problem);
    const options = command.opts<{
      user?: string;
      userId?: number;
      clientId?: string;
      errorType: string;
      newStatus: ErrorStatus;
      reason?: string;
    }>();
    if (name === "charging_started" && options.user === undefined) {
      throw invalidConfigError("charging_started needs --user <name> (the driver's user name)");
    }
    request = {
      command: name,
      config,
      fields: {
        ...(options.user === undefined ? {} : { username: options.user }),
        userId: options.userId ?? null,
        clientId: options.clientId ?? null,
        errorType: options.errorType,
        newStatus: options.newStatus,
        ...(options.reason === undefined ? {} : { reason: options.reason }),
      },
    };
  });
  const exitCode = parseCommand(command, args, io, EXIT_BAD_CONFIG);
  if (exitCode !== null) return { kind: "exit", code: exitCode };
  if (request === null) return { kind: "exit", code: EXIT_BAD_CONFIG };
  return { kind: "send", request };
}

/**
 * Runs `ev-cp-engine send` (`args` without `send`): publishes the command and prints what was
 * sent; resolves to the exit code.
 */
export async function runSendCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseSendArgs(args, io);
  if (parsed.kind === "exit") return parsed.code;
  const { command, config, fields } = parsed.request;
  const messageId = newMessageId();
  const message = centralCommand(
    command,
    { cpId: config.cpId, messageId, now: Date.now() },
    fields,
  );
  try {
    await sendCommand(
      {
        ...kafkaSecurityOptions(config as KafkaSecuritySettings),
        brokers: config.kafkaBrokers,
        clientId: `ev-cp-engine-send-${config.cpId}`,
        topic: config.centralEventsTopic,
      },
      config.cpId,
      message,
    );
  } catch (error) {
    if (!(error instanceof CommandNotSentError)) throw error;
    io.stderr(`error: ${error.message}\n`);
    return EXIT_NOT_SENT;
  }
  io.stdout(
    `Sent ${command} to ${config.cpId} on ${config.centralEventsTopic} at ` +
      `${config.kafkaBrokers.join(",")}: ${JSON.stringify(message)}\n`,
  );
  return EXIT_OK;
}
