/**
 * Knowing whether Central is there (src/adapters/kafka/central_watch.ts): the rule on consumer
 * groups, and the watch against a real broker with a Central that joins and leaves a consumer
 * group the way the original one does (a new `ev_central_ws_group_<epoch>` on every start).
 */
import assert from "node:assert/strict";
import { AssignerProtocol, type GroupDescription, Kafka, logLevel } from "kafkajs";
import { getLogger } from "@logtape/logtape";
import {
  centralGroupAlive,
  DEFAULT_CENTRAL_GROUP_PREFIX,
  type GroupAdmin,
  KafkaCentralWatch,
} from "../src/adapters/kafka/central_watch.ts";
import type { CentralPresence } from "../src/app/ports.ts";
import { systemClock } from "../src/adapters/clock.ts";
import { memorySink, resetLogging, setupLogging } from "../src/adapters/logging.ts";
import { brokerAddress, uniqueTopics } from "./support/kafka.ts";

const PREFIX = DEFAULT_CENTRAL_GROUP_PREFIX;

function group(
  groupId: string,
  state: GroupDescription["state"],
  topics: string[][],
): GroupDescription {
  return {
    groupId,
    state,
    protocol: "range",
    protocolType: "consumer",
    members: topics.map((subscribed, i) => ({
      memberId: `m${i}`,
      clientId: "central",
      clientHost: "/127.0.0.1",
      memberAssignment: Buffer.alloc(0),
      memberMetadata: AssignerProtocol.MemberMetadata.encode({
        version: 0,
        topics: subscribed,
        userData: Buffer.alloc(0),
      }),
    })),
  };
}

Deno.test("Central is there while a group of its prefix has members reading cp-events", async (t) => {
  await t.step("a stable group of the prefix reading cp-events: present", () => {
    assert.ok(
      centralGroupAlive(
        [group(`${PREFIX}1764350000`, "Stable", [["cp-events", "driver-events"]])],
        PREFIX,
        "cp-events",
      ),
    );
  });
  await t.step("the empty group an earlier Central left behind: not present", () => {
    assert.ok(!centralGroupAlive([group(`${PREFIX}1`, "Empty", [])], PREFIX, "cp-events"));
  });
  await t.step("an engine's group, or one reading other topics: not Central", () => {
    assert.ok(
      !centralGroupAlive(
        [
          group("engine_group_CP_001", "Stable", [["central-events"]]),
          group(`${PREFIX}2`, "Stable", [["driver-events"]]),
        ],
        PREFIX,
        "cp-events",
      ),
    );
  });
});

Deno.test("a cluster that does not let the engine describe groups counts Central as present, said once", async () => {
  const sink = memorySink();
  await setupLogging({ level: "info", format: "text", sink });
  // kafkajs rejects as below when an ACL denies DescribeGroups.
  const denied: GroupAdmin = {
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    listGroups: () =>
      Promise.reject(
        Object.assign(new Error("Not authorized to access group"), {
          type: "GROUP_AUTHORIZATION_FAILED",
        }),
      ),
    describeGroups: () => Promise.resolve({ groups: [] }),
  };
  const watch = new KafkaCentralWatch({
    brokers: ["127.0.0.1:9"],
    clientId: "test",
    groupPrefix: PREFIX,
    cpEventsTopic: "cp-events",
  }, { logger: getLogger(["ev-cp-engine", "central"]), clock: systemClock, admin: denied });
  try {
    await watch.check();
    await watch.check();
    assert.equal(watch.presence.kind, "present");
    const lines = sink.messages().filter((line) => line.includes("Cannot tell whether Central"));
    assert.equal(lines.length, 1);
  } finally {
    await watch.close();
    await resetLogging();
  }
});

/** A Central reading `topic` with a new group, as the original starts. */
async function startCentral(broker: string, topic: string) {
  const kafka = new Kafka({ clientId: "central", brokers: [broker], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic }], waitForLeaders: true });
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: `${PREFIX}${Date.now()}`, sessionTimeout: 10_000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: false });
  await consumer.run({ eachMessage: () => Promise.resolve() });
  return consumer;
}

Deno.test("against a real broker: unknown until Central is seen, then away when it leaves, present when it returns", async () => {
  const broker = await brokerAddress();
  const topics = uniqueTopics("central-watch");
  const changes: CentralPresence[] = [];
  const watch = new KafkaCentralWatch({
    brokers: [broker],
    clientId: "test",
    groupPrefix: PREFIX,
    cpEventsTopic: topics.cpEvents,
  }, { logger: getLogger(["ev-cp-engine", "central"]), clock: systemClock });
  watch.onChange((presence) => changes.push(presence));
  const until = async (kind: CentralPresence["kind"]) => {
    for (let i = 0; i < 150 && watch.presence.kind !== kind; i++) {
      await watch.check();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(watch.presence.kind, kind, JSON.stringify(changes));
  };
  try {
    await watch.check();
    assert.equal(watch.presence.kind, "unknown", "no Central yet: not away");
    const first = await startCentral(broker, topics.cpEvents);
    await until("present");
    await first.disconnect(); // a clean exit leaves the group at once
    await until("away");
    const second = await startCentral(broker, topics.cpEvents);
    await until("present");
    await second.disconnect();
    assert.deepEqual(changes.map((change) => change.kind), ["present", "away", "present"]);
  } finally {
    await watch.close();
  }
});
