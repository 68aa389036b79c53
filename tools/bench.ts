/**
 * The benchmark behind `deno task bench`: the engine measured as users run it, each figure beside
 * a reference measured in the same run, repeated, with what each figure includes and excludes.
 *
 * - Subjects run as separate processes started like `deno task start` / `deno task fleet` (the
 *   shipped flags and permissions, the durable outbox, log level info, progress every second,
 *   the status window), against a real Kafka broker (`KAFKA_BROKER`, or one started for the run).
 * - References (tools/bench/): a trivial Deno health server, a Deno process holding a bare kafkajs
 *   producer and consumer (idle, echoing, or publishing at a rate), and, with
 *   `--compare-python DIR`, the original Python engine.
 * - Full mode: every lab 3 times (`--runs N`), each figure printed as median (min..max) over the
 *   runs, ratios taken run by run. `--short`: every lab once with tiny sizes, to prove the tool
 *   works (CI runs it in tests/bench_test.ts); its figures mean nothing.
 *
 * Prints a markdown table (figure | ev-cp-engine | reference | ratio | original engine | ratio |
 * target | met?) and what each group includes and excludes, and writes JSON (`--out`, default
 * `bench/results.json`). Labs: single, fleet, scale, simulation (name some to run only those).
 * Exit code 0, or 1 when a lab failed (its rows then say so), 2 for a bad argument.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { KafkaTestBroker } from "./kafka_broker.ts";
import { type BenchOptions, HelpRequested, type Lab, parseBenchArgs } from "./bench/options.ts";
import { Results } from "./bench/report.ts";
import type { LabContext } from "./bench/lab.ts";
import { findOriginal } from "./bench/original.ts";
import { runSingleLab } from "./bench/single_lab.ts";
import { runFleetLab } from "./bench/fleet_lab.ts";
import { runScaleLab } from "./bench/scale_lab.ts";
import { runSimulationLab } from "./bench/simulation_lab.ts";
import { REPO_ROOT, taskArgs } from "./bench/processes.ts";
import type { GroupId } from "./bench/figures.ts";

/** The groups of figures each lab measures (a failed lab run marks them). */
const LAB_GROUPS: Record<Lab, readonly GroupId[]> = {
  single: ["startup", "idle", "charging", "command", "health64", "healthPaced"],
  fleet: ["fleet10"],
  scale: ["scale1k", "scale10k", "memory"],
  simulation: ["simulation"],
};

const LAB_RUNNERS: Record<Lab, (context: LabContext, run: number) => Promise<void>> = {
  single: runSingleLab,
  fleet: runFleetLab,
  scale: runScaleLab,
  simulation: runSimulationLab,
};

/**
 * Runs each program once, uncounted, so that no measured start pays for a cold module cache.
 */
async function warmUp(): Promise<void> {
  const deno = Deno.execPath();
  const runs = [
    [...(await taskArgs("start")), "--version"],
    [...(await taskArgs("fleet")), "--version"],
    [
      "run",
      "--allow-net",
      "--allow-env",
      `${REPO_ROOT}tools/bench/reference_kafka.ts`,
      "--warm-up",
    ],
    ["run", "--allow-net", `${REPO_ROOT}tools/bench/reference_health_server.ts`, "--warm-up"],
    ["run", "--allow-net", `${REPO_ROOT}tools/bench/health_load.ts`, "--warm-up"],
  ];
  await Promise.all(
    runs.map((args) =>
      new Deno.Command(deno, { args, cwd: REPO_ROOT, stdout: "null", stderr: "null" }).output()
    ),
  );
}

async function main(args: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(args);
  } catch (error) {
    if (error instanceof HelpRequested) {
      console.log(error.message);
      return 0;
    }
    console.error((error as Error).message);
    return 2;
  }
  const started = performance.now();
  const original = options.comparePython === null
    ? null
    : await findOriginal(resolve(options.comparePython), options.pythonPath ?? undefined);
  let ownBroker: KafkaTestBroker | null = null;
  let broker = Deno.env.get("KAFKA_BROKER") ?? "";
  if (broker === "") {
    console.log("Starting a Kafka broker for the benchmark...");
    ownBroker = await KafkaTestBroker.create();
    await ownBroker.start();
    broker = ownBroker.bootstrap;
  }
  const results = new Results(options.runs);
  const context: LabContext = {
    broker,
    options,
    results,
    original,
    log: (line) => console.log(line),
  };
  const labSeconds: Record<string, number> = {};
  try {
    await warmUp();
    const runLab = async (lab: Lab) => {
      const labStarted = performance.now();
      for (let run = 0; run < options.runs; run++) {
        console.log(`--- ${lab} lab, run ${run + 1} of ${options.runs}`);
        try {
          await LAB_RUNNERS[lab](context, run);
        } catch (error) {
          console.error(`  ${lab} failed: ${(error as Error).message.split("\n")[0]}`);
          for (const group of LAB_GROUPS[lab]) results.fail(group, run, error);
        }
      }
      labSeconds[lab] = (performance.now() - labStarted) / 1000;
    };
    if (options.short) {
      // Short mode only proves the tool works: the labs run at once, to keep it short.
      await Promise.all(options.labs.map(runLab));
    } else {
      for (const lab of options.labs) await runLab(lab);
    }
  } finally {
    await ownBroker?.dispose();
  }
  const totalSeconds = (performance.now() - started) / 1000;
  const mode = options.short
    ? "SHORT MODE: tiny sizes, one run, labs at once: these figures only show that the tool works"
    : `full mode, ${options.runs} runs`;
  console.log(`\n## ev-cp-engine benchmark (${mode})\n`);
  console.log(
    `Cells: median over runs (min..max). Ratios: ev-cp-engine / reference and ev-cp-engine / ` +
      `original engine, taken run by run (side by side in one run), then median (min..max). ` +
      `"met?" judges the medians. ${navigator.hardwareConcurrency} cores, load average ` +
      `${Deno.loadavg().map((l) => l.toFixed(2)).join(" ")} at the end; ${
        totalSeconds.toFixed(0)
      } s.\n`,
  );
  console.log(results.table());
  console.log(`\n## What each figure measures\n`);
  console.log(results.explanations());
  const report = {
    date: new Date().toISOString(),
    mode: options.short ? "short" : "full",
    machine: {
      cpus: navigator.hardwareConcurrency,
      loadavg: Deno.loadavg(),
      deno: Deno.version.deno,
      os: Deno.build.os,
    },
    options: { ...options, out: undefined, comparePython: options.comparePython !== null },
    seconds: { total: totalSeconds, labs: labSeconds },
    ...results.toJson(),
  };
  const out = resolve(REPO_ROOT, options.out);
  await Deno.mkdir(dirname(out), { recursive: true });
  await Deno.writeTextFile(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`Written to ${options.out}`);
  return results.failed ? 1 : 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
