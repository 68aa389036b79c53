/**
 * The client side of the health check: what the Monitor does once a second, as a function.
 * Used by the `ev-cp-engine probe` sub-command and by tests.
 *
 * @module
 */
import { encodeStatusRequestFrame, readStatusReplyFrame } from "../../protocol/health_frames.ts";

/** Options of {@linkcode probeHealth}. */
export interface ProbeOptions {
  /** The engine's health host, e.g. `127.0.0.1`. */
  host: string;
  /** The engine's health port, e.g. 5100. */
  port: number;
  /** Send the framed request (`<STX>STATUS?<ETX><LRC>`) instead of the line `STATUS?\n`. */
  framed?: boolean;
  /** Give up when no whole answer came this long after the probe started. Default 2000 ms. */
  timeoutMs?: number;
}

/**
 * The outcome of a probe: the engine's answer and how long it took (connecting included, as the
 * Monitor sees it), or why there was no answer.
 */
export type ProbeResult =
  | { kind: "answer"; answer: "OK" | "KO"; latencyMs: number }
  | { kind: "no_answer"; reason: string };

const DEFAULT_TIMEOUT_MS = 2000;
/** A reply is `OK\n` or a 7-byte frame; anything longer than this is not a health reply. */
const MAX_REPLY_BYTES = 64;
const LINE_FEED = 0x0a;

const LINE_REQUEST = new TextEncoder().encode("STATUS?\n");
const FRAME_REQUEST = encodeStatusRequestFrame();
const decoder = new TextDecoder();

/**
 * Opens a new connection to the engine's health port, asks `STATUS?`, reads the answer and
 * closes. Network problems (refused connection, timeout, reset, garbage) are results, never
 * exceptions.
 *
 * @example
 * ```ts
 * const result = await probeHealth({ host: "127.0.0.1", port: 5100 });
 * if (result.kind === "answer") console.log(result.answer, `${result.latencyMs.toFixed(1)} ms`);
 * else console.log(`no answer: ${result.reason}`);
 * ```
 *
 * @throws {RangeError} when `timeoutMs` is not a positive number (a caller's bug).
 */
export async function probeHealth(options: ProbeOptions): Promise<ProbeResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw new RangeError(`Invalid probe timeout ${timeoutMs} ms: expected a positive number`);
  }
  const target = `${options.host}:${options.port}`;
  const started = performance.now();
  const abort = new AbortController();
  let conn: Deno.TcpConn | undefined;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
    // Closing the socket ends a pending read or write.
    if (conn !== undefined) closeQuietly(conn);
  }, timeoutMs);
  try {
    conn = await Deno.connect({
      hostname: options.host,
      port: options.port,
      transport: "tcp",
      signal: abort.signal,
    });
    if (timedOut) return noAnswerInTime(target, timeoutMs);
    await writeAll(conn, options.framed === true ? FRAME_REQUEST : LINE_REQUEST);
    const reply = options.framed === true ? await readFramedReply(conn) : await readLineReply(conn);
    if (timedOut) return noAnswerInTime(target, timeoutMs);
    if (reply.kind === "no_answer") return reply;
    return { kind: "answer", answer: reply.answer, latencyMs: performance.now() - started };
  } catch (error) {
    if (timedOut) return noAnswerInTime(target, timeoutMs);
    return { kind: "no_answer", reason: describeNetworkError(error, target) };
  } finally {
    clearTimeout(timer);
    if (conn !== undefined) closeQuietly(conn);
  }
}

type Reply = { kind: "answer"; answer: "OK" | "KO" } | { kind: "no_answer"; reason: string };

async function readLineReply(conn: Deno.Conn): Promise<Reply> {
  const buffer = new Uint8Array(MAX_REPLY_BYTES);
  let received = 0;
  while (true) {
    const count = await conn.read(buffer.subarray(received));
    if (count === null) return closedEarly(buffer, received);
    const scanFrom = received;
    received += count;
    const newline = buffer.subarray(scanFrom, received).indexOf(LINE_FEED);
    if (newline !== -1) {
      const line = decoder.decode(buffer.subarray(0, scanFrom + newline)).trim();
      if (line === "OK" || line === "KO") return { kind: "answer", answer: line };
      return { kind: "no_answer", reason: `unexpected reply ${JSON.stringify(line)}` };
    }
    if (received === buffer.length) {
      return {
        kind: "no_answer",
        reason: `unexpected reply: ${MAX_REPLY_BYTES} bytes without a newline`,
      };
    }
  }
}

async function readFramedReply(conn: Deno.Conn): Promise<Reply> {
  const buffer = new Uint8Array(MAX_REPLY_BYTES);
  let received = 0;
  while (true) {
    const count = await conn.read(buffer.subarray(received));
    if (count === null) return closedEarly(buffer, received);
    received += count;
    const reply = readStatusReplyFrame(buffer, 0, received);
    switch (reply.kind) {
      case "answer":
        return reply;
      case "nack":
        return { kind: "no_answer", reason: "the engine rejected the request frame (NACK)" };
      case "invalid":
        return { kind: "no_answer", reason: `unexpected framed reply: ${reply.reason}` };
      case "incomplete":
        if (received === buffer.length) {
          return {
            kind: "no_answer",
            reason: `unexpected framed reply: ${MAX_REPLY_BYTES} bytes without a whole frame`,
          };
        }
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

function noAnswerInTime(target: string, timeoutMs: number): ProbeResult {
  return { kind: "no_answer", reason: `no answer from ${target} within ${timeoutMs} ms` };
}

function describeNetworkError(error: unknown, target: string): string {
  if (error instanceof Deno.errors.ConnectionRefused) {
    return `connection to ${target} refused (is the engine running with this --health-port?)`;
  }
  if (error instanceof Deno.errors.ConnectionReset) {
    return `the connection to ${target} was reset before an answer came`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `cannot probe ${target}: ${message}`;
}

/** The engine closed the connection before a whole reply came. */
function closedEarly(buffer: Uint8Array, received: number): Reply {
  if (received === 0) {
    return { kind: "no_answer", reason: "the engine closed the connection without answering" };
  }
  const partial = JSON.stringify(decoder.decode(buffer.subarray(0, received)));
  return {
    kind: "no_answer",
    reason: `the engine closed the connection after an unfinished reply ${partial}`,
  };
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
