/**
 * The test runner behind `deno task test`.
 *
 * Unless `KAFKA_BROKER` is set (to use an existing broker), it starts one throwaway Kafka broker
 * (tools/kafka_broker.ts) and passes it to the tests as `KAFKA_BROKER` (PLAINTEXT),
 * `KAFKA_SASL_BROKER` (SASL_PLAINTEXT, user `engine` / `engine-secret`), `KAFKA_SSL_BROKER` (SSL)
 * and `KAFKA_SSL_CA_FILE` (PEM of the CA that signed the SSL listener's certificate). Then it runs
 * `deno test` over `tests/` with its output streamed live, stops the broker, and ends with the
 * plain line `N passed, N failed` (top-level tests, as `deno test` counts them). Its exit code is
 * non-zero when a test failed or `deno test` failed.
 *
 * Test files run in parallel, `DENO_JOBS` at a time (3 unless set; `DENO_JOBS=1` for one at a
 * time). Extra arguments go to `deno test`: `deno task test --filter health`,
 * `deno task test tests/kafka_broker_test.ts` (paths replace `tests/`).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { KafkaTestBroker, parentBoundCommand } from "./kafka_broker.ts";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Permissions of the test process; the engine under test is spawned with its own, scoped ones.
 * All of them: the browser tests load playwright-core, which probes `/proc/sys/fs/binfmt_misc`
 * at load (only `--allow-all` grants that), and `--allow-run` gives the tests as much anyway.
 */
const TEST_PERMISSIONS = ["--allow-all"];

/** `deno test` flags whose value is the next argument (so that value is not a path). */
const FLAGS_WITH_VALUE = new Set([
  "--filter",
  "--reporter",
  "--junit-path",
  "--coverage",
  "--seed",
  "--config",
  "-c",
  "--import-map",
  "--location",
  "--env-file",
  "--inspect",
  "--cert",
  "--lock",
  "--ignore",
]);

/** Counts of a `deno test` run. */
export interface TestCounts {
  /** Top-level tests that passed. */
  passed: number;
  /** Top-level tests that failed. */
  failed: number;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/**
 * Reads the counts from the summary line that ends `deno test`'s output, e.g.
 * `FAILED | 2 passed (5 steps) | 1 failed (1 step) | 1 ignored (63ms)`. Returns the last such
 * line's counts, or undefined when there is none.
 */
export function parseDenoTestSummary(output: string): TestCounts | undefined {
  let counts: TestCounts | undefined;
  for (const raw of output.split(/\r?\n/)) {
    const line = raw.replace(ANSI, "").trim();
    const match = line.match(
      /^(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed\b/,
    );
    if (match) counts = { passed: Number(match[1]), failed: Number(match[2]) };
  }
  return counts;
}

/** Whether `args` (for `deno test`) name test files or directories of their own. */
async function hasPathArgs(args: readonly string[]): Promise<boolean> {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return i + 1 < args.length;
    if (arg.startsWith("-")) {
      if (FLAGS_WITH_VALUE.has(arg)) i++;
      continue;
    }
    try {
      await Deno.stat(arg);
      return true;
    } catch {
      // not a path: leave it to deno test
    }
  }
  return false;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Copies `stream` to our stdout as it comes, and returns everything it carried as text. */
async function tee(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) {
    let written = 0;
    while (written < chunk.length) written += await Deno.stdout.write(chunk.subarray(written));
    text += decoder.decode(chunk, { stream: true });
    // Only the end matters (the summary line): keep memory bounded on chatty suites.
    if (text.length > 1_000_000) text = text.slice(-200_000);
  }
  return text + decoder.decode();
}

async function main(args: string[]): Promise<number> {
  const env: Record<string, string> = {
    KAFKAJS_NO_PARTITIONER_WARNING: "1",
    DENO_JOBS: Deno.env.get("DENO_JOBS") ?? "3",
  };
  if (Deno.stdout.isTerminal() && Deno.env.get("NO_COLOR") === undefined) {
    env.FORCE_COLOR = "1"; // our pipe would otherwise turn deno test's colours off
  }

  let broker: KafkaTestBroker | undefined;
  let child: Deno.ChildProcess | undefined;
  let interrupted: Deno.Signal | undefined;
  const onSignal = (signal: Deno.Signal) => () => {
    if (interrupted) return;
    interrupted = signal;
    console.error(`\n${signal}: stopping the tests and the Kafka broker ...`);
    try {
      child?.kill("SIGTERM");
    } catch {
      // already gone
    }
  };
  const signals: [Deno.Signal, () => void][] = [
    ["SIGINT", onSignal("SIGINT")],
    ["SIGTERM", onSignal("SIGTERM")],
  ];
  for (const [signal, handler] of signals) Deno.addSignalListener(signal, handler);

  let counts: TestCounts = { passed: 0, failed: 1 };
  try {
    const existing = Deno.env.get("KAFKA_BROKER");
    if (existing) {
      console.log(`Using the Kafka broker at KAFKA_BROKER=${existing}`);
    } else {
      const prepareStarted = performance.now();
      broker = await KafkaTestBroker.create();
      const prepareMs = performance.now() - prepareStarted;
      if (prepareMs > 1000) {
        console.log(`Prepared the Kafka test broker (Java check, jars) in ${seconds(prepareMs)}.`);
      }
      const startStarted = performance.now();
      if (!interrupted) await broker.start();
      console.log(
        `Kafka test broker started in ${seconds(performance.now() - startStarted)}: ` +
          `KAFKA_BROKER=${broker.bootstrap} KAFKA_SASL_BROKER=${broker.saslBootstrap} ` +
          `KAFKA_SSL_BROKER=${broker.sslBootstrap}`,
      );
      env.KAFKA_BROKER = broker.bootstrap;
      env.KAFKA_SASL_BROKER = broker.saslBootstrap;
      env.KAFKA_SSL_BROKER = broker.sslBootstrap;
      env.KAFKA_SSL_CA_FILE = broker.sslCaFile;
    }
    if (interrupted) return 130;

    const testArgs = [
      "test",
      // Test files run side by side (DENO_JOBS at a time, 3 unless set): most of them wait on
      // brokers, processes and timers, so the suite takes about a third of the time.
      "--parallel",
      "--no-prompt", // a missing permission fails the test instead of waiting at a prompt
      ...TEST_PERMISSIONS,
      ...args,
      ...(await hasPathArgs(args) ? [] : ["tests/"]),
    ];
    const suiteStarted = performance.now();
    // Bound to this process: if the runner is killed, the tests do not run on without it.
    child = (await parentBoundCommand(Deno.execPath(), testArgs, {
      cwd: REPO_ROOT,
      env,
      stdin: "inherit",
      stdout: "piped",
      stderr: "inherit",
    })).spawn();
    const output = await tee(child.stdout);
    const status = await child.status;
    console.log(`Test suite took ${seconds(performance.now() - suiteStarted)}.`);
    if (broker && !broker.running && !interrupted) {
      const log = await broker.logTail(20);
      console.log(`The Kafka test broker died during the suite. End of its log:\n${log}`);
    }

    const summary = parseDenoTestSummary(output);
    if (!summary) {
      console.log(
        `deno test printed no summary (exit code ${status.code}${
          status.signal ? `, signal ${status.signal}` : ""
        }): counting it as one failure.`,
      );
    } else if (!status.success && summary.failed === 0) {
      console.log(
        `deno test failed (exit code ${status.code}) with no failed test: counting one failure.`,
      );
      counts = { passed: summary.passed, failed: 1 };
    } else {
      counts = summary;
    }
    return counts.failed > 0 || !status.success ? 1 : interrupted ? 130 : 0;
  } catch (error) {
    console.error(error instanceof Error ? `error: ${error.message}` : error);
    return 1;
  } finally {
    if (broker) {
      try {
        await broker.dispose();
      } catch (error) {
        console.error("Stopping the Kafka test broker failed:", error);
      }
    }
    for (const [signal, handler] of signals) Deno.removeSignalListener(signal, handler);
    // Last line of the run, read by CI.
    console.log(`${counts.passed} passed, ${counts.failed} failed`);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
