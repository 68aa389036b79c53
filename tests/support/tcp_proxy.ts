/**
 * A fault-injecting TCP proxy on loopback, for soak and failure tests: it forwards connections to
 * a target port and can, at any moment, add latency, hold all traffic (a network partition), or
 * reset every connection and refuse new ones (a peer that is gone). Pure Deno, nothing to install.
 *
 * Modes ({@linkcode ProxyMode}), switched with {@linkcode TcpProxy.setMode}:
 *
 * - `pass`: bytes flow both ways as they come.
 * - `latency`: every chunk is delivered `ms` after it arrived, in each direction (a request and its
 *   answer take at least 2 x `ms` more); throughput is not limited.
 * - `blackhole`: nothing is forwarded and nothing is read, like a partition on a path where TCP
 *   keeps retransmitting: senders' writes pile up in the socket buffers, new connections are
 *   accepted and held. Back in `pass`, what was held flows on, nothing lost (a client may have
 *   given up meanwhile, as it would on a real network).
 * - `reset`: every connection is closed at once and the listening port is closed, so new
 *   connections are refused (ECONNREFUSED) until another mode opens it again. (Deno cannot send
 *   an RST on purpose; peers see the connection closed, an RST when they had unread data.)
 *
 * {@linkcode TcpProxy.cutAll} drops the current connections and keeps the mode.
 *
 * ## Kafka through the proxy
 *
 * A Kafka client only bootstraps at the address it is given; after that it connects to the
 * address each broker advertises. So the broker must advertise the proxy's port:
 *
 * ```ts
 * const proxy = TcpProxy.start(); // listening first: its port cannot be taken meanwhile
 * const broker = await KafkaTestBroker.create({ advertisedPlaintextPort: proxy.port });
 * proxy.targetPort = broker.plaintextPort;
 * await broker.start();
 * // broker.bootstrap is now the proxy's address: every PLAINTEXT client goes through it.
 * // broker.directBootstrap is a PLAINTEXT listener no proxy stands in front of.
 * ```
 *
 * For the engine: start it with `--kafka-broker ${proxy.address}` (that is `broker.bootstrap`),
 * and let the Central double (`tests/support/kafka.ts`) use `broker.directBootstrap`, so that the
 * test still sees what the engine manages to publish while its own path to Kafka is cut. Then
 * drive the faults: `proxy.setMode({ kind: "blackhole" })`, `{ kind: "reset" }`,
 * `{ kind: "latency", ms: 500 }`, `proxy.cutAll()`, and `{ kind: "pass" }` to heal. The SASL and
 * SSL listeners are not proxied.
 *
 * @module
 */

/** What the proxy does with traffic; see the module comment. */
export type ProxyMode =
  | { readonly kind: "pass" }
  | { readonly kind: "latency"; readonly ms: number }
  | { readonly kind: "blackhole" }
  | { readonly kind: "reset" };

/** Options of {@linkcode TcpProxy.start}. */
export interface TcpProxyOptions {
  /** The port to forward to; can also be set later ({@linkcode TcpProxy.targetPort}). */
  readonly targetPort?: number;
  /** The host to forward to. Default `127.0.0.1`. */
  readonly targetHost?: string;
  /** The port to listen on, on 127.0.0.1. Default: a free port. */
  readonly port?: number;
  /** The first mode. Default `pass`. */
  readonly mode?: ProxyMode;
}

/** Bytes carried so far, per direction. */
export interface ProxyTraffic {
  /** From clients to the target. */
  readonly upstream: number;
  /** From the target to clients. */
  readonly downstream: number;
}

const BUFFER_SIZE = 64 * 1024;

/** Something that happens once; `wait()` resolves then (at once if it already has). */
class Latch {
  readonly #done = Promise.withResolvers<void>();
  #fired = false;

  get fired(): boolean {
    return this.#fired;
  }

  fire(): void {
    this.#fired = true;
    this.#done.resolve();
  }

  wait(): Promise<void> {
    return this.#done.promise;
  }
}

function closeQuietly(closer: { close(): void } | undefined): void {
  try {
    closer?.close();
  } catch {
    // already closed
  }
}

/** One client connection and its connection to the target. */
class ProxiedConnection {
  readonly closed = new Latch();
  #upstream: Deno.Conn | undefined;

  constructor(readonly client: Deno.Conn) {}

  attach(upstream: Deno.Conn): void {
    if (this.closed.fired) closeQuietly(upstream);
    else this.#upstream = upstream;
  }

  close(): void {
    if (this.closed.fired) return;
    this.closed.fire();
    closeQuietly(this.client);
    closeQuietly(this.#upstream);
  }
}

/** A fault-injecting TCP proxy; see the module comment. */
export class TcpProxy {
  /** The port the proxy listens on (127.0.0.1), also while `reset` keeps it closed. */
  readonly port: number;
  /**
   * The port new connections are forwarded to (open ones stay where they are). While it is
   * undefined, new connections are closed at once, as if the target were down.
   */
  targetPort: number | undefined;
  readonly #targetHost: string;
  readonly #connections = new Set<ProxiedConnection>();
  readonly #tasks = new Set<Promise<void>>();
  #listener: Deno.Listener | undefined;
  #mode: ProxyMode;
  /** Fired and replaced at every mode change, to wake what waits for one. */
  #modeChanged = new Latch();
  #closed = false;
  #accepted = 0;
  #upstreamBytes = 0;
  #downstreamBytes = 0;

  private constructor(options: TcpProxyOptions, listener: Deno.Listener) {
    this.#targetHost = options.targetHost ?? "127.0.0.1";
    this.targetPort = options.targetPort;
    this.#mode = options.mode ?? { kind: "pass" };
    this.port = (listener.addr as Deno.NetAddr).port;
    if (this.#mode.kind === "reset") {
      listener.close();
    } else {
      this.#listen(listener);
    }
  }

  /**
   * Starts listening on 127.0.0.1 and forwarding to the target.
   *
   * @throws {Error} when the port is taken, or for a bad mode.
   */
  static start(options: TcpProxyOptions = {}): TcpProxy {
    if (options.mode !== undefined) validateMode(options.mode);
    let listener: Deno.Listener;
    try {
      listener = Deno.listen({ hostname: "127.0.0.1", port: options.port ?? 0 });
    } catch (error) {
      throw new Error(
        `Cannot start the TCP proxy on 127.0.0.1:${options.port ?? 0}: ${
          error instanceof Error ? error.message : error
        }`,
        { cause: error },
      );
    }
    return new TcpProxy(options, listener);
  }

  /** `127.0.0.1:PORT`: where clients connect. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The current mode. */
  get mode(): ProxyMode {
    return this.#mode;
  }

  /** Connections open now (accepted and not closed). */
  get openConnections(): number {
    return this.#connections.size;
  }

  /** Connections accepted since the start. */
  get acceptedConnections(): number {
    return this.#accepted;
  }

  /** Bytes forwarded so far, per direction (chunks held by `blackhole` or `latency` not yet). */
  get traffic(): ProxyTraffic {
    return { upstream: this.#upstreamBytes, downstream: this.#downstreamBytes };
  }

  /**
   * Switches the mode; it applies at once to open connections and to new ones. Leaving `reset`
   * listens on {@linkcode TcpProxy.port} again.
   *
   * @throws {Error} for a bad mode, or when leaving `reset` finds the port taken by someone else.
   */
  setMode(mode: ProxyMode): void {
    validateMode(mode);
    if (this.#closed) throw new Error("setMode() on a closed TcpProxy");
    const wasReset = this.#mode.kind === "reset";
    if (mode.kind === "reset") {
      closeQuietly(this.#listener);
      this.#listener = undefined;
      this.cutAll();
    } else if (wasReset) {
      try {
        this.#listen(Deno.listen({ hostname: "127.0.0.1", port: this.port }));
      } catch (error) {
        throw new Error(
          `Cannot leave reset mode: the TCP proxy cannot listen on 127.0.0.1:${this.port} again ` +
            `(${error instanceof Error ? error.message : error})`,
          { cause: error },
        );
      }
    }
    this.#mode = mode;
    const changed = this.#modeChanged;
    this.#modeChanged = new Latch();
    changed.fire();
  }

  /** Closes every open connection at once (both ends); the mode stays, new ones are accepted. */
  cutAll(): void {
    for (const connection of [...this.#connections]) connection.close();
  }

  /** Stops listening, closes every connection and waits until all the proxy's work has ended. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#listener);
    this.#listener = undefined;
    this.cutAll();
    this.#modeChanged.fire();
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  /** Same as {@linkcode TcpProxy.close}, for `await using proxy = TcpProxy.start(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task)).catch(() => {});
  }

  #listen(listener: Deno.Listener): void {
    this.#listener = listener;
    this.#track((async () => {
      try {
        for await (const client of listener) {
          this.#accepted++;
          const connection = new ProxiedConnection(client);
          this.#connections.add(connection);
          this.#track(this.#serve(connection));
        }
      } catch {
        // the listener was closed (reset or close)
      }
    })());
  }

  /** Resolves when traffic may flow (not `blackhole`), or when `connection` is closed. */
  async #flowing(connection: ProxiedConnection): Promise<void> {
    while (this.#mode.kind === "blackhole" && !connection.closed.fired) {
      await Promise.race([this.#modeChanged.wait(), connection.closed.wait()]);
    }
  }

  async #serve(connection: ProxiedConnection): Promise<void> {
    try {
      await this.#flowing(connection);
      if (connection.closed.fired) return;
      const port = this.targetPort;
      if (port === undefined) return;
      let upstream: Deno.Conn;
      try {
        upstream = await Deno.connect({ hostname: this.#targetHost, port });
      } catch {
        return; // the target is down: the client sees its connection closed
      }
      connection.attach(upstream);
      await Promise.all([
        this.#pipe(connection, connection.client, upstream, (n) => this.#upstreamBytes += n),
        this.#pipe(connection, upstream, connection.client, (n) => this.#downstreamBytes += n),
      ]);
    } finally {
      connection.close();
      this.#connections.delete(connection);
    }
  }

  /**
   * Copies `from` to `to` until either end closes: a reader that holds in `blackhole`, and a
   * writer that delivers each chunk when its delay is over.
   */
  async #pipe(
    connection: ProxiedConnection,
    from: Deno.Conn,
    to: Deno.Conn,
    count: (bytes: number) => void,
  ): Promise<void> {
    const queue: { chunk: Uint8Array; due: number }[] = [];
    let more = new Latch();
    let ended = false;
    const reader = async () => {
      try {
        for (;;) {
          await this.#flowing(connection);
          if (connection.closed.fired) return;
          const buffer = new Uint8Array(BUFFER_SIZE);
          const n = await from.read(buffer);
          if (n === null) return;
          const delay = this.#mode.kind === "latency" ? this.#mode.ms : 0;
          queue.push({ chunk: buffer.subarray(0, n), due: performance.now() + delay });
          more.fire();
        }
      } catch {
        // closed under the read
      } finally {
        ended = true;
        more.fire();
      }
    };
    const writer = async () => {
      try {
        for (;;) {
          const next = queue.shift();
          if (next === undefined) {
            if (ended || connection.closed.fired) return;
            await more.wait();
            more = new Latch();
            continue;
          }
          await this.#until(next.due, connection);
          await this.#flowing(connection);
          if (connection.closed.fired) return;
          let written = 0;
          while (written < next.chunk.length) {
            written += await to.write(next.chunk.subarray(written));
          }
          count(next.chunk.length);
        }
      } catch {
        // closed under the write
      }
    };
    await Promise.all([reader(), writer()]);
    // One direction ended: the connection as a whole ends (Kafka clients never half-close).
    connection.close();
  }

  /** Resolves at `due` (a `performance.now()` time), or earlier when `connection` closes. */
  async #until(due: number, connection: ProxiedConnection): Promise<void> {
    const wait = due - performance.now();
    if (wait <= 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => timer = setTimeout(resolve, wait)),
        connection.closed.wait(),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function validateMode(mode: ProxyMode): void {
  if (mode.kind === "latency" && !(Number.isFinite(mode.ms) && mode.ms >= 0)) {
    throw new Error(`Bad proxy latency ${mode.ms}: expected a number of milliseconds, 0 or more`);
  }
}
