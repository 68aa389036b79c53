/**
 * Start-up under adverse conditions, with the engine as a real process: a health port that is
 * taken stops it before it registers or creates any state, and a stop signal during start-up
 * (while Kafka does not answer) shuts it down as cleanly as one after it.
 */
import assert from "node:assert/strict";
import { engineArgs, EngineProcess, freePort } from "./support/engine_process.ts";
import { testStateDir } from "./support/engine_state.ts";
import { brokerAddress, uniqueTopics } from "./support/kafka.ts";
import { Kafka, logLevel } from "kafkajs";

Deno.test("a busy health port: exit code 1 before any registration or state directory", async () => {
  const broker = await brokerAddress();
  const topics = uniqueTopics("busy-port");
  const state = testStateDir("busy-port");
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (blocker.addr as Deno.NetAddr).port;
  const admin = new Kafka({ clientId: "busy-port", brokers: [broker], logLevel: logLevel.NOTHING })
    .admin();
  await admin.connect();
  try {
    // The topic exists beforehand, so that "nothing on it" is a fact and not a missing topic.
    await admin.createTopics({ topics: [{ topic: topics.cpEvents }], waitForLeaders: true });
    const engine = await EngineProcess.start([
      ...engineArgs({ cpId: "CP_BUSY", broker, healthPort: port, topics }),
      "--state-dir",
      state.arg,
    ]);
    try {
      assert.equal(await engine.exited(30_000), 1, engine.output);
      assert.match(engine.output, new RegExp(`health port ${port}.*already in use`));
      assert.doesNotMatch(engine.output, /Auto-registering/);
    } finally {
      await engine.dispose();
    }
    const [offsets] = await admin.fetchTopicOffsets(topics.cpEvents);
    assert.equal(Number(offsets?.high ?? 0), 0, "no CP_REGISTRATION reached the topic");
    await assert.rejects(Deno.stat(state.arg), Deno.errors.NotFound, "no state directory");
  } finally {
    await admin.disconnect();
    blocker.close();
    await state.remove();
  }
});

Deno.test("SIGTERM during start-up, while Kafka does not answer: a clean shutdown, exit code 0", async () => {
  // A "broker" that accepts connections and never answers: start-up waits for it.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const connection of silent) held.push(connection);
  })();
  const engine = await EngineProcess.start([
    ...engineArgs({
      cpId: "CP_EARLY_STOP",
      broker: `127.0.0.1:${(silent.addr as Deno.NetAddr).port}`,
      healthPort: freePort(),
      topics: uniqueTopics("early-stop"),
    }),
  ]);
  try {
    await engine.waitForOutput("Auto-registering with Central");
    const signalledAt = performance.now();
    engine.signal("SIGTERM");
    assert.equal(await engine.exited(15_000), 0, engine.output);
    assert.ok(performance.now() - signalledAt < 6_000, "within the shutdown deadline");
    assert.match(engine.output, /Received SIGTERM: shutting down/);
    assert.match(engine.output, /Stopped/);
  } finally {
    await engine.dispose();
    silent.close();
    for (const connection of held) connection.close();
    await accepting.catch(() => {});
  }
});
