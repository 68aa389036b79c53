/**
 * One run of the real peers: a fresh Kafka broker with the peers' topics, a temporary copy of
 * `SD/` with a pristine `ev_charging.db`, and the peers (Central, Monitors, Driver) beside the
 * engine under test (the original Python engine or ours), each in its own process group with
 * its output in a log file. The harness's Kafka tap, Central's database watcher and the
 * WebSocket clients observe and drive them.
 *
 * Ports: Central 18802, Monitors 18811+, Driver 18821, engines' health ports 5301+ (the n-th
 * charging point, from 0, gets base + n).
 *
 * @module
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { KafkaTestBroker } from "../kafka_broker.ts";
import { passThroughEnv, startTaskArgs } from "../../tests/support/engine_process.ts";
import { pollUntil, type RunClock, type RunSeconds } from "./clock.ts";
import { CentralDb, DbWatcher } from "./central_db.ts";
import { KafkaTap } from "./kafka_tap.ts";
import { LIVE_PROCESSES, PeerProcess } from "./process.ts";
import { WsClient } from "./ws_client.ts";

const REPO_ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** Which engine runs beside the peers. */
export type EngineKind = "original" | "ours";

/** The fixed ports of a run. */
export const PORTS = {
  central: 18802,
  monitorBase: 18811,
  driver: 18821,
  healthBase: 5301,
} as const;

/** The charging points a run may use, in port order (both exist in the shipped database). */
export const CP_IDS = ["CP_001", "CP_002"] as const;

/** The password of each Driver user the scenarios log in as (from the shipped database). */
export const DRIVER_PASSWORDS: Readonly<Record<string, string>> = {
  driver1: "pass123",
  driver2: "pass456",
};

/** What a run needs to know. */
export interface StackOptions {
  /** The directory that contains `SD/` (and usually `py/`, the peers' Python packages). */
  readonly peersDir: string;
  /** The Python 3.11 interpreter. */
  readonly python: string;
  /** The engine under test. */
  readonly engine: EngineKind;
  /** The pristine `ev_charging.db`, written into the copy of `SD/`. */
  readonly pristineDb: Uint8Array;
  /** A label for the run's directories, e.g. `ours-register`. */
  readonly label: string;
  /** The run's clock. */
  readonly clock: RunClock;
}

/** An action of the harness, for the timeline. */
export interface Mark {
  readonly t: RunSeconds;
  readonly text: string;
}

/** The role of a peer process, which decides which of its log lines are evidence. */
export type PeerRole = "central" | "monitor" | "driver" | "engine";

/** A process of the run with its role and charging point. */
export interface RunProcess {
  readonly role: PeerRole;
  readonly cpId: string | null;
  readonly process: PeerProcess;
}

/** The Python files and folders of `SD/` the peers need. */
const SD_ENTRIES = [
  "EV_Central",
  "EV_CP_M",
  "EV_Driver",
  "EV_CP_E",
  "database.py",
  "event_utils.py",
  "network_config.py",
];

async function copyTree(from: string, to: string): Promise<void> {
  const info = await Deno.stat(from);
  if (info.isFile) {
    await Deno.copyFile(from, to);
    return;
  }
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.name === "__pycache__") continue;
    await copyTree(join(from, entry.name), join(to, entry.name));
  }
}

function portInUse(port: number): boolean {
  try {
    Deno.listen({ hostname: "0.0.0.0", port }).close();
    return false;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return true;
    throw error;
  }
}

/** What `ss` says about a listener on `port` (for an error message). */
async function whoListens(port: number): Promise<string> {
  try {
    const output = await new Deno.Command("ss", {
      args: ["-Htanp", `sport = :${port}`],
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(output.stdout).trim();
    return text === "" ? "ss shows no socket on it" : text;
  } catch {
    return "(ss is not available to tell who)";
  }
}

/**
 * Deletes the run directories (temporary `ev-peers-<pid>-*` and the engine's `state/peers-<pid>-*`)
 * left by a harness that was killed before it could clean up (its pid no longer runs). Linux
 * only (it asks /proc); best effort.
 */
export async function removeOrphanedRunDirs(): Promise<void> {
  if (Deno.build.os !== "linux") return;
  const places: [root: string, prefix: string][] = [
    [Deno.env.get("TMPDIR") ?? "/tmp", "ev-peers-"],
    [join(REPO_ROOT, "state"), "peers-"],
  ];
  for (const [root, prefix] of places) {
    try {
      for await (const entry of Deno.readDir(root)) {
        if (!entry.isDirectory || !entry.name.startsWith(prefix)) continue;
        const pid = Number(entry.name.slice(prefix.length).split("-")[0]);
        if (!(pid > 0) || pid === Deno.pid) continue;
        const alive = await Deno.stat(`/proc/${pid}`).then(() => true, () => false);
        if (!alive) await Deno.remove(join(root, entry.name), { recursive: true }).catch(() => {});
      }
    } catch {
      // The directory does not exist or cannot be listed: nothing to clean.
    }
  }
}

/** Every fixed port of a run. */
function runPorts(): number[] {
  return [
    PORTS.central,
    PORTS.driver,
    ...CP_IDS.map((_, index) => PORTS.monitorBase + index),
    ...CP_IDS.map((_, index) => PORTS.healthBase + index),
  ];
}

/**
 * A fresh test broker, started, that holds none of the run's fixed ports. The broker picks free
 * ports at random (15000 and up) and binds them later, so another program can take one in
 * between (it then exits at once), and one of its own may be a port of the run: up to 3 tries.
 *
 * @throws {Error} the last start error.
 */
async function startBroker(): Promise<KafkaTestBroker> {
  for (let attempt = 1;; attempt++) {
    const broker = await KafkaTestBroker.create();
    let failure: unknown;
    try {
      await broker.start();
      const taken = runPorts().filter(portInUse);
      if (taken.length === 0) return broker;
      failure = new Error(`The test broker took the run's port(s) ${taken.join(", ")}`);
    } catch (error) {
      failure = error;
    }
    await broker.dispose().catch(() => {});
    if (attempt === 3) throw failure;
  }
}

/** The stacks alive now, for the Ctrl+C handler. */
export const LIVE_STACKS: Set<PeerStack> = new Set();

/**
 * Kills everything the harness started (every peer process group and every broker), at once:
 * the Ctrl+C path.
 */
export async function emergencyStop(): Promise<void> {
  for (const process of LIVE_PROCESSES) process.kill("SIGKILL");
  await Promise.allSettled([...LIVE_STACKS].map((stack) => stack.dispose(null)));
}

/** One run of the peers with one engine. */
export class PeerStack {
  /** Everything the harness did, in order. */
  readonly marks: Mark[] = [];
  /** Every process ever started in this run (restarts included), in start order. */
  readonly processes: RunProcess[] = [];
  readonly clock: RunClock;
  readonly options: StackOptions;
  /** The run's directory (the copy of `SD/` and the logs). */
  readonly dir: string;
  readonly #sdDir: string;
  readonly #logsDir: string;
  readonly #stateDir: string;
  readonly #broker: KafkaTestBroker;
  #tap: KafkaTap | undefined;
  #db: CentralDb | undefined;
  #watcher: DbWatcher | undefined;
  #centralWs: WsClient | undefined;
  readonly #drivers = new Map<string, WsClient>();
  #disposed: Promise<void> | undefined;

  private constructor(options: StackOptions, dir: string, broker: KafkaTestBroker) {
    this.options = options;
    this.clock = options.clock;
    this.dir = dir;
    this.#sdDir = join(dir, "SD");
    this.#logsDir = join(dir, "logs");
    this.#broker = broker;
    // The start task may write only under ./state of the repository.
    // Both directories carry the harness's pid, for removeOrphanedRunDirs.
    this.#stateDir = join(
      "state",
      `peers-${Deno.pid}-${options.label}-${crypto.randomUUID().slice(0, 8)}`,
    );
  }

  /**
   * Prepares a run: checks the ports, copies `SD/` with the pristine database, starts a fresh
   * broker, creates the peers' topics and starts recording them.
   *
   * @throws {Error} when a port is taken, `SD/` cannot be copied or the broker does not start.
   */
  static async create(options: StackOptions): Promise<PeerStack> {
    const taken = runPorts().filter(portInUse);
    if (taken.length > 0) {
      throw new Error(
        `Port(s) ${taken.join(", ")} already in use: another harness run or a peer is still ` +
          `running (the harness uses ${PORTS.central}, ${PORTS.monitorBase}+, ` +
          `${PORTS.driver} and ${PORTS.healthBase}+)`,
      );
    }
    const broker = await startBroker();
    const dir = await Deno.makeTempDir({ prefix: `ev-peers-${Deno.pid}-${options.label}-` });
    const stack = new PeerStack(options, dir, broker);
    LIVE_STACKS.add(stack);
    try {
      await Deno.mkdir(stack.#logsDir, { recursive: true });
      await Deno.mkdir(stack.#sdDir, { recursive: true });
      for (const entry of SD_ENTRIES) {
        await copyTree(join(options.peersDir, "SD", entry), join(stack.#sdDir, entry));
      }
      await Deno.writeFile(join(stack.#sdDir, "ev_charging.db"), options.pristineDb);
      stack.mark(`Kafka broker up at ${broker.bootstrap}`);
      stack.#tap = await KafkaTap.start(broker.bootstrap, stack.clock);
      stack.mark("topics cp-events, central-events, driver-events, monitor-events created");
      return stack;
    } catch (error) {
      await stack.dispose(null);
      throw error;
    }
  }

  /** The harness's Kafka client. */
  get tap(): KafkaTap {
    if (!this.#tap) throw new Error("The Kafka tap is not started");
    return this.#tap;
  }

  /** Central's database, watched (available once Central has started). */
  get db(): DbWatcher {
    if (!this.#watcher) throw new Error("Central's database is not watched yet: start Central");
    return this.#watcher;
  }

  /** The path of Central's database in the run's copy of `SD/`. */
  get dbPath(): string {
    return join(this.#sdDir, "ev_charging.db");
  }

  /** Records an action of the harness. */
  mark(text: string): RunSeconds {
    const t = this.clock.now();
    this.marks.push({ t, text });
    return t;
  }

  /** The latest process of `role` (for `cpId`), or undefined. */
  latest(role: PeerRole, cpId: string | null = null): PeerProcess | undefined {
    return this.processes.findLast((p) => p.role === role && p.cpId === cpId)?.process;
  }

  /** Every process of `role` (for `cpId`) ever started in this run. */
  all(role: PeerRole, cpId: string | null = null): PeerProcess[] {
    return this.processes.filter((p) => p.role === role && p.cpId === cpId).map((p) => p.process);
  }

  #pythonEnv(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const name of ["PATH", "HOME", "TMPDIR", "LANG"]) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    const paths = [join(this.options.peersDir, "py"), Deno.env.get("PYTHONPATH")]
      .filter((path): path is string => path !== undefined && path !== "");
    env["PYTHONPATH"] = paths.join(":");
    env["PYTHONUNBUFFERED"] = "1";
    env["PYTHONIOENCODING"] = "utf-8";
    env["PYTHONDONTWRITEBYTECODE"] = "1";
    env["KAFKA_BROKER"] = this.#broker.bootstrap;
    return env;
  }

  #spawn(
    role: PeerRole,
    cpId: string | null,
    name: string,
    program: string,
    args: string[],
    cwd: string,
    env: Record<string, string>,
  ): PeerProcess {
    const count = this.all(role, cpId).length;
    const file = `${role}${cpId === null ? "" : `-${cpId}`}.log`;
    const process = PeerProcess.start({
      name: count === 0 ? name : `${name} (#${count + 1})`,
      program,
      args,
      cwd,
      env,
      logFile: join(this.#logsDir, file),
      clock: this.clock,
    });
    this.processes.push({ role, cpId, process });
    this.mark(`started ${process.name} (pid ${process.pid})`);
    return process;
  }

  #python(role: PeerRole, cpId: string | null, name: string, args: string[]): PeerProcess {
    return this.#spawn(
      role,
      cpId,
      name,
      this.options.python,
      args,
      this.#sdDir,
      this.#pythonEnv(),
    );
  }

  /**
   * Starts Central and waits until its Kafka consumer reads all three of its topics: the
   * harness sends a `HARNESS_PROBE` on each until Central logs it (Central reads only messages
   * sent after it joined, so anything sent earlier would be lost to it). Then opens its database.
   *
   * @throws {Error} when Central exits or does not read its topics within 60 s.
   */
  async startCentral(): Promise<RunSeconds> {
    const central = this.#python("central", null, "central", [
      "EV_Central/EV_Central_WebSocket.py",
      "--port",
      String(PORTS.central),
      "--kafka-broker",
      this.#broker.bootstrap,
    ]);
    await this.#probeUntilRead(
      central,
      ["driver-events", "cp-events", "monitor-events"],
      (topic) => new RegExp(`Received event #\\d+: HARNESS_PROBE \\|.*\\| topic: ${topic} `),
    );
    if (!this.#watcher) {
      this.#db = new CentralDb(this.dbPath);
      this.#watcher = new DbWatcher(this.#db, this.clock, CP_IDS);
      this.#watcher.start();
    }
    return this.mark("central reads its topics");
  }

  /**
   * Starts the Driver (id D1) and waits until its consumer reads `central-events` and
   * `cp-events` (probed like Central's).
   *
   * @throws {Error} when the Driver exits or does not read its topics within 60 s.
   */
  async startDriver(): Promise<RunSeconds> {
    const driver = this.#python("driver", null, "driver", [
      "EV_Driver/EV_Driver_WebSocket.py",
      "--port",
      String(PORTS.driver),
      "--kafka-broker",
      this.#broker.bootstrap,
      "--driver-id",
      "D1",
    ]);
    await this.#probeUntilRead(
      driver,
      ["central-events", "cp-events"],
      (topic) => new RegExp(`Received HARNESS_PROBE_${topic.replace("-", "_").toUpperCase()} `),
      (topic) => `HARNESS_PROBE_${topic.replace("-", "_").toUpperCase()}`,
    );
    return this.mark("driver reads its topics");
  }

  async #probeUntilRead(
    process: PeerProcess,
    topics: string[],
    readLine: (topic: string) => RegExp,
    eventType: (topic: string) => string = () => "HARNESS_PROBE",
  ): Promise<void> {
    const since = process.startedAt;
    const unread = () =>
      topics.filter((topic) => process.find(readLine(topic), since).length === 0);
    const done = await pollUntil(
      async () => {
        if (!process.running) return false;
        const left = unread();
        if (left.length === 0) return true;
        for (const topic of left) {
          await this.tap.send(topic, {
            message_id: crypto.randomUUID(),
            event_type: eventType(topic),
            probe_topic: topic,
            timestamp: Date.now() / 1000,
          });
        }
        return undefined;
      },
      60_000,
      500,
    );
    if (done !== true) {
      const tail = process.lines.slice(-15).map((line) => line.text).join("\n");
      throw new Error(
        `${process.name} ${process.running ? "did not read" : "exited before reading"} ${
          unread().join(", ")
        } within 60 s. Last lines of ${process.logFile}:\n${tail}`,
      );
    }
  }

  /** Starts the Monitor of `cpId` (it waits 15 s before its first probe). */
  startMonitor(cpId: string): PeerProcess {
    const index = cpIndex(cpId);
    return this.#python("monitor", cpId, `monitor ${cpId}`, [
      "EV_CP_M/EV_CP_M_WebSocket.py",
      "--cp-id",
      cpId,
      "--engine-host",
      "127.0.0.1",
      "--engine-port",
      String(PORTS.healthBase + index),
      "--monitor-port",
      String(PORTS.monitorBase + index),
      "--kafka-broker",
      this.#broker.bootstrap,
    ]);
  }

  /**
   * Starts the engine under test for `cpId` (ours keeps its state directory across restarts),
   * once its health port is free.
   *
   * @throws {Error} naming who holds the health port when it stays taken for 10 s.
   */
  async startEngine(cpId: string): Promise<PeerProcess> {
    const index = cpIndex(cpId);
    const location = `Lab ${index + 1}`;
    const port = PORTS.healthBase + index;
    if (await pollUntil(() => portInUse(port) ? undefined : true, 10_000, 200) !== true) {
      throw new Error(
        `The health port ${port} of ${cpId} is still taken after 10 s: ${await whoListens(port)}`,
      );
    }
    const healthPort = String(port);
    if (this.options.engine === "original") {
      return this.#python("engine", cpId, `engine ${cpId}`, [
        "EV_CP_E/EV_CP_E.py",
        "--cp-id",
        cpId,
        "--location",
        location,
        "--health-port",
        healthPort,
        "--kafka-broker",
        this.#broker.bootstrap,
        "--no-cli",
      ]);
    }
    return this.#spawn(
      "engine",
      cpId,
      `engine ${cpId}`,
      Deno.execPath(),
      [
        ...(await startTaskArgs()),
        "--cp-id",
        cpId,
        "--location",
        location,
        "--kafka-broker",
        this.#broker.bootstrap,
        "--health-port",
        healthPort,
        "--state-dir",
        this.#stateDir,
      ],
      REPO_ROOT,
      { ...passThroughEnv(), NO_COLOR: "1" },
    );
  }

  /**
   * Waits until the latest engine of `cpId` says its health port is open.
   *
   * @throws {Error} when it says the port is taken, exits, or says nothing within `timeoutMs`.
   */
  async engineListening(cpId: string, timeoutMs = 30_000): Promise<void> {
    const engine = this.latest("engine", cpId);
    if (!engine) throw new Error(`No engine ${cpId} started`);
    const line = await engine.waitForLine(
      /Health check server started|Health server listening|Health server error|already in use/,
      timeoutMs,
    );
    if (line === null || !/started|listening/.test(line.text)) {
      throw new Error(
        `${engine.name} did not open its health port ${PORTS.healthBase + cpIndex(cpId)}: ${
          line?.text.trim() ?? (engine.running ? "nothing said" : "it exited")
        } (${await whoListens(PORTS.healthBase + cpIndex(cpId))})`,
      );
    }
  }

  /**
   * Kills the latest `role` process (of `cpId`) with `signal` and waits up to 10 s for it to
   * exit; resolves to the run second of the kill.
   */
  async kill(role: PeerRole, cpId: string | null, signal: Deno.Signal): Promise<RunSeconds> {
    const process = this.latest(role, cpId);
    if (!process) throw new Error(`No ${role} ${cpId ?? ""} to kill`);
    const t = this.mark(`${signal} ${process.name}`);
    process.kill(signal);
    if (!(await process.exited(10_000))) process.kill("SIGKILL");
    await process.exited(5_000);
    return t;
  }

  /** Central's dashboard socket (opened on first use). */
  async centralWs(): Promise<WsClient> {
    if (!this.#centralWs || this.#centralWs.closed) {
      this.#centralWs = await WsClient.connect(`ws://127.0.0.1:${PORTS.central}/ws`, this.clock);
    }
    return this.#centralWs;
  }

  /**
   * The Driver dashboard socket of `username`, logged in (opened on first use).
   *
   * @throws {Error} when the login is refused or unanswered within 10 s.
   */
  async driver(username: string): Promise<WsClient> {
    const open = this.#drivers.get(username);
    if (open && !open.closed) return open;
    const client = await WsClient.connect(`ws://127.0.0.1:${PORTS.driver}/ws`, this.clock);
    const since = client.send({
      type: "login",
      username,
      password: DRIVER_PASSWORDS[username] ?? "",
    });
    const answer = await client.waitFor((data) => data["type"] === "login_response", 10_000, since);
    if (answer?.data["success"] !== true) {
      client.close();
      throw new Error(
        `The Driver refused the login of ${username}: ${JSON.stringify(answer?.data)}`,
      );
    }
    this.#drivers.set(username, client);
    return client;
  }

  /**
   * Stops everything (SIGKILL to every process group, the broker, the clients), copies the logs
   * and the final database to `keepDir` when given, and deletes the run's directories.
   */
  dispose(keepDir: string | null): Promise<void> {
    this.#disposed ??= this.#dispose(keepDir);
    return this.#disposed;
  }

  async #dispose(keepDir: string | null): Promise<void> {
    this.#centralWs?.close();
    for (const client of this.#drivers.values()) client.close();
    this.#watcher?.stop();
    this.#watcher?.poll();
    this.#db?.close();
    await Promise.allSettled(this.processes.map(({ process }) => process.dispose()));
    await this.#tap?.close();
    await this.#broker.dispose().catch(() => {});
    if (keepDir !== null) {
      await Deno.mkdir(keepDir, { recursive: true });
      for await (const entry of Deno.readDir(this.#logsDir)) {
        await Deno.copyFile(join(this.#logsDir, entry.name), join(keepDir, entry.name));
      }
      // The write-ahead log holds Central's latest changes: keep it with the database.
      for (const suffix of ["", "-wal", "-shm"]) {
        await Deno.copyFile(this.dbPath + suffix, join(keepDir, `ev_charging.db${suffix}`))
          .catch(() => {});
      }
    }
    await Deno.remove(join(REPO_ROOT, this.#stateDir), { recursive: true }).catch(() => {});
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    LIVE_STACKS.delete(this);
  }
}

/** The index of `cpId` in {@link CP_IDS} (its port offset). */
export function cpIndex(cpId: string): number {
  const index = (CP_IDS as readonly string[]).indexOf(cpId);
  if (index < 0) throw new Error(`Unknown charging point ${cpId}: the harness runs ${CP_IDS}`);
  return index;
}
