/**
 * What every lab gets, and helpers they share: waiting for a health port, the common flags of a
 * benchmark engine, counting points.
 *
 * @module
 */
import type { BenchOptions } from "./options.ts";
import type { OriginalSetup } from "./original.ts";
import type { Results } from "./report.ts";
import type { BenchProcess } from "./processes.ts";
import { probeOnce } from "./health_load.ts";
import type { Seen } from "./kafka_lab.ts";

/** What a lab run is given. */
export interface LabContext {
  readonly broker: string;
  readonly options: BenchOptions;
  readonly results: Results;
  readonly original: OriginalSetup | null;
  /** Prints a progress line. */
  readonly log: (line: string) => void;
}

/**
 * The flags every benchmark engine or fleet gets: the broker, its topics, health on loopback,
 * and `--monitor-wait 0` (no Monitor in the lab: available without waiting 20 s for one). All
 * else is the default a user gets: log level info, progress every second, the status window.
 */
export function commonFlags(
  broker: string,
  topics: { cpEvents: string; centralEvents: string },
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
    "--monitor-wait",
    "0",
  ];
}

/**
 * Polls a health port every 10 ms until it answers; resolves to `performance.now()` at the
 * answer. Fails when `process` exits or after `timeoutMs`.
 */
export async function whenHealthAnswers(
  port: number,
  process: BenchProcess,
  timeoutMs = 60_000,
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      await probeOnce("127.0.0.1", port, 1_000);
      return performance.now();
    } catch {
      process.checkAlive();
      if (performance.now() > deadline) {
        throw new Error(`${process.label}: health port ${port} did not answer in ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** Whether a seen message is a `cp_status_change` of `cpId` to `status`. */
export function isStatus(seen: Seen, topic: string, cpId: string, status: string): boolean {
  return seen.topic === topic && seen.value["cp_id"] === cpId &&
    seen.value["action"] === "cp_status_change" && seen.value["status"] === status;
}

/** Whether a seen message is a `CP_REGISTRATION` on `topic` (of `cpId`, when given). */
export function isRegistration(seen: Seen, topic: string, cpId?: string): boolean {
  return seen.topic === topic && seen.value["event_type"] === "CP_REGISTRATION" &&
    (cpId === undefined || seen.value["cp_id"] === cpId);
}

/** Whether a seen message is a `charging_progress` on `topic` (of `cpId`, when given). */
export function isProgress(seen: Seen, topic: string, cpId?: string): boolean {
  return seen.topic === topic && seen.value["action"] === "charging_progress" &&
    (cpId === undefined || seen.value["cp_id"] === cpId);
}

/**
 * A `done` test for {@linkcode Observer.next} that is true once `count` distinct points have sent
 * a message `matches` accepts.
 */
export function distinctPoints(
  count: number,
  matches: (seen: Seen) => boolean,
  points = new Set<string>(),
): (seen: Seen) => boolean {
  return (seen) => {
    if (matches(seen)) points.add(String(seen.value["cp_id"]));
    return points.size >= count;
  };
}

/** Checks that every process still runs (for {@linkcode Observer.next}'s `alive`). */
export function allAlive(processes: readonly BenchProcess[]): () => void {
  return () => {
    for (const process of processes) process.checkAlive();
  };
}

/** Disposes processes (all of them, even when one fails), fastest first. */
export async function disposeAll(processes: readonly BenchProcess[]): Promise<void> {
  await Promise.allSettled(processes.map((process) => process.dispose(0)));
}
