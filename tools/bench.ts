/**
 * The benchmark suite behind `deno task bench`: measures the engine as a user runs it (separate
 * processes started exactly like `deno task start` / `deno task start fleet`, the real broker,
 * real sockets) and prints each figure beside its target, then writes them as JSON.
 *
 * Scenarios (run a subset by naming them: `deno task bench startup fleet`):
 *
 * - `startup`: process start -> `CP_REGISTRATION` seen by a consumer, and -> health port answering.
 * - `health`: 64 concurrent probers for 10 s, each probe a new connection, `STATUS?`, answer.
 * - `command`: 1,000 commands (CP_FAULT / CP_RECOVER alternately) -> `cp_status_change` seen on
 *   `cp-events`, through the real broker both ways. The 2 s status coalescing window would
 *   measure Central's rule, not the engine, so this runs a one-point fleet with the hidden
 *   `--status-window-ms 0`: the same consumer, decoder, state machine, coalescer and producer.
 * - `engine`: one engine idle, then charging, for 60 s each: CPU % of one core and peak RSS.
 * - `fleet`: 1,000 points all charging with progress every second: events/s, CPU %, RSS and
 *   progress jitter (how late each sample is against the previous one plus the interval).
 * - `session`: a 4-hour session at `--time-scale 1000`: wall time, and kWh / EUR against the
 *   analytic integral of the session's (seeded) power curve.
 *
 * Flags: `--quick` (short durations for a smoke run), `--health-seconds`, `--commands`,
 * `--engine-seconds`, `--fleet-count`, `--fleet-seconds`, `--session-hours`, `--out <file>`
 * (default `bench/results.json`). The broker is `KAFKA_BROKER`, or one started for the run.
 *
 * @module
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel, type Producer } from "kafkajs";
import { KafkaTestBroker } from "./kafka_broker.ts";
import { CentralDouble, type SeenEvent, uniqueTopics } from "../tests/support/kafka.ts";
import { EngineProcess, freePort } from "../tests/support/engine_process.ts";
import { probeHealth } from "../src/adapters/health/probe_client.ts";
import { seededRandom } from "../src/domain/random.ts";
import { costOf, drawProfile, energyUntil } from "../src/domain/session.ts";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
const SCENARIOS = ["startup", "health", "command", "engine", "fleet", "session"] as const;
type Scenario = (typeof SCENARIOS)[number];

/** One measured figure. */
export interface BenchRow {
  readonly scenario: Scenario;
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  /** The target, when the issue sets one: the value must be below it. */
  readonly below?: number;
}

interface BenchOptions {
  scenarios: Scenario[];
  healthSeconds: number;
  probers: number;
  commands: number;
  engineSeconds: number;
  fleetCount: number;
  fleetSeconds: number;
  sessionHours: number;
  out: string;
}

function parseArgs(args: string[]): BenchOptions {
  const quick = args.includes("--quick");
  const options: BenchOptions = {
    scenarios: [],
    healthSeconds: quick ? 3 : 10,
    probers: 64,
    commands: quick ? 100 : 1000,
    engineSeconds: quick ? 10 : 60,
    fleetCount: quick ? 200 : 1000,
    fleetSeconds: quick ? 10 : 30,
    sessionHours: 4,
    out: `${REPO_ROOT}bench/results.json`,
  };
  const numeric: Record<string, keyof BenchOptions> = {
    "--health-seconds": "healthSeconds",
    "--probers": "probers",
    "--commands": "commands",
    "--engine-seconds": "engineSeconds",
    "--fleet-count": "fleetCount",
    "--fleet-seconds": "fleetSeconds",
    "--session-hours": "sessionHours",
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--quick") continue;
    if (arg === "--out") {
      options.out = args[++i] ?? options.out;
      continue;
    }
    const key = numeric[arg];
    if (key !== undefined) {
      const value = Number(args[++i]);
      if (!(value > 0)) throw new Error(`${arg} ${args[i]}: expected a positive number`);
      (options[key] as number) = value;
      continue;
    }
    if ((SCENARIOS as readonly string[]).includes(arg)) {
      options.scenarios.push(arg as Scenario);
      continue;
    }
    throw new Error(`Unknown argument ${arg}: expected ${SCENARIOS.join(", ")} or a flag`);
  }
  if (options.scenarios.length === 0) options.scenarios = [...SCENARIOS];
  return options;
}

// --- Measuring helpers ------------------------------------------------------------------------

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

function median(values: readonly number[]): number {
  return percentile(values, 50);
}

const CLOCK_TICKS_PER_SECOND = 100;

/** Reads a /proc file (Deno grants /proc only with --allow-all; `cat` needs just --allow-run). */
async function readProc(path: string): Promise<string> {
  const output = await new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(`Cannot read ${path}: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout);
}

/** CPU seconds (user + system, all threads) a process has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readProc(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of proc(5) (utime, stime) are the 12th and 13th after the command name.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** Resident memory now and at its peak, MB. */
async function memory(pid: number): Promise<{ rssMb: number; peakMb: number }> {
  const status = await readProc(`/proc/${pid}/status`);
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { rssMb: kb("VmRSS") / 1024, peakMb: kb("VmHWM") / 1024 };
}

/** Measures a process's CPU use (% of one core) over `seconds`. */
async function cpuPercentOver(pid: number, seconds: number): Promise<number> {
  const cpuBefore = await cpuSeconds(pid);
  const before = performance.now();
  await delay(seconds * 1000);
  const cpuAfter = await cpuSeconds(pid);
  return ((cpuAfter - cpuBefore) / ((performance.now() - before) / 1000)) * 100;
}

/** Removes the state directory a benchmark engine left behind (`--state-dir`, default ./state). */
async function removeState(cpId: string): Promise<void> {
  await Deno.remove(`${REPO_ROOT}state/${cpId}`, { recursive: true }).catch(() => {});
}

/** Stops an engine and forgets its state, so the next run starts afresh. */
async function disposeEngine(engine: EngineProcess, cpId: string): Promise<void> {
  await engine.dispose();
  await removeState(cpId);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number) {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await delay(5);
  }
}

function statusCount(central: CentralDouble, cpId: string, status?: string): number {
  return central.events.filter((e) =>
    e.value["cp_id"] === cpId && e.value["action"] === "cp_status_change" &&
    (status === undefined || e.value["status"] === status)
  ).length;
}

/** A second producer for bursts of commands (CentralDouble sends one at a time). */
async function commandProducer(broker: string): Promise<Producer> {
  const producer = new Kafka({ clientId: "bench", brokers: [broker], logLevel: logLevel.NOTHING })
    .producer();
  await producer.connect();
  return producer;
}

function command(cpId: string, eventType: string, action: string, extra = {}): string {
  return JSON.stringify({
    message_id: crypto.randomUUID(),
    event_type: eventType,
    action,
    cp_id: cpId,
    timestamp: Date.now() / 1000,
    ...extra,
  });
}

function engineArgs(
  broker: string,
  topics: { cpEvents: string; centralEvents: string },
  extra: string[],
): string[] {
  return [
    "--kafka-broker",
    broker,
    "--cp-events-topic",
    topics.cpEvents,
    "--central-events-topic",
    topics.centralEvents,
    "--health-host",
    "127.0.0.1",
    // No Monitor in the benchmark lab: available as soon as ready.
    "--monitor-wait",
    "0",
    ...extra,
  ];
}

/** Starts a single engine and waits until it is available. */
async function startEngine(broker: string, label: string, extra: string[] = []) {
  const topics = uniqueTopics(`bench-${label}`);
  const central = await CentralDouble.start(broker, topics);
  const cpId = `BENCH_${label.toUpperCase()}_${crypto.randomUUID().slice(0, 6)}`;
  const port = freePort();
  const engine = await EngineProcess.start(
    engineArgs(broker, topics, ["--cp-id", cpId, "--health-port", String(port), ...extra]),
  );
  await central.waitFor("available", () => statusCount(central, cpId, "available") > 0, 60_000);
  return { topics, central, cpId, port, engine };
}

// --- Scenarios --------------------------------------------------------------------------------

async function benchStartup(broker: string): Promise<BenchRow[]> {
  const toRegistration: number[] = [];
  const toHealth: number[] = [];
  for (let run = 0; run < 3; run++) {
    const topics = uniqueTopics("bench-startup");
    const central = await CentralDouble.start(broker, topics);
    const cpId = `BENCH_START_${run}_${crypto.randomUUID().slice(0, 6)}`;
    const port = freePort();
    const started = performance.now();
    const engine = await EngineProcess.start(
      engineArgs(broker, topics, ["--cp-id", cpId, "--health-port", String(port)]),
    );
    try {
      await waitUntil("the health port", async () => {
        const result = await probeHealth({ host: "127.0.0.1", port, timeoutMs: 200 });
        return result.kind === "answer";
      }, 60_000);
      toHealth.push(performance.now() - started);
      await central.waitFor(
        "registration",
        (events) => events.some((e) => e.value["event_type"] === "CP_REGISTRATION"),
        30_000,
      );
      const registration = central.events.find((e) => e.value["event_type"] === "CP_REGISTRATION")!;
      toRegistration.push(registration.receivedAt - started);
    } finally {
      await disposeEngine(engine, cpId);
      await central.close();
    }
  }
  return [
    {
      scenario: "startup",
      metric: "start -> registration seen (median of 3)",
      value: median(toRegistration),
      unit: "ms",
    },
    {
      scenario: "startup",
      metric: "start -> health port answers (median of 3)",
      value: median(toHealth),
      unit: "ms",
    },
  ];
}

/**
 * 64 probers, each a loop of new connection, `STATUS?`, answer. Run twice: flat out (closed loop:
 * throughput; latency is then mostly queueing, 64 in flight / throughput) and paced at 10 probes
 * per second per prober (ten times a Monitor's rate: latency of a probe that does not queue).
 */
async function benchHealth(broker: string, options: BenchOptions): Promise<BenchRow[]> {
  const { central, engine, port, cpId } = await startEngine(broker, "health");
  const run = async (paceMs: number) => {
    const latencies: number[] = [];
    let failures = 0;
    const started = performance.now();
    const until = started + options.healthSeconds * 1000;
    const cpuBefore = await cpuSeconds(engine.pid);
    await Promise.all(Array.from({ length: options.probers }, async (_, index) => {
      // Paced probers start spread over one period, as independent Monitors would.
      if (paceMs > 0) await delay((index * paceMs) / options.probers);
      let next = performance.now();
      while (performance.now() < until) {
        const result = await probeHealth({ host: "127.0.0.1", port });
        if (result.kind === "answer") latencies.push(result.latencyMs);
        else failures++;
        if (paceMs > 0) {
          next += paceMs;
          await delay(Math.max(0, next - performance.now()));
        }
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    const engineCpu = ((await cpuSeconds(engine.pid)) - cpuBefore) / seconds * 100;
    return { latencies, failures, rate: latencies.length / seconds, engineCpu };
  };
  try {
    const flat = await run(0);
    const paced = await run(100);
    const label = `${options.probers} probers`;
    return [
      {
        scenario: "health",
        metric: `flat out: probes/s (${label}, ${flat.failures} failed)`,
        value: flat.rate,
        unit: "/s",
      },
      { scenario: "health", metric: "flat out: engine CPU", value: flat.engineCpu, unit: "% core" },
      {
        scenario: "health",
        metric: "flat out: latency p50",
        value: percentile(flat.latencies, 50),
        unit: "ms",
      },
      {
        scenario: "health",
        metric: "flat out: latency p99",
        value: percentile(flat.latencies, 99),
        unit: "ms",
        below: 2,
      },
      {
        scenario: "health",
        metric: `paced 10/s each: probes/s (${label}, ${paced.failures} failed)`,
        value: paced.rate,
        unit: "/s",
      },
      {
        scenario: "health",
        metric: "paced: latency p50",
        value: percentile(paced.latencies, 50),
        unit: "ms",
      },
      {
        scenario: "health",
        metric: "paced: latency p99",
        value: percentile(paced.latencies, 99),
        unit: "ms",
        below: 2,
      },
    ];
  } finally {
    await disposeEngine(engine, cpId);
    await central.close();
  }
}

async function benchCommand(broker: string, options: BenchOptions): Promise<BenchRow[]> {
  const topics = uniqueTopics("bench-command");
  const central = await CentralDouble.start(broker, topics);
  const engine = await EngineProcess.start([
    "fleet",
    ...engineArgs(broker, topics, [
      "--count",
      "1",
      "--health-port-base",
      "0",
      "--status-window-ms",
      "0",
      "--log-level",
      "warning",
    ]),
  ]);
  const cpId = "CP_0001";
  try {
    await central.waitFor("available", () => statusCount(central, cpId, "available") > 0, 60_000);
    const latencies: number[] = [];
    for (let i = 0; i < options.commands; i++) {
      const fault = i % 2 === 0;
      const seen = statusCount(central, cpId);
      const sent = performance.now();
      await central.sendRaw(
        command(cpId, fault ? "CP_FAULT" : "CP_RECOVER", fault ? "fault" : "recover"),
      );
      await central.waitFor(`status change ${i}`, () => statusCount(central, cpId) > seen, 10_000);
      const change = central.events.filter((e) =>
        e.value["cp_id"] === cpId && e.value["action"] === "cp_status_change"
      )[seen]!;
      latencies.push(change.receivedAt - sent);
    }
    return [
      {
        scenario: "command",
        metric: `command -> status change p50 (${options.commands} commands)`,
        value: percentile(latencies, 50),
        unit: "ms",
      },
      {
        scenario: "command",
        metric: "command -> status change p99",
        value: percentile(latencies, 99),
        unit: "ms",
        below: 50,
      },
    ];
  } finally {
    await engine.dispose();
    await central.close();
  }
}

async function benchEngine(broker: string, options: BenchOptions): Promise<BenchRow[]> {
  const { central, engine, cpId } = await startEngine(broker, "cpu");
  try {
    // Steady state: start-up's compilation and first garbage collections are over by then.
    await delay(5_000);
    const idle = await cpuPercentOver(engine.pid, options.engineSeconds);
    const idleMemory = await memory(engine.pid);
    await central.send({
      event_type: "charging_started",
      action: "charging_started",
      cp_id: cpId,
      username: "bench",
      user_id: 1,
      client_id: "bench",
    });
    await central.waitFor(
      "progress",
      (events) => events.some((e) => e.value["action"] === "charging_progress"),
    );
    const charging = await cpuPercentOver(engine.pid, options.engineSeconds);
    const chargingMemory = await memory(engine.pid);
    return [
      {
        scenario: "engine",
        metric: `idle CPU (${options.engineSeconds} s)`,
        value: idle,
        unit: "% core",
        below: 1,
      },
      { scenario: "engine", metric: "idle RSS", value: idleMemory.rssMb, unit: "MB" },
      {
        scenario: "engine",
        metric: `charging CPU (${options.engineSeconds} s, progress every 5 s)`,
        value: charging,
        unit: "% core",
      },
      { scenario: "engine", metric: "peak RSS (VmHWM)", value: chargingMemory.peakMb, unit: "MB" },
    ];
  } finally {
    await disposeEngine(engine, cpId);
    await central.close();
  }
}

async function benchFleet(broker: string, options: BenchOptions): Promise<BenchRow[]> {
  const count = options.fleetCount;
  const topics = uniqueTopics("bench-fleet");
  const central = await CentralDouble.start(broker, topics);
  const producer = await commandProducer(broker);
  const started = performance.now();
  const engine = await EngineProcess.start([
    "fleet",
    ...engineArgs(broker, topics, [
      "--count",
      String(count),
      "--health-port-base",
      "0",
      "--progress-interval",
      "1",
      "--log-level",
      "warning",
    ]),
  ]);
  const ids = Array.from({ length: count }, (_, i) => `CP_${String(i + 1).padStart(4, "0")}`);
  try {
    const available = new Set<string>();
    await central.waitFor(`${count} points available`, (events) => {
      for (const e of events) {
        if (e.value["status"] === "available") available.add(String(e.value["cp_id"]));
      }
      return available.size === count;
    }, 120_000);
    const readyMs = performance.now() - started;
    for (let i = 0; i < count; i += 250) {
      await producer.send({
        topic: topics.centralEvents,
        messages: ids.slice(i, i + 250).map((cpId, j) => ({
          value: command(cpId, "charging_started", "charging_started", {
            username: `driver${i + j}`,
            user_id: i + j,
            client_id: `client${i + j}`,
          }),
        })),
      });
    }
    const charging = new Set<string>();
    await central.waitFor(`progress from all ${count} points`, (events) => {
      for (let k = events.length - 1; k >= 0 && charging.size < count; k--) {
        const e = events[k]!;
        if (e.value["action"] === "charging_progress") charging.add(String(e.value["cp_id"]));
        else if (charging.size > 0 && k < events.length - 5 * count) break;
      }
      return charging.size === count;
    }, 60_000);
    await delay(3_000);
    const from = central.events.length;
    const windowStart = performance.now();
    const cpu = await cpuPercentOver(engine.pid, options.fleetSeconds);
    const windowSeconds = (performance.now() - windowStart) / 1000;
    const mem = await memory(engine.pid);
    const window = central.events.slice(from);
    const progress = window.filter((e) => e.value["action"] === "charging_progress");
    const byPoint = new Map<string, SeenEvent[]>();
    for (const event of progress) {
      const list = byPoint.get(String(event.value["cp_id"])) ?? [];
      list.push(event);
      byPoint.set(String(event.value["cp_id"]), list);
    }
    const lateness: number[] = [];
    const delivery: number[] = [];
    for (const list of byPoint.values()) {
      for (let k = 1; k < list.length; k++) {
        const gapMs =
          (Number(list[k]!.value["timestamp"]) - Number(list[k - 1]!.value["timestamp"])) * 1000;
        lateness.push(Math.max(0, gapMs - 1000));
      }
      for (const event of list) {
        delivery.push(
          performance.timeOrigin + event.receivedAt - Number(event.value["timestamp"]) * 1000,
        );
      }
    }
    return [
      {
        scenario: "fleet",
        metric: `start -> ${count} points available`,
        value: readyMs,
        unit: "ms",
      },
      {
        scenario: "fleet",
        metric: `events/s sustained (${count} charging, ${windowSeconds.toFixed(0)} s)`,
        value: window.length / windowSeconds,
        unit: "/s",
      },
      { scenario: "fleet", metric: "CPU", value: cpu, unit: "% core", below: 50 },
      { scenario: "fleet", metric: "RSS now", value: mem.rssMb, unit: "MB" },
      { scenario: "fleet", metric: "peak RSS (VmHWM)", value: mem.peakMb, unit: "MB", below: 300 },
      {
        scenario: "fleet",
        metric: "progress jitter p50 (gap - interval)",
        value: percentile(lateness, 50),
        unit: "ms",
      },
      {
        scenario: "fleet",
        metric: "progress jitter p99 (gap - interval)",
        value: percentile(lateness, 99),
        unit: "ms",
        below: 100,
      },
      {
        scenario: "fleet",
        metric: "progress created -> consumed p99",
        value: percentile(delivery, 99),
        unit: "ms",
      },
    ];
  } finally {
    await engine.dispose();
    await producer.disconnect();
    await central.close();
  }
}

async function benchSession(broker: string, options: BenchOptions): Promise<BenchRow[]> {
  const seed = 2026;
  const maxPowerKw = 22;
  const tariff = 0.3;
  const { central, engine, cpId } = await startEngine(broker, "session", [
    "--time-scale",
    "1000",
    "--progress-interval",
    "1",
    "--seed",
    String(seed),
    "--max-power",
    String(maxPowerKw),
    "--tariff",
    String(tariff),
  ]);
  try {
    const sent = performance.now();
    await central.send({
      event_type: "charging_started",
      action: "charging_started",
      cp_id: cpId,
      username: "longhaul",
      user_id: 4,
      client_id: "bench",
    });
    await delay(options.sessionHours * 3600);
    await central.send({ event_type: "CP_UNPLUG", action: "unplug", cp_id: cpId });
    await central.waitFor(
      "charging_completed",
      (events) => events.some((e) => e.value["action"] === "charging_completed"),
    );
    const completed = central.events.find((e) => e.value["action"] === "charging_completed")!;
    const wallMs = completed.receivedAt - sent;
    // The engine's first session draws its profile first from its seeded generator.
    const profile = drawProfile(maxPowerKw, seededRandom(seed));
    const duration = Number(completed.value["duration_sec"]);
    const analyticKwh = energyUntil(profile, duration);
    const energy = Number(completed.value["energy_kwh"]);
    const cost = Number(completed.value["cost"]);
    return [
      {
        scenario: "session",
        metric: `${options.sessionHours} h session at --time-scale 1000: wall time`,
        value: wallMs / 1000,
        unit: "s",
        below: 20,
      },
      {
        scenario: "session",
        metric: `energy ${energy} kWh vs analytic ${analyticKwh.toFixed(3)} (${duration} s)`,
        value: (Math.abs(energy - analyticKwh) / analyticKwh) * 100,
        unit: "% off",
        below: 0.1,
      },
      {
        scenario: "session",
        metric: `cost ${cost} EUR vs analytic ${costOf(analyticKwh, tariff).toFixed(2)}`,
        // Against the unrounded analytic cost: the wire's cents are part of the error.
        value: (Math.abs(cost - analyticKwh * tariff) / (analyticKwh * tariff)) * 100,
        unit: "% off",
        below: 0.1,
      },
    ];
  } finally {
    await disposeEngine(engine, cpId);
    await central.close();
  }
}

// --- Report -----------------------------------------------------------------------------------

function format(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  return abs >= 100 ? value.toFixed(0) : abs >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function table(rows: readonly BenchRow[]): string {
  const lines = rows.map((row) => [
    row.scenario,
    row.metric,
    `${format(row.value)} ${row.unit}`,
    row.below === undefined ? "-" : `< ${row.below} ${row.unit}`,
    row.below === undefined ? "" : row.value < row.below ? "ok" : "MISSED",
  ]);
  const header = ["scenario", "metric", "measured", "target", ""];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => line[i]!.length)));
  const render = (cells: string[]) =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
  return [
    render(header),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...lines.map(render),
  ].join("\n");
}

async function main(args: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseArgs(args);
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  let ownBroker: KafkaTestBroker | null = null;
  let broker = Deno.env.get("KAFKA_BROKER") ?? "";
  if (broker === "") {
    console.log("Starting a Kafka broker for the benchmark...");
    ownBroker = await KafkaTestBroker.create();
    await ownBroker.start();
    broker = ownBroker.bootstrap;
  }
  const rows: BenchRow[] = [];
  const runners: Record<Scenario, () => Promise<BenchRow[]>> = {
    startup: () => benchStartup(broker),
    health: () => benchHealth(broker, options),
    command: () => benchCommand(broker, options),
    engine: () => benchEngine(broker, options),
    fleet: () => benchFleet(broker, options),
    session: () => benchSession(broker, options),
  };
  let failed = 0;
  try {
    for (const scenario of options.scenarios) {
      console.log(`--- ${scenario}`);
      try {
        const measured = await runners[scenario]();
        for (const row of measured) {
          console.log(`  ${row.metric}: ${format(row.value)} ${row.unit}`);
        }
        rows.push(...measured);
      } catch (error) {
        failed++;
        console.error(`  ${scenario} failed: ${(error as Error).message.split("\n")[0]}`);
      }
    }
  } finally {
    await ownBroker?.dispose();
  }
  console.log(`\n${table(rows)}`);
  const report = {
    date: new Date().toISOString(),
    machine: { cpus: navigator.hardwareConcurrency, loadavg: Deno.loadavg() },
    options: { ...options, out: undefined },
    rows,
  };
  await Deno.mkdir(dirname(options.out), { recursive: true });
  await Deno.writeTextFile(options.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nWritten to ${options.out}`);
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
