/**
 * Asking a test engine's health port (as the Monitor does) from integration tests.
 *
 * @module
 */
import { probeHealth } from "../../src/adapters/health/probe_client.ts";

/** The engine's answer on `port` of loopback (`OK` / `KO`), or `no answer: <reason>`. */
export async function health(port: number): Promise<string> {
  const result = await probeHealth({ host: "127.0.0.1", port, timeoutMs: 2_000 });
  return result.kind === "answer" ? result.answer : `no answer: ${result.reason}`;
}

/** Probes until the answer is `expected` (commands reach the engine asynchronously). */
export async function waitForHealth(
  port: number,
  expected: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    last = await health(port);
    if (last === expected) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Health stayed ${last}, expected ${expected}`);
}
