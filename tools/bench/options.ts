/**
 * The benchmark's command line: full mode (the default: at least 3 runs, real sizes) or
 * `--short` (every lab once with tiny sizes, to prove the tool works), which labs to run, and
 * the original engine to compare with.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** The labs, in the order they run. */
export const LABS = ["single", "fleet", "scale", "simulation"] as const;
/** A lab's name. */
export type Lab = (typeof LABS)[number];

/** Everything the labs are told. */
export interface BenchOptions {
  readonly short: boolean;
  readonly labs: readonly Lab[];
  readonly runs: number;
  /** Wait after start-up before measuring idle (garbage collection and JIT settle). */
  readonly settleSeconds: number;
  readonly idleSeconds: number;
  readonly chargingSeconds: number;
  readonly healthSeconds: number;
  readonly probers: number;
  /** Probes per second of each paced prober. */
  readonly pacedRate: number;
  readonly commands: number;
  /** Points of the fleet-vs-singles lab. */
  readonly fleetPoints: number;
  /** Sizes of the scale lab: the first is the "1,000 points" row, the last the "10,000" one. */
  readonly scalePoints: readonly [number, number];
  readonly scaleSeconds: number;
  readonly simulationPoints: number;
  readonly simulationSeconds: number;
  readonly timeScale: number;
  readonly out: string;
  /** `--compare-python DIR`: the directory holding `SD/`. */
  readonly comparePython: string | null;
  readonly pythonPath: string | null;
}

/** The usage line printed by `--help` and after a bad argument. */
export const USAGE =
  `Usage: deno task bench [--short] [--runs N] [--compare-python DIR [--python-path P]]
                       [--time-scale F] [--out FILE] [LAB ...]
Labs: ${LABS.join(", ")} (default: all)`;

/** `--help` was given: print {@linkcode USAGE} and exit 0. */
export class HelpRequested extends Error {
  /** Creates the signal. */
  constructor() {
    super(USAGE);
    this.name = "HelpRequested";
  }
}

/**
 * Reads the command line.
 *
 * @throws {Error} with the usage for an unknown flag, lab or bad number.
 */
export function parseBenchArgs(args: readonly string[]): BenchOptions {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      short: { type: "boolean", default: false },
      runs: { type: "string" },
      out: { type: "string", default: "bench/results.json" },
      "compare-python": { type: "string" },
      "python-path": { type: "string" },
      "time-scale": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) throw new HelpRequested();
  const labs = positionals.length === 0 ? [...LABS] : positionals.map((name) => {
    if (!(LABS as readonly string[]).includes(name)) {
      throw new Error(`Unknown lab "${name}"\n${USAGE}`);
    }
    return name as Lab;
  });
  const short = values.short;
  const runs = values.runs === undefined ? (short ? 1 : 3) : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(`--runs ${values.runs}: expected a whole number of runs >= 1`);
  }
  const timeScale = values["time-scale"] === undefined ? 3600 : Number(values["time-scale"]);
  if (!(timeScale > 0 && timeScale <= 100_000)) {
    throw new Error(`--time-scale ${values["time-scale"]}: expected a factor in (0, 100000]`);
  }
  return {
    short,
    labs,
    runs,
    settleSeconds: short ? 0.5 : 10,
    idleSeconds: short ? 1 : 30,
    chargingSeconds: short ? 1 : 20,
    healthSeconds: short ? 0.5 : 5,
    probers: short ? 8 : 64,
    pacedRate: 10,
    commands: short ? 2 : 30,
    fleetPoints: short ? 2 : 10,
    scalePoints: short ? [20, 50] : [1_000, 10_000],
    scaleSeconds: short ? 2.2 : 30,
    simulationPoints: short ? 20 : 1_000,
    simulationSeconds: short ? 1 : 20,
    timeScale,
    out: values.out,
    comparePython: values["compare-python"] ?? null,
    pythonPath: values["python-path"] ?? null,
  };
}
