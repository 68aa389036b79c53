/**
 * A throwaway single-node Apache Kafka 4.2.2 broker (KRaft, broker and controller in one JVM) on
 * loopback, for the test suite and for local development.
 *
 * The broker's jars come from Maven Central (see `tools/kafka/pom.xml`) and are cached once in
 * `.cache/kafka-4.2.2/jars`; Java 17+ and Maven are needed. Each broker listens on
 *
 * - `bootstrap`: PLAINTEXT, no authentication;
 * - `saslBootstrap`: SASL_PLAINTEXT, accepting PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 with the user
 *   {@link SASL_USERNAME} / {@link SASL_PASSWORD};
 * - `sslBootstrap`: SSL (TLS, no client certificate), with a certificate for `127.0.0.1` and
 *   `localhost` signed by a throwaway CA whose PEM is `sslCaFile` (the engine's
 *   `--kafka-ssl-ca-file`). `keytool` makes both when the broker is created (about 1 s), once per
 *   broker directory.
 *
 * For fault injection, the PLAINTEXT listener can advertise the port of a proxy in front of it
 * (`advertisedPlaintextPort`, see `tests/support/tcp_proxy.ts`); `directBootstrap` is then a
 * PLAINTEXT listener that no proxy stands in front of.
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
 * Ctrl+C; `deno task kafka --cluster 3` starts a three-node cluster instead (see
 * `kafka_cluster.ts`).
 *
 * @module
 */

import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  ensureKafkaJars,
  exists,
  freeLoopbackPorts,
  KAFKA_VERSION,
  KafkaBrokerError,
  KafkaJvm,
  type KafkaProperties,
  makeOwnedTempDir,
  randomClusterId,
} from "./_kafka_jvm.ts";
import { aliveBrokerIds, probeApiVersions } from "./_kafka_protocol.ts";
import { KafkaTestCluster } from "./kafka_cluster.ts";
import {
  createCertificateAuthority,
  createServerKeyStore,
  STORE_PASSWORD,
} from "./test_certificates.ts";

export {
  checkJava,
  ensureKafkaJars,
  freeLoopbackPorts,
  KAFKA_JARS_DIR,
  KAFKA_VERSION,
  KafkaBrokerError,
  parentBoundCommand,
} from "./_kafka_jvm.ts";

/** The PLAINTEXT port of `deno task kafka`: the engine's default broker is localhost:9092. */
export const LOCAL_BROKER_PORT = 9092;
/** User name accepted on the SASL listener (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512). */
export const SASL_USERNAME = "engine";
/** Password of {@link SASL_USERNAME} on the SASL listener. */
export const SASL_PASSWORD = "engine-secret";

const START_TIMEOUT_MS = 60_000;
const TEMP_PREFIX = "kafka-test-broker-";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Options of {@link KafkaTestBroker.create}. */
export interface KafkaTestBrokerOptions {
  /**
   * Directory for the broker's config, log (`broker.log`) and data (`data/`). Default: a new
   * temporary directory, deleted by {@link KafkaTestBroker.dispose}. A directory given here is kept.
   */
  dataDir?: string;
  /** Port of the PLAINTEXT listener on 127.0.0.1. Default: a free port. */
  plaintextPort?: number;
  /**
   * The port the PLAINTEXT listener advertises instead of its own: that of a proxy in front of it
   * (`tests/support/tcp_proxy.ts`) that forwards to {@link KafkaTestBroker.plaintextPort}. Kafka
   * clients connect to the advertised address after bootstrap, so without this they would bypass
   * the proxy. {@link KafkaTestBroker.bootstrap} is then the proxy's address, and the broker opens
   * one more PLAINTEXT listener, {@link KafkaTestBroker.directBootstrap}, that no proxy stands in
   * front of (for the broker itself and for observers such as a Central double). Default: none.
   */
  advertisedPlaintextPort?: number;
  /** Port of the SASL_PLAINTEXT listener on 127.0.0.1. Default: a free port. */
  saslPort?: number;
  /** Port of the SSL listener on 127.0.0.1. Default: a free port. */
  sslPort?: number;
  /** Whether the broker creates topics on first use (`auto.create.topics.enable`). Default true. */
  autoCreateTopics?: boolean;
  /** How long {@link KafkaTestBroker.start} waits for the broker to answer. Default 60 s. */
  startTimeoutMs?: number;
}

/** The ports of a {@link KafkaTestBroker}'s listeners. */
interface BrokerPorts {
  readonly plaintext: number;
  readonly advertisedPlaintext: number;
  readonly direct: number;
  readonly sasl: number;
  readonly ssl: number;
  readonly controller: number;
}

/** The SSL listener's key store and the CA that signed it. */
interface BrokerTls {
  readonly keyStore: string;
  readonly caFile: string;
  readonly caPem: string;
}

const TLS_DIR = "tls";
const CA_NAME = "Kafka test broker CA";

/**
 * The SSL listener's certificates in `dir/tls/`, made with keytool the first time (into a private
 * directory renamed into place when complete) and reused after that.
 */
async function ensureBrokerTls(dir: string): Promise<BrokerTls> {
  const tlsDir = join(dir, TLS_DIR);
  const keyStore = join(tlsDir, "server.p12");
  const caFile = join(tlsDir, "ca.pem");
  try {
    return { keyStore, caFile, caPem: await Deno.readTextFile(caFile) };
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const tmp = `${tlsDir}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(tmp);
  try {
    const ca = createCertificateAuthority(tmp, CA_NAME);
    await createServerKeyStore(tmp, ca);
    await Deno.rename((await ca).pemFile, join(tmp, "ca.pem"));
    try {
      await Deno.rename(tmp, tlsDir);
    } catch (error) {
      // Another process made them first (a shared `dataDir`): use its copy.
      if (!(await exists(caFile))) throw error;
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return { keyStore, caFile, caPem: await Deno.readTextFile(caFile) };
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
  /** Port of the PLAINTEXT listener (where a proxy in front of it forwards to). */
  readonly plaintextPort: number;
  /** The port the PLAINTEXT listener advertises: {@link plaintextPort} unless a proxy's. */
  readonly advertisedPlaintextPort: number;
  /**
   * Port of the PLAINTEXT listener that is never proxied: {@link plaintextPort} unless
   * {@link KafkaTestBrokerOptions.advertisedPlaintextPort} was given, else a listener of its own.
   */
  readonly directPort: number;
  /** Port of the SASL_PLAINTEXT listener. */
  readonly saslPort: number;
  /** Port of the SSL listener. */
  readonly sslPort: number;
  /**
   * PEM file of the CA that signed the SSL listener's certificate (in the broker directory): what
   * a client trusts, e.g. the engine's `--kafka-ssl-ca-file` (after a copy under `./secrets`).
   */
  readonly sslCaFile: string;
  /** Port of the KRaft controller listener. */
  readonly controllerPort: number;
  /** Whether topics are created on first use. */
  readonly autoCreateTopics: boolean;
  /** The broker's log file (its stdout and stderr). */
  readonly logFile: string;

  readonly #ownsDir: boolean;
  readonly #jvm: KafkaJvm;
  readonly #sslKeyStore: string;
  readonly #sslCaPem: string;
  readonly #clusterId = randomClusterId();
  #disposed = false;

  private constructor(
    dir: string,
    ownsDir: boolean,
    jarsDir: string,
    ports: BrokerPorts,
    tls: BrokerTls,
    autoCreateTopics: boolean,
    startTimeoutMs: number,
  ) {
    this.dir = dir;
    this.#ownsDir = ownsDir;
    this.plaintextPort = ports.plaintext;
    this.advertisedPlaintextPort = ports.advertisedPlaintext;
    this.directPort = ports.direct;
    this.saslPort = ports.sasl;
    this.sslPort = ports.ssl;
    this.sslCaFile = tls.caFile;
    this.#sslCaPem = tls.caPem;
    this.#sslKeyStore = tls.keyStore;
    this.controllerPort = ports.controller;
    this.autoCreateTopics = autoCreateTopics;
    this.#jvm = new KafkaJvm({
      dir,
      jarsDir,
      label: "The Kafka test broker",
      heap: "512m",
      logName: "broker.log",
      startTimeoutMs,
    });
    this.logFile = this.#jvm.logFile;
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
      dir = await makeOwnedTempDir(TEMP_PREFIX);
    }
    const chosen = [
      options.plaintextPort,
      options.advertisedPlaintextPort,
      options.saslPort,
      options.sslPort,
    ].filter((port) => port !== undefined);
    const free = freeLoopbackPorts(5, chosen);
    const plaintext = options.plaintextPort ?? free[0]!;
    const proxied = options.advertisedPlaintextPort !== undefined &&
      options.advertisedPlaintextPort !== plaintext;
    const ports: BrokerPorts = {
      plaintext,
      advertisedPlaintext: options.advertisedPlaintextPort ?? plaintext,
      direct: proxied ? free[4]! : plaintext,
      sasl: options.saslPort ?? free[1]!,
      ssl: options.sslPort ?? free[2]!,
      controller: free[3]!,
    };
    return new KafkaTestBroker(
      dir,
      options.dataDir === undefined,
      jarsDir,
      ports,
      await ensureBrokerTls(dir),
      options.autoCreateTopics ?? true,
      options.startTimeoutMs ?? START_TIMEOUT_MS,
    );
  }

  /**
   * `127.0.0.1:PORT` of the PLAINTEXT listener (no authentication), as it advertises itself: the
   * proxy's address when {@link KafkaTestBrokerOptions.advertisedPlaintextPort} was given.
   */
  get bootstrap(): string {
    return `127.0.0.1:${this.advertisedPlaintextPort}`;
  }

  /**
   * `127.0.0.1:PORT` of a PLAINTEXT listener that no proxy stands in front of: {@link bootstrap}
   * unless {@link KafkaTestBrokerOptions.advertisedPlaintextPort} was given.
   */
  get directBootstrap(): string {
    return `127.0.0.1:${this.directPort}`;
  }

  /**
   * `127.0.0.1:PORT` of the SASL_PLAINTEXT listener: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 with
   * {@link SASL_USERNAME} / {@link SASL_PASSWORD}.
   */
  get saslBootstrap(): string {
    return `127.0.0.1:${this.saslPort}`;
  }

  /**
   * `127.0.0.1:PORT` of the SSL listener (TLS, no client certificate, no SASL). Its certificate is
   * valid for `127.0.0.1` and `localhost` and signed by the CA in {@link sslCaFile}.
   */
  get sslBootstrap(): string {
    return `127.0.0.1:${this.sslPort}`;
  }

  /** Whether the broker process is running. */
  get running(): boolean {
    return this.#jvm.running;
  }

  /** The broker JVM's process id while it runs. */
  get pid(): number | undefined {
    return this.#jvm.pid;
  }

  #serverProperties(): KafkaProperties {
    const jaas = (module: string, extra = "") =>
      `org.apache.kafka.common.security.${module} required${extra};`;
    // Behind a proxy, the broker's own traffic goes through a listener of its own (DIRECT).
    const direct = this.directPort !== this.plaintextPort;
    const listeners = [
      `PLAINTEXT://127.0.0.1:${this.plaintextPort}`,
      `SASL_PLAINTEXT://127.0.0.1:${this.saslPort}`,
      `SSL://127.0.0.1:${this.sslPort}`,
      ...(direct ? [`DIRECT://127.0.0.1:${this.directPort}`] : []),
    ];
    return {
      "process.roles": "broker,controller",
      "node.id": 1,
      "controller.quorum.voters": `1@127.0.0.1:${this.controllerPort}`,
      "listeners": [...listeners, `CONTROLLER://127.0.0.1:${this.controllerPort}`].join(","),
      "advertised.listeners": listeners.join(",").replace(
        `PLAINTEXT://127.0.0.1:${this.plaintextPort}`,
        `PLAINTEXT://127.0.0.1:${this.advertisedPlaintextPort}`,
      ),
      "controller.listener.names": "CONTROLLER",
      "inter.broker.listener.name": direct ? "DIRECT" : "PLAINTEXT",
      "listener.security.protocol.map": [
        "PLAINTEXT:PLAINTEXT",
        "CONTROLLER:PLAINTEXT",
        "SASL_PLAINTEXT:SASL_PLAINTEXT",
        "SSL:SSL",
        ...(direct ? ["DIRECT:PLAINTEXT"] : []),
      ].join(","),
      "listener.name.ssl.ssl.keystore.type": "PKCS12",
      "listener.name.ssl.ssl.keystore.location": this.#sslKeyStore,
      "listener.name.ssl.ssl.keystore.password": STORE_PASSWORD,
      "listener.name.ssl.ssl.key.password": STORE_PASSWORD,
      "listener.name.ssl.ssl.client.auth": "none",
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
  }

  /**
   * Starts the broker and waits until it serves requests on all listeners (a real Kafka request,
   * not a sleep; over TLS checked against {@link sslCaFile} on the SSL listener). The first start formats the storage (with the SCRAM credentials); later starts,
   * after {@link stop} or {@link kill}, reuse the data and the ports.
   *
   * @throws {KafkaBrokerError} with the end of the broker's log if it dies or does not answer in
   * time (60 s by default); the broker is then killed.
   */
  async start(): Promise<void> {
    if (this.#disposed) throw new KafkaBrokerError("start() on a disposed KafkaTestBroker");
    const scram = (mechanism: string) =>
      `${mechanism}=[name=${SASL_USERNAME},password=${SASL_PASSWORD}]`;
    await this.#jvm.start({
      properties: this.#serverProperties(),
      clusterId: this.#clusterId,
      formatArgs: ["--add-scram", scram("SCRAM-SHA-256"), "--add-scram", scram("SCRAM-SHA-512")],
      ready: async () => {
        // Straight to the listeners (a proxy in front may not run yet, or hold traffic).
        const ids = await aliveBrokerIds({ port: this.directPort });
        if (ids.length < 1) throw new Error("the broker lists no live broker yet");
        await probeApiVersions({ port: this.plaintextPort });
        await probeApiVersions({ port: this.saslPort });
        await probeApiVersions({ port: this.sslPort, tlsCaPem: this.#sslCaPem });
      },
    });
  }

  /**
   * Stops the broker gracefully: SIGTERM, then SIGKILL if it has not exited after 15 s. Does
   * nothing if it is not running.
   */
  async stop(): Promise<void> {
    await this.#jvm.stop();
  }

  /** Kills the broker at once (SIGKILL), as in a crash; {@link start} recovers its data. */
  async kill(): Promise<void> {
    await this.#jvm.kill();
  }

  /**
   * The last `lines` lines of the broker's log, without the frames of Java stack traces (their
   * exception and `Caused by:` lines stay).
   */
  logTail(lines = 40): Promise<string> {
    return this.#jvm.logTail(lines);
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

/** What `deno task kafka` runs until Ctrl+C: a broker or a cluster. */
interface RunningKafka {
  dispose(): Promise<void>;
  /** Why it cannot serve any more (a JVM died), or null while it runs. */
  failure(): Promise<string | null>;
}

/** Runs `kafka` until SIGINT or SIGTERM (exit code 0), or until it fails (exit code 1). */
async function runUntilSignal(
  create: () => Promise<RunningKafka & { start(): Promise<void> }>,
  describe: (seconds: string) => string,
): Promise<number> {
  const started = performance.now();
  const kafka = await create();
  let stopping: Promise<void> | undefined;
  const shutdown = () => stopping ??= kafka.dispose();
  const onSignal = () => {
    console.log("\nStopping Kafka ...");
    shutdown().then(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await kafka.start();
  } catch (error) {
    await shutdown();
    throw error;
  }
  console.log(describe(((performance.now() - started) / 1000).toFixed(1)));

  // Run until a signal stops us, or report a death.
  for (;;) {
    await sleep(1000);
    if (stopping) {
      await stopping;
      return 0;
    }
    const failure = await kafka.failure();
    if (failure !== null) {
      console.error(failure);
      await shutdown();
      return 1;
    }
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string" },
      "sasl-port": { type: "string" },
      "ssl-port": { type: "string" },
      "advertised-port": { type: "string" },
      "data-dir": { type: "string" },
      "no-auto-create-topics": { type: "boolean", default: false },
      cluster: { type: "string" },
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
  --ssl-port N              SSL port (default: a free port)
  --advertised-port N       advertise PLAINTEXT at port N (a fault-injecting proxy in front, see
                            tests/support/tcp_proxy.ts); adds an unproxied PLAINTEXT listener
  --data-dir DIR            keep config, log and data in DIR (kept afterwards; default: a temp dir)
  --no-auto-create-topics   auto.create.topics.enable=false
  --cluster N               instead, a cluster of N KRaft nodes (each broker and controller;
                            replication factor 3, min.insync.replicas 2; PLAINTEXT only);
                            only --data-dir applies to it`);
    return 0;
  }
  const port = (value: string | undefined, name: string) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 65535) {
      throw new KafkaBrokerError(`Bad --${name} "${value}": expected a port number, 1 to 65535`);
    }
    return n;
  };

  if (values.cluster !== undefined) {
    const nodes = Number(values.cluster);
    if (!Number.isInteger(nodes)) {
      throw new KafkaBrokerError(`Bad --cluster "${values.cluster}": expected a number of nodes`);
    }
    let cluster: KafkaTestCluster | undefined;
    return await runUntilSignal(async () => {
      cluster = await KafkaTestCluster.create({ nodes, dataDir: values["data-dir"] });
      const running = cluster;
      return {
        start: () => running.start(),
        dispose: () => running.dispose(),
        failure: async () => {
          const dead = running.nodes.find((node) => !running.isRunning(node.id));
          if (dead === undefined) return null;
          return `Node ${dead.id} of the Kafka cluster exited. Last lines of its log:\n${await running
            .logTail(dead.id)}`;
        },
      };
    }, (seconds) => {
      const lines = cluster!.nodes.map((node) =>
        `  node ${node.id}  127.0.0.1:${node.port}  (controller 127.0.0.1:${node.controllerPort}, log ${node.logFile})`
      );
      return `Kafka ${KAFKA_VERSION} test cluster of ${nodes} nodes is up (${seconds} s).
${lines.join("\n")}

  export KAFKA_BROKER=${cluster!.bootstrap}

Press Ctrl+C to stop.`;
    });
  }

  let broker: KafkaTestBroker | undefined;
  return await runUntilSignal(async () => {
    broker = await KafkaTestBroker.create({
      // Where the engine looks by default, so that `deno task kafka` then `deno task start` works.
      plaintextPort: values.port === "0"
        ? undefined
        : port(values.port ?? `${LOCAL_BROKER_PORT}`, "port"),
      saslPort: port(values["sasl-port"], "sasl-port"),
      sslPort: port(values["ssl-port"], "ssl-port"),
      advertisedPlaintextPort: port(values["advertised-port"], "advertised-port"),
      dataDir: values["data-dir"],
      autoCreateTopics: !values["no-auto-create-topics"],
    });
    const running = broker;
    return {
      start: () => running.start(),
      dispose: () => running.dispose(),
      failure: async () =>
        running.running
          ? null
          : `The Kafka broker exited. Last lines of its log:\n${await running.logTail()}`,
    };
  }, (seconds) => {
    const b = broker!;
    return `Kafka ${KAFKA_VERSION} test broker is up (${seconds} s).
  PLAINTEXT       ${b.bootstrap}${
      b.directPort === b.plaintextPort
        ? ""
        : ` (advertised; the listener is 127.0.0.1:${b.plaintextPort})
  PLAINTEXT       ${b.directBootstrap} (direct, never proxied)`
    }
  SASL_PLAINTEXT  ${b.saslBootstrap}  (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512: ${SASL_USERNAME} / ${SASL_PASSWORD})
  SSL             ${b.sslBootstrap}  (CA: ${b.sslCaFile})
  log             ${b.logFile}

  export KAFKA_BROKER=${b.bootstrap} KAFKA_SASL_BROKER=${b.saslBootstrap}
  export KAFKA_SSL_BROKER=${b.sslBootstrap} KAFKA_SSL_CA_FILE=${b.sslCaFile}

Press Ctrl+C to stop.`;
  });
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    console.error(error instanceof KafkaBrokerError ? `error: ${error.message}` : error);
    Deno.exit(1);
  }
}
