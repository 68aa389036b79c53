/**
 * `deno task soak`: the engine's promises under injected faults, measured. A seeded run against
 * a real broker and the real engine process (`deno task start`'s flags and permissions):
 *
 * - `kill -9` at random moments of a session's life: before its first progress, mid session,
 *   while its ticket is being stored, during the recovery that follows a crash, while a backlog
 *   drains after a broker outage;
 * - the broker stopped and started again during a session, many times;
 * - a fleet of points killed mid-sessions and restarted.
 *
 * Then everything that reached `cp-events` is judged as a de-duplicating Central reads it
 * (`tools/soak/ledger.ts`): exactly one ticket per session, never less energy than the last
 * progress, nothing the engine acknowledged lost, every session's events in order; and the
 * state directory is checked empty after the last, graceful stop.
 *
 * ```sh
 * deno task soak                 # the long run: 100 kills, 20 broker restarts, a fleet of 100
 * deno task soak --short         # the CI run (tests/soak_test.ts): a few of each
 * deno task soak --seed 7 --kills 30 --broker-restarts 5 --fleet 50
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DatabaseSync } from "node:sqlite";
import { Kafka, logLevel, type Producer } from "kafkajs";
import { KafkaTestBroker } from "./kafka_broker.ts";
import { KafkaTestCluster } from "./kafka_cluster.ts";
import { TcpProxy } from "../tests/support/tcp_proxy.ts";
import {
  DiskFaultUnsupported,
  mountSmallDisk,
  refuseWrites,
} from "../tests/support/disk_faults.ts";
import { engineArgs, EngineProcess, freePort } from "../tests/support/engine_process.ts";
import { logLines, readTopic } from "../tests/support/engine_state.ts";
import { CentralDouble, uniqueTopics } from "../tests/support/kafka.ts";
import { seededRandom } from "../src/domain/random.ts";
import { clean, judge, type LedgerReport, type SeenValue } from "./soak/ledger.ts";

/** How long and how hard to soak. */
export interface SoakOptions {
  readonly seed: number;
  /** `kill -9` of a single engine, spread over the moments of a session. */
  readonly kills: number;
  /** Broker stop/start cycles during one long session. */
  readonly brokerRestarts: number;
  /** Points of the fleet that is killed mid-sessions (0: no fleet phase). */
  readonly fleetPoints: number;
  /** Network faults between engine and broker (a proxy): latency, blackhole, reset, cut. */
  readonly network?: boolean;
  /** A full disk, and a state directory that refuses writes, during sessions. */
  readonly disk?: boolean;
  /** A three-broker cluster: the leader killed, then the controller, then a broker restarted. */
  readonly cluster?: boolean;
  /** Where progress is printed. */
  readonly log: (line: string) => void;
}

/** The moments of a session's life a kill can hit. */
export const KILL_MOMENTS = [
  "before the first progress",
  "mid session",
  "while the ticket is stored",
  "during recovery",
  "while a backlog drains",
] as const;
type KillMoment = (typeof KILL_MOMENTS)[number];

/** One phase's figures. */
export interface PhaseResult {
  readonly phase: string;
  readonly faults: Readonly<Record<string, number>>;
  readonly report: LedgerReport;
  /** Longest "Backlog delivered in N ms" the engine logged, ms (null: no backlog). */
  readonly worstDrainMs: number | null;
  /** Rows left in the outbox and the journal after the last graceful stop. */
  readonly leftInState: { readonly outbox: number; readonly journal: number };
  /** Events of a session out of order (progress going back, progress after the ticket). */
  readonly outOfOrder: readonly string[];
  /** Seconds from the end of each fault to the session's next progress on the topic. */
  readonly resumeSeconds?: readonly number[];
}

const encoder = new TextEncoder();

/** A running engine (or fleet) process with everything it printed over its restarts. */
class Subject {
  readonly outputs: string[] = [];
  #process: EngineProcess | null = null;

  constructor(private readonly args: string[]) {}

  get current(): EngineProcess {
    if (this.#process === null) throw new Error("the engine is not running");
    return this.#process;
  }

  async start(): Promise<EngineProcess> {
    this.#process = await EngineProcess.start(this.args);
    return this.#process;
  }

  /** `kill -9`: no clean-up of any kind. */
  async kill(): Promise<void> {
    const process = this.current;
    process.signal("SIGKILL");
    await process.exited(15_000).catch(() => {});
    this.outputs.push(process.output);
    this.#process = null;
  }

  /** SIGTERM, and the exit code. */
  async stop(): Promise<number> {
    const process = this.current;
    process.signal("SIGTERM");
    const code = await process.exited(15_000);
    this.outputs.push(process.output);
    this.#process = null;
    return code;
  }

  async dispose(): Promise<void> {
    if (this.#process !== null) {
      await this.#process.dispose();
      this.outputs.push(this.#process.output);
    }
  }

  /** Message ids the engine stored (its debug log), over every run. */
  acknowledged(): Set<string> {
    const ids = new Set<string>();
    for (const line of this.lines()) {
      if (line.message.startsWith("Stored ") && typeof line["message_id"] === "string") {
        ids.add(line["message_id"]);
      }
    }
    return ids;
  }

  /** Sessions the engine says it started: `cp_id/username`. */
  startedSessions(): Set<string> {
    const sessions = new Set<string>();
    for (const line of this.lines()) {
      if (line.message.startsWith("Charging started for user ")) {
        sessions.add(`${line["cp_id"]}/${line["username"]}`);
      }
    }
    return sessions;
  }

  worstDrainMs(): number | null {
    let worst: number | null = null;
    for (const line of this.lines()) {
      if (line.message.startsWith("Backlog delivered in ")) {
        worst = Math.max(worst ?? 0, Number(line["ms"]));
      }
    }
    return worst;
  }

  lines() {
    return [...this.outputs, this.#process?.output ?? ""].flatMap(logLines);
  }
}

/** Waits until `predicate` holds on the current output (new lines only count when `since` given). */
async function waitForLine(
  subject: Subject,
  predicate: (message: string) => boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (logLines(subject.current.output).some((line) => predicate(line.message))) return;
    await sleep(20);
  }
  throw new Error(`Timed out waiting for a log line; output:\n${subject.current.output}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Events of each session out of order: progress energy going back, progress after its ticket. */
export function outOfOrder(events: readonly SeenValue[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  const last = new Map<string, number>();
  const ended = new Set<string>();
  for (const value of events) {
    const id = String(value["message_id"]);
    if (seen.has(id)) continue;
    seen.add(id);
    const session = `${value["cp_id"]}/${value["username"]}`;
    if (value["event_type"] === "charging_progress") {
      const energy = Number(value["energy_kwh"]);
      if (ended.has(session)) problems.push(`${session}: progress after its ticket`);
      if (energy + 1e-9 < (last.get(session) ?? 0)) {
        problems.push(`${session}: progress went from ${last.get(session)} to ${energy} kWh`);
      }
      last.set(session, energy);
    } else if (value["event_type"] === "charging_completed") {
      ended.add(session);
    }
  }
  return problems;
}

/**
 * Ends a phase: stops the subject gracefully (`what` names it in the error when that fails),
 * reads the whole events topic, and judges it against what the subject acknowledged and started.
 */
async function closePhase(
  subject: Subject,
  what: string,
  reader: string,
  topic: string,
  phase: string,
  faults: Readonly<Record<string, number>>,
  database: string,
): Promise<PhaseResult> {
  const code = await subject.stop();
  if (code !== 0) throw new Error(`${what} exited with ${code}`);
  const events = await readTopic(reader, topic);
  return {
    phase,
    faults,
    report: judge(events, subject.acknowledged(), subject.startedSessions()),
    worstDrainMs: subject.worstDrainMs(),
    leftInState: leftInState(database),
    outOfOrder: outOfOrder(events),
  };
}

/** Rows left in the outbox and journal of a stopped engine's state database. */
function leftInState(path: string): { outbox: number; journal: number } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const count = (table: string) =>
      Number((db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n);
    return { outbox: count("outbox"), journal: count("session_journal") };
  } finally {
    db.close();
  }
}

async function producerFor(broker: string): Promise<Producer> {
  const producer = new Kafka({
    clientId: "soak",
    brokers: broker.split(","),
    logLevel: logLevel.NOTHING,
  })
    .producer();
  await producer.connect();
  return producer;
}

async function command(
  producer: Producer,
  topic: string,
  body: Record<string, unknown>,
): Promise<void> {
  await producer.send({
    topic,
    messages: [{
      value: JSON.stringify({
        message_id: crypto.randomUUID(),
        timestamp: Date.now() / 1000,
        ...body,
      }),
    }],
  });
}

/**
 * Waits until `atLeast` progress messages of `user` have been read (a progress published after a
 * fault ended, when `atLeast` is one more than the count before it); returns the count.
 */
async function progressSeen(
  reader: CentralDouble,
  user: string,
  atLeast = 1,
  timeoutMs = 60_000,
  subject?: Subject,
): Promise<number> {
  const count = () =>
    reader.events.filter((event) =>
      event.value["event_type"] === "charging_progress" && event.value["username"] === user
    ).length;
  try {
    await reader.waitFor(
      `${atLeast} progress messages for ${user}`,
      () => count() >= atLeast,
      timeoutMs,
    );
  } catch (error) {
    if (subject === undefined) throw error;
    const tail = subject.current.output.split("\n").slice(-40).join("\n");
    throw new Error(`${error instanceof Error ? error.message : error}\nengine output:\n${tail}`);
  }
  return count();
}

/** A fault during a session: what to break, for how long, and how to heal it. */
interface SessionFault {
  readonly label: string;
  readonly inject: () => Promise<void>;
  readonly heal: () => Promise<void>;
}

/**
 * One engine, one session per fault: the session runs, the fault is injected and healed, the
 * time until the session's next progress reaches the topic is measured, and the driver unplugs.
 */
async function sessionFaults(
  phase: string,
  brokers: { readonly engine: string; readonly reader: string },
  faults: readonly SessionFault[],
  options: SoakOptions,
  stateName = `soak-${crypto.randomUUID().slice(0, 8)}`,
  extra: string[] = [],
): Promise<PhaseResult> {
  const topics = uniqueTopics("soak-faults");
  const cpId = "CP_FAULTS";
  const subject = new Subject([
    ...engineArgs({ cpId, broker: brokers.engine, healthPort: freePort(), topics }),
    "--state-dir",
    `./state/${stateName}`,
    "--log-format",
    "json",
    "--log-level",
    "debug",
    ...extra,
  ]);
  const reader = await CentralDouble.start(brokers.reader, topics);
  const producer = await producerFor(brokers.reader);
  const send = (body: Record<string, unknown>) =>
    command(producer, topics.centralEvents, { cp_id: cpId, ...body });
  const counts: Record<string, number> = {};
  const resumeSeconds: number[] = [];
  try {
    await subject.start();
    for (const [index, fault] of faults.entries()) {
      await waitForLine(subject, (message) => message === "Ready");
      const user = `f${index + 1}`;
      await send({ event_type: "charging_started", action: "charging_started", username: user });
      await progressSeen(reader, user);
      await fault.inject();
      const before = await progressSeen(reader, user);
      await fault.heal();
      const healed = Date.now();
      await progressSeen(reader, user, before + 1, 120_000);
      // When the engine delivered again (its debug log), apart from the reader's own recovery.
      const delivered = subject.lines().find((line) =>
        line.message.startsWith("Delivered ") && Date.parse(line.time) >= healed
      );
      resumeSeconds.push(((delivered ? Date.parse(delivered.time) : Date.now()) - healed) / 1000);
      counts[fault.label] = (counts[fault.label] ?? 0) + 1;
      options.log(`  ${fault.label}: progress again ${resumeSeconds.at(-1)!.toFixed(1)} s after`);
      await send({ event_type: "CP_UNPLUG", action: "unplug" });
      await waitForLine(subject, (message) => message.startsWith("Session completed for"));
    }
    return {
      ...await closePhase(
        subject,
        "The last graceful stop",
        brokers.reader,
        topics.cpEvents,
        phase,
        counts,
        `state/${stateName}/${cpId}/engine.sqlite3`,
      ),
      resumeSeconds,
    };
  } catch (error) {
    const output = subject.lines().slice(-40).map((line) => `${line.level} ${line.message}`);
    options.log(`  the engine's last lines:\n    ${output.join("\n    ")}`);
    throw error;
  } finally {
    await subject.dispose();
    await producer.disconnect();
    await reader.close();
  }
}

/** Latency, a blackhole, resets and cut connections between the engine and its broker. */
async function networkFaults(options: SoakOptions): Promise<PhaseResult> {
  const proxy = TcpProxy.start();
  const broker = await KafkaTestBroker.create({ advertisedPlaintextPort: proxy.port });
  proxy.targetPort = broker.plaintextPort;
  await broker.start();
  const stateName = `soak-net-${crypto.randomUUID().slice(0, 8)}`;
  const lasting = (label: string, mode: Parameters<TcpProxy["setMode"]>[0], ms: number) => ({
    label,
    inject: async () => {
      proxy.setMode(mode);
      await sleep(ms);
    },
    heal: () => Promise.resolve(proxy.setMode({ kind: "pass" })),
  });
  try {
    return await sessionFaults(
      "network faults (proxy)",
      {
        engine: broker.bootstrap,
        reader: broker.directBootstrap,
      },
      [
        lasting("500 ms latency for 8 s", { kind: "latency", ms: 500 }, 8_000),
        lasting("blackhole for 10 s", { kind: "blackhole" }, 10_000),
        lasting("reset and refused for 6 s", { kind: "reset" }, 6_000),
        {
          label: "every connection cut",
          inject: () => Promise.resolve(proxy.cutAll()),
          heal: () => Promise.resolve(),
        },
      ],
      options,
      stateName,
    );
  } finally {
    await Deno.remove(`state/${stateName}`, { recursive: true }).catch(() => {});
    await broker.dispose();
    await proxy.close();
  }
}

/** A full disk (a small tmpfs filled up), then files that refuse writes, during sessions. */
async function diskFaults(broker: KafkaTestBroker, options: SoakOptions): Promise<PhaseResult[]> {
  const results: PhaseResult[] = [];
  const full = `soak-full-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(`state/${full}`, { recursive: true });
  try {
    const disk = await mountSmallDisk(`state/${full}`);
    try {
      results.push(
        await sessionFaults(
          "full disk",
          { engine: broker.bootstrap, reader: broker.bootstrap },
          [{
            label: "disk full for 8 s",
            inject: async () => {
              await disk.fill();
              await sleep(8_000);
            },
            heal: () => disk.free(),
          }],
          options,
          full,
        ),
      );
    } finally {
      await disk.unmount();
    }
  } catch (error) {
    if (!(error instanceof DiskFaultUnsupported)) throw error;
    options.log(`  full disk skipped: ${error.message}`);
  } finally {
    await Deno.remove(`state/${full}`, { recursive: true }).catch(() => {});
  }
  const refusing = `soak-refuse-${crypto.randomUUID().slice(0, 8)}`;
  let restore: (() => Promise<void>) | null = null;
  try {
    results.push(
      await sessionFaults(
        "writes refused",
        { engine: broker.bootstrap, reader: broker.bootstrap },
        [{
          label: "state files refusing writes for 8 s",
          inject: async () => {
            restore = await refuseWrites(`state/${refusing}/CP_FAULTS`);
            await sleep(8_000);
          },
          heal: async () => {
            await restore?.();
            restore = null;
          },
        }],
        options,
        refusing,
      ),
    );
  } catch (error) {
    if (!(error instanceof DiskFaultUnsupported)) throw error;
    options.log(`  refused writes skipped: ${error.message}`);
  } finally {
    await (restore as (() => Promise<void>) | null)?.();
    await Deno.remove(`state/${refusing}`, { recursive: true }).catch(() => {});
  }
  return results;
}

/** A three-broker cluster: the leader killed, then the active controller, then a restart. */
async function clusterFaults(options: SoakOptions): Promise<PhaseResult> {
  const cluster = await KafkaTestCluster.create({ nodes: 3 });
  await cluster.start();
  let topic = "";
  let down: number | null = null;
  const failover = (label: string, pick: () => Promise<number>) => ({
    label,
    inject: async () => {
      down = await pick();
      await cluster.killNode(down);
    },
    heal: () => Promise.resolve(), // the cluster heals itself: the measure is the failover
  });
  const bringBack = async () => {
    if (down !== null) await cluster.startNode(down);
    down = null;
  };
  try {
    const result = await sessionFaults("3-broker cluster", {
      engine: cluster.bootstrap,
      reader: cluster.bootstrap,
    }, [
      failover("partition leader killed", async () => {
        topic = (await readTopicName(cluster.bootstrap)) ?? topic;
        return await cluster.leaderOf(topic, 0);
      }),
      {
        label: "the killed broker restarted",
        inject: bringBack,
        heal: () => Promise.resolve(),
      },
      failover("active controller killed", () => cluster.activeController()),
      {
        label: "the controller restarted",
        inject: bringBack,
        heal: () => Promise.resolve(),
      },
    ], options);
    return result;
  } finally {
    await cluster.dispose();
  }
}

/** The name of the soak's events topic on a cluster (the one `soak-faults` topic there). */
async function readTopicName(broker: string): Promise<string | null> {
  const admin = new Kafka({
    clientId: "soak",
    brokers: broker.split(","),
    logLevel: logLevel.NOTHING,
  })
    .admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).find((name) => name.startsWith("cp-events-soak-faults")) ??
      null;
  } finally {
    await admin.disconnect();
  }
}

/** The single-engine phases: kills at every moment of a session, and broker outages. */
async function engineKills(
  broker: KafkaTestBroker,
  options: SoakOptions,
): Promise<PhaseResult> {
  const random = seededRandom(options.seed);
  const topics = uniqueTopics("soak");
  const cpId = "CP_SOAK";
  const stateName = `soak-${crypto.randomUUID().slice(0, 8)}`;
  const subject = new Subject([
    ...engineArgs({ cpId, broker: broker.bootstrap, healthPort: freePort(), topics }),
    "--state-dir",
    `./state/${stateName}`,
    "--group-id",
    `engine_group_${stateName}`,
    "--log-format",
    "json",
    "--log-level",
    "debug",
    "--time-scale",
    "60",
  ]);
  const reader = await CentralDouble.start(broker.bootstrap, topics);
  const producer = await producerFor(broker.bootstrap);
  const send = (body: Record<string, unknown>) =>
    command(producer, topics.centralEvents, { cp_id: cpId, ...body });
  const faults: Record<string, number> = {};
  const count = (kind: string) => faults[kind] = (faults[kind] ?? 0) + 1;
  try {
    await subject.start();
    for (let n = 1; n <= options.kills; n++) {
      const moment: KillMoment = KILL_MOMENTS[(n - 1) % KILL_MOMENTS.length]!;
      await waitForLine(subject, (message) => message === "Ready");
      // A kill that came before the engine read the last charging_started leaves it to the
      // restarted engine, which applies it (sent within 5 s of its start): that session is
      // ended first, as a driver would, so that the next one is not refused.
      await send({ event_type: "CP_UNPLUG", action: "unplug" });
      const user = `u${n}`;
      await send({ event_type: "charging_started", action: "charging_started", username: user });
      switch (moment) {
        case "before the first progress":
          await sleep(random() * 1_200);
          break;
        case "mid session":
          await progressSeen(reader, user, 1, 60_000, subject);
          await sleep(random() * 2_000);
          break;
        case "while the ticket is stored":
          await progressSeen(reader, user, 1, 60_000, subject);
          await send({ event_type: "CP_UNPLUG", action: "unplug" });
          await waitForLine(
            subject,
            (message) => message.startsWith("Command received: CP_UNPLUG"),
          );
          await sleep(random() * 30);
          break;
        case "during recovery":
          await progressSeen(reader, user, 1, 60_000, subject);
          await subject.kill();
          await subject.start();
          await waitForLine(subject, (message) => message.startsWith("Auto-registering"));
          await sleep(random() * 150);
          break;
        case "while a backlog drains":
          await progressSeen(reader, user, 1, 60_000, subject);
          await broker.stop();
          count("broker stopped and started");
          await sleep(1_500 + random() * 2_000);
          await broker.start();
          await waitForLine(subject, (message) => message.startsWith("Kafka is reachable again"));
          await sleep(random() * 400);
          break;
      }
      await subject.kill();
      count(`kill -9 ${moment}`);
      options.log(`  kill ${n}/${options.kills} (${moment})`);
      await subject.start();
    }
    // Broker outages during one long session.
    if (options.brokerRestarts > 0) {
      await waitForLine(subject, (message) => message === "Ready");
      const user = "outage_user";
      await send({ event_type: "charging_started", action: "charging_started", username: user });
      await progressSeen(reader, user, 1, 60_000, subject);
      for (let n = 1; n <= options.brokerRestarts; n++) {
        await broker.stop();
        await sleep(500 + random() * 2_500);
        await broker.start();
        count("broker stopped and started");
        options.log(`  broker restart ${n}/${options.brokerRestarts}`);
        await sleep(500 + random() * 1_500);
      }
      await send({ event_type: "CP_UNPLUG", action: "unplug" });
      await waitForLine(subject, (message) => message.startsWith("Session completed for"));
    }
    await waitForLine(subject, (message) => message === "Ready");
    return await closePhase(
      subject,
      "The last graceful stop",
      broker.bootstrap,
      topics.cpEvents,
      "single engine",
      faults,
      `state/${stateName}/${cpId}/engine.sqlite3`,
    );
  } finally {
    await subject.dispose();
    await producer.disconnect();
    await reader.close();
    await Deno.remove(`state/${stateName}`, { recursive: true }).catch(() => {});
  }
}

/** A fleet killed mid-sessions: every session recovered exactly once. */
async function fleetKill(broker: KafkaTestBroker, options: SoakOptions): Promise<PhaseResult> {
  const random = seededRandom(options.seed ^ 0x51);
  const topics = uniqueTopics("soak-fleet");
  const stateName = `soak-fleet-${crypto.randomUUID().slice(0, 8)}`;
  const groupId = `fleet_group_${stateName}`;
  const subject = new Subject([
    "fleet",
    "--count",
    String(options.fleetPoints),
    "--health-port-base",
    "0",
    "--health-host",
    "127.0.0.1",
    "--kafka-broker",
    broker.bootstrap,
    "--cp-events-topic",
    topics.cpEvents,
    "--central-events-topic",
    topics.centralEvents,
    "--group-id",
    groupId,
    "--state-dir",
    `./state/${stateName}`,
    "--monitor-wait",
    "0",
    "--log-format",
    "json",
    "--log-level",
    "debug",
  ]);
  const reader = await CentralDouble.start(broker.bootstrap, topics);
  const producer = await producerFor(broker.bootstrap);
  const faults: Record<string, number> = {};
  try {
    await subject.start();
    await waitForLine(subject, (message) => message === "Ready", 120_000);
    const ids = Array.from(
      { length: options.fleetPoints },
      (_, i) => `CP_${String(i + 1).padStart(4, "0")}`,
    );
    const charging = ids.filter(() => random() < 0.6);
    for (const [index, cpId] of charging.entries()) {
      await command(producer, topics.centralEvents, {
        event_type: "charging_started",
        action: "charging_started",
        cp_id: cpId,
        username: `fleet_user_${index}`,
      });
    }
    await progressSeen(reader, `fleet_user_${charging.length - 1}`);
    await sleep(random() * 2_000);
    await subject.kill();
    faults["kill -9 of the fleet mid-sessions"] = 1;
    await subject.start();
    await waitForLine(subject, (message) => message === "Ready", 120_000);
    return await closePhase(
      subject,
      "The fleet's graceful stop",
      broker.bootstrap,
      topics.cpEvents,
      `fleet of ${options.fleetPoints}`,
      faults,
      `state/${stateName}/${groupId}/engine.sqlite3`,
    );
  } finally {
    await subject.dispose();
    await producer.disconnect();
    await reader.close();
    await Deno.remove(`state/${stateName}`, { recursive: true }).catch(() => {});
  }
}

/** Runs every phase on a broker of its own; resolves with each phase's figures. */
export async function runSoak(options: SoakOptions): Promise<PhaseResult[]> {
  const broker = await KafkaTestBroker.create();
  await broker.start();
  const results: PhaseResult[] = [];
  try {
    options.log(`soak, seed ${options.seed}: single engine`);
    results.push(await engineKills(broker, options));
    if (options.fleetPoints > 0) {
      options.log(`fleet of ${options.fleetPoints}`);
      results.push(await fleetKill(broker, options));
    }
    if (options.disk) {
      options.log("disk faults");
      results.push(...await diskFaults(broker, options));
    }
  } finally {
    await broker.dispose();
  }
  if (options.network) {
    options.log("network faults");
    results.push(await networkFaults(options));
  }
  if (options.cluster) {
    options.log("3-broker cluster");
    results.push(await clusterFaults(options));
  }
  return results;
}

/** Whether every phase kept every promise. */
export function soakPassed(results: readonly PhaseResult[]): boolean {
  return results.every((result) =>
    clean(result.report) && result.outOfOrder.length === 0 && result.leftInState.outbox === 0 &&
    result.leftInState.journal === 0
  );
}

/** The results as a markdown table, with what each column means. */
export function soakTable(results: readonly PhaseResult[]): string {
  const rows = results.map((result) => {
    const faults = Object.entries(result.faults).map(([kind, n]) => `${n}x ${kind}`).join("; ");
    const r = result.report;
    const resume = result.resumeSeconds === undefined
      ? "-"
      : result.resumeSeconds.map((seconds) => seconds.toFixed(1)).join(", ");
    const cells = [
      result.phase,
      faults,
      r.sessions,
      `${r.ticketsExpected} / ${r.ticketsSeen}`,
      r.duplicateTickets.length,
      r.missingTickets.length + r.lost.length,
      r.energyBelowProgress.length,
      result.outOfOrder.length,
      r.duplicateDeliveries,
      result.worstDrainMs ?? "-",
      resume,
      `${result.leftInState.outbox} / ${result.leftInState.journal}`,
    ];
    return `| ${cells.join(" | ")} |`;
  });
  return [
    "| phase | faults injected | sessions | tickets expected / seen | duplicate tickets | losses | energy below progress | out of order | redelivered ids (dropped) | worst backlog drain, ms | progress again after each fault, s | left in state (outbox / journal) |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    "Sessions: those the engine started (a progress, a ticket, or its log line after journaling).",
    "Losses: sessions without a ticket plus events the engine stored (its debug log) that never",
    "reached the topic. Redelivered ids: at-least-once deliveries a de-duplicating reader drops.",
    "Progress again: from the end of a fault (or the kill of a broker) to the engine's next",
    "successful delivery to Kafka (its debug log; the reader's own failover is not counted).",
  ].join("\n");
}

const USAGE =
  `Usage: deno task soak [--short] [--seed N] [--kills N] [--broker-restarts N] [--fleet N]
                      [--no-network] [--no-disk] [--no-cluster]

The engine's promises under injected faults, against a real broker and the real engine process.
  --short              the CI run: 5 kills, 2 broker restarts, a fleet of 10, no network or cluster
  --seed N             the seed of every random choice (default: from the clock, printed at the end)
  --kills N            kill -9 of a single engine (default 100)
  --broker-restarts N  broker stop/start cycles during one long session (default 20)
  --fleet N            points of the fleet killed mid-sessions (default 100; 0: no fleet phase)
  --no-network         skip the network faults (a TCP proxy between engine and broker)
  --no-disk            skip the full disk and the state directory that refuses writes
  --no-cluster         skip the three-broker cluster
  -h, --help           this help
Exit code 0 when every promise held, 1 when one did not, 2 for a bad option.`;

/** A whole number of at least 0 from an option, or exits 2 with one line. */
function count(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) {
    console.error(`soak: --${name} must be a whole number of at least 0 (got "${value}")`);
    Deno.exit(2);
  }
  return parsed;
}

if (import.meta.main) {
  let values;
  try {
    values = parseArgs({
      args: Deno.args,
      options: {
        short: { type: "boolean", default: false },
        seed: { type: "string" },
        kills: { type: "string" },
        "broker-restarts": { type: "string" },
        fleet: { type: "string" },
        "no-network": { type: "boolean", default: false },
        "no-disk": { type: "boolean", default: false },
        "no-cluster": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (error) {
    console.error(`soak: ${error instanceof Error ? error.message : error} (see --help)`);
    Deno.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const short = values.short;
  const started = performance.now();
  const elapsed = () => {
    const seconds = Math.round((performance.now() - started) / 1000);
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  };
  const options: SoakOptions = {
    seed: count("seed", values.seed, Date.now() % 100_000),
    kills: count("kills", values.kills, short ? 5 : 100),
    brokerRestarts: count("broker-restarts", values["broker-restarts"], short ? 2 : 20),
    fleetPoints: count("fleet", values.fleet, short ? 10 : 100),
    network: !short && !values["no-network"],
    disk: !values["no-disk"],
    cluster: !short && !values["no-cluster"],
    log: (line) => Deno.stdout.writeSync(encoder.encode(`[${elapsed()}] ${line}\n`)),
  };
  const results = await runSoak(options);
  console.log(soakTable(results));
  console.log(`\nSeed ${options.seed}; ${((performance.now() - started) / 1000).toFixed(0)} s.`);
  Deno.exit(soakPassed(results) ? 0 : 1);
}
