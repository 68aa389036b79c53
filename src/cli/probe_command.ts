/**
 * The `ev-cp-engine probe` sub-command: asks an engine's health port once, prints the answer and
 * exits 0 on `OK`, 1 on `KO`, 2 on no answer (and 2 for a bad flag). It is what the container's
 * HEALTHCHECK runs (a distroless image has no shell) and what an operator types instead of telnet.
 *
 * @module
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { type CliIo, invalidEnvError, newCommand, parseCommand } from "./command_line.ts";
import { probeHealth, type ProbeResult } from "../adapters/health/probe_client.ts";

/** Exit code of `probe` when the engine answered `OK`. */
export const EXIT_PROBE_OK = 0;
/** Exit code of `probe` when the engine answered `KO`. */
export const EXIT_PROBE_KO = 1;
/** Exit code of `probe` when no answer came (and for a bad flag or environment value). */
export const EXIT_PROBE_NO_ANSWER = 2;

import { PROBE_COMMAND } from "./command_names.ts";
export { PROBE_COMMAND };

/** Where the probe reads the environment and writes its output (tests pass their own). */
export type ProbeIo = CliIo;

/** What one probe asks, after defaults. */
export interface ProbeSettings {
  readonly host: string;
  readonly port: number;
  readonly framed: boolean;
  readonly timeoutSeconds: number;
}

const DEFAULT_HOST = "127.0.0.1";
const DEFAULT_PORT = 5100;
const DEFAULT_TIMEOUT_SECONDS = 2;
/** The environment variable the engine's own `--health-port` reads: the probe's default port. */
const PORT_ENV = "HEALTH_PORT";

function parsePort(raw: string): number {
  const value = raw.trim() === "" ? Number.NaN : Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new InvalidArgumentError("expected a TCP port from 1 to 65535");
  }
  return value;
}

function parseHost(raw: string): string {
  const value = raw.trim();
  if (!/^[A-Za-z0-9.:[\]-]{1,253}$/.test(value)) {
    throw new InvalidArgumentError("expected a host name or IP address");
  }
  // Deno.connect wants an IPv6 address without its brackets.
  return value.replace(/^\[(.*)\]$/, "$1");
}

function parseTimeout(raw: string): number {
  const value = raw.trim() === "" ? Number.NaN : Number(raw);
  if (!Number.isFinite(value) || value <= 0 || value > 3600) {
    throw new InvalidArgumentError("expected a number of seconds greater than 0, at most 3600");
  }
  return value;
}

function buildProbeCommand(io: ProbeIo): Command {
  return newCommand(
    `ev-cp-engine ${PROBE_COMMAND}`,
    "Ask an engine's health port once and print the answer. " +
      "Exit code 0: OK, 1: KO, 2: no answer or a bad flag.",
    io,
  )
    .addOption(
      new Option("--host <address>", "the engine's health address").default(DEFAULT_HOST)
        .argParser(parseHost),
    )
    .addOption(
      new Option(
        "--port <port>",
        `the engine's health port (default: $${PORT_ENV}, else ${DEFAULT_PORT})`,
      ).argParser(parsePort),
    )
    .addHelpText(
      "after",
      "\nExamples:\n  ev-cp-engine probe                      # 127.0.0.1, port $HEALTH_PORT or 5100" +
        "\n  ev-cp-engine probe --host 10.0.0.7 --port 5102 --timeout 1" +
        "\n  ev-cp-engine probe --framed && echo healthy",
    )
    .addOption(new Option("--framed", "use the framed request (<STX>STATUS?<ETX><LRC>)"))
    .addOption(
      new Option("--timeout <s>", "seconds to wait for the answer")
        .default(DEFAULT_TIMEOUT_SECONDS)
        .argParser(parseTimeout),
    );
}

/**
 * Reads the probe's flags (`args` without `probe`): the settings, or the exit code after help or
 * an error was printed.
 */
export function parseProbeArgs(
  args: readonly string[],
  io: ProbeIo,
): { kind: "probe"; settings: ProbeSettings } | { kind: "exit"; code: number } {
  const command = buildProbeCommand(io);
  let settings: ProbeSettings | null = null;
  command.action(() => {
    const options = command.opts<{
      host: string;
      port?: number;
      framed?: boolean;
      timeout: number;
    }>();
    let port = options.port;
    if (port === undefined) {
      const raw = io.env(PORT_ENV);
      if (raw === undefined || raw === "") {
        port = DEFAULT_PORT;
      } else {
        try {
          port = parsePort(raw);
        } catch (error) {
          throw invalidEnvError(PORT_ENV, "--port", raw, (error as Error).message);
        }
      }
    }
    settings = {
      host: options.host,
      port,
      framed: options.framed === true,
      timeoutSeconds: options.timeout,
    };
  });
  const exitCode = parseCommand(command, args, io, EXIT_PROBE_NO_ANSWER);
  if (exitCode !== null) return { kind: "exit", code: exitCode };
  if (settings === null) return { kind: "exit", code: EXIT_PROBE_NO_ANSWER };
  return { kind: "probe", settings };
}

/** The exit code for a probe's result. */
export function probeExitCode(result: ProbeResult): number {
  if (result.kind === "no_answer") return EXIT_PROBE_NO_ANSWER;
  return result.answer === "OK" ? EXIT_PROBE_OK : EXIT_PROBE_KO;
}

/**
 * Runs `ev-cp-engine probe` (`args` without `probe`): prints `OK` or `KO` on stdout, or the
 * reason there was no answer on stderr; resolves to the exit code.
 *
 * @example
 * ```ts
 * const code = await runProbeCommand(["--port", "5101"], { env, stdout, stderr });
 * ```
 */
export async function runProbeCommand(args: readonly string[], io: ProbeIo): Promise<number> {
  const parsed = parseProbeArgs(args, io);
  if (parsed.kind === "exit") return parsed.code;
  const { host, port, framed, timeoutSeconds } = parsed.settings;
  const result = await probeHealth({ host, port, framed, timeoutMs: timeoutSeconds * 1000 });
  if (result.kind === "answer") io.stdout(`${result.answer}\n`);
  else io.stderr(`no answer: ${result.reason}\n`);
  return probeExitCode(result);
}
