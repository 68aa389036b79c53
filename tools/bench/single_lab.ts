/**
 * The single-point lab: one engine as users run it (`start` task flags, durable outbox, log level
 * info, progress every second, the status window), side by side with the references and the
 * original engine, in one run: start-up, idle, one session charging, commands, health load.
 *
 * The order matters: idle is measured on a fresh process; the session ends before the commands
 * (a fault would end it anyway); the health load comes last, since it leaves the engine counting
 * a watching Monitor that then goes silent.
 *
 * @module
 */
import {
  allAlive,
  commonFlags,
  disposeAll,
  isProgress,
  isStatus,
  type LabContext,
  whenHealthAnswers,
} from "./lab.ts";
import {
  chargingStarted,
  command,
  Commander,
  Observer,
  type Seen,
  uniqueTopics,
} from "./kafka_lab.ts";
import { type BenchProcess, delay, freePort, startEngine, startReference } from "./processes.ts";
import { ORIGINAL_TOPICS, startOriginal } from "./original.ts";
import { CpuWindow, memory } from "./proc.ts";
import { latencySummary } from "./stats.ts";
import type { HealthLoadResult } from "./health_load.ts";
import type { Subject } from "./figures.ts";

/** The engine's status window plus a margin: a command this long after a change never waits. */
const STATUS_WINDOW_FREE_MS = 2_600;
/** The original engine's throttle of status changes (1 s) plus a margin. */
const ORIGINAL_THROTTLE_FREE_MS = 1_100;
/** Reference round trips per engine command (interleaved with the commands). */
const REFERENCE_TRIPS_PER_COMMAND = 3;

interface Subjects {
  readonly engine: BenchProcess;
  readonly engineCpId: string;
  readonly enginePort: number;
  readonly trivial: BenchProcess;
  readonly trivialPort: number;
  readonly reference: BenchProcess;
  readonly original: BenchProcess | null;
  readonly originalCpId: string;
  readonly originalPort: number;
}

/** Runs the single-point lab once (run number `run`, from 0). */
export async function runSingleLab(context: LabContext, run: number): Promise<void> {
  const { broker, results, log } = context;
  const engineTopics = uniqueTopics("single");
  const referenceTopics = { in: `bench-ref-in-${crypto.randomUUID().slice(0, 8)}`, out: "" };
  referenceTopics.out = referenceTopics.in.replace("-in-", "-out-");
  const topics = [
    engineTopics.cpEvents,
    engineTopics.centralEvents,
    referenceTopics.in,
    referenceTopics.out,
  ];
  if (context.original !== null) {
    topics.push(ORIGINAL_TOPICS.cpEvents, ORIGINAL_TOPICS.centralEvents);
  }
  const observer = await Observer.start(broker, topics);
  const commander = await Commander.start(broker);
  const processes: BenchProcess[] = [];
  const record = (id: string, subject: Subject, value: number) =>
    results.record(id, subject, run, value);
  /** Start-up figures are recorded in seconds from the spawn. */
  const since = (process: BenchProcess, at: number) => (at - process.startedAt) / 1000;
  try {
    // --- Start-up: one program at a time, so none slows another.
    const trivialPort = freePort();
    const trivial = startReference("trivial health server", "reference_health_server.ts", [
      "--port",
      String(trivialPort),
    ]);
    processes.push(trivial);
    record(
      "startup.health",
      "reference",
      since(trivial, await whenHealthAnswers(trivialPort, trivial)),
    );

    const hello = observer.next(
      "the kafkajs reference's first message",
      (seen) => seen.topic === referenceTopics.out && seen.value["hello"] === true,
      60_000,
    );
    const reference = startReference("kafkajs reference", "reference_kafka.ts", [
      "--broker",
      broker,
      "--in",
      referenceTopics.in,
      "--out",
      referenceTopics.out,
    ], { stdin: true });
    processes.push(reference);
    const helloAt = since(reference, (await hello).receivedAt);
    record("startup.registration", "reference", helloAt);
    record("startup.available", "reference", helloAt);

    const engineCpId = `BENCH_${run + 1}_${crypto.randomUUID().slice(0, 6)}`;
    const enginePort = freePort();
    const registered = observer.next(
      "the engine's registration",
      (seen) =>
        seen.topic === engineTopics.cpEvents && seen.value["event_type"] === "CP_REGISTRATION",
      60_000,
    );
    const available = observer.next(
      "the engine's `available`",
      (seen) => isStatus(seen, engineTopics.cpEvents, engineCpId, "available"),
      60_000,
    );
    const engine = await startEngine("engine", [
      ...commonFlags(broker, engineTopics),
      "--cp-id",
      engineCpId,
      "--health-port",
      String(enginePort),
    ]);
    processes.push(engine);
    const [engineHealth, engineRegistered, engineAvailable] = await Promise.all([
      whenHealthAnswers(enginePort, engine),
      registered,
      available,
    ]);
    record("startup.health", "engine", since(engine, engineHealth));
    record("startup.registration", "engine", since(engine, engineRegistered.receivedAt));
    record("startup.available", "engine", since(engine, engineAvailable.receivedAt));

    let original: BenchProcess | null = null;
    const originalCpId = `PY_${run + 1}_${crypto.randomUUID().slice(0, 6)}`;
    const originalPort = freePort();
    if (context.original !== null) {
      const originalRegistered = observer.next(
        "the original engine's registration",
        (seen) =>
          seen.topic === ORIGINAL_TOPICS.cpEvents && seen.value["cp_id"] === originalCpId &&
          seen.value["event_type"] === "CP_REGISTRATION",
        60_000,
      );
      original = startOriginal(context.original, {
        label: "original engine",
        cpId: originalCpId,
        healthPort: originalPort,
        broker,
      });
      processes.push(original);
      const [health, registration] = await Promise.all([
        whenHealthAnswers(originalPort, original),
        originalRegistered,
      ]);
      record("startup.health", "original", since(original, health));
      record("startup.registration", "original", since(original, registration.receivedAt));
    }
    const subjects: Subjects = {
      engine,
      engineCpId,
      enginePort,
      trivial,
      trivialPort,
      reference,
      original,
      originalCpId,
      originalPort,
    };
    const alive = allAlive(processes);

    // --- Idle.
    log(
      `  idle: settling ${context.options.settleSeconds} s, ` +
        `measuring ${context.options.idleSeconds} s`,
    );
    await delay(context.options.settleSeconds * 1000);
    await measureTogether(context, run, subjects, "idle", context.options.idleSeconds);
    alive();

    // --- One session charging.
    log(`  charging: one session each, measuring ${context.options.chargingSeconds} s`);
    const engineProgress = observer.next(
      "the engine's first progress",
      (seen) => isProgress(seen, engineTopics.cpEvents, engineCpId),
      30_000,
      alive,
    );
    const originalProgress = original === null ? null : observer.next(
      "the original engine's first progress",
      (seen) => isProgress(seen, ORIGINAL_TOPICS.cpEvents, originalCpId),
      30_000,
      alive,
    );
    await commander.send(engineTopics.centralEvents, [chargingStarted(engineCpId, 1)]);
    if (original !== null) {
      await commander.send(ORIGINAL_TOPICS.centralEvents, [chargingStarted(originalCpId, 2)]);
    }
    await reference.writeLine("publish 1");
    await Promise.all([engineProgress, originalProgress]);
    await delay(Math.min(3, context.options.settleSeconds) * 1000);
    await measureTogether(context, run, subjects, "charging", context.options.chargingSeconds);
    await reference.writeLine("stop");
    const engineIdleAgain = observer.next(
      "the engine's `available` after the unplug",
      (seen) => isStatus(seen, engineTopics.cpEvents, engineCpId, "available"),
      15_000,
      alive,
    );
    const originalIdleAgain = original === null ? null : observer.next(
      "the original engine's `available` after the unplug",
      (seen) => isStatus(seen, ORIGINAL_TOPICS.cpEvents, originalCpId, "available"),
      15_000,
      alive,
    );
    await commander.send(engineTopics.centralEvents, [command(engineCpId, "CP_UNPLUG", "unplug")]);
    if (original !== null) {
      await commander.send(ORIGINAL_TOPICS.centralEvents, [
        command(originalCpId, "CP_UNPLUG", "unplug"),
      ]);
    }
    const [engineIdle, originalIdle] = await Promise.all([engineIdleAgain, originalIdleAgain]);

    // --- Commands.
    log(`  commands: ${context.options.commands} each, after the status window`);
    await measureCommands(context, run, subjects, observer, commander, {
      engineTopics,
      referenceTopics,
      engineLastStatus: engineIdle.receivedAt,
      originalLastStatus: originalIdle?.receivedAt ?? 0,
    });

    // --- Health load.
    log(
      `  health: ${context.options.probers} probers flat out and paced, ` +
        `${context.options.healthSeconds} s each`,
    );
    await measureHealth(context, run, subjects);
  } finally {
    await disposeAll(processes);
    await Promise.allSettled([observer.close(), commander.close()]);
  }
}

/** CPU and RSS of the engine, the kafkajs reference and the original, in the same window. */
async function measureTogether(
  context: LabContext,
  run: number,
  subjects: Subjects,
  group: "idle" | "charging",
  seconds: number,
): Promise<void> {
  const measured: [Subject, BenchProcess][] = [["engine", subjects.engine], [
    "reference",
    subjects.reference,
  ]];
  if (subjects.original !== null) measured.push(["original", subjects.original]);
  const windows = await Promise.all(measured.map(([, process]) => CpuWindow.start([process.pid])));
  await delay(seconds * 1000);
  const cpu = await Promise.all(windows.map((window) => window.stop()));
  const rss = await Promise.all(measured.map(([, process]) => memory(process.pid)));
  measured.forEach(([subject], i) => {
    context.results.record(`${group}.cpu`, subject, run, cpu[i]!.percentOfCore);
    context.results.record(`${group}.rss`, subject, run, rss[i]!.rssMb);
  });
}

async function measureCommands(
  context: LabContext,
  run: number,
  subjects: Subjects,
  observer: Observer,
  commander: Commander,
  state: {
    engineTopics: { cpEvents: string; centralEvents: string };
    referenceTopics: { in: string; out: string };
    engineLastStatus: number;
    originalLastStatus: number;
  },
): Promise<void> {
  const alive = allAlive([
    subjects.engine,
    subjects.reference,
    ...(subjects.original === null ? [] : [subjects.original]),
  ]);
  const engine: number[] = [];
  const original: number[] = [];
  const reference: number[] = [];
  let engineLast = state.engineLastStatus;
  let originalLast = state.originalLastStatus;
  /** Sends one command and resolves to produce()-returned -> status consumed, ms. */
  const timed = async (
    topic: string,
    value: Record<string, unknown>,
    seen: (s: Seen) => boolean,
  ) => {
    const wait = observer.next(`the answer to ${value["event_type"]}`, seen, 15_000, alive);
    await commander.send(topic, [value]);
    const sent = performance.now();
    const answer = await wait;
    return { ms: answer.receivedAt - sent, at: answer.receivedAt };
  };
  const waitUntil = (at: number) => delay(Math.max(0, at - performance.now()));
  for (let i = 0; i < context.options.commands; i++) {
    const fault = i % 2 === 0;
    const expected = fault ? "fault" : "available";
    await waitUntil(engineLast + STATUS_WINDOW_FREE_MS);
    const e = await timed(
      state.engineTopics.centralEvents,
      command(subjects.engineCpId, fault ? "CP_FAULT" : "CP_RECOVER", fault ? "fault" : "recover"),
      (seen) => isStatus(seen, state.engineTopics.cpEvents, subjects.engineCpId, expected),
    );
    engine.push(e.ms);
    engineLast = e.at;
    if (subjects.original !== null) {
      await waitUntil(originalLast + ORIGINAL_THROTTLE_FREE_MS);
      const o = await timed(
        ORIGINAL_TOPICS.centralEvents,
        command(
          subjects.originalCpId,
          fault ? "CP_ERROR_SIMULATED" : "CP_ERROR_FIXED",
          fault ? "cp_error_simulated" : "cp_error_fixed",
        ),
        (seen) => isStatus(seen, ORIGINAL_TOPICS.cpEvents, subjects.originalCpId, expected),
      );
      original.push(o.ms);
      originalLast = o.at;
    }
    for (let k = 0; k < REFERENCE_TRIPS_PER_COMMAND; k++) {
      const trip = crypto.randomUUID();
      const r = await timed(
        state.referenceTopics.in,
        { event_type: "bench_round_trip", trip },
        (seen) => seen.topic === state.referenceTopics.out && seen.value["trip"] === trip,
      );
      reference.push(r.ms);
    }
  }
  const record = (subject: Subject, samples: number[]) => {
    if (samples.length === 0) return;
    const summary = latencySummary(samples);
    context.results.record("command.p50", subject, run, summary.p50);
    context.results.record("command.p99", subject, run, summary.p99);
  };
  record("engine", engine);
  record("reference", reference);
  record("original", original);
  context.results.note(
    "command",
    `per run: ${engine.length} engine commands, ${reference.length} reference round trips` +
      (original.length > 0 ? `, ${original.length} original-engine commands` : "") +
      "; with this few samples p99 is close to the maximum",
  );
}

async function measureHealth(context: LabContext, run: number, subjects: Subjects): Promise<void> {
  const targets: [Subject, BenchProcess, number][] = [
    ["engine", subjects.engine, subjects.enginePort],
    ["reference", subjects.trivial, subjects.trivialPort],
  ];
  if (subjects.original !== null) {
    targets.push(["original", subjects.original, subjects.originalPort]);
  }
  // Rotate who goes first from run to run: no subject always gets the freshest machine.
  const order = targets.map((_, i) => targets[(i + run) % targets.length]!);
  const { probers, healthSeconds, pacedRate } = context.options;
  for (const [group, paceMs] of [["health64", 0], ["healthPaced", 1000 / pacedRate]] as const) {
    for (const [subject, server, port] of order) {
      const window = await CpuWindow.start([server.pid]);
      const load = await runLoad(port, probers, healthSeconds, paceMs);
      const cpu = await window.stop();
      const record = (figure: string, value: number) =>
        context.results.record(`${group}.${figure}`, subject, run, value);
      if (group === "health64") {
        record("rate", load.probesPerSecond);
        record("p999", load.latencyMs.p999);
      }
      record("p50", load.latencyMs.p50);
      record("p99", load.latencyMs.p99);
      record("max", load.latencyMs.max);
      record("failures", load.failures);
      record(
        "cpuPerProbe",
        load.answered === 0 ? Number.NaN : (cpu.cpuSeconds / load.answered) * 1e6,
      );
      if (load.failures > 0) {
        context.results.note(
          group,
          `${subject}: ${load.failures} failed probes in run ${run + 1} (${
            load.failureReasons.join("; ")
          })`,
        );
      }
      if (load.overOneSecond > 0) {
        context.results.note(
          group,
          `${subject}: ${load.overOneSecond} probes over 1 s in run ${run + 1}`,
        );
      }
    }
  }
  context.results.note(
    "health64",
    `${probers} probers for ${healthSeconds} s per subject and run; CPU per probe has the ` +
      "resolution of the kernel's 10 ms ticks over the run",
  );
}

/** Runs the health load in its own process and returns what it printed. */
async function runLoad(
  port: number,
  probers: number,
  seconds: number,
  paceMs: number,
): Promise<HealthLoadResult> {
  const load = startReference("health load", "health_load.ts", [
    "--port",
    String(port),
    "--probers",
    String(probers),
    "--seconds",
    String(seconds),
    "--pace-ms",
    String(paceMs),
  ]);
  try {
    const line = await load.waitForLine((text) => text.startsWith("{"), (seconds + 60) * 1000);
    return JSON.parse(line) as HealthLoadResult;
  } finally {
    await load.dispose();
  }
}
