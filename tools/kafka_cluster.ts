/**
 * A throwaway Apache Kafka cluster on loopback, for failover tests: three KRaft nodes (by
 * default), each broker and controller in one JVM, so that the controllers form a 3-voter quorum.
 * Topics are replicated to all three nodes with `min.insync.replicas=2`, so a producer with
 * `acks=all` goes on writing while any one node is down.
 *
 * ```ts
 * const cluster = await KafkaTestCluster.create();
 * try {
 *   await cluster.start();
 *   // ... produce to cluster.brokers (kafkajs) or cluster.bootstrap (the engine) ...
 *   const leader = await cluster.leaderOf("my-topic", 0);
 *   await cluster.killNode(leader); // the partition fails over to another node
 *   await cluster.startNode(leader); // same ports, same data; it catches up
 *   await cluster.killNode(await cluster.activeController()); // a new controller is elected
 * } finally {
 *   await cluster.dispose();
 * }
 * ```
 *
 * Keep at most one node down at a time: with two of three down there is neither a controller
 * quorum nor `min.insync.replicas`.
 *
 * Nodes are named by their Kafka node id, 1 to n, the id that metadata reports as a partition's
 * leader: `cluster.killNode(await cluster.leaderOf(topic, 0))` kills the leader.
 *
 * The JVMs are small (256 MB heap, serial GC, C1 only) and the KRaft timeouts are short for
 * loopback: a node that dies is fenced and its partitions fail over within about 3 s, a dead
 * controller is replaced within about 2 s. Like the single test broker, every JVM is killed by
 * the kernel when this process dies (Linux).
 *
 * Run `deno task kafka --cluster 3` to start one by hand.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import {
  ensureKafkaJars,
  freeLoopbackPorts,
  KafkaBrokerError,
  KafkaJvm,
  type KafkaProperties,
  makeOwnedTempDir,
  randomClusterId,
  settlesWithin,
} from "./_kafka_jvm.ts";
import { aliveBrokerIds, quorumLeaderId } from "./_kafka_protocol.ts";

const START_TIMEOUT_MS = 60_000;
const TEMP_PREFIX = "kafka-test-cluster-";
const MAX_NODES = 9;

/** Options of {@link KafkaTestCluster.create}. */
export interface KafkaTestClusterOptions {
  /** Number of nodes (each broker and controller), 1 to 9. Default 3. */
  nodes?: number;
  /**
   * Directory of the nodes' config, logs and data (`node-1/`, ...). Default: a new temporary
   * directory, deleted by {@link KafkaTestCluster.dispose}. A directory given here is kept.
   */
  dataDir?: string;
  /** Maximum heap of each node's JVM. Default `256m`. */
  heap?: string;
  /** How long {@link KafkaTestCluster.start} and `startNode` wait for nodes to serve. Default 60 s. */
  startTimeoutMs?: number;
}

/** One node of a {@link KafkaTestCluster}. */
export interface KafkaClusterNode {
  /** The Kafka node id (1 to n), also its broker id in metadata. */
  readonly id: number;
  /** Port of its PLAINTEXT listener on 127.0.0.1. */
  readonly port: number;
  /** Port of its KRaft controller listener on 127.0.0.1. */
  readonly controllerPort: number;
  /** Its log file. */
  readonly logFile: string;
}

/** A partition's leader, replicas and in-sync replicas, as node ids. */
export interface PartitionState {
  /** The leader's node id, or -1 when the partition has none (offline). */
  readonly leader: number;
  /** The nodes that hold a replica. */
  readonly replicas: readonly number[];
  /** The replicas that are in sync with the leader. */
  readonly isr: readonly number[];
}

interface NodeRuntime extends KafkaClusterNode {
  readonly jvm: KafkaJvm;
}

/**
 * A cluster of KRaft Kafka nodes on 127.0.0.1 (see the module comment). Create it with
 * {@link KafkaTestCluster.create}, then {@link start}; stop, kill and start single nodes to test
 * failover; {@link dispose} at the end.
 *
 * Note for `Deno.test`: nodes are child processes (resources with pending ops), so give a test or
 * step that starts them `sanitizeOps: false, sanitizeResources: false`.
 */
export class KafkaTestCluster {
  /** The directory holding one `node-<id>/` per node. */
  readonly dir: string;
  /** The nodes, in node id order (`nodes[0].id === 1`). */
  readonly nodes: readonly KafkaClusterNode[];
  readonly #nodes: readonly NodeRuntime[];
  readonly #ownsDir: boolean;
  readonly #clusterId = randomClusterId();
  #disposed = false;

  private constructor(dir: string, ownsDir: boolean, nodes: NodeRuntime[]) {
    this.dir = dir;
    this.#ownsDir = ownsDir;
    this.#nodes = nodes;
    this.nodes = nodes.map(({ id, port, controllerPort, logFile }) => ({
      id,
      port,
      controllerPort,
      logFile,
    }));
  }

  /**
   * Prepares the cluster (downloading the jars if needed) and picks the ports. Nothing runs until
   * {@link start}.
   *
   * @throws {KafkaBrokerError} for a node count out of range, or when Java or the jars are missing.
   */
  static async create(options: KafkaTestClusterOptions = {}): Promise<KafkaTestCluster> {
    const count = options.nodes ?? 3;
    if (!Number.isInteger(count) || count < 1 || count > MAX_NODES) {
      throw new KafkaBrokerError(
        `Cannot create a Kafka test cluster of ${count} nodes: expected 1 to ${MAX_NODES}`,
      );
    }
    const jarsDir = await ensureKafkaJars();
    let dir: string;
    if (options.dataDir !== undefined) {
      dir = resolve(options.dataDir);
      await Deno.mkdir(dir, { recursive: true });
    } else {
      dir = await makeOwnedTempDir(TEMP_PREFIX);
    }
    const ports = freeLoopbackPorts(2 * count);
    const nodes: NodeRuntime[] = [];
    for (let index = 0; index < count; index++) {
      const id = index + 1;
      const nodeDir = join(dir, `node-${id}`);
      await Deno.mkdir(nodeDir, { recursive: true });
      const jvm = new KafkaJvm({
        dir: nodeDir,
        jarsDir,
        label: `Node ${id} of the Kafka test cluster`,
        heap: options.heap ?? "256m",
        logName: "node.log",
        startTimeoutMs: options.startTimeoutMs ?? START_TIMEOUT_MS,
      });
      nodes.push({
        id,
        port: ports[2 * index]!,
        controllerPort: ports[2 * index + 1]!,
        logFile: jvm.logFile,
        jvm,
      });
    }
    return new KafkaTestCluster(dir, options.dataDir === undefined, nodes);
  }

  /** `127.0.0.1:PORT` of every node's PLAINTEXT listener, comma separated. */
  get bootstrap(): string {
    return this.#nodes.map((node) => `127.0.0.1:${node.port}`).join(",");
  }

  /** The addresses in {@link bootstrap} as a list (kafkajs' `brokers`). */
  get brokers(): string[] {
    return this.#nodes.map((node) => `127.0.0.1:${node.port}`);
  }

  /** Whether node `id`'s JVM is running. */
  isRunning(id: number): boolean {
    return this.#node(id).jvm.running;
  }

  /** The process id of node `id`'s JVM while it runs. */
  pidOf(id: number): number | undefined {
    return this.#node(id).jvm.pid;
  }

  #node(id: number): NodeRuntime {
    const node = this.#nodes[id - 1];
    if (node === undefined) {
      throw new KafkaBrokerError(
        `The Kafka test cluster has no node ${id}: its nodes are 1 to ${this.#nodes.length}`,
      );
    }
    return node;
  }

  #properties(node: NodeRuntime): KafkaProperties {
    const count = this.#nodes.length;
    const replication = Math.min(3, count);
    const minInSync = Math.min(2, count);
    return {
      "process.roles": "broker,controller",
      "node.id": node.id,
      "controller.quorum.voters": this.#nodes
        .map((voter) => `${voter.id}@127.0.0.1:${voter.controllerPort}`).join(","),
      "listeners":
        `PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}`,
      "advertised.listeners": `PLAINTEXT://127.0.0.1:${node.port}`,
      "controller.listener.names": "CONTROLLER",
      "inter.broker.listener.name": "PLAINTEXT",
      "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
      "auto.create.topics.enable": true,
      "num.partitions": 1,
      "default.replication.factor": replication,
      "min.insync.replicas": minInSync,
      "offsets.topic.replication.factor": replication,
      "offsets.topic.num.partitions": 4,
      "transaction.state.log.replication.factor": replication,
      "transaction.state.log.min.isr": minInSync,
      "transaction.state.log.num.partitions": 4,
      "share.coordinator.state.topic.replication.factor": replication,
      "share.coordinator.state.topic.min.isr": minInSync,
      "share.coordinator.state.topic.num.partitions": 4,
      "group.initial.rebalance.delay.ms": 0,
      "unclean.leader.election.enable": false,
      // Loopback, no packet loss: short timeouts make failover quick. A follower that hears
      // nothing from the quorum leader for 1 s starts an election...
      "controller.quorum.fetch.timeout.ms": 1000,
      "controller.quorum.election.timeout.ms": 500,
      "controller.quorum.election.backoff.max.ms": 500,
      "controller.quorum.request.timeout.ms": 1000,
      // ... and a broker that misses its heartbeats for 3 s is fenced: its partitions get new
      // leaders and it leaves their ISR (a restarted node also waits for this before it joins).
      "broker.session.timeout.ms": 3000,
      "broker.heartbeat.interval.ms": 500,
      "replica.lag.time.max.ms": 5000,
      "reconnect.backoff.max.ms": 500,
    };
  }

  #startNodeJvm(node: NodeRuntime): Promise<void> {
    return node.jvm.start({
      properties: this.#properties(node),
      clusterId: this.#clusterId,
      // Alive means registered and unfenced: the node has caught up with the metadata quorum.
      ready: async () => {
        const alive = await aliveBrokerIds({ port: node.port });
        if (!alive.includes(node.id)) {
          throw new Error(`node ${node.id} lists itself not yet alive (alive: ${alive})`);
        }
      },
    });
  }

  /**
   * Starts every node that is not running and waits until each of them lists all nodes as alive
   * brokers. The first start formats the storage; later starts reuse data and ports.
   *
   * @throws {KafkaBrokerError} with the end of a node's log when one dies or is not ready in time;
   * the nodes this call started are then killed.
   */
  async start(): Promise<void> {
    if (this.#disposed) throw new KafkaBrokerError("start() on a disposed KafkaTestCluster");
    const starting = this.#nodes.filter((node) => !node.jvm.running);
    const results = await Promise.allSettled(starting.map((node) => this.#startNodeJvm(node)));
    const failure = results.find((result) => result.status === "rejected");
    if (failure !== undefined) {
      await Promise.all(starting.map((node) => node.jvm.kill()));
      throw failure.reason;
    }
    await this.#waitForAlive(this.#nodes.map((node) => node.id));
  }

  /** Waits until every running node lists exactly `ids` as alive brokers. */
  async #waitForAlive(ids: readonly number[]): Promise<void> {
    const deadline = Date.now() + 30_000;
    const expected = [...ids].sort((a, b) => a - b).join(",");
    let last = "";
    for (;;) {
      const running = this.#nodes.filter((node) => node.jvm.running);
      const views = await Promise.all(
        running.map((node) =>
          aliveBrokerIds({ port: node.port }).then(
            (alive) => `node ${node.id} sees ${alive.join(",")}`,
            (error) => `node ${node.id}: ${error instanceof Error ? error.message : error}`,
          )
        ),
      );
      if (views.every((view) => view.endsWith(` sees ${expected}`))) return;
      last = views.join("; ");
      if (Date.now() > deadline) {
        throw new KafkaBrokerError(
          `The Kafka test cluster's nodes did not all list nodes ${expected} as alive within 30 s (${last})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Starts node `id` again (after {@link stopNode} or {@link killNode}) with its data and ports,
   * and waits until it is an alive broker again.
   */
  async startNode(id: number): Promise<void> {
    if (this.#disposed) throw new KafkaBrokerError("startNode() on a disposed KafkaTestCluster");
    await this.#startNodeJvm(this.#node(id));
  }

  /**
   * Stops node `id` gracefully (SIGTERM: a controlled shutdown that first moves its partitions'
   * leadership away), SIGKILL after 15 s.
   */
  async stopNode(id: number): Promise<void> {
    await this.#node(id).jvm.stop();
  }

  /** Kills node `id` at once (SIGKILL), as in a crash. */
  async killNode(id: number): Promise<void> {
    await this.#node(id).jvm.kill();
  }

  /** The addresses of the running nodes: what to ask while some are down. */
  #runningBrokers(): string[] {
    const running = this.#nodes.filter((node) => node.jvm.running);
    if (running.length === 0) {
      throw new KafkaBrokerError("No node of the Kafka test cluster is running");
    }
    return running.map((node) => `127.0.0.1:${node.port}`);
  }

  /**
   * The leader, replicas and in-sync replicas of `topic`'s `partition`, from the metadata of a
   * running node (kafkajs admin). Right after a node dies, metadata still names it until it is
   * fenced: wait for the state you expect.
   *
   * @throws {Error} when the topic or partition does not exist.
   */
  async partitionState(topic: string, partition: number): Promise<PartitionState> {
    const admin = new Kafka({
      clientId: "kafka-test-cluster",
      brokers: this.#runningBrokers(),
      logLevel: logLevel.NOTHING,
      connectionTimeout: 2_000,
      retry: { retries: 2, initialRetryTime: 100 },
    }).admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const found = topics[0]?.partitions.find((p) => p.partitionId === partition);
      if (found === undefined) {
        throw new Error(`The Kafka test cluster has no partition ${partition} of topic ${topic}`);
      }
      return { leader: found.leader, replicas: found.replicas, isr: found.isr };
    } finally {
      await admin.disconnect();
    }
  }

  /** The node id of the leader of `topic`'s `partition` (see {@link partitionState}). */
  async leaderOf(topic: string, partition: number): Promise<number> {
    return (await this.partitionState(topic, partition)).leader;
  }

  /**
   * The node id of the active controller: the leader of the KRaft metadata quorum, from a
   * DescribeQuorum request to a running node. (kafkajs' `describeCluster().controller` is no
   * use here: with KRaft, brokers answer a random alive broker there, not the controller.)
   *
   * @throws {Error} while the quorum has no leader (an election is under way).
   */
  async activeController(): Promise<number> {
    let lastError: unknown;
    for (const node of this.#nodes.filter((node) => node.jvm.running)) {
      try {
        return await quorumLeaderId({ port: node.port });
      } catch (error) {
        lastError = error;
      }
    }
    throw new Error(
      `No running node of the Kafka test cluster named the active controller: ${
        lastError instanceof Error ? lastError.message : lastError ?? "no node runs"
      }`,
    );
  }

  /** The last `lines` lines of node `id`'s log (without Java stack frames). */
  logTail(id: number, lines = 40): Promise<string> {
    return this.#node(id).jvm.logTail(lines);
  }

  /**
   * Stops every node and deletes the directory if {@link create} made it (a `dataDir` given to
   * {@link create} is kept). Nodes of a temporary directory are killed: nothing of them is kept,
   * and a graceful stop of all nodes at once would wait for a quorum that is going away.
   */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#ownsDir) {
      await Promise.all(this.#nodes.map((node) => node.jvm.kill()));
      await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    } else {
      // Stopped one by one, so that each controlled shutdown still finds a quorum; the last ones
      // may lose it and are killed after a short grace.
      for (const node of this.#nodes) {
        const stopping = node.jvm.stop();
        if (!(await settlesWithin(stopping, 5_000))) await node.jvm.kill();
        await stopping;
      }
    }
  }

  /** Same as {@link dispose}, for `await using cluster = await KafkaTestCluster.create()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
