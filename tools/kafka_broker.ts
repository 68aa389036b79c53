/**
 * A throwaway single-node Apache Kafka 4.2.2 broker (KRaft, broker and controller in one JVM) on
 * loopback, for the test suite and for local development.
 *
 * The broker's jars come from Maven Central (see `tools/kafka/pom.xml`) and are cached once in
 * `.cache/kafka-4.2.2/jars`; Java 17+ and Maven are needed. Each broker listens on
 *
 * - `bootstrap`: PLAINTEXT, no authentication;
 * - `saslBootstrap`: SASL_PLAINTEXT, accepting PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 with the user
 *   {@link SASL_USERNAME} / {@link SASL_PASSWORD}.
 *
 * ```ts
 * const broker = await KafkaTestBroker.create();
 * try {
 *   await broker.start();
 *   // ... talk to broker.bootstrap ...
 *   await broker.stop(); // the engine must cope with a broker that goes away ...
 *   await broker.start(); // ... and comes back (same ports, same data)
 * } finally {
 *   await broker.dispose();
 * }
 * ```
 *
 * Run as a program (`deno task kafka`) it starts a broker, prints its addresses and runs until
 * Ctrl+C.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

/** The Apache Kafka version of the test broker. */
export const KAFKA_VERSION = "4.2.2";
/** The PLAINTEXT port of `deno task kafka`: the engine's default broker is localhost:9092. */
export const LOCAL_BROKER_PORT = 9092;
/** User name accepted on the SASL listener (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512). */
export const SASL_USERNAME = "engine";
/** Password of {@link SASL_USERNAME} on the SASL listener. */
export const SASL_PASSWORD = "engine-secret";

const TOOLS_DIR = fileURLToPath(new URL(".", import.meta.url));
const REPO_ROOT = resolve(TOOLS_DIR, "..");
const POM_FILE = join(TOOLS_DIR, "kafka", "pom.xml");
const LOG4J_CONFIG = join(TOOLS_DIR, "kafka", "log4j2.yaml");

/** Where {@link ensureKafkaJars} keeps the broker's class path (inside the repo, gitignored). */
export const KAFKA_JARS_DIR = join(REPO_ROOT, ".cache", `kafka-${KAFKA_VERSION}`, "jars");

const COMPLETE_MARKER = ".complete";
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const JAVA_HINT =
  "install a JDK 17, e.g. the Debian package openjdk-17-jre-headless, or set KAFKA_BROKER=host:port to use an existing broker";

/** Raised when the test broker cannot be installed, started or reached. */
export class KafkaBrokerError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KafkaBrokerError";
  }
}

// ---------------------------------------------------------------------------------------------
// Installation
// ---------------------------------------------------------------------------------------------

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function lastLines(text: string, count: number): string {
  const lines = text.replace(/\s+$/, "").split("\n");
  return lines.slice(-count).join("\n");
}

let javaChecked: Promise<void> | undefined;

/**
 * Checks that `java` is on PATH and is Java 17 or newer.
 *
 * @throws {KafkaBrokerError} with an installation hint otherwise.
 */
export function checkJava(): Promise<void> {
  javaChecked ??= (async () => {
    let output: Deno.CommandOutput;
    try {
      output = await new Deno.Command("java", {
        args: ["-version"],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new KafkaBrokerError(
          `Java 17+ is required to start the test Kafka broker: \`java\` was not found on PATH (${JAVA_HINT})`,
        );
      }
      throw error;
    }
    const text = new TextDecoder().decode(output.stderr) + new TextDecoder().decode(output.stdout);
    const match = text.match(/version "(\d+)(?:\.(\d+))?/);
    const major = match ? (match[1] === "1" ? Number(match[2]) : Number(match[1])) : NaN;
    if (!output.success || !(major >= 17)) {
      const found = match
        ? `Java ${major}`
        : `an unrecognised \`java -version\`: ${lastLines(text, 3)}`;
      throw new KafkaBrokerError(
        `Java 17+ is required to start the test Kafka broker, but \`java\` on PATH is ${found} (${JAVA_HINT})`,
      );
    }
  })();
  // A failed check is not cached, so that a caller can fix PATH and try again.
  javaChecked.catch(() => javaChecked = undefined);
  return javaChecked;
}

/**
 * Makes sure the Kafka broker's jars are in {@link KAFKA_JARS_DIR}, downloading them once with
 * Maven (`mvn dependency:copy-dependencies` on `tools/kafka/pom.xml`) if they are not.
 *
 * Safe to call concurrently from several processes: the jars are downloaded into a private
 * directory that is renamed into place when complete.
 *
 * @returns the directory holding the jars (use it as `-cp DIR/*`).
 * @throws {KafkaBrokerError} when Java 17+ or Maven is missing or the download fails.
 */
export async function ensureKafkaJars(): Promise<string> {
  await checkJava();
  if (await exists(join(KAFKA_JARS_DIR, COMPLETE_MARKER))) return KAFKA_JARS_DIR;

  await Deno.mkdir(dirname(KAFKA_JARS_DIR), { recursive: true });
  const tmp = `${KAFKA_JARS_DIR}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    let output: Deno.CommandOutput;
    try {
      output = await new Deno.Command("mvn", {
        args: [
          "-q",
          "-B",
          "-f",
          POM_FILE,
          "dependency:copy-dependencies",
          `-DoutputDirectory=${tmp}`,
          "-DincludeScope=runtime",
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new KafkaBrokerError(
          "Maven is required to download the test Kafka broker: `mvn` was not found on PATH (install Maven, e.g. the Debian package maven, or set KAFKA_BROKER=host:port to use an existing broker)",
        );
      }
      throw error;
    }
    const log = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    if (!output.success) {
      throw new KafkaBrokerError(
        `\`mvn dependency:copy-dependencies\` failed (exit code ${output.code}) while downloading the Kafka ${KAFKA_VERSION} broker jars:\n${
          lastLines(log, 30)
        }`,
      );
    }
    const jars: string[] = [];
    for await (const entry of Deno.readDir(tmp)) {
      if (entry.name.endsWith(".jar")) jars.push(entry.name);
    }
    if (!jars.some((name) => name.startsWith(`kafka_2.13-${KAFKA_VERSION}`))) {
      throw new KafkaBrokerError(
        `Maven did not download kafka_2.13-${KAFKA_VERSION}.jar into ${tmp}:\n${
          lastLines(log, 30)
        }`,
      );
    }
    await Deno.writeTextFile(join(tmp, COMPLETE_MARKER), `${jars.length} jars\n`);
    try {
      await Deno.rename(tmp, KAFKA_JARS_DIR);
    } catch (error) {
      // Another process finished first: use its copy. A left-over incomplete directory is replaced.
      if (await exists(join(KAFKA_JARS_DIR, COMPLETE_MARKER))) return KAFKA_JARS_DIR;
      if (!(await exists(KAFKA_JARS_DIR))) throw error;
      await Deno.remove(KAFKA_JARS_DIR, { recursive: true });
      await Deno.rename(tmp, KAFKA_JARS_DIR);
    }
    return KAFKA_JARS_DIR;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Child processes tied to this process
// ---------------------------------------------------------------------------------------------

let setprivWorks: Promise<boolean> | undefined;

/**
 * Builds a `Deno.Command` for `program args...` that, on Linux, is killed (SIGKILL) by the kernel
 * when this process dies, even by SIGKILL (`setpriv --pdeathsig KILL`, from util-linux). Where
 * `setpriv` is missing the command is returned unchanged: stop the child yourself.
 *
 * @param program the executable to run.
 * @param args its arguments.
 * @param options further `Deno.Command` options (`args` is ignored).
 */
export async function parentBoundCommand(
  program: string,
  args: string[],
  options: Deno.CommandOptions = {},
): Promise<Deno.Command> {
  setprivWorks ??= (async () => {
    if (Deno.build.os !== "linux") return false;
    try {
      const probe = await new Deno.Command("setpriv", {
        args: ["--pdeathsig", "KILL", "--", "true"],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).output();
      return probe.success;
    } catch {
      return false;
    }
  })();
  if (await setprivWorks) {
    return new Deno.Command("setpriv", {
      ...options,
      args: ["--pdeathsig", "KILL", "--", program, ...args],
    });
  }
  return new Deno.Command(program, { ...options, args });
}

// ---------------------------------------------------------------------------------------------
// A minimal Kafka protocol probe (ApiVersions and Metadata), used to tell when the broker answers
// ---------------------------------------------------------------------------------------------

async function readExactly(conn: Deno.Conn, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let offset = 0;
  while (offset < size) {
    const n = await conn.read(out.subarray(offset));
    if (n === null) throw new Error("connection closed by the broker");
    offset += n;
  }
  return out;
}

/** Sends one request (non-flexible, request header v1) and returns the response body. */
async function kafkaRequest(
  port: number,
  apiKey: number,
  apiVersion: number,
  body: Uint8Array,
  timeoutMs: number,
): Promise<DataView> {
  const clientId = new TextEncoder().encode("kafka-test-broker-probe");
  const size = 2 + 2 + 4 + 2 + clientId.length + body.length;
  const request = new Uint8Array(4 + size);
  const view = new DataView(request.buffer);
  view.setInt32(0, size);
  view.setInt16(4, apiKey);
  view.setInt16(6, apiVersion);
  view.setInt32(8, 4242);
  view.setInt16(12, clientId.length);
  request.set(clientId, 14);
  request.set(body, 14 + clientId.length);

  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    let written = 0;
    while (written < request.length) written += await conn.write(request.subarray(written));
    const length = new DataView((await readExactly(conn, 4)).buffer).getInt32(0);
    if (length < 4 || length > 16 * 1024 * 1024) throw new Error(`bad response size ${length}`);
    const response = await readExactly(conn, length);
    const responseView = new DataView(response.buffer);
    if (responseView.getInt32(0) !== 4242) throw new Error("unexpected correlation id");
    return new DataView(response.buffer, 4);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // already closed by the timer
    }
  }
}

/**
 * Asks the broker on `port` whether it serves requests: an ApiVersions request (answered even on a
 * SASL listener before authentication) and, with `metadata`, a Metadata request that must list at
 * least one live broker. Throws when it does not.
 */
async function probeListener(port: number, metadata: boolean, timeoutMs = 2_000): Promise<void> {
  const apiVersions = await kafkaRequest(port, 18, 0, new Uint8Array(0), timeoutMs);
  const errorCode = apiVersions.getInt16(0);
  if (errorCode !== 0) throw new Error(`ApiVersions answered error code ${errorCode}`);
  if (!metadata) return;
  // Metadata v4: topics = null (all), allow_auto_topic_creation = false.
  const body = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0]);
  const response = await kafkaRequest(port, 3, 4, body, timeoutMs);
  const brokers = response.getInt32(4); // after throttle_time_ms
  if (brokers < 1) throw new Error("the broker lists no live broker yet");
}

// ---------------------------------------------------------------------------------------------
// The broker
// ---------------------------------------------------------------------------------------------

/** Options of {@link KafkaTestBroker.create}. */
export interface KafkaTestBrokerOptions {
  /**
   * Directory for the broker's config, log (`broker.log`) and data (`data/`). Default: a new
   * temporary directory, deleted by {@link KafkaTestBroker.dispose}. A directory given here is kept.
   */
  dataDir?: string;
  /** Port of the PLAINTEXT listener on 127.0.0.1. Default: a free port. */
  plaintextPort?: number;
  /** Port of the SASL_PLAINTEXT listener on 127.0.0.1. Default: a free port. */
  saslPort?: number;
  /** Whether the broker creates topics on first use (`auto.create.topics.enable`). Default true. */
  autoCreateTopics?: boolean;
  /** How long {@link KafkaTestBroker.start} waits for the broker to answer. Default 60 s. */
  startTimeoutMs?: number;
}

function freeLoopbackPorts(count: number): number[] {
  const listeners: Deno.Listener[] = [];
  try {
    for (let i = 0; i < count; i++) {
      listeners.push(Deno.listen({ hostname: "127.0.0.1", port: 0 }));
    }
    return listeners.map((listener) => (listener.addr as Deno.NetAddr).port);
  } finally {
    for (const listener of listeners) listener.close();
  }
}

const TEMP_PREFIX = "kafka-test-broker-";
const OWNER_FILE = "owner.pid";

/**
 * Deletes the temporary directories of brokers whose owning process is gone (killed before it
 * could dispose of them; its broker died with it). Best effort, Linux only (it asks /proc).
 */
async function removeOrphanedTempDirs(tempRoot: string): Promise<void> {
  if (Deno.build.os !== "linux") return;
  try {
    for await (const entry of Deno.readDir(tempRoot)) {
      if (!entry.isDirectory || !entry.name.startsWith(TEMP_PREFIX)) continue;
      const dir = join(tempRoot, entry.name);
      try {
        const pid = Number((await Deno.readTextFile(join(dir, OWNER_FILE))).trim());
        if (!Number.isInteger(pid) || pid <= 0 || pid === Deno.pid) continue;
        if (await exists(`/proc/${pid}`)) continue;
        await Deno.remove(dir, { recursive: true });
      } catch {
        // not ours, not readable, or removed meanwhile
      }
    }
  } catch {
    // the temp dir cannot be listed: nothing to clean
  }
}

/** A Kafka cluster id: 16 random bytes, base64url without padding (what `kafka-storage random-uuid` prints). */
function randomClusterId(): string {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const id = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
      .replace(/=+$/, "");
    if (!id.startsWith("-")) return id;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves to true when `promise` settles within `ms`, false otherwise (and leaves no timer). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise.then(() => true, () => true),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A single-node KRaft Kafka broker (broker and controller in one JVM) on 127.0.0.1, for tests.
 *
 * Create it with {@link KafkaTestBroker.create}, then {@link start}; {@link stop} and
 * {@link start} again keep the data and the ports; {@link kill} crashes it; {@link dispose} stops
 * it and deletes its temporary directory. The JVM is killed by the kernel if this process dies
 * (Linux), so a crashed test run leaves no broker behind.
 *
 * Note for `Deno.test`: a running broker is a child process (a resource with a pending op), so
 * create and dispose it in the test body, and give a `t.step` that calls {@link start}
 * `sanitizeOps: false, sanitizeResources: false`.
 */
export class KafkaTestBroker {
  /** The directory holding `server.properties`, `broker.log` and `data/`. */
  readonly dir: string;
  /** Port of the PLAINTEXT listener. */
  readonly plaintextPort: number;
  /** Port of the SASL_PLAINTEXT listener. */
  readonly saslPort: number;
  /** Port of the KRaft controller listener. */
  readonly controllerPort: number;
  /** Whether topics are created on first use. */
  readonly autoCreateTopics: boolean;
  /** The broker's log file (its stdout and stderr). */
  readonly logFile: string;

  readonly #jarsDir: string;
  readonly #ownsDir: boolean;
  readonly #startTimeoutMs: number;
  #child: Deno.ChildProcess | undefined;
  #status: Promise<Deno.CommandStatus> | undefined;
  #exited: Deno.CommandStatus | undefined;
  #disposed = false;

  private constructor(
    dir: string,
    ownsDir: boolean,
    jarsDir: string,
    ports: { plaintext: number; sasl: number; controller: number },
    autoCreateTopics: boolean,
    startTimeoutMs: number,
  ) {
    this.dir = dir;
    this.#ownsDir = ownsDir;
    this.#jarsDir = jarsDir;
    this.plaintextPort = ports.plaintext;
    this.saslPort = ports.sasl;
    this.controllerPort = ports.controller;
    this.autoCreateTopics = autoCreateTopics;
    this.#startTimeoutMs = startTimeoutMs;
    this.logFile = join(dir, "broker.log");
  }

  /**
   * Prepares a broker (downloading the jars if needed, see {@link ensureKafkaJars}) and picks its
   * ports. Nothing runs until {@link start}.
   */
  static async create(options: KafkaTestBrokerOptions = {}): Promise<KafkaTestBroker> {
    const jarsDir = await ensureKafkaJars();
    let dir: string;
    if (options.dataDir !== undefined) {
      dir = resolve(options.dataDir);
      await Deno.mkdir(dir, { recursive: true });
    } else {
      dir = await Deno.makeTempDir({ prefix: TEMP_PREFIX });
      await Deno.writeTextFile(join(dir, OWNER_FILE), `${Deno.pid}\n`);
      await removeOrphanedTempDirs(dirname(dir));
    }
    const free = freeLoopbackPorts(3);
    const ports = {
      plaintext: options.plaintextPort ?? free[0]!,
      sasl: options.saslPort ?? free[1]!,
      controller: free[2]!,
    };
    return new KafkaTestBroker(
      dir,
      options.dataDir === undefined,
      jarsDir,
      ports,
      options.autoCreateTopics ?? true,
      options.startTimeoutMs ?? START_TIMEOUT_MS,
    );
  }

  /** `127.0.0.1:PORT` of the PLAINTEXT listener (no authentication). */
  get bootstrap(): string {
    return `127.0.0.1:${this.plaintextPort}`;
  }

  /**
   * `127.0.0.1:PORT` of the SASL_PLAINTEXT listener: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 with
   * {@link SASL_USERNAME} / {@link SASL_PASSWORD}.
   */
  get saslBootstrap(): string {
    return `127.0.0.1:${this.saslPort}`;
  }

  /** Whether the broker process is running. */
  get running(): boolean {
    return this.#child !== undefined && this.#exited === undefined;
  }

  /** The broker JVM's process id while it runs. */
  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }

  #exitStatus(): Deno.CommandStatus | undefined {
    return this.#exited;
  }

  get #dataDir(): string {
    return join(this.dir, "data");
  }

  get #configFile(): string {
    return join(this.dir, "server.properties");
  }

  #serverProperties(): string {
    const jaas = (module: string, extra = "") =>
      `org.apache.kafka.common.security.${module} required${extra};`;
    const props: Record<string, string | number | boolean> = {
      "process.roles": "broker,controller",
      "node.id": 1,
      "controller.quorum.voters": `1@127.0.0.1:${this.controllerPort}`,
      "listeners": [
        `PLAINTEXT://127.0.0.1:${this.plaintextPort}`,
        `SASL_PLAINTEXT://127.0.0.1:${this.saslPort}`,
        `CONTROLLER://127.0.0.1:${this.controllerPort}`,
      ].join(","),
      "advertised.listeners":
        `PLAINTEXT://127.0.0.1:${this.plaintextPort},SASL_PLAINTEXT://127.0.0.1:${this.saslPort}`,
      "controller.listener.names": "CONTROLLER",
      "inter.broker.listener.name": "PLAINTEXT",
      "listener.security.protocol.map":
        "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
      "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
      "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas(
        "plain.PlainLoginModule",
        ` user_${SASL_USERNAME}="${SASL_PASSWORD}"`,
      ),
      "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": jaas(
        "scram.ScramLoginModule",
      ),
      "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": jaas(
        "scram.ScramLoginModule",
      ),
      "log.dirs": this.#dataDir,
      "num.partitions": 1,
      "default.replication.factor": 1,
      "offsets.topic.replication.factor": 1,
      "offsets.topic.num.partitions": 4,
      "transaction.state.log.replication.factor": 1,
      "transaction.state.log.min.isr": 1,
      "share.coordinator.state.topic.replication.factor": 1,
      "share.coordinator.state.topic.min.isr": 1,
      "group.initial.rebalance.delay.ms": 0,
      // After kill() the restarted broker cannot register until its previous incarnation's
      // session has expired (default 9 s): keep that short so that crash tests stay fast.
      "broker.session.timeout.ms": 3000,
      "broker.heartbeat.interval.ms": 500,
      "auto.create.topics.enable": this.autoCreateTopics,
    };
    const escape = (value: string) => value.replaceAll("\\", "\\\\");
    return "# Written by tools/kafka_broker.ts\n" +
      Object.entries(props).map(([key, value]) => `${key}=${escape(String(value))}`).join("\n") +
      "\n";
  }

  #javaArgs(mainClass: string, heap: string): string[] {
    return [
      `-Xmx${heap}`,
      // A short-lived test broker on a small machine: the serial GC and the C1 compiler alone
      // halve the start-up time (about 2.5 s instead of 5 s) at no cost that tests notice.
      "-XX:+UseSerialGC",
      "-XX:TieredStopAtLevel=1",
      "-Djava.awt.headless=true",
      `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
      "-cp",
      join(this.#jarsDir, "*"),
      mainClass,
    ];
  }

  async #formatStorage(): Promise<void> {
    if (await exists(join(this.#dataDir, "meta.properties"))) return;
    const scram = (mechanism: string) =>
      `${mechanism}=[name=${SASL_USERNAME},password=${SASL_PASSWORD}]`;
    const command = await parentBoundCommand("java", [
      ...this.#javaArgs("kafka.tools.StorageTool", "256m"),
      "format",
      "--cluster-id",
      randomClusterId(),
      "--config",
      this.#configFile,
      "--add-scram",
      scram("SCRAM-SHA-256"),
      "--add-scram",
      scram("SCRAM-SHA-512"),
    ], { stdin: "null", stdout: "piped", stderr: "piped" });
    const output = await command.output();
    if (!output.success) {
      const text = new TextDecoder().decode(output.stdout) +
        new TextDecoder().decode(output.stderr);
      throw new KafkaBrokerError(
        `Formatting the Kafka storage in ${this.#dataDir} failed (exit code ${output.code}):\n${
          lastLines(text, 30)
        }`,
      );
    }
  }

  /**
   * Starts the broker and waits until it serves requests on both listeners (a real Kafka request,
   * not a sleep). The first start formats the storage (with the SCRAM credentials); later starts,
   * after {@link stop} or {@link kill}, reuse the data and the ports.
   *
   * @throws {KafkaBrokerError} with the end of the broker's log if it dies or does not answer in
   * time (60 s by default); the broker is then killed.
   */
  async start(): Promise<void> {
    if (this.#disposed) throw new KafkaBrokerError("start() on a disposed KafkaTestBroker");
    if (this.running) return;
    await Deno.mkdir(this.#dataDir, { recursive: true });
    await Deno.writeTextFile(this.#configFile, this.#serverProperties());
    await this.#formatStorage();

    // The broker writes straight into the log file (no pipe through this process), so that it
    // neither blocks on a full pipe nor loses its log when this process goes away.
    await Deno.writeTextFile(
      this.logFile,
      `----- ${new Date().toISOString()} starting Kafka ${KAFKA_VERSION} -----\n`,
      { append: true },
    );
    const command = await parentBoundCommand("sh", [
      "-c",
      'log="$1"; shift; exec "$@" >>"$log" 2>&1',
      "sh",
      this.logFile,
      "java",
      ...this.#javaArgs("kafka.Kafka", "512m"),
      this.#configFile,
    ], { stdin: "null", stdout: "null", stderr: "null" });
    const child = command.spawn();
    this.#child = child;
    this.#exited = undefined;
    this.#status = child.status.then((status) => {
      if (this.#child === child) this.#exited = status;
      return status;
    });

    const deadline = Date.now() + this.#startTimeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      const status = this.#exitStatus();
      if (status) {
        this.#child = undefined;
        this.#status = undefined;
        throw new KafkaBrokerError(
          `The Kafka test broker exited during startup (exit code ${status.code}${
            status.signal ? `, signal ${status.signal}` : ""
          }). Last lines of ${this.logFile}:\n${await this.logTail()}`,
        );
      }
      try {
        await probeListener(this.plaintextPort, true);
        await probeListener(this.saslPort, false);
        return;
      } catch (error) {
        lastError = error;
      }
      await settlesWithin(this.#status, 200);
    }
    await this.kill();
    throw new KafkaBrokerError(
      `The Kafka test broker did not answer on ${this.bootstrap} within ${
        this.#startTimeoutMs / 1000
      } s (last probe: ${
        lastError instanceof Error ? lastError.message : String(lastError)
      }). Last lines of ${this.logFile}:\n${await this.logTail()}`,
    );
  }

  /**
   * Stops the broker gracefully: SIGTERM, then SIGKILL if it has not exited after 15 s. Does
   * nothing if it is not running.
   */
  async stop(): Promise<void> {
    await this.#terminate("SIGTERM");
  }

  /** Kills the broker at once (SIGKILL), as in a crash; {@link start} recovers its data. */
  async kill(): Promise<void> {
    await this.#terminate("SIGKILL");
  }

  async #terminate(signal: Deno.Signal): Promise<void> {
    const child = this.#child;
    const status = this.#status;
    if (!child || !status) return;
    if (!this.#exited) {
      try {
        child.kill(signal);
      } catch {
        // exited in the meantime
      }
      if (signal !== "SIGKILL" && !(await settlesWithin(status, STOP_TIMEOUT_MS))) {
        try {
          child.kill("SIGKILL");
        } catch {
          // exited in the meantime
        }
      }
    }
    await status;
    this.#child = undefined;
    this.#status = undefined;
    this.#exited = undefined;
  }

  /**
   * The last `lines` lines of the broker's log, without the frames of Java stack traces (their
   * exception and `Caused by:` lines stay).
   */
  async logTail(lines = 40): Promise<string> {
    try {
      const text = (await Deno.readTextFile(this.logFile)).split("\n")
        .filter((line) => !/^\s+(at |\.\.\. \d+ more)/.test(line)).join("\n");
      return lastLines(text, lines);
    } catch {
      return "(no broker log)";
    }
  }

  /**
   * Stops the broker and deletes its directory if {@link create} made it (a `dataDir` given to
   * {@link create} is kept). The broker cannot be started again.
   */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.stop();
    if (this.#ownsDir) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Same as {@link dispose}, for `await using broker = await KafkaTestBroker.create()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// CLI: `deno task kafka`
// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string" },
      "sasl-port": { type: "string" },
      "data-dir": { type: "string" },
      "no-auto-create-topics": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(`Usage: deno task kafka [options]

Starts a throwaway single-node Kafka ${KAFKA_VERSION} broker on 127.0.0.1 (localhost:${LOCAL_BROKER_PORT},
the engine's default broker) and runs until Ctrl+C.

Options:
  --port N                  PLAINTEXT port (default ${LOCAL_BROKER_PORT}, where the engine looks; 0: a free port)
  --sasl-port N             SASL_PLAINTEXT port (default: a free port)
  --data-dir DIR            keep config, log and data in DIR (kept afterwards; default: a temp dir)
  --no-auto-create-topics   auto.create.topics.enable=false`);
    return 0;
  }
  const port = (value: string | undefined, name: string) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new KafkaBrokerError(`bad --${name}`);
    return n;
  };

  const started = performance.now();
  const broker = await KafkaTestBroker.create({
    // Where the engine looks by default, so that `deno task kafka` then `deno task start` works.
    plaintextPort: values.port === "0"
      ? undefined
      : port(values.port ?? `${LOCAL_BROKER_PORT}`, "port"),
    saslPort: port(values["sasl-port"], "sasl-port"),
    dataDir: values["data-dir"],
    autoCreateTopics: !values["no-auto-create-topics"],
  });
  let stopping: Promise<void> | undefined;
  const shutdown = () => stopping ??= broker.dispose();
  const onSignal = () => {
    console.log("\nStopping the Kafka broker ...");
    shutdown().then(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await broker.start();
  } catch (error) {
    await shutdown();
    throw error;
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`Kafka ${KAFKA_VERSION} test broker is up (${seconds} s).
  PLAINTEXT       ${broker.bootstrap}
  SASL_PLAINTEXT  ${broker.saslBootstrap}  (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512: ${SASL_USERNAME} / ${SASL_PASSWORD})
  log             ${broker.logFile}

  export KAFKA_BROKER=${broker.bootstrap} KAFKA_SASL_BROKER=${broker.saslBootstrap}

Press Ctrl+C to stop.`);

  // Run until a signal stops us, or report the broker's death.
  for (;;) {
    await sleep(1000);
    if (stopping) {
      await stopping;
      return 0;
    }
    if (!broker.running) {
      console.error(`The Kafka broker exited. Last lines of its log:\n${await broker.logTail()}`);
      await shutdown();
      return 1;
    }
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    console.error(error instanceof KafkaBrokerError ? `error: ${error.message}` : error);
    Deno.exit(1);
  }
}
