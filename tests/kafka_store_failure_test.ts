/**
 * A failing outbox store (disk full, I/O error) loses nothing: events wait in memory, in order,
 * and reach the store once it works again. The bus points at a closed port, so nothing is sent.
 */
import assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import { KafkaBus } from "../src/adapters/kafka/bus.ts";
import { MemoryOutbox } from "../src/adapters/storage/memory_store.ts";
import type { OutboundEvent } from "../src/app/ports.ts";
import { systemClock } from "../src/adapters/clock.ts";
import { freePort } from "./support/engine_process.ts";

class FlakyOutbox extends MemoryOutbox {
  failing = true;
  override append(event: OutboundEvent): void {
    if (this.failing) throw new Error("No space left on device");
    super.append(event);
  }
}

function event(n: number): OutboundEvent {
  return {
    topic: "cp-events",
    key: "CP_001",
    value: { message_id: `id-${n}`, event_type: "cp_status_change", timestamp: Date.now() / 1000 },
  };
}

Deno.test({
  name: "events the outbox cannot store wait in memory, in order, until the store works again",
  async fn() {
    const outbox = new FlakyOutbox();
    const bus = new KafkaBus({
      brokers: [`127.0.0.1:${freePort()}`],
      clientId: "store-failure-test",
      groupId: "store-failure-test",
      cpEventsTopic: "cp-events",
      centralEventsTopic: "central-events",
    }, { logger: getLogger(["test"]), clock: systemClock, outbox });
    try {
      // Events are stored at the end of the turn they were published in: await that each time.
      for (const n of [1, 2, 3]) bus.publish(event(n));
      await Promise.resolve();
      assert.equal(outbox.size(), 0);
      assert.equal(bus.backlog, 3, "all three are still held");
      outbox.failing = false;
      bus.publish(event(4));
      await Promise.resolve();
      assert.deepEqual(
        outbox.peek(10).map((stored) => stored.event.value.message_id),
        ["id-1", "id-2", "id-3", "id-4"],
      );
      assert.equal(bus.backlog, 4);
    } finally {
      await bus.close();
    }
  },
});
