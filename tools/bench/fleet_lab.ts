/**
 * The fleet lab: N points (10 in full mode) as one `fleet` process, as N single engines and as N
 * original engines, all started in one run and measured in the same windows: idle, then every
 * point charging one session.
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
import { type BenchProcess, delay, freePort, startEngine, startFleet } from "./processes.ts";
import { ORIGINAL_TOPICS, startOriginal } from "./original.ts";
import { CpuWindow, totalMemory } from "./proc.ts";
import type { Subject } from "./figures.ts";

interface Side {
  readonly subject: Subject;
  readonly processes: BenchProcess[];
  readonly topics: { cpEvents: string; centralEvents: string };
  readonly cpIds: Set<string>;
}

/** Runs the fleet lab once. */
export async function runFleetLab(context: LabContext, run: number): Promise<void> {
  const { broker, options, results, log } = context;
  const points = options.fleetPoints;
  results.retitle("fleet10", `${points} points: one fleet vs ${points} single engines`);
  const fleetTopics = uniqueTopics("fleet");
  const singleTopics = uniqueTopics("singles");
  const topics = [
    fleetTopics.cpEvents,
    fleetTopics.centralEvents,
    singleTopics.cpEvents,
    singleTopics.centralEvents,
  ];
  if (context.original !== null) {
    topics.push(ORIGINAL_TOPICS.cpEvents, ORIGINAL_TOPICS.centralEvents);
  }
  const observer = await Observer.start(broker, topics);
  const commander = await Commander.start(broker);
  const sides: Side[] = [];
  const everything = () => sides.flatMap((side) => side.processes);
  /** Fails a wait as soon as any process started so far has exited. */
  const alive = () => allAlive(everything())();
  try {
    // The fleet: its point ids are those it registers.
    const fleet: Side = { subject: "engine", processes: [], topics: fleetTopics, cpIds: new Set() };
    sides.push(fleet);
    const fleetReady = observer.next(
      `${points} fleet points available`,
      distinctPoints(points, (seen) => isAnyStatus(seen, fleetTopics.cpEvents, "available")),
      120_000,
      alive,
    );
    const fleetRegistered = observer.next(
      "the fleet's registrations",
      distinctPoints(points, (seen) => isRegistration(seen, fleetTopics.cpEvents), fleet.cpIds),
      120_000,
      alive,
    );
    fleet.processes.push(
      await startFleet("fleet", [
        ...commonFlags(broker, fleetTopics),
        "--count",
        String(points),
        "--health-port-base",
        "0",
      ]),
    );

    // N single engines, on one pair of topics as a site's engines would share.
    const singles: Side = {
      subject: "reference",
      processes: [],
      topics: singleTopics,
      cpIds: new Set(),
    };
    sides.push(singles);
    const singleIds = Array.from({ length: points }, (_, i) => `SINGLE_${run + 1}_${i + 1}`);
    const singlesReady = observer.next(
      `${points} single engines available`,
      distinctPoints(points, (seen) => isAnyStatus(seen, singleTopics.cpEvents, "available")),
      120_000,
      alive,
    );
    for (const cpId of singleIds) {
      singles.cpIds.add(cpId);
      singles.processes.push(
        await startEngine(`single ${cpId}`, [
          ...commonFlags(broker, singleTopics),
          "--cp-id",
          cpId,
          "--health-port",
          String(freePort()),
        ]),
      );
    }

    let originalReady: Promise<Seen> | null = null;
    if (context.original !== null) {
      const originals: Side = {
        subject: "original",
        processes: [],
        topics: ORIGINAL_TOPICS,
        cpIds: new Set(),
      };
      sides.push(originals);
      for (let i = 0; i < points; i++) {
        originals.cpIds.add(`PYFLEET_${run + 1}_${i + 1}_${crypto.randomUUID().slice(0, 4)}`);
      }
      originalReady = observer.next(
        `${points} original engines registered`,
        distinctPoints(
          points,
          (seen) =>
            isRegistration(seen, ORIGINAL_TOPICS.cpEvents) &&
            originals.cpIds.has(String(seen.value["cp_id"])),
        ),
        120_000,
        alive,
      );
      for (const cpId of originals.cpIds) {
        originals.processes.push(
          startOriginal(context.original, {
            label: `original ${cpId}`,
            cpId,
            healthPort: freePort(),
            broker,
          }),
        );
      }
    }
    await Promise.all([fleetRegistered, fleetReady, singlesReady, originalReady]);
    alive();

    log(`  idle: settling ${options.settleSeconds} s, measuring ${options.idleSeconds} s`);
    await delay(options.settleSeconds * 1000);
    await measure(context, run, sides, "idle", options.idleSeconds);

    log(`  charging: every point, measuring ${options.chargingSeconds} s`);
    const charging = sides.map((side) =>
      observer.next(
        `progress from every point (${side.subject})`,
        distinctPoints(points, (seen) =>
          isProgress(seen, side.topics.cpEvents) && side.cpIds.has(String(seen.value["cp_id"]))),
        60_000,
        alive,
      )
    );
    let user = 1;
    for (const side of sides) {
      await commander.send(
        side.topics.centralEvents,
        [...side.cpIds].map((cpId) => chargingStarted(cpId, user++)),
      );
    }
    await Promise.all(charging);
    await delay(Math.min(3, options.settleSeconds) * 1000);
    await measure(context, run, sides, "charging", options.chargingSeconds);
  } finally {
    await disposeAll(everything());
    await Promise.allSettled([observer.close(), commander.close()]);
  }
}

function isAnyStatus(seen: Seen, topic: string, status: string): boolean {
  return isStatus(seen, topic, String(seen.value["cp_id"]), status);
}

async function measure(
  context: LabContext,
  run: number,
  sides: readonly Side[],
  phase: "idle" | "charging",
  seconds: number,
): Promise<void> {
  const pids = sides.map((side) => side.processes.map((process) => process.pid));
  const windows = await Promise.all(pids.map((group) => CpuWindow.start(group)));
  await delay(seconds * 1000);
  const cpu = await Promise.all(windows.map((window) => window.stop()));
  const rss = await Promise.all(pids.map(totalMemory));
  const figure = phase === "idle" ? "idle" : "charging";
  sides.forEach((side, i) => {
    context.results.record(`fleet10.${figure}Cpu`, side.subject, run, cpu[i]!.percentOfCore);
    context.results.record(`fleet10.${figure}Rss`, side.subject, run, rss[i]!.rssMb);
    if (phase === "idle") {
      // One point as its own process: what a point costs when it does not share a runtime.
      if (side.subject !== "engine") {
        context.results.record(
          "memory.idle",
          side.subject,
          run,
          (rss[i]!.rssMb * 1024) / side.processes.length,
        );
      }
    } else if (side.subject !== "engine") {
      context.results.record(
        "memory.charging",
        side.subject,
        run,
        (rss[i]!.rssMb * 1024) / side.processes.length,
      );
    }
  });
}
