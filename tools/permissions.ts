/**
 * The engine's runtime permissions, in one place: the compile task bakes them into the binaries,
 * the bundle smoke test runs the single-file engine with them, `deno task start-bundle` too, and
 * a test checks that deno.json's tasks and `deno task dev` (tools/dev.ts) grant exactly the same
 * environment variables.
 *
 * The environment variables come from the settings table (src/cli/settings.ts), so a new setting
 * changes every list at once.
 *
 * @module
 */
import { ENV_VARS, SETTINGS } from "../src/cli/settings.ts";

/**
 * Environment variables kafkajs reads when it loads or logs (`NODE_ENV`, `KAFKAJS_LOG_LEVEL`,
 * `KAFKAJS_NO_PARTITIONER_WARNING`, `KAFKAJS_DEBUG_*`): granted as `NODE_ENV` and the prefix
 * `KAFKAJS_*`.
 */
export const KAFKAJS_ENV_VARS: readonly string[] = ["NODE_ENV", "KAFKAJS_*"];

/**
 * Environment variables the operator console reads (src/adapters/console/console.ts) to decide on
 * colours: `NO_COLOR`, `TERM`, `COLORTERM`.
 */
export const CONSOLE_ENV_VARS: readonly string[] = ["NO_COLOR", "TERM", "COLORTERM"];

/** The module the charging Worker runs; it must be embedded into a compiled binary. */
export const WORKER_MODULE = "src/adapters/charging/worker_main.ts";

/** The state directory when `--state-dir` is not given (from the settings table when present). */
export const DEFAULT_STATE_DIR: string = SETTINGS.stateDir.default;

/**
 * Directories the engine may read secrets from (Kafka SASL password files, TLS CA files): a local
 * `./secrets` and Docker's and Kubernetes' `/run/secrets`. Read only.
 */
export const SECRET_DIRS: readonly string[] = ["./secrets", "/run/secrets"];

/**
 * Every environment variable the engine may read: kafkajs', the settings table's, then the
 * console's.
 */
export function engineEnvVars(): string[] {
  return [...KAFKAJS_ENV_VARS, ...ENV_VARS, ...CONSOLE_ENV_VARS];
}

/**
 * The permission flags of the single-file engine (compiled binary or bundle): network (Kafka
 * brokers and the health port), exactly the engine's environment variables, reading and
 * writing only under the state directory (plus reading the secret directories), and no prompt.
 */
export function binaryPermissionFlags(stateDir: string = DEFAULT_STATE_DIR): string[] {
  return [
    "--no-prompt",
    "--allow-net",
    `--allow-env=${engineEnvVars().join(",")}`,
    `--allow-read=${[stateDir, ...SECRET_DIRS].join(",")}`,
    `--allow-write=${stateDir}`,
  ];
}

/**
 * The V8 flags the engine runs with, from source and compiled. A young generation of at most
 * 2 MB (V8's default grows it to 16 MB): short-lived garbage is collected sooner instead of
 * being held, about 2 MB less for an idle point and about 50 MB less for a fleet of 10,000
 * points charging, at no measurable CPU cost (docs/benchmarks.md).
 */
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=2";

/** The values (split at commas) of a `deno run` command line's `--allow-<name>=` flag, or `[]`. */
export function allowedOf(commandLine: string, name: "read" | "write"): string[] {
  const prefix = `--allow-${name}=`;
  const flag = commandLine.split(/\s+/).find((word) => word.startsWith(prefix));
  return flag === undefined ? [] : flag.slice(prefix.length).split(",").filter((p) => p !== "");
}

/** The `--allow-env` values (split at commas) of a `deno run` command line, or `[]`. */
export function allowedEnvOf(commandLine: string): string[] {
  const flags = commandLine.split(/\s+/).filter((word) => word.startsWith("--allow-env"));
  if (flags.length !== 1) return [];
  const [, value] = flags[0]!.split("=", 2);
  return value === undefined ? ["<all>"] : value.split(",").filter((name) => name !== "");
}

/**
 * The `deno run` flags of the engine run from source (`deno task start`, `dev`, `fleet`): the
 * binary's, plus reading `./src`, where the charging Worker's module is loaded from.
 */
export function sourceRunFlags(stateDir: string = DEFAULT_STATE_DIR): string[] {
  return [
    "--no-prompt",
    "--allow-net",
    `--allow-read=${["./src", stateDir, ...SECRET_DIRS].join(",")}`,
    `--allow-write=${stateDir}`,
    `--allow-env=${engineEnvVars().join(",")}`,
  ];
}

/** Where `deno task bundle` writes the single-file engine. */
export const BUNDLE_FILE = "dist/ev-cp-engine.js";

/**
 * The `deno run` command line of the engine from source with `--watch` (what `deno task dev`
 * runs, through tools/dev.ts): the start task's flags, restarted when a file changes.
 */
export function devEngineCommand(): string[] {
  return ["deno", "run", "--watch", V8_FLAGS, ...sourceRunFlags(), "main.ts"];
}

/**
 * The commands of the tasks that run the engine with its scoped permissions and its V8 flags,
 * generated from the table: from source (`start`, `fleet`, `send`), and the bundle with exactly
 * a binary's permissions (`start-bundle`).
 */
export function engineTaskCommands(): Record<"start" | "fleet" | "send" | "start-bundle", string> {
  const flags = [V8_FLAGS, ...sourceRunFlags()].join(" ");
  return {
    start: `deno run ${flags} main.ts`,
    fleet: `deno run ${flags} main.ts fleet`,
    send: `deno run ${flags} main.ts send`,
    "start-bundle": `deno run ${V8_FLAGS} ${binaryPermissionFlags().join(" ")} ${BUNDLE_FILE}`,
  };
}

/**
 * Writes the engine's task commands into `deno.json` (`deno task permissions`), so that the
 * permissions have one source; a test fails when deno.json was not updated after a new setting.
 */
async function writeTasks(path: URL): Promise<void> {
  const config = JSON.parse(await Deno.readTextFile(path));
  for (const [name, command] of Object.entries(engineTaskCommands())) {
    const task = config.tasks[name];
    if (typeof task === "object" && task !== null) task.command = command;
    else config.tasks[name] = command;
  }
  await Deno.writeTextFile(path, JSON.stringify(config, null, 2) + "\n");
  console.log(`Updated the start, fleet, send and start-bundle tasks of ${path.pathname}`);
}

if (import.meta.main) {
  await writeTasks(new URL("../deno.json", import.meta.url));
}
