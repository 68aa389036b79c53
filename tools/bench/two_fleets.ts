/**
 * Past one machine's fleet: two `fleet` processes of 10,000 points each (by default) sharing one
 * Kafka broker and one command topic, as two machines of a real deployment would. Measures, side
 * by side in one run:
 *
 * - the start: spawn -> every registration of both fleets consumed by the bench;
 * - idle, then every point charging at 1 Hz: each fleet's CPU and RSS, and the broker's;
 * - the read amplification of the shared command topic: every fleet's consumer reads every
 *   command, and drops those for points it does not hold. A burst of commands for a cp id no
 *   fleet holds is sent; the CPU each fleet and the broker spend on it (beyond their idle rate
 *   over the same window) is divided by the commands: the cost of one command that is not yours.
 *   The burst is over when both fleets' consumer groups have committed the topic's end.
 *
 * Health ports: each fleet listens on its own loopback address (`127.0.0.2`, `127.0.0.3`; every
 * 127/8 address is loopback on Linux), ports 20000 up, so 20,000 listeners need neither the
 * ephemeral range nor any port another program may hold on 127.0.0.1.
 *
 * Usage: `deno run -A tools/bench/two_fleets.ts [--points N] [--commands N] [--seconds S]`, with
 * KAFKA_BROKER set (or a broker is started for the run, whose JVM then counts as the broker).
 * Prints a markdown table and writes `bench/two_fleets.json`. Linux only (reads /proc).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Kafka, logLevel } from "kafkajs";
import { KafkaTestBroker } from "../kafka_broker.ts";
import { allAlive, commonFlags, distinctPoints, isProgress, isRegistration } from "./lab.ts";
import { chargingStarted, command, Commander, Observer, uniqueTopics } from "./kafka_lab.ts";
import { type BenchProcess, delay, REPO_ROOT, startFleet } from "./processes.ts";
import { CpuWindow, memory } from "./proc.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    points: { type: "string", default: "10000" },
    commands: { type: "string", default: "20000" },
    seconds: { type: "string", default: "20" },
  },
});
const POINTS = Number(values.points);
const COMMANDS = Number(values.commands);
const SECONDS = Number(values.seconds);
const FLEETS = [
  { name: "A", host: "127.0.0.2" },
  { name: "B", host: "127.0.0.3" },
];

/** The pid of the process listening on TCP `port` (the broker), from /proc. */
async function pidListeningOn(port: number): Promise<number | null> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await Deno.readTextFile(table).catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is field 1 (addr:port), st is field 3 (0A = LISTEN), inode is field 9.
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === "0A") inodes.add(fields[9]!);
    }
  }
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      for await (const fd of Deno.readDir(`/proc/${entry.name}/fd`)) {
        const target = await Deno.readLink(`/proc/${entry.name}/fd/${fd.name}`).catch(() => "");
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        if (inode !== undefined && inodes.has(inode)) return Number(entry.name);
      }
    } catch {
      // A process that ended, or one we may not look into.
    }
  }
  return null;
}

/** Waits until every group in `groups` has committed the end of `topic` (one partition). */
async function waitForConsumers(
  kafka: Kafka,
  topic: string,
  groups: readonly string[],
  alive: () => void,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const deadline = performance.now() + 300_000;
    for (;;) {
      alive();
      const ends = await admin.fetchTopicOffsets(topic);
      const end = Number(ends[0]?.offset ?? 0);
      const committed = await Promise.all(groups.map(async (groupId) => {
        const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
        return Number(offsets[0]?.partitions[0]?.offset ?? -1);
      }));
      if (committed.every((offset) => offset >= end)) return;
      if (performance.now() > deadline) throw new Error(`consumers behind on ${topic}`);
      await delay(100);
    }
  } finally {
    await admin.disconnect();
  }
}

async function main(): Promise<void> {
  let ownBroker: KafkaTestBroker | null = null;
  let broker = Deno.env.get("KAFKA_BROKER") ?? "";
  if (broker === "") {
    ownBroker = await KafkaTestBroker.create();
    await ownBroker.start();
    broker = ownBroker.bootstrap;
  }
  const brokerPid = ownBroker?.pid ?? await pidListeningOn(Number(broker.split(":").at(-1)));
  if (brokerPid === null || brokerPid === undefined) {
    throw new Error(`no process listens on ${broker}`);
  }
  const topics = uniqueTopics("pair");
  const observer = await Observer.start(broker, [topics.cpEvents, topics.centralEvents]);
  const commander = await Commander.start(broker);
  const kafka = new Kafka({
    clientId: "bench-pair",
    brokers: [broker],
    logLevel: logLevel.NOTHING,
  });
  const stateDir = `state/bench-pair-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(`${REPO_ROOT}${stateDir}`, { recursive: true });
  const fleets: { name: string; process: BenchProcess; group: string; ids: string[] }[] = [];
  const rows: [string, string, string, string][] = [];
  const row = (figure: string, a: number, b: number, brokerValue: number | null, digits = 1) =>
    rows.push([
      figure,
      a.toFixed(digits),
      b.toFixed(digits),
      brokerValue === null ? "-" : brokerValue.toFixed(digits),
    ]);
  try {
    const registered = observer.next(
      `${POINTS * FLEETS.length} registrations`,
      distinctPoints(POINTS * FLEETS.length, (seen) => isRegistration(seen, topics.cpEvents)),
      120_000 + POINTS * 40,
    );
    const started = performance.now();
    for (const { name, host } of FLEETS) {
      const ids = Array.from(
        { length: POINTS },
        (_, i) => `CP_${name}_${String(i + 1).padStart(5, "0")}`,
      );
      const file = `${stateDir}/fleet-${name}.json`;
      await Deno.writeTextFile(`${REPO_ROOT}${file}`, JSON.stringify(ids.map((id) => ({ id }))));
      const process = await startFleet(`fleet ${name}`, [
        ...commonFlags(broker, topics),
        "--health-host",
        host,
        "--health-port-base",
        "20000",
        "--file",
        file,
        "--state-dir",
        stateDir,
      ]);
      fleets.push({ name, process, group: "", ids });
    }
    const alive = allAlive(fleets.map((fleet) => fleet.process));
    const registeredAt = (await registered).receivedAt;
    console.log(
      `all ${POINTS * FLEETS.length} registered in ${
        ((registeredAt - started) / 1000).toFixed(1)
      } s`,
    );
    // Each fleet's consumer group: startFleet gives each a fresh one, on its command line.
    for (const fleet of fleets) {
      const words = (await Deno.readTextFile(`/proc/${fleet.process.pid}/cmdline`)).split("\0");
      fleet.group = words[words.indexOf("--group-id") + 1]!;
    }

    const pids = [...fleets.map((fleet) => fleet.process.pid), brokerPid];
    const measure = async (seconds: number) => {
      const windows = await Promise.all(pids.map((pid) => CpuWindow.start([pid])));
      await delay(seconds * 1000);
      alive();
      const cpu = await Promise.all(windows.map((window) => window.stop()));
      const rss = await Promise.all(pids.map((pid) => memory(pid)));
      return { cpu, rss };
    };
    await delay(10_000);
    const idle = await measure(SECONDS);
    row(
      "idle CPU (% core)",
      idle.cpu[0]!.percentOfCore,
      idle.cpu[1]!.percentOfCore,
      idle.cpu[2]!.percentOfCore,
    );
    row("idle RSS (MB)", idle.rss[0]!.rssMb, idle.rss[1]!.rssMb, idle.rss[2]!.rssMb, 0);

    // Read amplification: commands for nobody, read by every fleet.
    const burstWindows = await Promise.all(pids.map((pid) => CpuWindow.start([pid])));
    const values = Array.from(
      { length: COMMANDS },
      (_, i) => command(`CP_NOBODY_${i % 100}`, "CP_FAULT", "fault"),
    );
    await commander.sendAll(topics.centralEvents, values, 1000);
    await waitForConsumers(kafka, topics.centralEvents, fleets.map((fleet) => fleet.group), alive);
    const burst = await Promise.all(burstWindows.map((window) => window.stop()));
    const perCommandUs = burst.map((window, i) => {
      const idleCpu = (idle.cpu[i]!.percentOfCore / 100) * window.wallSeconds;
      return (Math.max(0, window.cpuSeconds - idleCpu) / COMMANDS) * 1e6;
    });
    row(
      `CPU per command for no point of its own (us), ${COMMANDS} commands`,
      perCommandUs[0]!,
      perCommandUs[1]!,
      perCommandUs[2]!,
    );
    row(
      "command burst: send -> both fleets caught up (s)",
      burst[0]!.wallSeconds,
      burst[1]!.wallSeconds,
      null,
    );

    const progress = observer.next(
      `progress from all ${POINTS * FLEETS.length} points`,
      distinctPoints(POINTS * FLEETS.length, (seen) => isProgress(seen, topics.cpEvents)),
      120_000 + POINTS * 40,
      alive,
    );
    let user = 1;
    for (const fleet of fleets) {
      await commander.sendAll(
        topics.centralEvents,
        fleet.ids.map((cpId) => chargingStarted(cpId, user++)),
      );
    }
    await progress;
    await delay(3_000);
    const charging = await measure(SECONDS);
    row(
      "CPU, every point charging at 1 Hz (% core)",
      charging.cpu[0]!.percentOfCore,
      charging.cpu[1]!.percentOfCore,
      charging.cpu[2]!.percentOfCore,
    );
    row(
      "RSS, every point charging (MB)",
      charging.rss[0]!.rssMb,
      charging.rss[1]!.rssMb,
      charging.rss[2]!.rssMb,
      0,
    );
    console.log(`\n## Two fleets of ${POINTS} points, one broker\n`);
    console.log("| figure | fleet A | fleet B | broker |");
    console.log("|---|---|---|---|");
    for (const [figure, a, b, brokerValue] of rows) {
      console.log(`| ${figure} | ${a} | ${b} | ${brokerValue} |`);
    }
    console.log(
      `\nRegistered: spawn of the first fleet -> all ${POINTS * FLEETS.length} registrations ` +
        `consumed: ${((registeredAt - started) / 1000).toFixed(1)} s. ` +
        `${navigator.hardwareConcurrency} cores shared by the fleets, the broker and the bench; ` +
        `load average ${Deno.loadavg().map((l) => l.toFixed(1)).join(" ")}.`,
    );
    await Deno.writeTextFile(
      `${REPO_ROOT}bench/two_fleets.json`,
      `${
        JSON.stringify(
          {
            date: new Date().toISOString(),
            points: POINTS,
            commands: COMMANDS,
            seconds: SECONDS,
            registeredSeconds: (registeredAt - started) / 1000,
            rows,
          },
          null,
          2,
        )
      }\n`,
    );
  } finally {
    await Promise.all(fleets.map((fleet) => fleet.process.dispose(5_000)));
    await Promise.allSettled([observer.close(), commander.close()]);
    await Deno.remove(`${REPO_ROOT}${stateDir}`, { recursive: true }).catch(() => {});
    await ownBroker?.dispose();
  }
}

if (import.meta.main) {
  await main();
  Deno.exit(0);
}
