/**
 * Helpers for tests of the engine's durable state: a state directory the engine process may use
 * under its scoped permissions, and the engine's JSON log parsed back into records.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { Kafka, logLevel } from "kafkajs";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** A fresh state directory inside `./state` (the only place the `start` task may write). */
export interface TestStateDir {
  /** The path to pass as `--state-dir` (relative to the repository, the engine's cwd). */
  readonly arg: string;
  /** Deletes the directory and everything in it. */
  remove(): Promise<void>;
}

/** Creates nothing yet: the engine creates the directory, as it must. */
export function testStateDir(label: string): TestStateDir {
  const name = `test-${label}-${crypto.randomUUID().slice(0, 8)}`;
  const absolute = `${REPO_ROOT}/state/${name}`;
  return {
    arg: `./state/${name}`,
    remove: () => Deno.remove(absolute, { recursive: true }).catch(() => {}),
  };
}

/** One line of the engine's `--log-format json` output. */
export interface LogLine {
  readonly time: string;
  readonly level: string;
  readonly message: string;
  readonly [property: string]: unknown;
}

/** The JSON log lines in an engine's output (other lines are skipped). */
export function logLines(output: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      // A line cut in the middle by a kill.
    }
  }
  return lines;
}

/** The events the engine stored in its outbox, in order: `{event_type, message_id, time}`. */
export function storedEvents(
  output: string,
): { eventType: string; messageId: string; at: number }[] {
  return logLines(output)
    .filter((line) => line.message.startsWith("Stored ") && typeof line["message_id"] === "string")
    .map((line) => ({
      eventType: String(line["event_type"]),
      messageId: String(line["message_id"]),
      at: Date.parse(line.time),
    }));
}

/** Every message on `topic` (all partitions), read from the beginning by a fresh consumer. */
export async function readTopic(
  broker: string,
  topic: string,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>[]> {
  const kafka = new Kafka({
    clientId: "topic-reader",
    brokers: broker.split(","),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  let total = 0;
  try {
    for (const partition of await admin.fetchTopicOffsets(topic)) {
      total += Number(partition.high) - Number(partition.low);
    }
  } finally {
    await admin.disconnect();
  }
  if (total === 0) return [];
  const consumer = kafka.consumer({
    groupId: `reader-${crypto.randomUUID()}`,
    maxWaitTimeInMs: 50,
  });
  const values: Record<string, unknown>[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Read ${values.length} of ${total} messages from ${topic}`)),
        timeoutMs,
      );
      consumer.run({
        eachMessage: ({ message }) => {
          values.push(JSON.parse(message.value?.toString() ?? "null"));
          if (values.length >= total) resolve();
          return Promise.resolve();
        },
      }).catch(reject);
    });
    return values;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
}
