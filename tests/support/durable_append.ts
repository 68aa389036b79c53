/**
 * Run as its own process with the engine's scoped permissions (see sqlite_outbox_test.ts): opens
 * the store in the state directory given as the first argument, appends three events, waits until
 * they are durable, and prints whose fsync made them so and how many are stored
 * (`engine 3` or `sqlite 3`).
 *
 * @module
 */
import { SqliteOutbox } from "../../src/adapters/storage/sqlite_store.ts";

const [stateDir] = Deno.args;
if (stateDir === undefined) throw new Error("usage: durable_append.ts <state dir>");
const outbox = SqliteOutbox.open(stateDir, "CP_DURABLE", { clock: { now: () => Date.now() } });
for (let n = 0; n < 3; n++) {
  outbox.append({
    topic: "cp-events",
    key: "CP_DURABLE",
    value: { message_id: `m-${n}`, event_type: "cp_status_change", timestamp: n },
  });
}
await outbox.durable();
console.log(`${outbox.fsyncBy} ${outbox.size()}`);
outbox.close();
