/**
 * What the Kafka adapter says about its connection. An engine whose broker does not answer keeps
 * saying so: the warning names the address and the
 * cause, suggests what to do (the hint the command line gives), and is repeated once a minute
 * (here every second) rather than once and never again. A first start says `Kafka connected`
 * and nothing of a backlog; only events an outage or an earlier run left are a backlog.
 */
import assert from "node:assert/strict";
import { KafkaBus } from "../src/adapters/kafka/bus.ts";
import { engineLogger, memorySink, resetLogging, setupLogging } from "../src/adapters/logging.ts";
import { systemClock } from "../src/adapters/clock.ts";
import { MemoryOutbox } from "../src/adapters/storage/memory_store.ts";
import type { OutboundEvent } from "../src/app/ports.ts";
import { freePort } from "./support/engine_process.ts";
import { brokerAddress, uniqueTopics } from "./support/kafka.ts";

Deno.test({
  name: "the unreachable warning carries the hint and is repeated while Kafka stays unreachable",
  async fn() {
    const sink = memorySink();
    await setupLogging({ level: "info", format: "text", sink });
    const broker = `127.0.0.1:${freePort()}`;
    const bus = new KafkaBus({
      brokers: [broker],
      clientId: "unreachable-test",
      groupId: "unreachable-test",
      cpEventsTopic: "cp-events",
      centralEventsTopic: "central-events",
      unreachableHint: "No broker? `deno task kafka` starts one.",
      unreachableRepeatMs: 1_000,
    }, { logger: engineLogger("kafka"), clock: systemClock });
    const warnings = () =>
      sink.records.filter((record) => record.level === "warning").map((record) =>
        sink.messages()[sink.records.indexOf(record)]!
      );
    try {
      bus.start();
      const deadline = Date.now() + 20_000;
      while (warnings().length < 2) {
        assert.ok(
          Date.now() < deadline,
          `only ${warnings().length} warning(s): ${sink.messages()}`,
        );
        await bus.nextFailure();
      }
      const [first, second] = warnings();
      assert.match(first!, new RegExp(`^Kafka is unreachable at ${broker}: .+\\. Retrying`));
      assert.match(first!, /No broker\? `deno task kafka` starts one\.$/);
      assert.match(second!, new RegExp(`^Kafka is still unreachable at ${broker} after \\d+ s: `));
      assert.match(second!, /`deno task kafka`/);
    } finally {
      await bus.close();
      await resetLogging();
    }
  },
});

function registration(cpEvents: string): OutboundEvent {
  return {
    topic: cpEvents,
    key: "CP_WORDS",
    value: {
      message_id: crypto.randomUUID(),
      event_type: "CP_REGISTRATION",
      timestamp: Date.now() / 1000,
    },
  };
}

Deno.test({
  name:
    "a first start's registration is no backlog; events an earlier run left are one, counted in the singular when alone",
  async fn(t) {
    const broker = await brokerAddress();
    const topics = uniqueTopics("wording");
    for (const earlierRun of [false, true]) {
      await t.step(earlierRun ? "left by an earlier run" : "first start", async () => {
        const sink = memorySink();
        await setupLogging({ level: "info", format: "text", sink });
        const outbox = new MemoryOutbox();
        if (earlierRun) outbox.append(registration(topics.cpEvents));
        const bus = new KafkaBus({
          brokers: [broker],
          clientId: "wording-test",
          groupId: `wording-test-${crypto.randomUUID()}`,
          cpEventsTopic: topics.cpEvents,
          centralEventsTopic: topics.centralEvents,
        }, { logger: engineLogger("kafka"), clock: systemClock, outbox });
        try {
          if (!earlierRun) bus.publish(registration(topics.cpEvents));
          bus.start();
          assert.ok(await bus.flush(30_000), "delivered");
          const messages = sink.messages();
          const connected = messages.find((line) => line.startsWith("Kafka connected at"));
          if (earlierRun) {
            assert.equal(connected, `Kafka connected at ${broker} (1 event to deliver)`);
            // The drain loop logs once the outbox is empty: wait for that line, not a delay.
            const deadline = Date.now() + 10_000;
            while (!sink.messages().some((line) => line.startsWith("Backlog delivered in"))) {
              assert.ok(Date.now() < deadline, `no backlog line: ${sink.messages()}`);
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
          } else {
            assert.equal(connected, `Kafka connected at ${broker}`);
            assert.ok(!messages.some((line) => line.includes("Backlog")), messages.join("\n"));
          }
        } finally {
          await bus.close();
          await resetLogging();
        }
      });
    }
  },
});
