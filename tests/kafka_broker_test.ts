/**
 * Tests of the test infrastructure itself: a real KafkaTestBroker (tools/kafka_broker.ts), its
 * PLAINTEXT, SASL and SSL listeners, and a stop/start that keeps the data.
 */

import assert from "node:assert/strict";
import { Kafka, type KafkaConfig, logLevel, Partitioners, type SASLOptions } from "kafkajs";
import { KafkaTestBroker, SASL_PASSWORD, SASL_USERNAME } from "../tools/kafka_broker.ts";

function client(brokers: string, extra: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: "kafka-broker-test",
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    retry: { retries: 2, initialRetryTime: 100 },
    ...extra,
  });
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function produce(kafka: Kafka, topic: string, key: string, value: string): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({ topic, messages: [{ key, value }] });
  } finally {
    await producer.disconnect();
  }
}

/** Reads the first message of `topic` with a fresh consumer group. */
async function consumeFirst(kafka: Kafka, topic: string): Promise<{ key: string; value: string }> {
  const consumer = kafka.consumer({
    groupId: `kafka-broker-test-${crypto.randomUUID()}`,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const first = Promise.withResolvers<{ key: string; value: string }>();
    // Never disconnect inside eachMessage (kafkajs deadlocks): resolve, then disconnect outside.
    await consumer.run({
      eachMessage: ({ message }) => {
        first.resolve({
          key: message.key?.toString() ?? "",
          value: message.value?.toString() ?? "",
        });
        return Promise.resolve();
      },
    });
    return await withTimeout(first.promise, 30_000, `first message of ${topic}`);
  } finally {
    await consumer.disconnect();
  }
}

async function listTopicsAs(brokers: string, sasl: SASLOptions): Promise<string[]> {
  const admin = client(brokers, { sasl }).admin();
  await admin.connect();
  try {
    return await admin.listTopics();
  } finally {
    await admin.disconnect();
  }
}

Deno.test("KafkaTestBroker runs a real Kafka broker", async (t) => {
  const broker = await KafkaTestBroker.create();
  try {
    await broker.start();
    assert.ok(broker.running);
    assert.match(broker.bootstrap, /^127\.0\.0\.1:\d+$/);
    assert.match(broker.saslBootstrap, /^127\.0\.0\.1:\d+$/);
    const topic = `kafka-broker-test-${crypto.randomUUID()}`;

    await t.step("produce and consume on the PLAINTEXT listener", async () => {
      const kafka = client(broker.bootstrap);
      const admin = kafka.admin();
      await admin.connect();
      try {
        await admin.createTopics({ topics: [{ topic }], waitForLeaders: true });
      } finally {
        await admin.disconnect();
      }
      await produce(kafka, topic, "cp-1", "hello");
      assert.deepEqual(await consumeFirst(kafka, topic), { key: "cp-1", value: "hello" });
    });

    for (const mechanism of ["plain", "scram-sha-256", "scram-sha-512"] as const) {
      await t.step(`SASL ${mechanism} with ${SASL_USERNAME}/${SASL_PASSWORD}`, async () => {
        const topics = await listTopicsAs(broker.saslBootstrap, {
          mechanism,
          username: SASL_USERNAME,
          password: SASL_PASSWORD,
        } as SASLOptions);
        assert.ok(topics.includes(topic), `${topic} in ${topics.join(", ")}`);
      });
    }

    await t.step("SSL with the broker's CA; the runtime's default roots refuse it", async () => {
      assert.match(broker.sslBootstrap, /^127\.0\.0\.1:\d+$/);
      const ca = await Deno.readTextFile(broker.sslCaFile);
      assert.match(ca, /^-----BEGIN CERTIFICATE-----/);
      const admin = client(broker.sslBootstrap, { ssl: { ca: [ca] } }).admin();
      await admin.connect();
      try {
        assert.ok((await admin.listTopics()).includes(topic));
      } finally {
        await admin.disconnect();
      }
      const untrusting = client(broker.sslBootstrap, { ssl: true, retry: { retries: 0 } }).admin();
      await assert.rejects(untrusting.connect(), /certificate/i);
    });

    await t.step("a wrong password is rejected", async () => {
      for (const mechanism of ["plain", "scram-sha-256"] as const) {
        await assert.rejects(
          listTopicsAs(broker.saslBootstrap, {
            mechanism,
            username: SASL_USERNAME,
            password: "wrong-password",
          } as SASLOptions),
          /SASL|authentication/i,
        );
      }
    });

    // start() spawns the broker anew: its process outlives the step, so the step must not
    // sanitize ops and resources (the test as a whole still does, dispose() ends it).
    await t.step({
      name: "stop and start again keeps the data",
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        const { plaintextPort, saslPort, sslPort } = broker;
        await broker.stop();
        assert.ok(!broker.running);
        await broker.start();
        assert.equal(broker.plaintextPort, plaintextPort);
        assert.equal(broker.saslPort, saslPort);
        assert.equal(broker.sslPort, sslPort);
        assert.deepEqual(await consumeFirst(client(broker.bootstrap), topic), {
          key: "cp-1",
          value: "hello",
        });
      },
    });
  } finally {
    await broker.dispose();
  }
  assert.ok(!broker.running);
});
