/**
 * Publishes commands on Central's topic, as Central does: one short-lived kafkajs producer that
 * connects, sends, and disconnects. `ev-cp-engine send` uses it to play Central in a lab without
 * one. Unlike the engine's bus it does not retry in the background: a command line that cannot
 * reach Kafka says so and exits.
 *
 * @module
 */
import { Kafka, logLevel } from "kafkajs";
// Side effect: stops kafkajs' idle timer loop and its TimeoutNegativeWarning (see bus.ts).
import { describeError } from "./bus.ts";
import type { KafkaSecurityOptions } from "./security.ts";
import { isAuthenticationFailure } from "./security.ts";

/** Where and how to send. */
export interface CommandSenderSettings extends KafkaSecurityOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Central's command topic (`central-events`). */
  readonly topic: string;
  /** How long to try to reach Kafka before giving up (default 10 s). */
  readonly timeoutMs?: number;
}

/** Kafka could not take the command; the message says where and why. */
export class CommandNotSentError extends Error {
  /** `message` names the brokers and the cause. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CommandNotSentError";
  }
}

/**
 * Sends `message` (a JSON object) to the command topic, keyed by `key` (the cp id), and waits
 * for every in-sync replica to have it (`acks: -1`).
 *
 * @throws {CommandNotSentError} when Kafka is unreachable, rejects the credentials or the write.
 */
export async function sendCommand(
  settings: CommandSenderSettings,
  key: string,
  message: Record<string, unknown>,
): Promise<void> {
  const timeoutMs = settings.timeoutMs ?? 10_000;
  const kafka = new Kafka({
    clientId: settings.clientId,
    brokers: [...settings.brokers],
    ...(settings.ssl === undefined ? {} : { ssl: settings.ssl }),
    ...(settings.sasl === undefined ? {} : { sasl: settings.sasl }),
    connectionTimeout: Math.min(3_000, timeoutMs),
    // A person waits at the prompt: fail within the timeout instead of kafkajs' long retries.
    retry: { retries: 3, initialRetryTime: 200, maxRetryTime: Math.max(200, timeoutMs / 4) },
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  const brokers = settings.brokers.join(",");
  try {
    await producer.connect();
    await producer.send({
      topic: settings.topic,
      messages: [{ key, value: JSON.stringify(message) }],
      acks: -1,
    });
  } catch (error) {
    const why = isAuthenticationFailure(error)
      ? `Kafka rejected the SASL credentials (${describeError(error)})`
      : describeError(error);
    throw new CommandNotSentError(
      `cannot send to ${settings.topic} at ${brokers}: ${why}`,
      { cause: error },
    );
  } finally {
    await producer.disconnect().catch(() => {});
  }
}
