/**
 * Fuzz test of the command path (protocol.md section 4): at least 10,000 generated and mutated
 * hostile messages go through a real Kafka topic into a real engine process (started exactly as
 * `deno task start` runs it). The engine must not crash, change its status, publish anything or
 * flood its log; a valid command afterwards must still work.
 *
 * The generator is seeded: the seed is printed, and `FUZZ_SEED=<seed>` replays a run.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { decodeCommand } from "../src/protocol/commands.ts";
import { INPUT_LOG_MAX_LINES, INPUT_LOG_WINDOW_MS } from "../src/app/command_log.ts";
import { brokerAddress, CentralDouble, uniqueTopics } from "./support/kafka.ts";
import { engineArgs, EngineProcess, freePort } from "./support/engine_process.ts";
import { health } from "./support/health.ts";
import { HOSTILE_KINDS, type HostileKind, hostileMessages } from "./support/hostile_messages.ts";

const MESSAGES = 10_000;
/** The engine's `--command-max-age` in the test: long, so that no fresh message turns stale. */
const COMMAND_MAX_AGE_S = 86_400;
/** Largest produce request (the broker's default limit is 1 MiB per batch). */
const MAX_BATCH_BYTES = 700 * 1024;
const MAX_BATCH_MESSAGES = 500;

/** Commands that are valid but change nothing observable in an idle, available point. */
const HARMLESS_COMMANDS = new Set([
  "charging_stopped",
  "resume",
  "unplug",
  "error_fixed",
  "recover",
  "authorization_response",
]);

type Outcome = "rejected" | "ignored" | "harmless_command";

/** How the engine's own decoder classifies a message, or null when it would change the state. */
function classify(value: string, cpId: string): Outcome | null {
  const decoded = decodeCommand(value, {
    cpId,
    now: Date.now(),
    maxAgeMs: COMMAND_MAX_AGE_S * 1000,
  });
  if (decoded.kind !== "command") return decoded.kind;
  const command = decoded.command;
  if (HARMLESS_COMMANDS.has(command.type)) return "harmless_command";
  if (command.type === "cp_info" && command.status === "available") return "harmless_command";
  return null;
}

/** Output lines that are log lines (they start with an ISO time). */
function logLines(text: string): string[] {
  return text.split("\n").filter((line) => /^\d{4}-\d{2}-\d{2}T/.test(line));
}

Deno.test({
  name:
    "10,000 hostile messages on the command topic change nothing, crash nothing and are logged without flooding",
  async fn() {
    const seed = Number(Deno.env.get("FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`fuzz seed ${seed} (replay with FUZZ_SEED=${seed})`);
    const broker = await brokerAddress();
    const topics = uniqueTopics("fuzz");
    const cpId = `CP_FUZZ_${crypto.randomUUID().slice(0, 6)}`;
    const healthPort = freePort();
    const stateDir = `./state/test-fuzz-${crypto.randomUUID().slice(0, 8)}`;
    const central = await CentralDouble.start(broker, topics);
    const kafka = new Kafka({ clientId: "fuzzer", brokers: [broker], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    const engine = await EngineProcess.start([
      ...engineArgs({ cpId, broker, healthPort, topics }),
      "--command-max-age",
      String(COMMAND_MAX_AGE_S),
      "--progress-interval",
      "1",
      "--state-dir",
      stateDir,
    ]);
    let probing = true;
    let probeLoop: Promise<string[]> = Promise.resolve([]);
    try {
      await central.waitForStatus("available", 0, 30_000);
      assert.equal(await health(healthPort), "OK");
      const eventsBefore = central.events.length;
      const outputBefore = engine.output.length;

      // Generate: every message is kept only if the engine's decoder agrees that it must not
      // change the state (a mutation can turn garbage back into a valid CP_FAULT).
      const next = hostileMessages(seed, cpId);
      const perKind = new Map<HostileKind, number>(HOSTILE_KINDS.map((kind) => [kind, 0]));
      const perOutcome = new Map<Outcome, number>();
      const messages: string[] = [];
      let discarded = 0;
      while (messages.length < MESSAGES) {
        const message = next();
        const outcome = classify(message.value, cpId);
        if (outcome === null) {
          discarded++;
          continue;
        }
        messages.push(message.value);
        perKind.set(message.kind, perKind.get(message.kind)! + 1);
        perOutcome.set(outcome, (perOutcome.get(outcome) ?? 0) + 1);
      }
      const hugeCount = messages.filter((value) => value.length >= 100 * 1024).length;
      console.log(
        `fuzz cases: ${messages.length} messages (${hugeCount} of 100 KB or more), by kind ${
          JSON.stringify(Object.fromEntries(perKind))
        }, by outcome ${JSON.stringify(Object.fromEntries(perOutcome))}, ${discarded} discarded ` +
          "because they would be valid state-changing commands",
      );
      for (const kind of HOSTILE_KINDS) assert.ok(perKind.get(kind)! > 0, `no ${kind} generated`);

      // The Monitor keeps probing during the storm: every answer must be OK.
      probeLoop = (async () => {
        const answers: string[] = [];
        while (probing) {
          answers.push(await health(healthPort));
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        return answers;
      })();

      const stormStarted = performance.now();
      let batch: { value: string }[] = [];
      let batchBytes = 0;
      const flush = async () => {
        if (batch.length === 0) return;
        await producer.send({ topic: topics.centralEvents, messages: batch });
        batch = [];
        batchBytes = 0;
      };
      for (const value of messages) {
        if (batchBytes + value.length > MAX_BATCH_BYTES || batch.length >= MAX_BATCH_MESSAGES) {
          await flush();
        }
        batch.push({ value });
        batchBytes += value.length;
      }
      await flush();

      // The partition keeps order: once the engine acts on this CP_FAULT, it has consumed
      // every hostile message before it.
      await central.send({ event_type: "CP_FAULT", action: "fault", cp_id: cpId });
      await central.waitForStatus("fault", 0, 120_000);
      const stormSeconds = (performance.now() - stormStarted) / 1000;
      assert.equal(await health(healthPort), "KO", "the valid CP_FAULT after the storm works");
      probing = false;
      const answers = await probeLoop;

      const during = central.events.slice(eventsBefore).map((event) => event.value);
      assert.deepEqual(
        during.map((event) => `${event["event_type"]}:${event["status"] ?? ""}`),
        ["cp_status_change:fault"],
        "nothing but the fault status was published",
      );
      assert.ok(answers.length > 0);
      // The probe loop ends after the fault: its last answers may be KO, never anything else.
      const beforeFault = answers.slice(0, answers.lastIndexOf("OK") + 1);
      assert.ok(beforeFault.every((answer) => answer === "OK"), `answers: ${answers.join(",")}`);
      assert.ok(answers.every((answer) => answer === "OK" || answer === "KO"));

      // The last window's summary is written at the latest on shutdown.
      engine.signal("SIGTERM");
      assert.equal(await engine.exited(), 0, "the engine still shuts down cleanly");

      // The log: rate limited, and the counts add up to what the decoder rejected.
      const lines = logLines(engine.output.slice(outputBefore));
      const windows = Math.ceil(stormSeconds / (INPUT_LOG_WINDOW_MS / 1000)) + 1;
      // Two limited kinds are visible at info level, per window: rejected messages (maxLines
      // lines + 1 summary) and commands that changed nothing (maxLines commands of 2 lines each,
      // `Command received` and why nothing changed, + 1 summary); plus the CP_FAULT's and the
      // shutdown's own lines.
      const perWindow = (INPUT_LOG_MAX_LINES + 1) + (2 * INPUT_LOG_MAX_LINES + 1);
      const bound = perWindow * windows + 20;
      const shownRejected = lines.filter((line) => line.includes("Rejected a message")).length;
      const summarizedRejected = lines
        .map((line) => /(\d+) more rejected messages in the last/.exec(line)?.[1])
        .filter((count) => count !== undefined)
        .reduce((sum, count) => sum + Number(count), 0);
      console.log(
        `storm: ${messages.length} messages consumed in ${stormSeconds.toFixed(1)} s; the engine ` +
          `logged ${lines.length} lines (bound ${bound}); ${shownRejected} rejections shown, ` +
          `${summarizedRejected} counted in summaries; ${answers.length} health probes`,
      );
      assert.ok(lines.length <= bound, `too many log lines:\n${lines.join("\n")}`);
      assert.equal(
        shownRejected + summarizedRejected,
        perOutcome.get("rejected") ?? 0,
        "every rejected message is either shown or counted",
      );
      assert.ok(!/uncaught|panic/i.test(engine.output), engine.output);
      const forged = engine.output.split("\n").filter((line) =>
        line !== "" && !/^\d{4}-\d{2}-\d{2}T\S+ (DEBUG|INFO |WARN |ERROR) /.test(line)
      );
      assert.deepEqual(forged, [], "every output line is one of the engine's log lines");
      assert.ok(!engine.output.includes("\u001b"), "no escape sequence reaches the log");
    } finally {
      probing = false;
      await probeLoop.catch(() => []);
      await engine.dispose();
      await producer.disconnect();
      await central.close();
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
