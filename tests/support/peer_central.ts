/**
 * The original peers' rules ({@linkcode CentralRules}) run against a real broker: a Central that
 * reads the engine's events as the original one does, a Driver that asks for sessions through it,
 * and a Monitor that probes the engine's health port every second and reports to that Central.
 *
 * @module
 */
import { CentralDouble } from "./kafka.ts";
import { CentralRules, type CentralSession } from "./peer_rules.ts";

/** Central's clock: epoch seconds, as the Python peers use. */
function nowSeconds(): number {
  return Date.now() / 1000;
}

/** A Central with the original one's rules, on a real broker. */
export class PeerCentral {
  readonly rules = new CentralRules();
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #waiters = new Set<() => void>();
  #ticketsSent = 0;
  #sending: Promise<void> = Promise.resolve();

  private constructor(readonly double: CentralDouble, readonly cpId: string) {
    double.onEvent((event) => {
      this.rules.receive(event.value, nowSeconds());
      this.#wake();
    });
    this.#timer = setInterval(() => {
      this.rules.advance(nowSeconds());
      for (const ticket of this.rules.tickets.slice(this.#ticketsSent)) {
        this.#sending = this.#sending.then(() => double.send({ ...ticket }));
      }
      this.#ticketsSent = this.rules.tickets.length;
      this.#wake();
    }, 100);
  }

  /** Starts collecting the events of `cpId` on the test's topics. */
  static async start(
    broker: string,
    topics: { cpEvents: string; centralEvents: string },
    cpId: string,
  ): Promise<PeerCentral> {
    return new PeerCentral(await CentralDouble.start(broker, topics), cpId);
  }

  /** The point's status as Central believes it. */
  get status(): string {
    return this.rules.point(this.cpId).status;
  }

  /**
   * The Driver asks for a session for `username`: Central authorises it if the point is
   * available and sends `charging_started`. Returns the session, or null when refused.
   */
  async requestCharging(username: string, userId: number): Promise<CentralSession | null> {
    const session = this.rules.authorize(this.cpId, username, nowSeconds());
    if (session === null) return null;
    await this.double.send({
      event_type: "charging_started",
      action: "charging_started",
      cp_id: this.cpId,
      username,
      user_id: userId,
      client_id: `driver-${username}`,
    });
    return session;
  }

  /** Sends a command to the point (`cp_id` added). */
  async send(command: Record<string, unknown>): Promise<void> {
    await this.double.send({ cp_id: this.cpId, ...command });
  }

  /** Waits until `predicate` holds (checked on every event and every 100 ms). */
  async waitFor(what: string, predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
    if (predicate()) return;
    let wake = () => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        wake = () => {
          if (predicate()) resolve();
        };
        this.#waiters.add(wake);
        timer = setTimeout(() => {
          reject(
            new Error(
              `Timed out after ${timeoutMs} ms waiting for ${what}; Central sees ${this.status}, ` +
                `sessions ${JSON.stringify(this.rules.sessions)}, dropped ${
                  JSON.stringify(this.rules.dropped)
                }`,
            ),
          );
        }, timeoutMs);
      });
    } finally {
      this.#waiters.delete(wake);
      clearTimeout(timer);
    }
  }

  /** Stops the checker and the consumer (and fails on contract violations). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sending;
    await this.double.close();
  }

  #wake(): void {
    for (const wake of this.#waiters) wake();
  }
}

/**
 * The Monitor: after `initialWaitMs` (15 s for the original), asks the engine's health port
 * `STATUS?` on a new connection every second and reports each OK to Central.
 */
export class PeerMonitor {
  #stopped = false;
  #lastAnswer = "";
  readonly #loop: Promise<void>;
  /** How many probes were answered. */
  answered = 0;

  constructor(
    private readonly central: PeerCentral,
    private readonly healthPort: number,
    initialWaitMs = 0,
  ) {
    central.rules.monitorConnected(central.cpId, nowSeconds());
    this.#loop = this.#run(initialWaitMs);
  }

  /** The Monitor dies: no more probes, no more heartbeats. */
  async kill(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }

  async #run(initialWaitMs: number): Promise<void> {
    await this.#sleep(initialWaitMs);
    while (!this.#stopped) {
      const answer = await this.#probe();
      if (this.#stopped) break;
      if (answer === "OK") {
        this.answered++;
        this.central.rules.monitorOk(this.central.cpId, nowSeconds(), this.#lastAnswer !== "OK");
      }
      this.#lastAnswer = answer;
      await this.#sleep(1_000);
    }
  }

  async #probe(): Promise<string> {
    let connection: Deno.TcpConn | undefined;
    try {
      connection = await Deno.connect({ hostname: "127.0.0.1", port: this.healthPort });
      await connection.write(new TextEncoder().encode("STATUS?\n"));
      const buffer = new Uint8Array(16);
      const read = await Promise.race([
        connection.read(buffer),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 2_000)),
      ]);
      return read === null ? "timeout" : new TextDecoder().decode(buffer.subarray(0, read)).trim();
    } catch {
      return "refused";
    } finally {
      try {
        connection?.close();
      } catch {
        // already closed
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const step = () => {
        if (this.#stopped || ms <= 0) return resolve();
        const slice = Math.min(ms, 100);
        ms -= slice;
        setTimeout(step, slice);
      };
      step();
    });
  }
}
