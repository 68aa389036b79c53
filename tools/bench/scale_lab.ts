/**
 * The scale lab: a big fleet (1,000 and 10,000 points in full mode) at the default log level and
 * progress interval, beside a 10-point fleet (for the marginal memory of a point) and the kafkajs
 * reference publishing as many progress-sized messages a second. Measures the time to register
 * every point, then CPU, RSS and progress jitter while every point charges.
 *
 * @module
 */
import {
  allAlive,
  commonFlags,
  disposeAll,
  distinctPoints,
  isProgress,
  isRegistration,
  isStatus,
  type LabContext,
} from "./lab.ts";
import { chargingStarted, Commander, Observer, type Seen, uniqueTopics } from "./kafka_lab.ts";
import { type BenchProcess, delay, startFleet, startReference } from "./processes.ts";
import { CpuWindow, memory } from "./proc.ts";
import { percentile } from "./stats.ts";

/** Points of the small fleet the big one is compared with. */
const SMALL_FLEET = 10;
/** The progress interval the engine is run with (its default). */
const PROGRESS_INTERVAL_MS = 1_000;

/** Runs the scale lab once: each size in turn. */
export async function runScaleLab(context: LabContext, run: number): Promise<void> {
  const [first, last] = context.options.scalePoints;
  context.results.retitle(
    "scale1k",
    `${first.toLocaleString("en")} points charging at 1 Hz, log level info`,
  );
  context.results.retitle("scale10k", `${last.toLocaleString("en")} points`);
  await runSize(context, run, first, "scale1k");
  await runSize(context, run, last, "scale10k");
}

async function runSize(
  context: LabContext,
  run: number,
  points: number,
  group: "scale1k" | "scale10k",
): Promise<void> {
  const { broker, options, results, log } = context;
  const record = (figure: string, subject: "engine" | "reference", value: number) =>
    results.record(`${group}.${figure}`, subject, run, value);
  log(`  ${points} points`);
  const big = uniqueTopics(`fleet${points}`);
  const small = uniqueTopics("fleet10");
  const publisher = { in: `bench-ref-in-${crypto.randomUUID().slice(0, 8)}`, out: "" };
  publisher.out = publisher.in.replace("-in-", "-out-");
  const burst = { in: `bench-ref-in-${crypto.randomUUID().slice(0, 8)}`, out: "" };
  burst.out = burst.in.replace("-in-", "-out-");
  const observer = await Observer.start(broker, [
    big.cpEvents,
    big.centralEvents,
    small.cpEvents,
    small.centralEvents,
    publisher.in,
    publisher.out,
    burst.in,
    burst.out,
  ]);
  const commander = await Commander.start(broker);
  const processes: BenchProcess[] = [];
  const alive = allAlive(processes);
  const readyTimeoutMs = 60_000 + points * 20;
  try {
    // The small fleet and the publishing reference first, so the big fleet registers alone.
    const smallIds = new Set<string>();
    const smallReady = observer.next(
      "the small fleet available",
      distinctPoints(SMALL_FLEET, (seen) => isAvailable(seen, small.cpEvents)),
      120_000,
      alive,
    );
    const smallRegistered = observer.next(
      "the small fleet's registrations",
      distinctPoints(SMALL_FLEET, (seen) => isRegistration(seen, small.cpEvents), smallIds),
      120_000,
      alive,
    );
    const hello = observer.next(
      "the reference's first message",
      (seen) => seen.topic === publisher.out,
      60_000,
      alive,
    );
    processes.push(
      await startFleet("fleet of 10", [
        ...fleetFlags(broker, small),
        "--count",
        String(SMALL_FLEET),
      ]),
    );
    const reference = startReference("kafkajs reference", "reference_kafka.ts", [
      "--broker",
      broker,
      "--in",
      publisher.in,
      "--out",
      publisher.out,
    ], { stdin: true });
    processes.push(reference);
    // Its `available` comes 6 s after its registration: awaited with the big fleet's.
    await Promise.all([smallRegistered, hello]);

    // Registration: the reference sending as many registration-sized messages, then the fleet.
    const burstDone = observer.next(
      `${points} reference registrations`,
      distinctPoints(points, (seen) => isRegistration(seen, burst.out)),
      readyTimeoutMs,
      alive,
    );
    const burster = startReference("kafkajs reference (burst)", "reference_kafka.ts", [
      "--broker",
      broker,
      "--in",
      burst.in,
      "--out",
      burst.out,
      "--burst",
      String(points),
    ], { stdin: true });
    processes.push(burster);
    const burstSeconds = ((await burstDone).receivedAt - burster.startedAt) / 1000;
    await burster.dispose(0);
    processes.splice(processes.indexOf(burster), 1);

    const bigIds = new Set<string>();
    const registered = observer.next(
      `${points} registrations`,
      distinctPoints(points, (seen) => isRegistration(seen, big.cpEvents), bigIds),
      readyTimeoutMs,
      alive,
    );
    const available = observer.next(
      `${points} points available`,
      distinctPoints(points, (seen) => isAvailable(seen, big.cpEvents)),
      readyTimeoutMs,
      alive,
    );
    const fleet = await startFleet(`fleet of ${points}`, [
      ...fleetFlags(broker, big),
      "--count",
      String(points),
    ]);
    processes.push(fleet);
    const registeredSeconds = ((await registered).receivedAt - fleet.startedAt) / 1000;
    const availableSeconds = ((await available).receivedAt - fleet.startedAt) / 1000;
    await smallReady;
    if (group === "scale10k") {
      results.record("scale10k.registered", "engine", run, registeredSeconds);
      results.record("scale10k.registered", "reference", run, burstSeconds);
    }
    results.note(
      group,
      `run ${run + 1}: all ${points} registered after ${
        registeredSeconds.toFixed(2)
      } s, available after ${
        availableSeconds.toFixed(2)
      } s (the 6 s hold after a registration included)`,
    );

    // Idle memory, big against small.
    await delay(options.settleSeconds * 1000);
    const [bigIdle, smallIdle] = await Promise.all([memory(fleet.pid), memory(processes[0]!.pid)]);

    // Every point charging.
    log(`  ${points} points charging, measuring ${options.scaleSeconds} s`);
    const charging = observer.next(
      `progress from all ${points} points`,
      distinctPoints(points, (seen) => isProgress(seen, big.cpEvents)),
      readyTimeoutMs,
      alive,
    );
    const smallCharging = observer.next(
      "progress from the small fleet",
      distinctPoints(SMALL_FLEET, (seen) => isProgress(seen, small.cpEvents)),
      readyTimeoutMs,
      alive,
    );
    let user = 1;
    await commander.send(
      small.centralEvents,
      [...smallIds].map((cpId) => chargingStarted(cpId, user++)),
    );
    await commander.sendAll(
      big.centralEvents,
      [...bigIds].map((cpId) => chargingStarted(cpId, user++)),
    );
    await reference.writeLine(`publish ${points}`);
    await Promise.all([charging, smallCharging]);
    await delay(Math.min(3, options.settleSeconds) * 1000);

    const engineCadence = new Cadence();
    const referenceCadence = new Cadence();
    const stopWatching = observer.on((seen) => {
      if (isProgress(seen, big.cpEvents)) engineCadence.add(seen);
      else if (isProgress(seen, publisher.out)) referenceCadence.add(seen);
    });
    const logBytesBefore = fleet.outputBytes;
    const windows = await Promise.all([
      CpuWindow.start([fleet.pid]),
      CpuWindow.start([reference.pid]),
      CpuWindow.start([Deno.pid]),
    ]);
    await delay(options.scaleSeconds * 1000);
    const [fleetCpu, referenceCpu, benchCpu] = await Promise.all(
      windows.map((window) => window.stop()),
    );
    stopWatching();
    const logBytes = fleet.outputBytes - logBytesBefore;
    const [bigCharging, smallChargingMemory, referenceMemory] = await Promise.all([
      memory(fleet.pid),
      memory(processes[0]!.pid),
      memory(reference.pid),
    ]);
    alive();
    await reference.writeLine("stop");

    record("cpu", "engine", fleetCpu!.percentOfCore);
    record("cpu", "reference", referenceCpu!.percentOfCore);
    record("rss", "engine", bigCharging.rssMb);
    record("rss", "reference", referenceMemory.rssMb);
    record("jitterP99", "engine", percentile(engineCadence.jitter, 99));
    record("jitterP99", "reference", percentile(referenceCadence.jitter, 99));
    if (group === "scale1k") {
      record("jitterP50", "engine", percentile(engineCadence.jitter, 50));
      record("jitterP50", "reference", percentile(referenceCadence.jitter, 50));
      record("deliveryP99", "engine", percentile(engineCadence.delivery, 99));
      record("deliveryP99", "reference", percentile(referenceCadence.delivery, 99));
    }
    const kbPerPoint = (bigMb: number, smallMb: number) =>
      ((bigMb - smallMb) * 1024) / (points - SMALL_FLEET);
    if (group === "scale10k") {
      results.record("memory.idle", "engine", run, kbPerPoint(bigIdle.rssMb, smallIdle.rssMb));
      results.record(
        "memory.charging",
        "engine",
        run,
        kbPerPoint(bigCharging.rssMb, smallChargingMemory.rssMb),
      );
    }
    results.note(
      group,
      `run ${
        run + 1
      }: ${engineCadence.count} progress events from ${engineCadence.points} points in ` +
        `${fleetCpu!.wallSeconds.toFixed(1)} s (${
          (engineCadence.count / fleetCpu!.wallSeconds).toFixed(0)
        }/s); ` +
        `the fleet wrote ${(logBytes / 1024 / fleetCpu!.wallSeconds).toFixed(0)} KB/s of log; ` +
        `the bench's own process used ${
          benchCpu!.percentOfCore.toFixed(0)
        } % of a core meanwhile; ` +
        `idle RSS ${bigIdle.rssMb.toFixed(0)} MB vs ${
          smallIdle.rssMb.toFixed(0)
        } MB for ${SMALL_FLEET} points`,
    );
  } finally {
    await disposeAll(processes);
    await Promise.allSettled([observer.close(), commander.close()]);
  }
}

/** The fleet flags: the common ones and any free health ports. */
function fleetFlags(broker: string, topics: { cpEvents: string; centralEvents: string }): string[] {
  return [...commonFlags(broker, topics), "--health-port-base", "0"];
}

function isAvailable(seen: Seen, topic: string): boolean {
  return isStatus(seen, topic, String(seen.value["cp_id"]), "available");
}

/**
 * The cadence of progress events: per point, |gap between two `timestamp`s - the interval|, and
 * how long each event took from its `timestamp` to the bench.
 */
class Cadence {
  readonly jitter: number[] = [];
  readonly delivery: number[] = [];
  readonly #last = new Map<string, number>();
  count = 0;

  add(seen: Seen): void {
    const cpId = String(seen.value["cp_id"]);
    const stampMs = Number(seen.value["timestamp"]) * 1000;
    this.count++;
    const previous = this.#last.get(cpId);
    if (previous !== undefined) {
      this.jitter.push(Math.abs(stampMs - previous - PROGRESS_INTERVAL_MS));
    }
    this.#last.set(cpId, stampMs);
    this.delivery.push(performance.timeOrigin + seen.receivedAt - stampMs);
  }

  get points(): number {
    return this.#last.size;
  }
}
