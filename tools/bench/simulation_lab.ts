/**
 * The simulation lab: a fleet at a high `--time-scale` (3600: an hour a second), every point
 * charging one session for a while and then unplugged. Measures the simulated session-hours per
 * real second against the ideal (points x time scale), the CPU meanwhile, and each ticket's
 * energy against the exact integral of the session's power over its duration.
 *
 * `--max-power 1000` (the largest allowed) makes the published `power_kw`, rounded to 2 decimals,
 * pin the session's plateau (800-950 kW) to 6 parts per million; the default profile has no ramp,
 * so the exact energy is power x duration.
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
import {
  chargingStarted,
  command,
  Commander,
  Observer,
  type Seen,
  uniqueTopics,
} from "./kafka_lab.ts";
import { type BenchProcess, delay, startFleet } from "./processes.ts";
import { CpuWindow } from "./proc.ts";
import { percentile } from "./stats.ts";

/** Runs the simulation lab once. */
export async function runSimulationLab(context: LabContext, run: number): Promise<void> {
  const { broker, options, results, log } = context;
  const points = options.simulationPoints;
  const timeScale = options.timeScale;
  results.retitle(
    "simulation",
    `Simulation speed: ${points.toLocaleString("en")} points at --time-scale ${timeScale}`,
  );
  const topics = uniqueTopics("simulation");
  const observer = await Observer.start(broker, [topics.cpEvents, topics.centralEvents]);
  const commander = await Commander.start(broker);
  const processes: BenchProcess[] = [];
  const alive = allAlive(processes);
  const timeoutMs = 60_000 + points * 20;
  try {
    const ids = new Set<string>();
    const registered = observer.next(
      "registrations",
      distinctPoints(points, (seen) => isRegistration(seen, topics.cpEvents), ids),
      timeoutMs,
      alive,
    );
    const available = observer.next(
      "every point available",
      distinctPoints(
        points,
        (seen) => isStatus(seen, topics.cpEvents, String(seen.value["cp_id"]), "available"),
      ),
      timeoutMs,
      alive,
    );
    const fleet = await startFleet("simulation fleet", [
      ...commonFlags(broker, topics),
      "--health-port-base",
      "0",
      "--count",
      String(points),
      "--time-scale",
      String(timeScale),
      "--max-power",
      "1000",
    ]);
    processes.push(fleet);
    await Promise.all([registered, available]);

    const power = new Map<string, number>();
    const tickets = new Map<string, { energyKwh: number; durationSeconds: number; at: number }>();
    const stopWatching = observer.on((seen) => {
      if (isProgress(seen, topics.cpEvents)) {
        power.set(String(seen.value["cp_id"]), Number(seen.value["power_kw"]));
      } else if (seen.topic === topics.cpEvents && seen.value["action"] === "charging_completed") {
        tickets.set(String(seen.value["cp_id"]), {
          energyKwh: Number(seen.value["energy_kwh"]),
          durationSeconds: Number(seen.value["duration_sec"]),
          at: seen.receivedAt,
        });
      }
    });
    log(`  ${points} sessions at --time-scale ${timeScale} for ${options.simulationSeconds} s`);
    const charging = observer.next(
      "progress from every point",
      distinctPoints(points, (seen) => isProgress(seen, topics.cpEvents)),
      timeoutMs,
      alive,
    );
    const cpu = await CpuWindow.start([fleet.pid]);
    const firstSent = performance.now();
    let user = 1;
    await commander.sendAll(
      topics.centralEvents,
      [...ids].map((cpId) => chargingStarted(cpId, user++)),
    );
    await charging;
    await delay(Math.max(0, firstSent + options.simulationSeconds * 1000 - performance.now()));
    const completed = observer.next(
      "every ticket",
      distinctPoints(
        points,
        (seen: Seen) =>
          seen.topic === topics.cpEvents && seen.value["action"] === "charging_completed",
      ),
      timeoutMs,
      alive,
    );
    await commander.sendAll(
      topics.centralEvents,
      [...ids].map((cpId) => command(cpId, "CP_UNPLUG", "unplug")),
    );
    const last = await completed;
    const used = await cpu.stop();
    stopWatching();

    const wallSeconds = (last.receivedAt - firstSent) / 1000;
    let sessionSeconds = 0;
    const errors: number[] = [];
    /** Simulated seconds of supply the ticket's energy is short of (negative: over). */
    const missingSeconds: number[] = [];
    for (const [cpId, ticket] of tickets) {
      sessionSeconds += ticket.durationSeconds;
      const kw = power.get(cpId);
      if (kw === undefined || !(ticket.durationSeconds > 0)) continue;
      const exactKwh = (kw * ticket.durationSeconds) / 3600;
      errors.push((Math.abs(ticket.energyKwh - exactKwh) / exactKwh) * 100);
      missingSeconds.push(((exactKwh - ticket.energyKwh) / kw) * 3600);
    }
    const speed = sessionSeconds / 3600 / wallSeconds;
    results.record("simulation.speed", "engine", run, speed);
    results.record("simulation.speed", "reference", run, (points * timeScale) / 3600);
    results.record("simulation.cpu", "engine", run, used.percentOfCore);
    const worst = errors.length === 0 ? Number.NaN : Math.max(...errors);
    results.record("simulation.energyError", "engine", run, worst);
    results.record("simulation.energyErrorMedian", "engine", run, percentile(errors, 50));
    results.note(
      "simulation",
      `run ${run + 1}: ${tickets.size} tickets, ${
        (sessionSeconds / 3600).toFixed(0)
      } session-hours in ` +
        `${wallSeconds.toFixed(1)} s; energy error median ${
          percentile(errors, 50).toFixed(4)
        } %, ` +
        `worst ${
          worst.toFixed(4)
        } % (${errors.length} sessions with a power and a duration); the ` +
        `energy is short of the duration's by a median of ` +
        `${percentile(missingSeconds, 50).toFixed(1)} simulated s ` +
        `(${(percentile(missingSeconds, 50) / timeScale * 1000).toFixed(1)} real ms)`,
    );
  } finally {
    await disposeAll(processes);
    await Promise.allSettled([observer.close(), commander.close()]);
  }
}
