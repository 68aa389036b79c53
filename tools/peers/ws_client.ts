/**
 * A WebSocket client for the dashboards of Central (`/ws`: `get_dashboard_data`,
 * `simulate_error`, `fix_error`, `stop_cp`, `resume_cp`) and of the Driver (`/ws`: `login`,
 * `request_charging_at_cp`, `stop_charging`), recording every message it receives.
 *
 * @module
 */
import { pollUntil, type RunClock, type RunSeconds, sleep } from "./clock.ts";

/** A JSON message received on the socket. */
export interface WsMessage {
  readonly t: RunSeconds;
  readonly data: Record<string, unknown>;
}

/** One WebSocket connection to a peer's dashboard. */
export class WsClient {
  /** Every message received, oldest first. */
  readonly messages: WsMessage[] = [];
  /** Every message sent, with when. */
  readonly sent: WsMessage[] = [];
  readonly #socket: WebSocket;
  readonly #clock: RunClock;
  readonly #waiters = new Set<() => void>();
  #closed = false;

  private constructor(socket: WebSocket, clock: RunClock) {
    this.#socket = socket;
    this.#clock = clock;
    socket.onmessage = (event) => {
      let data: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(String(event.data));
        data = typeof parsed === "object" && parsed !== null
          ? parsed as Record<string, unknown>
          : { raw: parsed };
      } catch {
        data = { raw: String(event.data) };
      }
      this.messages.push({ t: clock.now(), data });
      for (const wake of this.#waiters) wake();
    };
    socket.onclose = () => {
      this.#closed = true;
      for (const wake of this.#waiters) wake();
    };
  }

  /**
   * Connects to `url`, retrying until `timeoutMs` (the peer's HTTP server may still be starting).
   *
   * @throws {Error} when no connection opened in time.
   */
  static async connect(url: string, clock: RunClock, timeoutMs = 15_000): Promise<WsClient> {
    let lastError = "";
    const client = await pollUntil(
      async () => {
        try {
          return await WsClient.#open(url, clock);
        } catch (error) {
          lastError = error instanceof Error ? error.message : String(error);
          await sleep(200);
          return undefined;
        }
      },
      timeoutMs,
      0,
    );
    if (!client) throw new Error(`Cannot open ${url} within ${timeoutMs} ms: ${lastError}`);
    return client;
  }

  static #open(url: string, clock: RunClock): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      const timer = setTimeout(() => {
        socket.close();
        reject(new Error("no answer in 3 s"));
      }, 3_000);
      socket.onopen = () => {
        clearTimeout(timer);
        resolve(new WsClient(socket, clock));
      };
      socket.onerror = (event) => {
        clearTimeout(timer);
        reject(new Error(event instanceof ErrorEvent ? event.message : "connection failed"));
      };
    });
  }

  /** Whether the peer closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one JSON message; resolves to when it was sent (run seconds). */
  send(data: Record<string, unknown>): RunSeconds {
    const t = this.#clock.now();
    this.sent.push({ t, data });
    this.#socket.send(JSON.stringify(data));
    return t;
  }

  /** The messages received at or after `since` whose `type` is `type`. */
  ofType(type: string, since: RunSeconds = -Infinity): WsMessage[] {
    return this.messages.filter((message) => message.t >= since && message.data["type"] === type);
  }

  /**
   * Waits for a message at or after `since` that matches `predicate`; resolves to it, or to null
   * after `timeoutMs` or when the connection closes.
   */
  waitFor(
    predicate: (data: Record<string, unknown>) => boolean,
    timeoutMs: number,
    since: RunSeconds = -Infinity,
  ): Promise<WsMessage | null> {
    const found = () =>
      this.messages.find((message) => message.t >= since && predicate(message.data));
    const first = found();
    if (first) return Promise.resolve(first);
    return new Promise((resolve) => {
      const done = (message: WsMessage | null) => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(message);
      };
      const wake = () => {
        const message = found();
        if (message) done(message);
        else if (this.#closed) done(null);
      };
      const timer = setTimeout(() => done(null), timeoutMs);
      this.#waiters.add(wake);
    });
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#socket.close();
    } catch {
      // Already closed.
    }
  }
}
