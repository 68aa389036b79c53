/**
 * The health load: `--probers` concurrent probers against one health port for `--seconds`, each a
 * loop of new TCP connection, `STATUS?\n`, read the answer line, close; flat out, or each at one
 * probe every `--pace-ms`. Run as its own process so that the benchmark's Kafka clients never
 * share its event loop. Prints one JSON line: the answered probes' latency percentiles (from
 * before connecting to the answer's newline), failures (refused, reset, garbage, or no answer
 * within `--timeout-ms`) and how many answers took over a second.
 *
 * Usage: `deno run --allow-net tools/bench/health_load.ts --port P [--host H] [--probers 64]
 * [--seconds 5] [--pace-ms 0] [--timeout-ms 2000]`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type LatencySummary, latencySummary } from "./stats.ts";

/** What one load run measured. */
export interface HealthLoadResult {
  readonly seconds: number;
  readonly answered: number;
  readonly probesPerSecond: number;
  readonly latencyMs: LatencySummary;
  readonly failures: number;
  readonly overOneSecond: number;
  /** The first few failure reasons, for the report. */
  readonly failureReasons: readonly string[];
}

const REQUEST = new TextEncoder().encode("STATUS?\n");
const LINE_FEED = 0x0a;

/**
 * One probe: connect, `STATUS?\n`, read the answer line, close. Resolves to the latency in ms;
 * rejects on any failure (refused, reset, garbage, or no answer within `timeoutMs`).
 */
export async function probeOnce(host: string, port: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  let conn: Deno.TcpConn | undefined;
  const timer = setTimeout(() => conn?.close(), timeoutMs);
  try {
    conn = await Deno.connect({ hostname: host, port, signal: AbortSignal.timeout(timeoutMs) });
    await conn.write(REQUEST);
    const buffer = new Uint8Array(64);
    let received = 0;
    for (;;) {
      const count = await conn.read(buffer.subarray(received));
      if (count === null) throw new Error("closed without an answer");
      received += count;
      const newline = buffer.subarray(0, received).indexOf(LINE_FEED);
      if (newline !== -1) {
        const answer = new TextDecoder().decode(buffer.subarray(0, newline)).trim();
        if (answer !== "OK" && answer !== "KO") throw new Error(`answered ${answer}`);
        return performance.now() - started;
      }
      if (received === buffer.length) throw new Error("no newline in 64 bytes");
    }
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch {
      // Closed by the timer or the peer.
    }
  }
}

/** Runs the load and returns what it measured. */
export async function runHealthLoad(options: {
  host: string;
  port: number;
  probers: number;
  seconds: number;
  paceMs: number;
  timeoutMs: number;
}): Promise<HealthLoadResult> {
  const latencies: number[] = [];
  const reasons: string[] = [];
  let failures = 0;
  const started = performance.now();
  const until = started + options.seconds * 1000;
  await Promise.all(Array.from({ length: options.probers }, async (_, index) => {
    // Paced probers start spread over one period, as independent Monitors would.
    let next = started + (options.paceMs * index) / options.probers;
    while (performance.now() < until) {
      if (options.paceMs > 0) {
        const wait = next - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        next += options.paceMs;
        if (performance.now() >= until) break;
      }
      try {
        latencies.push(await probeOnce(options.host, options.port, options.timeoutMs));
      } catch (error) {
        failures++;
        const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        if (reasons.length < 5 && !reasons.includes(reason)) reasons.push(reason);
      }
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  return {
    seconds,
    answered: latencies.length,
    probesPerSecond: latencies.length / seconds,
    latencyMs: latencySummary(latencies),
    failures,
    overOneSecond: latencies.filter((ms) => ms > 1000).length,
    failureReasons: reasons,
  };
}

if (import.meta.main) {
  // `--warm-up`: load the modules (filling Deno's caches) and exit, uncounted.
  if (Deno.args.includes("--warm-up")) Deno.exit(0);
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      probers: { type: "string", default: "64" },
      seconds: { type: "string", default: "5" },
      "pace-ms": { type: "string", default: "0" },
      "timeout-ms": { type: "string", default: "2000" },
    },
  });
  const result = await runHealthLoad({
    host: values.host,
    port: Number(values.port),
    probers: Number(values.probers),
    seconds: Number(values.seconds),
    paceMs: Number(values["pace-ms"]),
    timeoutMs: Number(values["timeout-ms"]),
  });
  console.log(JSON.stringify(result));
}
