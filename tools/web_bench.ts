/**
 * `deno task web-bench`: what the web panel costs a fleet. A fleet of `--count` points (1,000 by
 * default) all charging, progress every second, run as users run it (`deno task fleet`'s
 * permissions, the real broker), measured in phases of `--seconds` each:
 *
 * 1. `panel off`: a fleet without `--http-port` (a process of its own; two fleets of 1,000 at
 *    once would overload a 2-core machine);
 * 2. a fleet with `--http-port` (metrics counted), in `--rounds` rounds (3) of: no page open,
 *    then the page open in headless Chromium following the live feed (in the first round the
 *    page's JS heap, DOM nodes, main-thread time and frame times, from a
 *    `requestAnimationFrame` loop, are read through the Chrome DevTools Protocol). Closed and
 *    open alternate so that the shared machine's drift hits both; the medians are compared.
 *
 * The engine's CPU is read from `/proc/<pid>/stat` (all its threads), as `deno task bench` does.
 * The machine is shared: every run prints its load average beside the figures. The fleets keep
 * their durable state on disk under `./state`, as users run them; `--state-in-memory` puts it in
 * `/dev/shm` (through a link under `./state`) to take a busy shared disk out of the figures.
 * (`--state-on-disk`, the default now, is still accepted.)
 *
 * Flags: `--count N`, `--seconds S` (per phase, default 30), `--warmup S` (before measuring,
 * default 20), `--rounds N` (3), `--quick` (one round of 10 s phases, 15 s warm-up). Uses
 * `KAFKA_BROKER`, or starts a broker.
 *
 * @module
 */
import { brokerAddress, uniqueTopics } from "../tests/support/kafka.ts";
import { EngineProcess, freePort } from "../tests/support/engine_process.ts";
import { testStateDir } from "../tests/support/engine_state.ts";
import {
  launchChromium,
  measurePage,
  memoryStateDir,
  type PageFigures,
  scrapeMetrics,
  waitUntil,
} from "../tests/support/web.ts";
import { commonFlags } from "./bench/lab.ts";

/** The options of a run. */
interface BenchOptions {
  readonly count: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly rounds: number;
  /** The fleets' state directory in memory (/dev/shm), not on the disk. */
  readonly tmpfs: boolean;
}

function parseOptions(args: readonly string[]): BenchOptions {
  const quick = args.includes("--quick");
  const value = (flag: string, fallback: number) => {
    const index = args.indexOf(flag);
    if (index === -1) return fallback;
    const number = Number(args[index + 1]);
    if (!Number.isFinite(number) || number <= 0) {
      throw new Error(`${flag} ${args[index + 1]}: expected a positive number`);
    }
    return number;
  };
  return {
    count: value("--count", 1000),
    seconds: value("--seconds", quick ? 10 : 30),
    warmupSeconds: value("--warmup", quick ? 15 : 20),
    rounds: Math.round(value("--rounds", quick ? 1 : 3)),
    tmpfs: args.includes("--state-in-memory"),
  };
}

/** CPU seconds (user + system, all threads) the process `pid` has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces) start at ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

/** The engine's CPU, % of one core, over `seconds` from now (and until `during` is over). */
async function cpuOver(pid: number, seconds: number, during?: Promise<unknown>): Promise<number> {
  const startCpu = await cpuSeconds(pid);
  const started = performance.now();
  await Promise.all([new Promise((resolve) => setTimeout(resolve, seconds * 1000)), during]);
  const elapsed = (performance.now() - started) / 1000;
  return ((await cpuSeconds(pid)) - startCpu) / elapsed * 100;
}

/** Starts a fleet of `count` points, all charging within seconds. */
async function startFleet(
  broker: string,
  count: number,
  httpPort: number | null,
  onTmpfs: boolean,
): Promise<{ fleet: EngineProcess; cleanup: () => Promise<void> }> {
  const topics = uniqueTopics("web-bench");
  const state = onTmpfs ? await memoryStateDir("web-bench") : testStateDir("web-bench");
  const fleet = await EngineProcess.start([
    "fleet",
    "--count",
    String(count),
    ...commonFlags(broker, topics),
    "--health-port-base",
    "0",
    "--state-dir",
    state.arg,
    "--log-level",
    "warning",
    "--time-scale",
    "60",
    // Every idle point gets a session at once, and sessions outlast the run.
    "--auto-sessions",
    String(count * 60),
    "--session-minutes",
    "600-600",
    ...(httpPort === null ? [] : ["--http-port", String(httpPort)]),
  ]);
  return {
    fleet,
    cleanup: async () => {
      fleet.signal("SIGTERM");
      await fleet.exited(30_000).catch(() => {});
      await fleet.dispose();
      await state.remove();
    },
  };
}

/** Whether the fleet's panel answers `/healthz` within 3 s. */
async function fleetAnswers(base: string): Promise<string> {
  try {
    const response = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(3_000) });
    await response.body?.cancel();
    return `/healthz answered ${response.status}`;
  } catch (error) {
    return `/healthz did not answer (${(error as Error).name})`;
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

async function main(args: string[]): Promise<void> {
  const options = parseOptions(args);
  const broker = await brokerAddress();
  const rows: [string, string][] = [];
  const say = (what: string, figure: string) => {
    rows.push([what, figure]);
    console.log(`${what}: ${figure}`);
  };
  console.log(
    `Web panel bench: fleet of ${options.count} points all charging, ${options.seconds} s ` +
      `per phase after ${options.warmupSeconds} s warm-up, ${options.rounds} round(s); ` +
      `load average ${loadAverage()}`,
  );

  {
    const off = await startFleet(broker, options.count, null, options.tmpfs);
    try {
      await new Promise((resolve) => setTimeout(resolve, options.warmupSeconds * 1000));
      const cpu = await cpuOver(off.fleet.pid, options.seconds);
      say("fleet CPU, panel off", `${cpu.toFixed(1)} %`);
    } finally {
      await off.cleanup();
    }
  }

  const httpPort = freePort();
  const base = `http://127.0.0.1:${httpPort}`;
  const { fleet, cleanup } = await startFleet(broker, options.count, httpPort, options.tmpfs);
  const browser = await launchChromium();
  try {
    await waitUntil(
      "every point charging",
      async () => {
        const metrics = await scrapeMetrics(base);
        return metrics.value("evcp_sessions_active") >= options.count * 0.95;
      },
      120_000,
      500,
    );
    await new Promise((resolve) => setTimeout(resolve, options.warmupSeconds * 1000));
    // Closed and open alternate, so that the machine's drift (it is shared) hits both alike.
    const closedRuns: number[] = [];
    const openRuns: number[] = [];
    const feedShares: number[] = [];
    let figures: PageFigures | null = null;
    for (let round = 1; round <= options.rounds; round++) {
      const closed = await cpuOver(fleet.pid, options.seconds);
      closedRuns.push(closed);
      say(`round ${round}: fleet CPU, panel on, no page`, `${closed.toFixed(1)} %`);
      const page = await browser.context.newPage();
      try {
        await page.goto(`${base}/`, { waitUntil: "domcontentloaded", timeout: 60_000 });
        await page.locator("#rows tr").nth(options.count - 1).waitFor({ timeout: 60_000 });
      } catch (error) {
        // Seen on the shared 2-core machine: the whole fleet stops answering its sockets.
        say(
          `round ${round}: the page did not load within 60 s`,
          `${(error as Error).message.split("\n")[0]}; then ` +
            `${await fleetAnswers(base)}`,
        );
        await page.close();
        break;
      }
      // The first paint of every row is over before the engine is measured.
      await page.waitForTimeout(3_000);
      const measuring = round === 1
        ? measurePage(page, Math.min(10_000, options.seconds * 1000)).then((measured) => {
          figures = measured;
        })
        : undefined;
      const feedBefore = (await scrapeMetrics(base)).value("evcp_panel_feed_seconds_total");
      const openedAt = performance.now();
      const open = await cpuOver(fleet.pid, options.seconds, measuring);
      const feedSeconds = (await scrapeMetrics(base)).value("evcp_panel_feed_seconds_total") -
        feedBefore;
      const feedShare = feedSeconds / ((performance.now() - openedAt) / 1000) * 100;
      openRuns.push(open);
      feedShares.push(feedShare);
      say(`round ${round}: fleet CPU, page open`, `${open.toFixed(1)} %`);
      say(`round ${round}: the live feed's own work`, `${feedShare.toFixed(2)} % of a core`);
      await page.close();
    }
    const noPage = median(closedRuns);
    const withPage = median(openRuns);
    say("fleet CPU, panel on, no page (median)", `${noPage.toFixed(1)} %`);
    say("fleet CPU, page open (median)", `${withPage.toFixed(1)} %`);
    const extra = (withPage - noPage) / noPage * 100;
    say("extra CPU of the open page", `${extra.toFixed(1)} % (target: at most 10 %)`);
    const feed = median(feedShares);
    say(
      "the live feed's own work (median)",
      `${feed.toFixed(2)} % of a core = ${(feed / withPage * 100).toFixed(1)} % of the fleet's CPU`,
    );
    const page = figures as PageFigures | null;
    if (openRuns.length === 0) throw new Error("no round with the page open completed");
    if (page !== null) {
      say("page JS heap", `${page.heapMb.toFixed(1)} MB (${page.domNodes} DOM nodes)`);
      say("page main thread busy", `${page.busyPercent.toFixed(1)} %`);
      say(
        "page frames",
        `${page.framesPerSecond.toFixed(1)}/s, p50 ${page.frameP50.toFixed(1)} ms, p95 ` +
          `${page.frameP95.toFixed(1)} ms, p99 ${page.frameP99.toFixed(1)} ms, max ` +
          `${page.frameMax.toFixed(1)} ms`,
      );
    }
    const metrics = await scrapeMetrics(base);
    const progress = metrics.byLabel("evcp_events_published_total", "event_type");
    say(
      "charging_progress published by the panel's fleet",
      `${progress["charging_progress"] ?? 0}`,
    );
  } finally {
    await browser.close();
    await cleanup();
  }
  console.log(`\nLoad average at the end: ${loadAverage()}\n`);
  console.log("| what | measured |\n| --- | --- |");
  for (const [what, figure] of rows) console.log(`| ${what} | ${figure} |`);
}

if (import.meta.main) {
  await main(Deno.args);
  Deno.exit(0);
}
