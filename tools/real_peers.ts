/**
 * Runs the REAL peers of the EVCharging network (the original Python Central, Monitors and
 * Driver, from the public repository lbf19-ua/SD) beside an engine (the original Python engine
 * or ours), plays the scenarios of the issue and prints the comparison table
 * `scenario | original engine | ev-cp-engine` with the evidence behind each cell.
 *
 * ```sh
 * deno task peers --peers ../peers                       # every scenario, both engines
 * deno task peers --peers ../peers --engine ours --scenario register --scenario driver-session
 * deno task peers --peers ../peers --keep-logs peers-logs
 * ```
 *
 * Each run (one scenario with one engine) gets a fresh Kafka broker (tools/kafka_broker.ts), a
 * temporary copy of `SD/` with the pristine `ev_charging.db`, and its own peer processes; every
 * process is killed when the run ends, and on Ctrl+C. Not part of the test suite (CI has no
 * peers); the pure helpers under tools/peers/ are tested in tests/real_peers_test.ts.
 *
 * Requirements: Python 3.11 with the peers' packages (`<peers>/py`, added to PYTHONPATH), Java
 * 17+ and Maven for the broker, and the ports 18802, 18811-18812, 18821 and 5301-5302 free.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { RunClock } from "./peers/clock.ts";
import { formatEvidence, formatTable, type ScenarioResult } from "./peers/report.ts";
import { evidenceOf, type Scenario, timelineOf } from "./peers/scenario_kit.ts";
import { SCENARIOS } from "./peers/scenarios.ts";
import { emergencyStop, type EngineKind, PeerStack, removeOrphanedRunDirs } from "./peers/stack.ts";
import { renderTimeline } from "./peers/evidence.ts";

/** Raised for a bad command line (exit code 2). */
export class UsageError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The parsed command line. */
export interface PeersOptions {
  /** The directory that contains `SD/`. */
  readonly peersDir: string;
  readonly engines: readonly EngineKind[];
  readonly scenarios: readonly Scenario[];
  readonly python: string;
  /** Where to keep the logs, or null. */
  readonly keepLogs: string | null;
}

const USAGE = `Usage: deno task peers --peers <dir containing SD/> [options]

Runs the original Python Central, Monitors and Driver beside an engine and prints
scenario | original engine | ev-cp-engine.

Options:
  --peers DIR          directory that contains SD/ (and py/, the peers' Python packages)
  --engine WHICH       original, ours or both (default both; original runs first)
  --scenario NAME      a scenario to run (repeatable; default all):
${SCENARIOS.map((s) => `                         ${s.name.padEnd(20)} ${s.title}`).join("\n")}
  --python PATH        the Python 3.11 interpreter (default python3)
  --keep-logs DIR      keep each run's logs, database, timeline and report in DIR
  -h, --help           this help`;

/**
 * Parses the command line.
 *
 * @throws {UsageError} for a missing `--peers`, an unknown engine or scenario, or a stray word.
 */
export function parsePeersArgs(args: readonly string[]): PeersOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        peers: { type: "string" },
        engine: { type: "string", default: "both" },
        scenario: { type: "string", multiple: true },
        python: { type: "string", default: "python3" },
        "keep-logs": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const values = parsed.values;
  if (values.help) return "help";
  if (!values.peers) throw new UsageError("--peers <dir containing SD/> is required");
  const engines: EngineKind[] = values.engine === "both"
    ? ["original", "ours"]
    : values.engine === "original" || values.engine === "ours"
    ? [values.engine]
    : (() => {
      throw new UsageError(`Unknown --engine "${values.engine}": expected original, ours or both`);
    })();
  const names = values.scenario ?? SCENARIOS.map((s) => s.name);
  const scenarios = names.map((name) => {
    const scenario = SCENARIOS.find((s) => s.name === name);
    if (!scenario) {
      throw new UsageError(
        `Unknown --scenario "${name}": expected one of ${SCENARIOS.map((s) => s.name).join(", ")}`,
      );
    }
    return scenario;
  });
  return {
    peersDir: resolve(values.peers),
    engines,
    scenarios,
    python: values.python,
    keepLogs: values["keep-logs"] ? resolve(values["keep-logs"]) : null,
  };
}

/**
 * Reads the shipped `ev_charging.db` once; every run starts from these bytes.
 *
 * @throws {UsageError} when `SD/` or its database is missing, or the database has a non-empty
 * write-ahead log next to it (a program has used it: it is no longer the shipped one).
 */
export async function readPristineDb(peersDir: string): Promise<Uint8Array> {
  const path = join(peersDir, "SD", "ev_charging.db");
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new UsageError(
      `Cannot read ${path} (${error instanceof Error ? error.message : error}): ` +
        `--peers must be the directory that contains SD/ of lbf19-ua/SD`,
    );
  }
  const wal = await Deno.stat(`${path}-wal`).catch(() => null);
  if (wal !== null && wal.size > 0) {
    throw new UsageError(
      `${path}-wal is not empty: the shipped database was opened and changed in place; ` +
        `extract SD/ again (the harness never runs the peers there)`,
    );
  }
  return bytes;
}

async function runOne(
  options: PeersOptions,
  engine: EngineKind,
  scenario: Scenario,
  pristineDb: Uint8Array,
  retry = false,
): Promise<ScenarioResult> {
  const clock = new RunClock();
  const label = `${engine}-${scenario.name}`;
  const keepDir = options.keepLogs === null
    ? null
    : join(options.keepLogs, engine, retry ? `${scenario.name}-retry` : scenario.name);
  let stack: PeerStack | undefined;
  let result: ScenarioResult;
  try {
    stack = await PeerStack.create({
      peersDir: options.peersDir,
      python: options.python,
      engine,
      pristineDb,
      label,
      clock,
    });
    const output = await scenario.run(stack);
    result = {
      scenario: scenario.name,
      engine,
      verdict: output.verdict,
      summary: output.summary,
      evidence: evidenceOf(stack, output),
      seconds: clock.now(),
    };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    result = {
      scenario: scenario.name,
      engine,
      verdict: "ERROR",
      summary: message.split("\n")[0] ?? message,
      evidence: [
        message,
        ...(stack ? ["", ...renderTimeline(timelineOfSafe(stack), -Infinity, Infinity, 60)] : []),
      ],
      seconds: clock.now(),
    };
  }
  if (stack) {
    if (keepDir !== null) {
      await Deno.mkdir(keepDir, { recursive: true });
      await Deno.writeTextFile(
        join(keepDir, "timeline.txt"),
        renderTimeline(timelineOfSafe(stack)).join("\n") + "\n",
      );
      await Deno.writeTextFile(
        join(keepDir, "kafka.jsonl"),
        stack.tap.events.map((e) => JSON.stringify(e)).join("\n") + "\n",
      );
      await Deno.writeTextFile(join(keepDir, "report.md"), formatEvidence([result]));
    }
    await stack.dispose(keepDir);
  }
  return result;
}

function timelineOfSafe(stack: PeerStack): ReturnType<typeof timelineOf> {
  try {
    return timelineOf(stack);
  } catch {
    return stack.marks.map((mark) => ({ t: mark.t, source: "harness", text: mark.text }));
  }
}

/** Runs the harness with `args`; resolves to the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  let options: PeersOptions | "help";
  let pristineDb: Uint8Array;
  try {
    options = parsePeersArgs(args);
    if (options === "help") {
      console.log(USAGE);
      return 0;
    }
    pristineDb = await readPristineDb(options.peersDir);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}\n\n${USAGE}`);
    return 2;
  }

  await removeOrphanedRunDirs();
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    console.error("\nInterrupted: stopping every peer and broker ...");
    emergencyStop().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  const started = performance.now();
  const results: ScenarioResult[] = [];
  try {
    for (const engine of options.engines) {
      for (const scenario of options.scenarios) {
        console.error(`=== ${scenario.name} with the ${engine} engine ...`);
        let result = await runOne(options, engine, scenario, pristineDb);
        if (result.verdict === "ERROR") {
          // A harness or peer problem, not a verdict: one more try on a fresh stack.
          console.error(`=== ${scenario.name} / ${engine}: ERROR: ${result.summary}; retrying`);
          const first = result;
          result = await runOne(options, engine, scenario, pristineDb, true);
          result = {
            ...result,
            evidence: [
              `(second attempt; the first ended ERROR: ${first.summary})`,
              ...result.evidence,
            ],
          };
        }
        console.error(
          `=== ${scenario.name} / ${engine}: ${result.verdict}: ${result.summary} ` +
            `(${result.seconds.toFixed(0)} s)`,
        );
        results.push(result);
      }
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  const minutes = (performance.now() - started) / 60_000;
  const names = options.scenarios.map((s) => s.name);
  const report = [
    formatTable(names, results),
    "",
    `(${results.length} runs in ${minutes.toFixed(1)} min)`,
    "",
    "## Evidence",
    "",
    formatEvidence(results),
  ].join("\n");
  console.log(report);
  if (options.keepLogs !== null) {
    await Deno.mkdir(options.keepLogs, { recursive: true });
    await Deno.writeTextFile(join(options.keepLogs, "report.md"), report + "\n");
  }
  return results.some((result) => result.verdict === "ERROR") ? 1 : 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
