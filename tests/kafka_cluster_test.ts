/**
 * Tests of the test infrastructure itself: a real three-node KRaft KafkaTestCluster
 * (tools/kafka_cluster.ts) keeps every `acks=all` write through the crash of the partition leader,
 * the crash of the active controller and a graceful restart of a node, and a consumer then reads
 * them all, in order.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel, Partitioners, type Producer } from "kafkajs";
import { KafkaTestCluster } from "../tools/kafka_cluster.ts";

/** Polls `probe` until it returns a value that is not undefined, or fails after `timeoutMs`. */
async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = "nothing yet";
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error instanceof Error ? error.message : error;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Resolves when all `nodes` are in sync for `topic`'s partition 0 again. */
function allInSync(cluster: KafkaTestCluster, topic: string, nodes: number[]): Promise<true> {
  return eventually(`nodes ${nodes} in sync on ${topic}`, async () => {
    const { isr } = await cluster.partitionState(topic, 0);
    return nodes.every((node) => isr.includes(node)) ? true : undefined;
  });
}

/** Sends `values` with acks=all, one request each, and returns them. */
async function sendAll(producer: Producer, topic: string, values: string[]): Promise<string[]> {
  for (const value of values) {
    await producer.send({ topic, acks: -1, messages: [{ key: "cp", value }] });
  }
  return values;
}

function batch(label: string, count = 5): string[] {
  return Array.from({ length: count }, (_, i) => `${label}-${i}`);
}

/** Reads `topic` from the beginning with a fresh group until every one of `expected` arrived. */
async function readUntil(kafka: Kafka, topic: string, expected: string[]): Promise<string[]> {
  const consumer = kafka.consumer({
    groupId: `kafka-cluster-test-${crypto.randomUUID()}`,
    maxWaitTimeInMs: 100,
  });
  const received: string[] = [];
  const complete = Promise.withResolvers<void>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        received.push(message.value?.toString() ?? "");
        if (expected.every((value) => received.includes(value))) complete.resolve();
        return Promise.resolve();
      },
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      complete.promise,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`read only ${received.length} of ${expected.length}`)),
          20_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    return received;
  } finally {
    await consumer.disconnect();
  }
}

Deno.test({
  name:
    "a 3-node cluster keeps acks=all writes through a leader crash, a controller crash and a node restart",
  async fn(t) {
    const cluster = await KafkaTestCluster.create();
    try {
      const starting = performance.now();
      await cluster.start();
      const seconds = ((performance.now() - starting) / 1000).toFixed(1);
      console.log(
        `[figures] a 3-node cluster started (formatted, quorum, brokers) in ${seconds} s`,
      );
      assert.equal(cluster.bootstrap.split(",").length, 3);
      const kafka = new Kafka({
        clientId: "kafka-cluster-test",
        brokers: cluster.brokers,
        logLevel: logLevel.NOTHING,
        connectionTimeout: 2_000,
        // Long enough to ride out a failover (a dead node is fenced after about 3 s).
        retry: { retries: 12, initialRetryTime: 200, maxRetryTime: 2_000 },
      });
      const topic = `kafka-cluster-test-${crypto.randomUUID()}`;
      const admin = kafka.admin();
      await admin.connect();
      try {
        await admin.createTopics({ topics: [{ topic }], waitForLeaders: true });
      } finally {
        await admin.disconnect();
      }
      const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      const sent: string[] = [];
      try {
        await t.step("the topic has three replicas, all in sync", async () => {
          const state = await cluster.partitionState(topic, 0);
          assert.deepEqual([...state.replicas].sort(), [1, 2, 3]);
          sent.push(...await sendAll(producer, topic, batch("before")));
          await allInSync(cluster, topic, [1, 2, 3]);
        });

        await t.step("the partition leader crashes: another node leads, writes go on", async () => {
          const leader = await cluster.leaderOf(topic, 0);
          await cluster.killNode(leader);
          sent.push(...await sendAll(producer, topic, batch("leader-down")));
          const next = await eventually("a new leader", async () => {
            const now = await cluster.leaderOf(topic, 0);
            return now !== leader && now > 0 ? now : undefined;
          });
          assert.notEqual(next, leader);
          await cluster.startNode(leader);
          await allInSync(cluster, topic, [1, 2, 3]);
        });

        await t.step(
          "the active controller crashes: another is elected, writes go on",
          async () => {
            const controller = await cluster.activeController();
            await cluster.killNode(controller);
            const next = await eventually("a new active controller", async () => {
              const now = await cluster.activeController();
              return now !== controller ? now : undefined;
            });
            assert.ok(cluster.isRunning(next));
            sent.push(...await sendAll(producer, topic, batch("controller-down")));
            await cluster.startNode(controller);
            await allInSync(cluster, topic, [1, 2, 3]);
          },
        );

        await t.step("a node restarts gracefully, writes go on meanwhile", async () => {
          const node = await cluster.leaderOf(topic, 0);
          await cluster.stopNode(node);
          sent.push(...await sendAll(producer, topic, batch("restarting")));
          await cluster.startNode(node);
          sent.push(...await sendAll(producer, topic, batch("after")));
          await allInSync(cluster, topic, [1, 2, 3]);
        });
      } finally {
        await producer.disconnect();
      }

      await t.step("a consumer reads every write, in order", async () => {
        const received = await readUntil(kafka, topic, sent);
        // A retried send may be written twice (the producer is not idempotent): compare the
        // first occurrences.
        assert.deepEqual([...new Set(received)], sent);
      });
    } finally {
      await cluster.dispose();
    }
  },
});
