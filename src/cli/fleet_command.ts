/**
 * The `ev-cp-engine fleet` sub-command: many charging points in one process (`src/fleet/`),
 * living the same life as a single point (`src/app/lifecycle.ts`). It takes the engine's settings
 * (Kafka, topics, progress interval, time scale, seed, log, state directory...; `--location`,
 * `--max-power` and `--tariff` are the defaults of every point) and the fleet's own rows of the
 * settings table (`FLEET_SETTINGS`).
 *
 * Exit codes: 0 after a graceful shutdown, 1 when a health port or the web panel's port is in
 * use, 2 for a bad flag, environment value, fleet file or state directory, 3 when Kafka rejects
 * the credentials.
 *
 * @module
 */
import { InvalidArgumentError, Option } from "commander";
import {
  addSettings,
  type CliIo,
  newCommand,
  parseCommand,
  readConfig,
  readTable,
} from "./command_line.ts";
import { EXIT_BAD_CONFIG, EXIT_PORT_IN_USE } from "./exit_codes.ts";
import {
  type EngineConfig,
  FLEET_HELP,
  FLEET_SETTINGS,
  type FleetSettings,
  PER_POINT_ONLY,
  type Setting,
  SETTINGS,
} from "./settings.ts";
import { Fleet, type FleetMember } from "../fleet/fleet.ts";
import { FleetFileError, generateMembers, parseFleetFile } from "../fleet/members_file.ts";
import { engineLogger, setupLogging } from "../adapters/logging.ts";
import { exitCodeOf } from "./engine_command.ts";
import {
  buildRuntime,
  healthPortsFree,
  newEngineInstance,
  newMessageId,
  pointBehaviour,
  resolveSeed,
  webPortFree,
} from "./runtime.ts";
import { VERSION } from "./version.ts";

import { FLEET_COMMAND } from "./command_names.ts";
export { FLEET_COMMAND };

/** Examples shown by `fleet --help` (docs/fleet.md explains them). */
export const FLEET_EXAMPLES: readonly string[] = [
  "ev-cp-engine fleet --count 100 --health-port-base 0 --monitor-wait 0",
  "ev-cp-engine fleet --count 1000 --auto-sessions 20 --time-scale 60 --seed 7",
  "ev-cp-engine fleet --file fleet.yaml --chaos 2 --fault-seconds 30-120",
];

/** Everything the fleet sub-command was given, after defaults. */
export interface FleetCliConfig {
  readonly engine: EngineConfig;
  readonly fleet: FleetSettings;
  /** Consumer group of the fleet's one consumer (see {@linkcode defaultFleetGroupId}). */
  readonly groupId: string;
  /** Benchmarks only (hidden flag): the status coalescing window, ms. */
  readonly statusWindowMs: number | null;
}

/** The result of reading the fleet command line. */
export type FleetCliResult =
  | { readonly kind: "fleet"; readonly config: FleetCliConfig; readonly members: FleetMember[] }
  | { readonly kind: "exit"; readonly code: number };

/**
 * The default consumer group of a fleet: `fleet_group_<first>-<last>`. One group for the whole
 * fleet (a group per point would mean a consumer per point); stable across restarts of the same
 * fleet so it resumes from its committed offset, and distinct from a single engine's
 * `engine_group_<cp_id>`, so a fleet never steals a single engine's commands.
 */
export function defaultFleetGroupId(members: readonly FleetMember[]): string {
  const first = members[0]?.cpId ?? "empty";
  const last = members[members.length - 1]?.cpId ?? first;
  return `fleet_group_${first}-${last}`.slice(0, 249);
}

/**
 * Reads the fleet command line (`args` after `fleet`) and the fleet file, if any. Prints help and
 * errors (one line naming the flag or file entry, the value and what is expected).
 */
export async function parseFleetCli(
  args: readonly string[],
  io: CliIo,
  readTextFile: (path: string) => Promise<string> = Deno.readTextFile,
): Promise<FleetCliResult> {
  const engineTable = Object.fromEntries(
    Object.entries(SETTINGS).filter(([key]) => !PER_POINT_ONLY.has(key as keyof EngineConfig)),
  ) as Record<string, Setting>;
  const command = newCommand(
    `ev-cp-engine ${FLEET_COMMAND}`,
    "Many charging points in one process: one Kafka producer and consumer, one charging " +
      "worker, one health port per point. Optionally drives sessions and faults by itself.",
    io,
  ).version(VERSION, "-V, --version", "print the version")
    .addHelpText(
      "after",
      `\nExamples:\n${FLEET_EXAMPLES.map((line) => `  ${line}`).join("\n")}`,
    );
  addSettings(command, FLEET_SETTINGS);
  addSettings(command, engineTable, FLEET_HELP);
  command.addOption(
    new Option("--status-window-ms <ms>", "benchmarks only: status coalescing window")
      .hideHelp()
      .argParser((raw) => {
        const value = Number(raw);
        if (!Number.isInteger(value) || value < 0) {
          throw new InvalidArgumentError("expected a whole number of milliseconds >= 0");
        }
        return value;
      }),
  );
  let parsed: { engine: EngineConfig; fleet: FleetSettings; statusWindowMs: number | null } | null =
    null;
  command.action(() => {
    parsed = {
      engine: readConfig(command, io),
      fleet: readTable<FleetSettings>(command, FLEET_SETTINGS, io),
      statusWindowMs: command.opts<{ statusWindowMs?: number }>().statusWindowMs ?? null,
    };
  });
  const exitCode = parseCommand(command, args, io, EXIT_BAD_CONFIG);
  if (exitCode !== null) return { kind: "exit", code: exitCode };
  if (parsed === null) return { kind: "exit", code: EXIT_BAD_CONFIG };
  const { engine, fleet, statusWindowMs } = parsed as {
    engine: EngineConfig;
    fleet: FleetSettings;
    statusWindowMs: number | null;
  };
  if ((fleet.count === null) === (fleet.file === null)) {
    io.stderr("error: fleet needs exactly one of --count <n> and --file <path>\n");
    return { kind: "exit", code: EXIT_BAD_CONFIG };
  }
  const defaults = {
    location: engine.location,
    maxPowerKw: engine.maxPowerKw,
    tariffEurPerKwh: engine.tariffEurPerKwh,
    healthPortBase: fleet.healthPortBase,
  };
  let members: FleetMember[];
  try {
    if (fleet.file !== null) {
      let text: string;
      try {
        text = await readTextFile(fleet.file);
      } catch (error) {
        throw new FleetFileError(
          `--file ${fleet.file}: cannot read it: ${(error as Error).message.split("\n")[0]}`,
        );
      }
      members = parseFleetFile(fleet.file, text, defaults);
    } else {
      members = generateMembers(fleet.count!, defaults);
    }
  } catch (error) {
    if (!(error instanceof FleetFileError)) throw error;
    io.stderr(`error: ${error.message}\n`);
    return { kind: "exit", code: EXIT_BAD_CONFIG };
  }
  const groupGiven = command.opts<{ groupId?: string }>().groupId !== undefined ||
    (io.env(SETTINGS.kafkaGroupId.env) ?? "") !== "";
  return {
    kind: "fleet",
    config: {
      engine,
      fleet,
      groupId: groupGiven ? engine.kafkaGroupId : defaultFleetGroupId(members),
      statusWindowMs,
    },
    members,
  };
}

/** Runs `ev-cp-engine fleet ...` until SIGINT / SIGTERM; resolves to the exit code. */
export async function runFleetCommand(args: readonly string[], io: CliIo): Promise<number> {
  const cli = await parseFleetCli(args, io);
  if (cli.kind === "exit") return cli.code;
  const { engine: config, fleet: settings, groupId, statusWindowMs } = cli.config;
  await setupLogging({ level: config.logLevel, format: config.logFormat });
  const log = engineLogger("fleet");
  const seed = resolveSeed(config.seed);
  log.info(
    "ev-cp-engine {version} fleet of {count} points ({first}..{last}), group {group}, seed {seed}",
    {
      version: VERSION,
      count: cli.members.length,
      first: cli.members[0]?.cpId,
      last: cli.members[cli.members.length - 1]?.cpId,
      group: groupId,
      seed,
    },
  );
  const ports = cli.members.map((member) => ({
    hostname: config.healthHost,
    port: member.healthPort,
  }));
  if (!healthPortsFree(ports, log) || !webPortFree(config, log)) return EXIT_PORT_IN_USE;
  const runtime = buildRuntime({
    config,
    stateName: groupId,
    groupId,
    clientId: `ev-cp-engine-${groupId}`,
    // The backlog rate is per point, as if each point were its own engine: otherwise a
    // thousand registrations queued before the first connection would take 10 s to go out.
    drainRatePerSecond: config.outboxDrainRate * cli.members.length,
    engineInstance: newEngineInstance(),
  }, log);
  if (runtime === null) return EXIT_BAD_CONFIG;
  const fleet = new Fleet({
    members: cli.members,
    healthHost: config.healthHost,
    behaviour: pointBehaviour(config, statusWindowMs ?? undefined),
    seed,
    load: {
      sessionsPerMinute: settings.autoSessions,
      sessionSeconds: {
        min: settings.sessionMinutes.min * 60,
        max: settings.sessionMinutes.max * 60,
      },
      faultsPerHourPerPoint: settings.chaos,
      faultSeconds: settings.faultSeconds,
    },
  }, {
    ...runtime,
    newId: newMessageId,
    journalOf: (cpId) => runtime.store.journal(cpId),
    engineLogger: engineLogger("engine"),
  });
  return exitCodeOf(await fleet.run());
}
