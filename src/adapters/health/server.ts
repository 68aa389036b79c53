/**
 * The engine's health TCP server (protocol.md section 5): a Monitor connects, writes
 * `STATUS?\n` and reads `OK\n` or `KO\n`. A client whose first byte is STX speaks the framed
 * variant instead (see `../protocol/health_frames.ts`).
 *
 * Every connection runs its own read loop, so a slow, idle or malicious client never delays
 * another one's answer; idle connections time out, oversized requests are cut off, and network
 * errors close the one connection they happen on, never the server.
 *
 * @module
 */
import type { Clock, HealthAnswer, HealthSource, Logger } from "../../app/ports.ts";
import { HealthPortInUseError } from "../../app/ports.ts";
import { systemClock } from "../clock.ts";
import { engineLogger } from "../logging.ts";
import {
  encodeStatusReplyFrame,
  isStatusRequest,
  NACK,
  readFrame,
  STX,
} from "../../protocol/health_frames.ts";
import { ensurePortFree, portOpenError } from "../port_check.ts";

export { HealthPortInUseError };
export type { HealthAnswer, HealthSource };

/** Options of {@linkcode HealthServer.listen}. */
export interface HealthServerOptions {
  /** Address to listen on, e.g. `0.0.0.0` (`--health-host`). */
  hostname: string;
  /** TCP port to listen on (`--health-port`); 0 lets the operating system pick one. */
  port: number;
  /** A connection that completes no valid request for this long is closed. Default 10 000 ms. */
  idleTimeoutMs?: number;
  /**
   * Longest request accepted (a line without its newline, or a whole frame). A client that sends
   * more without finishing its request gets `ERR\n` (NACK when framed) and is disconnected.
   * Default 1024 bytes.
   */
  maxLineBytes?: number;
  /**
   * Connections served at once. Beyond it a new connection still gets in: the one that has been
   * quiet longest is closed for it, so clients holding every slot cannot lock the Monitor out.
   * Default 1024.
   */
  maxConnections?: number;
  /**
   * Connections served at once from one address; beyond it that address's quietest connection
   * is closed for the new one. Default 256.
   */
  maxConnectionsPerAddress?: number;
  /**
   * The engine is told of probes at most this often (ms): a flood of valid probes costs an
   * answer each, not a state transition each. Default 200.
   */
  probeNoticeIntervalMs?: number;
  /** Where the server logs (default: the `health` logger); the engine adds its cp id. */
  logger?: Logger;
  /** Timers for the idle sweep and accept retries (default: the real clock). */
  clock?: Clock;
}

const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_LINE_BYTES = 1024;
const DEFAULT_MAX_CONNECTIONS = 1024;
const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 256;
const DEFAULT_PROBE_NOTICE_INTERVAL_MS = 200;
/** Free space a connection's buffer keeps for the next read, beyond the longest request. */
const READ_ROOM_BYTES = 2048;
/** A connection's buffer starts this small and grows only for clients that send long requests. */
const INITIAL_BUFFER_BYTES = 512;

/** Pause after a failed accept() (e.g. out of file descriptors) before trying again. */
const ACCEPT_RETRY_DELAY_MS = 100;
/** Longest interval between two idle sweeps. */
const MAX_IDLE_TICK_MS = 1000;

const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;

const encoder = new TextEncoder();
const OK_LINE = encoder.encode("OK\n");
const KO_LINE = encoder.encode("KO\n");
const ERR_LINE = encoder.encode("ERR\n");
const OK_FRAME_REPLY = encodeStatusReplyFrame("OK");
const KO_FRAME_REPLY = encodeStatusReplyFrame("KO");
const ERR_FRAME_REPLY = encodeStatusReplyFrame("ERR");
const NACK_REPLY = Uint8Array.of(NACK);

const defaultLogger = engineLogger("health");

/** One accepted client: its socket, its receive buffer and when it last made a request. */
interface Connection {
  readonly conn: Deno.TcpConn;
  /** The client's address (without the port). */
  readonly host: string;
  /** When it last did something useful (accepted, answered): the quietest goes first. */
  lastActivity: number;
  buffer: Uint8Array;
  /** Received bytes not yet handled are `buffer[start..end)`. */
  start: number;
  end: number;
  /** Unknown until the first byte arrives: STX makes the connection framed. */
  mode: "unknown" | "plain" | "framed";
  /** The idle sweep's tick at the last valid request (or at accept). */
  lastActiveTick: number;
  closed: boolean;
}

/** What the read loop does after handling the bytes it has. */
type Verdict = "continue" | "close";

/**
 * The health TCP server. Create it with {@linkcode HealthServer.listen}; stop it with
 * {@linkcode HealthServer.close}.
 *
 * @example
 * ```ts
 * const server = HealthServer.listen({ hostname: "0.0.0.0", port: 5100 }, engine);
 * // ...
 * await server.close();
 * ```
 */
export class HealthServer {
  /** The port actually listened on (the one the OS picked when asked for port 0). */
  readonly port: number;
  /** The address listened on. */
  readonly hostname: string;

  readonly #listener: Deno.TcpListener;
  readonly #log: Logger;
  readonly #source: HealthSource;
  readonly #idleTimeoutMs: number;
  /** Idle connections are found by a periodic sweep, not by a timer per connection. */
  readonly #clock: Clock;
  /**
   * The sweep's timer runs only while connections are open: an idle port (no Monitor connected
   * between probes, and every port of a fleet but the probed ones) wakes nothing.
   */
  #idleSweep: unknown = null;
  readonly #idleTickMs: number;
  readonly #idleTicks: number;
  #tick = 0;
  readonly #maxLineBytes: number;
  readonly #maxConnections: number;
  readonly #maxPerAddress: number;
  readonly #probeNoticeIntervalMs: number;
  #lastProbeNoticeAt = Number.NEGATIVE_INFINITY;
  #activity = 0;
  readonly #connections = new Set<Connection>();
  // Made with the first connection: a fleet's ten thousand ports are mostly never probed.
  #byHost: Map<string, Set<Connection>> | null = null;
  /** Read loops still running, and who waits for the last one to end (shutdown). */
  #runningLoops = 0;
  #loopsEnded: (() => void) | null = null;
  readonly #acceptLoop: Promise<void>;
  #closing = false;
  #closed: Promise<void> | undefined;
  #acceptPause: { timer: unknown; resume: () => void } | undefined;

  private constructor(
    listener: Deno.TcpListener,
    options: HealthServerOptions,
    source: HealthSource,
  ) {
    this.#listener = listener;
    this.#log = options.logger ?? defaultLogger;
    this.#source = source;
    this.port = listener.addr.port;
    this.hostname = listener.addr.hostname;
    this.#idleTimeoutMs = positive(options.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS, "idleTimeoutMs");
    this.#maxLineBytes = positive(options.maxLineBytes, DEFAULT_MAX_LINE_BYTES, "maxLineBytes");
    this.#maxConnections = positive(
      options.maxConnections,
      DEFAULT_MAX_CONNECTIONS,
      "maxConnections",
    );
    this.#maxPerAddress = positive(
      options.maxConnectionsPerAddress,
      DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
      "maxConnectionsPerAddress",
    );
    this.#probeNoticeIntervalMs = options.probeNoticeIntervalMs ??
      DEFAULT_PROBE_NOTICE_INTERVAL_MS;
    // One timer for the whole server: re-arming a timer on every probe would cost more than the
    // probe. A connection is closed between idleTimeoutMs and idleTimeoutMs + one tick.
    const tickMs = Math.max(1, Math.min(MAX_IDLE_TICK_MS, Math.ceil(this.#idleTimeoutMs / 4)));
    this.#idleTicks = Math.ceil(this.#idleTimeoutMs / tickMs);
    this.#clock = options.clock ?? systemClock;
    this.#idleTickMs = tickMs;
    this.#acceptLoop = this.#accept();
  }

  /**
   * Opens the health port and starts answering probes.
   *
   * @throws {HealthPortInUseError} when the port is already in use.
   * @throws {RangeError} when an option is not a positive integer.
   */
  static listen(options: HealthServerOptions, source: HealthSource): HealthServer {
    // Validate before opening the port, so that bad options never leak a listener.
    positive(options.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS, "idleTimeoutMs");
    positive(options.maxLineBytes, DEFAULT_MAX_LINE_BYTES, "maxLineBytes");
    positive(options.maxConnections, DEFAULT_MAX_CONNECTIONS, "maxConnections");
    positive(
      options.maxConnectionsPerAddress,
      DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
      "maxConnectionsPerAddress",
    );
    let listener: Deno.TcpListener;
    try {
      listener = Deno.listen({ hostname: options.hostname, port: options.port, transport: "tcp" });
    } catch (error) {
      throw portOpenError(
        error,
        "the health port",
        options,
        (cause) => new HealthPortInUseError(options.hostname, options.port, { cause }),
      );
    }
    const server = new HealthServer(listener, options, source);
    server.#log.info("Health server listening on {host}:{port}", {
      host: server.hostname,
      port: server.port,
    });
    return server;
  }

  /**
   * Checks that `hostname:port` can be listened on, before anything else happens (a point must
   * not register, nor create its state, when its port is taken). Port 0 is always free.
   *
   * @throws {HealthPortInUseError} when something already listens there.
   */
  static ensureFree(address: { readonly hostname: string; readonly port: number }): void {
    ensurePortFree(
      address,
      (cause) => new HealthPortInUseError(address.hostname, address.port, { cause }),
    );
  }

  /** Connections currently open (0 once {@linkcode HealthServer.close} has resolved). */
  get openConnections(): number {
    return this.#connections.size;
  }

  /**
   * Stops listening and closes every open connection; resolves once all of them are closed and
   * their read loops have ended. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.#closed ??= this.#shutdown();
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    this.#closing = true;
    if (this.#idleSweep !== null) this.#clock.clearInterval(this.#idleSweep);
    this.#idleSweep = null;
    try {
      this.#listener.close();
    } catch {
      // Already closed: nothing to release.
    }
    if (this.#acceptPause !== undefined) {
      this.#clock.clearTimeout(this.#acceptPause.timer);
      this.#acceptPause.resume();
    }
    for (const connection of this.#connections) this.#closeConnection(connection);
    await this.#acceptLoop;
    // A connection accepted just before the listener closed may have been added since.
    for (const connection of this.#connections) this.#closeConnection(connection);
    if (this.#runningLoops > 0) {
      await new Promise<void>((resolve) => this.#loopsEnded = resolve);
    }
    this.#log.info("Health server on {host}:{port} closed", {
      host: this.hostname,
      port: this.port,
    });
  }

  async #accept(): Promise<void> {
    while (!this.#closing) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing) return;
        if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) {
          return;
        }
        // Out of file descriptors and the like: this client is lost, the next may not be. The
        // pause keeps a persistent failure from spinning the CPU.
        this.#log.warn("Health server could not accept a connection, retrying: {error}", {
          error,
        });
        await this.#pauseAccepting();
        continue;
      }
      if (this.#closing) {
        closeQuietly(conn);
        continue;
      }
      this.#makeSpaceFor(conn.remoteAddr.hostname);
      this.#serve(conn);
    }
  }

  /** Waits a little after a failed accept(); close() cuts the wait short. */
  #pauseAccepting(): Promise<void> {
    return new Promise<void>((resume) => {
      const timer = this.#clock.setTimeout(() => {
        this.#acceptPause = undefined;
        resume();
      }, ACCEPT_RETRY_DELAY_MS);
      this.#acceptPause = { timer, resume };
    });
  }

  /**
   * Before a new connection from `host` is served: when that address, or the server, is at its
   * limit, the quietest connection (of that address, or of all) is closed to make room.
   */
  #makeSpaceFor(host: string): void {
    const own = this.#byHost?.get(host);
    let pool: Iterable<Connection> | null = null;
    if (own !== undefined && own.size >= this.#maxPerAddress) pool = own;
    else if (this.#connections.size >= this.#maxConnections) pool = this.#connections;
    if (pool === null) return;
    let quietest: Connection | null = null;
    for (const connection of pool) {
      if (quietest === null || connection.lastActivity < quietest.lastActivity) {
        quietest = connection;
      }
    }
    if (quietest === null) return;
    this.#log.debug("Health connection from {remote} closed to make room for {host}", {
      remote: remoteOf(quietest),
      host,
    });
    this.#closeConnection(quietest);
  }

  #serve(conn: Deno.TcpConn): void {
    const connection: Connection = {
      conn,
      host: conn.remoteAddr.hostname,
      lastActivity: ++this.#activity,
      buffer: new Uint8Array(Math.min(INITIAL_BUFFER_BYTES, this.#maxLineBytes + READ_ROOM_BYTES)),
      start: 0,
      end: 0,
      mode: "unknown",
      lastActiveTick: this.#tick,
      closed: false,
    };
    try {
      conn.setNoDelay(true);
    } catch {
      // Only latency is at stake.
    }
    this.#connections.add(connection);
    this.#idleSweep ??= this.#clock.setInterval(
      () => this.#closeIdleConnections(),
      this.#idleTickMs,
    );
    this.#byHost ??= new Map();
    let fromHost = this.#byHost.get(connection.host);
    if (fromHost === undefined) this.#byHost.set(connection.host, fromHost = new Set());
    fromHost.add(connection);
    // Not awaited: every connection is served concurrently with the others and with accept().
    this.#runningLoops++;
    void this.#serveUntilClosed(connection);
  }

  async #serveUntilClosed(connection: Connection): Promise<void> {
    try {
      await this.#readLoop(connection);
    } finally {
      this.#closeConnection(connection);
      this.#runningLoops--;
      if (this.#runningLoops === 0) this.#loopsEnded?.();
    }
  }

  async #readLoop(connection: Connection): Promise<void> {
    while (!connection.closed) {
      this.#makeRoom(connection);
      let count: number | null;
      try {
        count = await connection.conn.read(connection.buffer.subarray(connection.end));
      } catch (error) {
        if (!connection.closed) {
          this.#log.debug("Health connection from {remote} failed while reading: {error}", {
            remote: remoteOf(connection),
            error,
          });
        }
        return;
      }
      if (count === null) {
        await this.#onEndOfInput(connection);
        return;
      }
      connection.end += count;
      if (connection.mode === "unknown") {
        connection.mode = connection.buffer[connection.start] === STX ? "framed" : "plain";
      }
      const verdict = connection.mode === "framed"
        ? await this.#handleFrames(connection)
        : await this.#handleLines(connection);
      if (verdict === "close") return;
    }
  }

  /** Answers every complete line in the buffer, in order, with one write. */
  async #handleLines(connection: Connection): Promise<Verdict> {
    const buffer = connection.buffer;
    const replies: Uint8Array[] = [];
    let lineStart = connection.start;
    for (let index = lineStart; index < connection.end; index++) {
      if (buffer[index] !== LINE_FEED) continue;
      if (index - lineStart > this.#maxLineBytes) {
        return await this.#rejectOversized(connection, replies, ERR_LINE);
      }
      replies.push(this.#answerLine(connection, lineStart, index));
      lineStart = index + 1;
    }
    connection.start = lineStart;
    if (connection.end - connection.start > this.#maxLineBytes) {
      return await this.#rejectOversized(connection, replies, ERR_LINE);
    }
    return await this.#send(connection, replies) ? "continue" : "close";
  }

  /** Answers every complete frame in the buffer, in order, with one write. */
  async #handleFrames(connection: Connection): Promise<Verdict> {
    const buffer = connection.buffer;
    const replies: Uint8Array[] = [];
    while (connection.start < connection.end) {
      const frame = readFrame(buffer, connection.start, connection.end);
      if (frame.kind === "incomplete") {
        connection.start += frame.skipped;
        break;
      }
      connection.start += frame.consumed;
      if (frame.kind === "bad_lrc") {
        this.#log.debug("Health frame from {remote} has a bad LRC: NACK", {
          remote: remoteOf(connection),
        });
        replies.push(NACK_REPLY);
      } else if (isStatusRequest(buffer, frame.payloadStart, frame.payloadEnd)) {
        replies.push(this.#probe(connection) === "OK" ? OK_FRAME_REPLY : KO_FRAME_REPLY);
      } else {
        this.#log.debug("Unknown health frame from {remote}: {request}", {
          remote: remoteOf(connection),
          request: printable(buffer, frame.payloadStart, frame.payloadEnd),
        });
        replies.push(ERR_FRAME_REPLY);
      }
    }
    if (connection.end - connection.start > this.#maxLineBytes) {
      return await this.#rejectOversized(connection, replies, NACK_REPLY);
    }
    return await this.#send(connection, replies) ? "continue" : "close";
  }

  /** The client half-closed: answer a pending unterminated line, then close. */
  async #onEndOfInput(connection: Connection): Promise<void> {
    if (connection.mode !== "plain" || connection.end === connection.start) return;
    const reply = this.#answerLine(connection, connection.start, connection.end);
    connection.start = connection.end;
    await this.#send(connection, [reply]);
  }

  /** The reply to the line `buffer[start..end)` (without its newline). */
  #answerLine(connection: Connection, start: number, end: number): Uint8Array {
    const buffer = connection.buffer;
    let first = start;
    let last = end;
    while (first < last && isBlank(buffer[first]!)) first++;
    while (last > first && isBlank(buffer[last - 1]!)) last--;
    if (isStatusRequest(buffer, first, last)) {
      return this.#probe(connection) === "OK" ? OK_LINE : KO_LINE;
    }
    this.#log.debug("Unknown health request from {remote}: {request}", {
      remote: remoteOf(connection),
      request: printable(buffer, start, end),
    });
    return ERR_LINE;
  }

  /** A valid probe: ask the source, tell it a probe came, and restart the idle clock. */
  #probe(connection: Connection): HealthAnswer {
    connection.lastActiveTick = this.#tick;
    connection.lastActivity = ++this.#activity;
    let answer: HealthAnswer;
    try {
      answer = this.#source.healthAnswer();
    } catch (error) {
      // The engine cannot vouch for its health: the safe answer is KO.
      this.#log.error("The engine failed to give a health answer, answering KO: {error}", {
        error,
      });
      answer = "KO";
    }
    const now = this.#clock.now();
    if (now - this.#lastProbeNoticeAt >= this.#probeNoticeIntervalMs) {
      this.#lastProbeNoticeAt = now;
      try {
        this.#source.onProbe();
      } catch (error) {
        this.#log.error("The engine failed to record a health probe: {error}", { error });
      }
    }
    return answer;
  }

  async #rejectOversized(
    connection: Connection,
    replies: Uint8Array[],
    rejection: Uint8Array,
  ): Promise<Verdict> {
    this.#log.debug(
      "Health request from {remote} is longer than {max} bytes: answered and disconnected",
      { remote: remoteOf(connection), max: this.#maxLineBytes },
    );
    replies.push(rejection);
    connection.start = connection.end;
    await this.#send(connection, replies);
    return "close";
  }

  /** Writes the replies; false when the connection is gone (it is then closed). */
  async #send(connection: Connection, replies: Uint8Array[]): Promise<boolean> {
    if (replies.length === 0) return true;
    const bytes = replies.length === 1 ? replies[0]! : concat(replies);
    try {
      let written = 0;
      while (written < bytes.length) {
        written += await connection.conn.write(bytes.subarray(written));
      }
      return true;
    } catch (error) {
      if (!connection.closed) {
        this.#log.debug("Health connection from {remote} failed while writing: {error}", {
          remote: remoteOf(connection),
          error,
        });
        this.#closeConnection(connection);
      }
      return false;
    }
  }

  /** Compacts the buffer and grows it when a long request leaves too little room to read. */
  #makeRoom(connection: Connection): void {
    const pending = connection.end - connection.start;
    if (connection.start > 0) {
      if (pending > 0) connection.buffer.copyWithin(0, connection.start, connection.end);
      connection.start = 0;
      connection.end = pending;
    }
    const capacity = connection.buffer.length;
    if (capacity - pending >= INITIAL_BUFFER_BYTES / 2) return;
    const largest = this.#maxLineBytes + READ_ROOM_BYTES;
    if (capacity >= largest) return;
    const grown = new Uint8Array(Math.min(largest, capacity * 2));
    grown.set(connection.buffer.subarray(0, pending));
    connection.buffer = grown;
  }

  #closeIdleConnections(): void {
    if (this.#connections.size === 0) {
      this.#clock.clearInterval(this.#idleSweep);
      this.#idleSweep = null;
      return;
    }
    this.#tick++;
    for (const connection of this.#connections) {
      if (this.#tick - connection.lastActiveTick <= this.#idleTicks) continue;
      this.#log.debug("Health connection from {remote} idle for {timeout} ms: closed", {
        remote: remoteOf(connection),
        timeout: this.#idleTimeoutMs,
      });
      this.#closeConnection(connection);
    }
  }

  /** Closes the socket (which ends a pending read) and forgets the connection. Idempotent. */
  #closeConnection(connection: Connection): void {
    if (connection.closed) return;
    connection.closed = true;
    closeQuietly(connection.conn);
    this.#connections.delete(connection);
    const fromHost = this.#byHost?.get(connection.host);
    fromHost?.delete(connection);
    if (fromHost?.size === 0) this.#byHost?.delete(connection.host);
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`Invalid health server option ${name}: ${value}: expected an integer > 0`);
  }
  return value;
}

/** `host:port` of the client, for log lines only (not built for every probe). */
function remoteOf(connection: Connection): string {
  const address = connection.conn.remoteAddr;
  return `${address.hostname}:${address.port}`;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed by the peer or by a failed write.
  }
}

function isBlank(byte: number): boolean {
  return byte === SPACE || byte === TAB || byte === CARRIAGE_RETURN;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

/** A short, log-safe rendering of a client's request (control bytes escaped, long ones cut). */
function printable(bytes: Uint8Array, start: number, end: number): string {
  const shown = Math.min(end, start + 64);
  let text = "";
  for (let index = start; index < shown; index++) {
    const byte = bytes[index]!;
    text += byte >= 0x20 && byte < 0x7f
      ? String.fromCharCode(byte)
      : `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return end > shown ? `${text}... (${end - start} bytes)` : text;
}
