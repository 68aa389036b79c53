/**
 * What the test broker (`kafka_broker.ts`) and the test cluster (`kafka_cluster.ts`) share: the
 * Kafka jars from Maven Central, child processes bound to this one, temporary directories, and
 * {@linkcode KafkaJvm}, one Kafka server process (format, start, wait, stop, kill, log).
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The Apache Kafka version of the test broker and cluster. */
export const KAFKA_VERSION = "4.2.2";

const TOOLS_DIR = fileURLToPath(new URL(".", import.meta.url));
const REPO_ROOT = resolve(TOOLS_DIR, "..");
const POM_FILE = join(TOOLS_DIR, "kafka", "pom.xml");
const LOG4J_CONFIG = join(TOOLS_DIR, "kafka", "log4j2.yaml");

/** Where {@link ensureKafkaJars} keeps the broker's class path (inside the repo, gitignored). */
export const KAFKA_JARS_DIR = join(REPO_ROOT, ".cache", `kafka-${KAFKA_VERSION}`, "jars");

const COMPLETE_MARKER = ".complete";
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
// Small helpers
// ---------------------------------------------------------------------------------------------

/** Whether `path` exists (any other error than NotFound is thrown). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** The last `count` lines of `text`, without trailing blank space. */
export function lastLines(text: string, count: number): string {
  const lines = text.replace(/\s+$/, "").split("\n");
  return lines.slice(-count).join("\n");
}

/** Resolves to true when `promise` settles within `ms`, false otherwise (and leaves no timer). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
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

/** Where ports are picked when the system's ephemeral range cannot be read (Linux's default). */
const DEFAULT_EPHEMERAL_RANGE: readonly [number, number] = [32768, 60999];
/** The lowest port picked: above the usual fixed service ports. */
const LOWEST_PORT = 15000;

/** The system's range of ephemeral ports (Linux: /proc), or Linux's default elsewhere. */
function ephemeralPortRange(): readonly [number, number] {
  try {
    const text = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range");
    const [low, high] = text.trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && Number.isInteger(low) && low <= high) {
      return [low, high];
    }
  } catch {
    // not Linux, or not readable
  }
  return DEFAULT_EPHEMERAL_RANGE;
}

/**
 * `count` distinct TCP ports that are free on 127.0.0.1 right now, none of them in `exclude`.
 *
 * They are picked at random outside the system's ephemeral range, because a server binds them
 * only later (a JVM start takes seconds) and the ephemeral range is where the system takes the
 * local port of every outgoing connection meanwhile: the cluster's nodes keep connecting to each
 * other while they start, and one of them once took a port a node was about to listen on.
 */
export function freeLoopbackPorts(count: number, exclude: readonly number[] = []): number[] {
  const [ephemeralLow, ephemeralHigh] = ephemeralPortRange();
  const ranges: [number, number][] = [
    [LOWEST_PORT, Math.min(ephemeralLow, 65536) - 1],
    [Math.max(ephemeralHigh + 1, LOWEST_PORT), 65535],
  ];
  const candidates = ranges.filter(([low, high]) => high - low > 1000);
  const listeners: Deno.Listener[] = [];
  try {
    const ports: number[] = [];
    for (let attempt = 0; ports.length < count; attempt++) {
      let port = 0; // the system's choice, when there is no room outside the ephemeral range
      if (candidates.length > 0 && attempt < 1000) {
        const size = candidates.reduce((sum, [low, high]) => sum + high - low + 1, 0);
        let pick = Math.floor(Math.random() * size);
        for (const [low, high] of candidates) {
          if (pick <= high - low) {
            port = low + pick;
            break;
          }
          pick -= high - low + 1;
        }
      }
      if (exclude.includes(port) || ports.includes(port)) continue;
      let listener: Deno.Listener;
      try {
        listener = Deno.listen({ hostname: "127.0.0.1", port });
      } catch (error) {
        if (error instanceof Deno.errors.AddrInUse) continue;
        throw error;
      }
      listeners.push(listener); // held open until the end, so that it is not picked twice
      const bound = (listener.addr as Deno.NetAddr).port;
      if (!exclude.includes(bound)) ports.push(bound);
    }
    return ports;
  } finally {
    for (const listener of listeners) listener.close();
  }
}

/** A Kafka cluster id: 16 random bytes, base64url without padding (what `kafka-storage random-uuid` prints). */
export function randomClusterId(): string {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const id = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
      .replace(/=+$/, "");
    if (!id.startsWith("-")) return id;
  }
}

// ---------------------------------------------------------------------------------------------
// Installation
// ---------------------------------------------------------------------------------------------

/**
 * Runs `command` with `args` (stdin closed, output captured). A command that is not on PATH is
 * the {@linkcode KafkaBrokerError} `missing` (what to install); any other failure to start it is
 * thrown as it is. The caller judges the exit code.
 */
export async function runTool(
  command: string,
  args: readonly string[],
  missing: string,
): Promise<Deno.CommandOutput> {
  try {
    return await new Deno.Command(command, {
      args: [...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new KafkaBrokerError(missing);
    throw error;
  }
}

let javaChecked: Promise<void> | undefined;

/**
 * Checks that `java` is on PATH and is Java 17 or newer.
 *
 * @throws {KafkaBrokerError} with an installation hint otherwise.
 */
export function checkJava(): Promise<void> {
  javaChecked ??= (async () => {
    const output = await runTool(
      "java",
      ["-version"],
      `Java 17+ is required to start the test Kafka broker: \`java\` was not found on PATH (${JAVA_HINT})`,
    );
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
    const output = await runTool(
      "mvn",
      [
        "-q",
        "-B",
        "-f",
        POM_FILE,
        "dependency:copy-dependencies",
        `-DoutputDirectory=${tmp}`,
        "-DincludeScope=runtime",
      ],
      "Maven is required to download the test Kafka broker: `mvn` was not found on PATH (install Maven, e.g. the Debian package maven, or set KAFKA_BROKER=host:port to use an existing broker)",
    );
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
// Temporary directories
// ---------------------------------------------------------------------------------------------

const OWNER_FILE = "owner.pid";

/**
 * Deletes the temporary directories named `prefix*` whose owning process is gone (killed before
 * it could dispose of them; its brokers died with it). Best effort, Linux only (it asks /proc).
 */
async function removeOrphanedTempDirs(tempRoot: string, prefix: string): Promise<void> {
  if (Deno.build.os !== "linux") return;
  try {
    for await (const entry of Deno.readDir(tempRoot)) {
      if (!entry.isDirectory || !entry.name.startsWith(prefix)) continue;
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

/**
 * Makes a temporary directory `prefix*` owned by this process, and deletes the ones earlier
 * processes left behind when they were killed before they could clean up.
 */
export async function makeOwnedTempDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  await Deno.writeTextFile(join(dir, OWNER_FILE), `${Deno.pid}\n`);
  await removeOrphanedTempDirs(dirname(dir), prefix);
  return dir;
}

// ---------------------------------------------------------------------------------------------
// One Kafka server process
// ---------------------------------------------------------------------------------------------

/** Server properties, written one `key=value` a line. */
export type KafkaProperties = Record<string, string | number | boolean>;

/** What {@linkcode KafkaJvm} needs to know about its server. */
export interface KafkaJvmOptions {
  /** Directory of `server.properties`, the log file and `data/`. */
  readonly dir: string;
  /** The directory {@linkcode ensureKafkaJars} returned. */
  readonly jarsDir: string;
  /** What to call the server in errors, e.g. "The Kafka test broker". */
  readonly label: string;
  /** Maximum heap of the server JVM, e.g. `512m`. */
  readonly heap: string;
  /** The log file's name inside `dir`. */
  readonly logName: string;
  /** How long {@linkcode KafkaJvm.start} waits for `ready`. */
  readonly startTimeoutMs: number;
}

/** How a server is formatted the first time and when it counts as started. */
export interface KafkaStartPlan {
  /** The server's properties (`log.dirs` is set by {@linkcode KafkaJvm}). */
  readonly properties: KafkaProperties;
  /** The cluster id to format the storage with (all nodes of one cluster share it). */
  readonly clusterId: string;
  /** More arguments of `kafka-storage format`, e.g. `--add-scram`. */
  readonly formatArgs?: readonly string[];
  /** Resolves when the server serves what it should; throws (with why) while it does not. */
  readonly ready: () => Promise<void>;
}

/**
 * One Kafka server JVM (KRaft) writing into its own directory. The JVM is bound to this process
 * (see {@linkcode parentBoundCommand}) and writes straight into its log file.
 */
export class KafkaJvm {
  /** The server's log file (its stdout and stderr). */
  readonly logFile: string;
  /** Directory of the server's data (`log.dirs`). */
  readonly dataDir: string;
  readonly #options: KafkaJvmOptions;
  #child: Deno.ChildProcess | undefined;
  #status: Promise<Deno.CommandStatus> | undefined;
  #exited: Deno.CommandStatus | undefined;

  /** Prepares the paths; nothing runs until {@linkcode KafkaJvm.start}. */
  constructor(options: KafkaJvmOptions) {
    this.#options = options;
    this.logFile = join(options.dir, options.logName);
    this.dataDir = join(options.dir, "data");
  }

  /** Whether the JVM is running. */
  get running(): boolean {
    return this.#child !== undefined && this.#exited === undefined;
  }

  /** The JVM's process id while it runs. */
  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }

  get #configFile(): string {
    return join(this.#options.dir, "server.properties");
  }

  /** A method, so that TypeScript does not narrow the field across the awaits of the start loop. */
  #exitStatus(): Deno.CommandStatus | undefined {
    return this.#exited;
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
      join(this.#options.jarsDir, "*"),
      mainClass,
    ];
  }

  async #formatStorage(plan: KafkaStartPlan): Promise<void> {
    if (await exists(join(this.dataDir, "meta.properties"))) return;
    const command = await parentBoundCommand("java", [
      ...this.#javaArgs("kafka.tools.StorageTool", "256m"),
      "format",
      "--cluster-id",
      plan.clusterId,
      "--config",
      this.#configFile,
      ...(plan.formatArgs ?? []),
    ], { stdin: "null", stdout: "piped", stderr: "piped" });
    const output = await command.output();
    if (!output.success) {
      const text = new TextDecoder().decode(output.stdout) +
        new TextDecoder().decode(output.stderr);
      throw new KafkaBrokerError(
        `Formatting the Kafka storage in ${this.dataDir} failed (exit code ${output.code}):\n${
          lastLines(text, 30)
        }`,
      );
    }
  }

  /**
   * Writes the properties, formats the storage the first time, starts the JVM and waits until
   * `plan.ready` resolves. Does nothing when the JVM already runs.
   *
   * @throws {KafkaBrokerError} with the end of the log if the JVM dies or is not ready in time;
   * it is then killed.
   */
  async start(plan: KafkaStartPlan): Promise<void> {
    if (this.running) return;
    await Deno.mkdir(this.dataDir, { recursive: true });
    const properties: KafkaProperties = { ...plan.properties, "log.dirs": this.dataDir };
    const escape = (value: string) => value.replaceAll("\\", "\\\\");
    await Deno.writeTextFile(
      this.#configFile,
      "# Written by tools/_kafka_jvm.ts\n" +
        Object.entries(properties).map(([key, value]) => `${key}=${escape(String(value))}`)
          .join("\n") +
        "\n",
    );
    await this.#formatStorage(plan);

    // The server writes straight into the log file (no pipe through this process), so that it
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
      ...this.#javaArgs("kafka.Kafka", this.#options.heap),
      this.#configFile,
    ], { stdin: "null", stdout: "null", stderr: "null" });
    const child = command.spawn();
    this.#child = child;
    this.#exited = undefined;
    this.#status = child.status.then((status) => {
      if (this.#child === child) this.#exited = status;
      return status;
    });

    const { label, startTimeoutMs } = this.#options;
    const deadline = Date.now() + startTimeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      const status = this.#exitStatus();
      if (status) {
        this.#child = undefined;
        this.#status = undefined;
        throw new KafkaBrokerError(
          `${label} exited during startup (exit code ${status.code}${
            status.signal ? `, signal ${status.signal}` : ""
          }). Last lines of ${this.logFile}:\n${await this.logTail()}`,
        );
      }
      try {
        await plan.ready();
        return;
      } catch (error) {
        lastError = error;
      }
      await settlesWithin(this.#status, 200);
    }
    await this.kill();
    throw new KafkaBrokerError(
      `${label} was not ready within ${startTimeoutMs / 1000} s (last probe: ${
        lastError instanceof Error ? lastError.message : String(lastError)
      }). Last lines of ${this.logFile}:\n${await this.logTail()}`,
    );
  }

  /**
   * Stops the JVM gracefully: SIGTERM, then SIGKILL if it has not exited after 15 s. Does
   * nothing if it is not running.
   */
  async stop(): Promise<void> {
    await this.#terminate("SIGTERM");
  }

  /** Kills the JVM at once (SIGKILL), as in a crash. */
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
   * The last `lines` lines of the log, without the frames of Java stack traces (their exception
   * and `Caused by:` lines stay).
   */
  async logTail(lines = 40): Promise<string> {
    try {
      const text = (await Deno.readTextFile(this.logFile)).split("\n")
        .filter((line) => !/^\s+(at |\.\.\. \d+ more)/.test(line)).join("\n");
      return lastLines(text, lines);
    } catch {
      return "(no log)";
    }
  }
}
