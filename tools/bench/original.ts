/**
 * The original Python engine (`SD/EV_CP_E/EV_CP_E.py`), run as it is from a directory given
 * with `--compare-python DIR` (DIR holds `SD/`; its dependencies are on `--python-path`, by
 * default `DIR/py`). Nothing of it is copied here: this only starts it.
 *
 * Its fixed topics are `cp-events` and `central-events`, so its events are told apart by cp id.
 *
 * @module
 */
import { join } from "node:path";
import { BenchProcess } from "./processes.ts";

/** The original engine's topics (fixed in its network_config.py). */
export const ORIGINAL_TOPICS = { cpEvents: "cp-events", centralEvents: "central-events" } as const;

/** Where the original engine is and which interpreter runs it. */
export interface OriginalSetup {
  /** The directory holding `SD/`. */
  readonly dir: string;
  /** PYTHONPATH with its dependencies (kafka-python). */
  readonly pythonPath: string;
  /** The interpreter itself (not a shim: its pid is the engine's). */
  readonly python: string;
}

/**
 * Checks the directory and resolves the real interpreter behind `python3` (a pyenv shim would
 * add its own start-up to every start and put a shell between the bench and the pid).
 *
 * @throws {Error} saying what is missing.
 */
export async function findOriginal(dir: string, pythonPath?: string): Promise<OriginalSetup> {
  const script = join(dir, "SD", "EV_CP_E", "EV_CP_E.py");
  try {
    await Deno.stat(script);
  } catch {
    throw new Error(`--compare-python ${dir}: there is no ${script}`);
  }
  const path = pythonPath ?? join(dir, "py");
  const output = await new Deno.Command("python3", {
    args: ["-c", "import sys, kafka; print(sys.executable)"],
    env: { PYTHONPATH: path },
    stdout: "piped",
    stderr: "piped",
  }).output().catch((error) => {
    throw new Error(`Cannot run python3 for --compare-python: ${error.message}`);
  });
  if (!output.success) {
    throw new Error(
      `python3 cannot import kafka (kafka-python) with PYTHONPATH=${path}: ` +
        new TextDecoder().decode(output.stderr).trim().split("\n").pop(),
    );
  }
  return { dir, pythonPath: path, python: new TextDecoder().decode(output.stdout).trim() };
}

/** Starts one original engine, as its README says, without its interactive menu. */
export function startOriginal(
  setup: OriginalSetup,
  options: { label: string; cpId: string; healthPort: number; broker: string },
): BenchProcess {
  return BenchProcess.spawn({
    label: options.label,
    command: setup.python,
    args: [
      "EV_CP_E/EV_CP_E.py",
      "--cp-id",
      options.cpId,
      "--location",
      "Lab 1",
      "--health-port",
      String(options.healthPort),
      "--kafka-broker",
      options.broker,
      "--no-cli",
    ],
    cwd: join(setup.dir, "SD"),
    env: { PYTHONPATH: setup.pythonPath },
  });
}
