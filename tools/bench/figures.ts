/**
 * Every figure the benchmark prints, with what it includes and excludes, its reference, and the
 * target the issue sets. The labs record values under these ids; a figure a lab could not
 * measure still has its row, marked as such.
 *
 * @module
 */
import type { Spread } from "./stats.ts";

/** The three columns a figure can have. */
export type Subject = "engine" | "reference" | "original";

/** The spreads a target is judged on (medians over runs; ratios run by run). */
export interface Judged {
  readonly engine: Spread;
  readonly reference: Spread;
  readonly original: Spread;
  /** engine / reference, run by run. */
  readonly ratio: Spread;
  /** engine / original, run by run. */
  readonly originalRatio: Spread;
}

/** A target: its text and a check (null when what it needs was not measured). */
export interface Target {
  readonly text: string;
  readonly check: (judged: Judged) => boolean | null;
}

/** One row of the table. */
export interface FigureSpec {
  readonly id: string;
  readonly group: GroupId;
  readonly label: string;
  readonly unit: string;
  /** Digits after the decimal point. */
  readonly digits: number;
  readonly target?: Target;
}

/** A group of rows measured together, and what its figures mean. */
export interface GroupSpec {
  readonly title: string;
  readonly engine: string;
  readonly reference: string;
  readonly original: string;
  readonly includes: string;
  readonly excludes: string;
}

/** The groups, in the order they are printed. */
export const GROUPS = {
  startup: {
    title: "Start-up",
    engine: "single engine (`start` task flags), --monitor-wait 0: available without a Monitor",
    reference: "health: the trivial Deno health server; Kafka: the kafkajs reference process " +
      "(start -> its first message consumed)",
    original: "Python engine: start -> health answers / registration consumed (it never " +
      "reports `available` by itself, so that row has no original figure)",
    includes: "process spawn, Deno start-up and module loading (warm module cache), opening the " +
      "durable outbox, Kafka connection, registration sent and consumed by the bench; " +
      "`available` " +
      "also includes the engine's 6 s hold after a registration (Central ignores `available` " +
      "for 5 s after one) and the consumer joining its group",
    excludes: "the default 20 s wait for a Monitor (--monitor-wait 0); the first, cold run of " +
      "each program (one warm-up start is not counted)",
  },
  idle: {
    title: "Idle",
    engine:
      "single engine, default settings (log level info), connected, `available`, no Monitor " +
      "probing",
    reference: "an idle Deno process holding one connected kafkajs producer and group consumer " +
      "(same consumer settings as the engine, no idle patch)",
    original: "Python engine, idle after its registration",
    includes: "every thread of the process (CPU: /proc/<pid>/stat utime+stime over the window; " +
      "memory: VmRSS at the end of the window); all three measured in the same window",
    excludes: "the Kafka broker and the bench's own consumer",
  },
  charging: {
    title: "Charging (one session, progress every 1 s)",
    engine: "single engine with one session from `charging_started`, default progress interval 1 s",
    reference: "the kafkajs reference process sending one progress-sized message per second",
    original: "Python engine with one session (progress every second)",
    includes: "the charging Worker, progress events through the durable outbox (fsync) to Kafka, " +
      "an info log line per progress; all three in the same window",
    excludes: "the Kafka broker and the bench's consumer",
  },
  health64: {
    title: "Health, 64 concurrent probers flat out",
    engine: "single engine's health port (idle, `available`)",
    reference: "trivial Deno TCP server: accept, read a line, answer `OK\\n`, close",
    original: "Python engine's health port",
    includes: "per probe: TCP connect, `STATUS?\\n`, the answer line, from before connect() to " +
      "the newline, measured by a separate load process on the same 2 cores; CPU per probe: " +
      "the server process's CPU over the run / answered probes",
    excludes: "the load process's own CPU (it competes for the same cores for every subject alike)",
  },
  healthPaced: {
    title: "Health, paced: 64 probers x 10 probes/s",
    engine: "as above",
    reference: "as above",
    original: "as above",
    includes: "the same probe, at a rate the server can keep up with: latency without queueing",
    excludes: "as above",
  },
  command: {
    title: "Command -> status",
    engine: "single engine, default 2.5 s status window; CP_FAULT and CP_RECOVER alternately",
    reference: "bare kafkajs round trip: the bench produces, the reference process consumes and " +
      "re-produces, the bench consumes (same two broker hops)",
    original: "Python engine, CP_ERROR_SIMULATED / CP_ERROR_FIXED alternately (it has no CP_FAULT)",
    includes: "from produce() returning in the bench to the `cp_status_change` consumed by the " +
      "bench: broker round trips, the engine's fetch, decode, state machine, durable append " +
      "(fsync), send",
    excludes: "the status window: each command is sent only after the window since the last " +
      "status change passed (2.6 s; the Python engine's 1 s throttle likewise), so it never waits",
  },
  fleet10: {
    title: "10 points: one fleet vs 10 single engines",
    engine: "`fleet --count 10` (fleet task flags), default settings",
    reference: "10 single engines (`start` task flags), summed",
    original: "10 Python engines, summed",
    includes: "all processes' CPU and VmRSS, idle (`available`) and then all 10 charging",
    excludes: "the Kafka broker and the bench",
  },
  scale1k: {
    title: "1,000 points charging at 1 Hz, log level info",
    engine: "`fleet --count 1000`, default progress interval 1 s and log level info (the " +
      "bench reads and discards the log)",
    reference: "the kafkajs reference process sending 1,000 progress-sized messages per second " +
      "(one batch a second)",
    original: "not run: the Python engine is one process per point",
    includes: "CPU and VmRSS of the process; jitter: per point, the gap between two progress " +
      "`timestamp`s minus 1 s; delivery: `timestamp` to consumed by the bench",
    excludes: "start-up and the first progress of each session",
  },
  scale10k: {
    title: "10,000 points",
    engine: "`fleet --count 10000`, default settings",
    reference: "registration: a fresh kafkajs reference process sending 10,000 " +
      "registration-sized messages; charging: it sending 10,000 progress-sized messages a second",
    original: "not run: the Python engine is one process per point",
    includes: "registered: process spawn -> all 10,000 `CP_REGISTRATION`s consumed by the bench",
    excludes: "nothing else",
  },
  memory: {
    title: "Memory per point (marginal)",
    engine: "(RSS of the big fleet - RSS of a 10-point fleet) / the difference in points, " +
      "measured side by side",
    reference: "a point as its own single engine: its whole RSS (the fleet lab's single " +
      "engines / their number, same bench run)",
    original: "a point as its own Python engine: its whole RSS (the fleet lab's Python engines " +
      "/ their number, same bench run)",
    includes: "VmRSS, idle (`available`) and while every point charges",
    excludes: "shared costs (runtime, Kafka clients) by construction",
  },
  simulation: {
    title: "Simulation speed",
    engine: "`fleet` at --time-scale 3600 (an hour a second) with --max-power 1000, every point " +
      "charging, then unplugged",
    reference: "the ideal: points x time scale (every real second of every session simulated)",
    original: "not run: the Python engine has no time scale",
    includes: "simulated session-hours (sum of the tickets' `duration_sec`) per real second from " +
      "the first `charging_started` sent to the last ticket consumed; energy error: |ticket " +
      "energy - power x duration| / that, where power is the published `power_kw` (2 decimals " +
      "of 800-950 kW: 6 ppm) and the profile has no ramp (the default)",
    excludes: "the start-up of the fleet",
  },
} as const satisfies Record<string, GroupSpec>;

/** A group's id. */
export type GroupId = keyof typeof GROUPS;

const ratioAtMost = (limit: number) => (j: Judged) =>
  Number.isFinite(j.ratio.median) ? j.ratio.median <= limit : null;
const atMost = (limit: number) => (j: Judged) =>
  Number.isFinite(j.engine.median) ? j.engine.median <= limit : null;

/** Every row, in the order printed. */
export const FIGURES: readonly FigureSpec[] = [
  {
    id: "startup.health",
    group: "startup",
    label: "start -> health port answers",
    unit: "s",
    digits: 2,
  },
  {
    id: "startup.registration",
    group: "startup",
    label: "start -> registration consumed",
    unit: "s",
    digits: 2,
  },
  {
    id: "startup.available",
    group: "startup",
    label: "start -> `available` consumed",
    unit: "s",
    digits: 2,
  },
  {
    id: "idle.cpu",
    group: "idle",
    label: "idle CPU",
    unit: "% core",
    digits: 2,
    target: {
      text: "< original and <= 1.5x ref",
      check: (j) => {
        const vsReference = Number.isFinite(j.ratio.median) ? j.ratio.median <= 1.5 : null;
        const vsOriginal = Number.isFinite(j.originalRatio.median)
          ? j.originalRatio.median < 1
          : null;
        if (vsReference === false || vsOriginal === false) return false;
        return vsReference === null || vsOriginal === null ? null : true;
      },
    },
  },
  {
    id: "idle.rss",
    group: "idle",
    label: "idle RSS",
    unit: "MB",
    digits: 1,
    target: {
      text: "<= ref + 10 MB",
      check: (j) =>
        Number.isFinite(j.engine.median) && Number.isFinite(j.reference.median)
          ? j.engine.median - j.reference.median <= 10
          : null,
    },
  },
  { id: "charging.cpu", group: "charging", label: "CPU while charging", unit: "% core", digits: 2 },
  { id: "charging.rss", group: "charging", label: "RSS while charging", unit: "MB", digits: 1 },
  { id: "health64.rate", group: "health64", label: "probes/s", unit: "/s", digits: 0 },
  { id: "health64.p50", group: "health64", label: "latency p50", unit: "ms", digits: 2 },
  {
    id: "health64.p99",
    group: "health64",
    label: "latency p99",
    unit: "ms",
    digits: 2,
    target: { text: "<= 2x ref", check: ratioAtMost(2) },
  },
  { id: "health64.p999", group: "health64", label: "latency p99.9", unit: "ms", digits: 2 },
  {
    id: "health64.max",
    group: "health64",
    label: "latency max",
    unit: "ms",
    digits: 1,
    target: { text: "<= 1000 ms", check: atMost(1000) },
  },
  {
    id: "health64.failures",
    group: "health64",
    label: "failed probes",
    unit: "",
    digits: 0,
    target: { text: "0", check: atMost(0) },
  },
  {
    id: "health64.cpuPerProbe",
    group: "health64",
    label: "server CPU per probe",
    unit: "us",
    digits: 1,
    target: { text: "<= 1.2x ref", check: ratioAtMost(1.2) },
  },
  { id: "healthPaced.p50", group: "healthPaced", label: "latency p50", unit: "ms", digits: 2 },
  { id: "healthPaced.p99", group: "healthPaced", label: "latency p99", unit: "ms", digits: 2 },
  { id: "healthPaced.max", group: "healthPaced", label: "latency max", unit: "ms", digits: 1 },
  { id: "healthPaced.failures", group: "healthPaced", label: "failed probes", unit: "", digits: 0 },
  {
    id: "healthPaced.cpuPerProbe",
    group: "healthPaced",
    label: "server CPU per probe",
    unit: "us",
    digits: 1,
  },
  {
    id: "command.p50",
    group: "command",
    label: "command -> status p50",
    unit: "ms",
    digits: 1,
    target: { text: "<= 1.5x ref", check: ratioAtMost(1.5) },
  },
  {
    id: "command.p99",
    group: "command",
    label: "command -> status p99",
    unit: "ms",
    digits: 1,
    target: { text: "<= 3x ref", check: ratioAtMost(3) },
  },
  {
    id: "fleet10.idleCpu",
    group: "fleet10",
    label: "idle CPU, all points",
    unit: "% core",
    digits: 2,
  },
  { id: "fleet10.idleRss", group: "fleet10", label: "idle RSS, all points", unit: "MB", digits: 0 },
  {
    id: "fleet10.chargingCpu",
    group: "fleet10",
    label: "charging CPU, all points",
    unit: "% core",
    digits: 2,
  },
  {
    id: "fleet10.chargingRss",
    group: "fleet10",
    label: "charging RSS, all points",
    unit: "MB",
    digits: 0,
  },
  { id: "scale1k.cpu", group: "scale1k", label: "CPU", unit: "% core", digits: 1 },
  { id: "scale1k.rss", group: "scale1k", label: "RSS", unit: "MB", digits: 0 },
  {
    id: "scale1k.jitterP50",
    group: "scale1k",
    label: "progress jitter p50",
    unit: "ms",
    digits: 1,
  },
  {
    id: "scale1k.jitterP99",
    group: "scale1k",
    label: "progress jitter p99",
    unit: "ms",
    digits: 1,
  },
  {
    id: "scale1k.deliveryP99",
    group: "scale1k",
    label: "progress delivery p99",
    unit: "ms",
    digits: 1,
  },
  {
    id: "scale10k.registered",
    group: "scale10k",
    label: "start -> all registered",
    unit: "s",
    digits: 2,
    target: {
      text: "< 10 s",
      check: (j) => Number.isFinite(j.engine.median) ? j.engine.median < 10 : null,
    },
  },
  {
    id: "scale10k.rss",
    group: "scale10k",
    label: "RSS, all charging at 1 Hz",
    unit: "MB",
    digits: 0,
    target: {
      text: "< 400 MB",
      check: (j) => Number.isFinite(j.engine.median) ? j.engine.median < 400 : null,
    },
  },
  {
    id: "scale10k.cpu",
    group: "scale10k",
    label: "CPU, all charging at 1 Hz",
    unit: "% core",
    digits: 1,
    target: {
      text: "< 50 % core",
      check: (j) => Number.isFinite(j.engine.median) ? j.engine.median < 50 : null,
    },
  },
  {
    id: "scale10k.jitterP99",
    group: "scale10k",
    label: "progress jitter p99",
    unit: "ms",
    digits: 0,
  },
  {
    id: "memory.idle",
    group: "memory",
    label: "per point, idle",
    unit: "KB",
    digits: 1,
    target: {
      text: "< 20 KB",
      check: (j) => Number.isFinite(j.engine.median) ? j.engine.median < 20 : null,
    },
  },
  {
    id: "memory.charging",
    group: "memory",
    label: "per point, charging",
    unit: "KB",
    digits: 1,
    target: {
      text: "< 40 KB",
      check: (j) => Number.isFinite(j.engine.median) ? j.engine.median < 40 : null,
    },
  },
  {
    id: "simulation.speed",
    group: "simulation",
    label: "session-hours per real second",
    unit: "h/s",
    digits: 0,
  },
  {
    id: "simulation.cpu",
    group: "simulation",
    label: "CPU while simulating",
    unit: "% core",
    digits: 1,
  },
  {
    id: "simulation.energyErrorMedian",
    group: "simulation",
    label: "energy error, median session",
    unit: "%",
    digits: 4,
  },
  {
    id: "simulation.energyError",
    group: "simulation",
    label: "energy error, worst session",
    unit: "%",
    digits: 4,
  },
];
