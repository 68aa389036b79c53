/**
 * The reference for the Kafka figures: an otherwise idle Deno process holding one connected
 * kafkajs 2.2.4 producer and one consumer in a group, with the consumer settings the engine uses
 * (fetch wait 2 s, heartbeat every 3 s, session timeout 10 s) and none of the engine's
 * code (not its idle patch of kafkajs either). What it does:
 *
 * - echoes every message of `--in` to `--out` as soon as it is consumed (the bare
 *   produce -> consume -> produce -> consume round trip the command figure is compared with);
 * - once connected and in its group, sends `{"hello": true}` on `--out` and prints `ready`;
 * - on the stdin line `publish <count>`, sends `<count>` progress-sized messages every second in
 *   one batch (the bare cost of the engine's progress); `stop` ends that;
 * - with `--burst <count>`, sends `<count>` registration-sized messages right after `ready`, in
 *   batches of 1,000 (the bare cost of registering that many points).
 *
 * Usage: `deno run --allow-net --allow-env tools/bench/reference_kafka.ts --broker host:port
 * --in <topic> --out <topic>`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Kafka, logLevel } from "kafkajs";

// `--warm-up`: load the modules (filling Deno's caches) and exit, uncounted.
if (Deno.args.includes("--warm-up")) Deno.exit(0);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    broker: { type: "string" },
    in: { type: "string" },
    out: { type: "string" },
    burst: { type: "string", default: "0" },
  },
});
if (!values.broker || !values.in || !values.out) {
  console.error("usage: reference_kafka.ts --broker host:port --in <topic> --out <topic>");
  Deno.exit(2);
}
const outTopic = values.out;
const kafka = new Kafka({
  clientId: "bench-reference",
  brokers: [values.broker],
  logLevel: logLevel.NOTHING,
});
const producer = kafka.producer();
const consumer = kafka.consumer({
  groupId: `bench-reference-${crypto.randomUUID()}`,
  maxWaitTimeInMs: 2_000,
  minBytes: 1,
  sessionTimeout: 10_000,
  rebalanceTimeout: 10_000,
  heartbeatInterval: 3_000,
});
await producer.connect();
await consumer.connect();
await consumer.subscribe({ topic: values.in, fromBeginning: true });
const joined = new Promise<void>((resolve) =>
  consumer.on(consumer.events.GROUP_JOIN, () => resolve())
);
await consumer.run({
  eachMessage: async ({ message }) => {
    await producer.send({
      topic: outTopic,
      messages: [{ key: message.key, value: message.value }],
    });
  },
});
await joined;
await producer.send({ topic: outTopic, messages: [{ value: JSON.stringify({ hello: true }) }] });
console.log("ready");

const burst = Number(values.burst);
for (let sent = 0; sent < burst; sent += 1_000) {
  const batch = Math.min(1_000, burst - sent);
  await producer.send({
    topic: outTopic,
    messages: Array.from({ length: batch }, (_, i) => {
      const cpId = `REF_${String(sent + i + 1).padStart(5, "0")}`;
      return {
        key: cpId,
        value: JSON.stringify({
          message_id: crypto.randomUUID(),
          event_type: "CP_REGISTRATION",
          action: "connect",
          cp_id: cpId,
          engine_id: cpId,
          timestamp: Date.now() / 1000,
          status: "offline",
          data: {
            location: "Unknown Location",
            localizacion: "Unknown Location",
            max_kw: 22,
            max_power_kw: 22,
            tarifa_kwh: 0.3,
            tariff_per_kwh: 0.3,
            price_eur_kwh: 0.3,
            status: "offline",
            estado: "offline",
          },
        }),
      };
    }),
  });
}

let publisher: ReturnType<typeof setInterval> | undefined;

/** One tick of `publish <count>`: messages shaped and sized like the engine's progress. */
async function publish(count: number): Promise<void> {
  const now = Date.now() / 1000;
  const messages = Array.from({ length: count }, (_, i) => {
    const cpId = `REF_${String(i + 1).padStart(5, "0")}`;
    return {
      key: cpId,
      value: JSON.stringify({
        message_id: crypto.randomUUID(),
        event_type: "charging_progress",
        action: "charging_progress",
        cp_id: cpId,
        engine_id: cpId,
        timestamp: now,
        username: "driver",
        user_id: i,
        energy_kwh: 1.234,
        cost: 0.37,
        power_kw: 19.5,
      }),
    };
  });
  // At most 1,000 messages a request: a broker takes record batches of up to 1 MB by default.
  for (let i = 0; i < messages.length; i += 1_000) {
    await producer.send({ topic: outTopic, messages: messages.slice(i, i + 1_000) });
  }
}

const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let pending = "";
for await (const chunk of lines) {
  pending += chunk;
  let newline: number;
  while ((newline = pending.indexOf("\n")) !== -1) {
    const [verb, argument] = pending.slice(0, newline).trim().split(/\s+/);
    pending = pending.slice(newline + 1);
    clearInterval(publisher);
    if (verb === "publish") {
      const count = Number(argument);
      publisher = setInterval(() => void publish(count).catch(() => {}), 1_000);
    }
  }
}
clearInterval(publisher);
await Promise.allSettled([consumer.disconnect(), producer.disconnect()]);
