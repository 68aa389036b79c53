/**
 * The {@linkcode ChargingMeter} backed by a Web Worker that runs the charging loop
 * (`worker_main.ts`). One instance can serve many engines: readings are routed to each
 * session's callback by session id.
 *
 * The Worker is a separate isolate that can fail; the meter survives it: an error in the
 * Worker is logged, a new Worker is started, and every session goes on from its last reading
 * (the energy already supplied is never lost, never counted twice). A `stop` the Worker does
 * not answer in time resolves with the last reading.
 *
 * The Worker runs only while there is something to meter: it is started with the first session
 * and ended {@linkcode WorkerMeterOptions.idleRetireMs} after the last one stopped. A Worker is a
 * second V8 isolate and a thread that wakes every tick: about 5 MB and a wake-up a second that an
 * idle point (most of a point's life) does not need. Starting one takes tens of milliseconds,
 * well inside the first second of a session, before its first reading is due.
 *
 * @module
 */
import type { MeterReading, PowerProfile } from "../../domain/session.ts";
import type { ClosableMeter, Logger } from "../../app/ports.ts";
import type { FromChargingWorker, ToChargingWorker } from "./messages.ts";

/** Options of {@linkcode WorkerChargingMeter}. */
export interface WorkerMeterOptions {
  /** Simulated seconds per real second. */
  readonly timeScale: number;
  /** Real milliseconds between two readings (default 1000). */
  readonly tickMs?: number;
  /** How long `stop` waits for the Worker's final reading (default 2000 ms). */
  readonly stopTimeoutMs?: number;
  /** Where a failure of the Worker is reported. */
  readonly logger?: Logger;
  /** How long the Worker outlives the last session (default 10 000 ms). */
  readonly idleRetireMs?: number;
}

const DEFAULT_IDLE_RETIRE_MS = 10_000;

/** What the meter remembers of a session, to start it again in a new Worker. */
interface Metered {
  readonly profile: PowerProfile;
  readonly onReading: (reading: MeterReading) => void;
  supplying: boolean;
  /** The last reading, or the energy the session started from. */
  last: MeterReading;
}

/** A charging meter whose loop runs in a Web Worker. */
export class WorkerChargingMeter implements ClosableMeter {
  readonly #options: WorkerMeterOptions;
  readonly #sessions = new Map<string, Metered>();
  readonly #pendingStops = new Map<number, (reading: MeterReading | null) => void>();
  /** The running Worker, or null while nothing is metered. */
  #worker: Worker | null = null;
  #retireTimer: ReturnType<typeof setTimeout> | undefined;
  #nextRequestId = 1;
  #closed: Promise<void> | null = null;
  #resolveClosed: (() => void) | null = null;
  /** How many times the Worker failed and was started again. */
  restarts = 0;

  constructor(options: WorkerMeterOptions) {
    this.#options = options;
  }

  /** Whether a Worker runs now (it runs only while sessions are metered, and a little after). */
  get running(): boolean {
    return this.#worker !== null;
  }

  start(
    sessionId: string,
    profile: PowerProfile,
    baseEnergyKwh: number,
    onReading: (reading: MeterReading) => void,
  ): void {
    this.#sessions.set(sessionId, {
      profile,
      onReading,
      supplying: false,
      last: { sessionId, energyKwh: baseEnergyKwh, powerKw: 0, suppliedSeconds: 0 },
    });
    this.#send({ type: "start", sessionId, profile, baseEnergyKwh });
  }

  supply(sessionId: string): void {
    const session = this.#sessions.get(sessionId);
    if (session !== undefined) session.supplying = true;
    this.#send({ type: "supply", sessionId });
  }

  stop(sessionId: string): Promise<MeterReading | null> {
    const last = this.#sessions.get(sessionId)?.last ?? null;
    this.#sessions.delete(sessionId);
    const requestId = this.#nextRequestId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pendingStops.delete(requestId);
        resolve(last);
        this.#retireWhenIdle();
      }, this.#options.stopTimeoutMs ?? 2_000);
      this.#pendingStops.set(requestId, (reading) => {
        clearTimeout(timer);
        resolve(reading ?? last);
        this.#retireWhenIdle();
      });
      this.#send({ type: "stop", sessionId, requestId });
    });
  }

  /** Fault injection (tests, soak): makes the Worker fail as a bug in it would. */
  injectFailure(reason: string): void {
    this.#send({ type: "fail", reason });
  }

  /** Stops the loop and terminates the Worker. */
  close(): Promise<void> {
    if (this.#closed !== null) return this.#closed;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answered = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
      // A Worker that does not answer is terminated anyway.
      timer = setTimeout(resolve, this.#options.stopTimeoutMs ?? 2_000);
    });
    this.#closed = answered.then(() => {
      clearTimeout(timer);
      this.#worker?.terminate();
      this.#worker = null;
    });
    clearTimeout(this.#retireTimer);
    if (this.#worker === null) this.#resolveClosed?.();
    else this.#worker.postMessage({ type: "close" } satisfies ToChargingWorker);
    return this.#closed;
  }

  /** Once nothing is metered nor awaited, the Worker is ended after a while. */
  #retireWhenIdle(): void {
    if (this.#sessions.size > 0 || this.#pendingStops.size > 0 || this.#worker === null) return;
    clearTimeout(this.#retireTimer);
    this.#retireTimer = setTimeout(() => {
      this.#retireTimer = undefined;
      if (this.#sessions.size > 0 || this.#pendingStops.size > 0 || this.#closed !== null) return;
      this.#worker?.terminate();
      this.#worker = null;
    }, this.#options.idleRetireMs ?? DEFAULT_IDLE_RETIRE_MS);
  }

  #spawn(): Worker {
    const worker = new Worker(new URL("./worker_main.ts", import.meta.url), { type: "module" });
    worker.onmessage = (event: MessageEvent<FromChargingWorker>) => this.#receive(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      this.#recover(event.message);
    };
    worker.postMessage(
      {
        type: "configure",
        timeScale: this.#options.timeScale,
        tickMs: this.#options.tickMs ?? 1000,
      } satisfies ToChargingWorker,
    );
    return worker;
  }

  /** The Worker failed: a new one takes over every session from its last reading. */
  #recover(message: string): void {
    if (this.#closed !== null) return;
    this.restarts++;
    this.#options.logger?.error(
      "The charging Worker failed ({error}): starting a new one; {count} sessions go on",
      { error: message, count: this.#sessions.size },
    );
    this.#worker?.terminate();
    this.#worker = null;
    for (const [requestId, resolve] of this.#pendingStops) {
      this.#pendingStops.delete(requestId);
      resolve(null);
    }
    if (this.#sessions.size === 0) return; // The next session starts a Worker.
    this.#worker = this.#spawn();
    for (const [sessionId, session] of this.#sessions) {
      this.#send({
        type: "start",
        sessionId,
        profile: session.profile,
        baseEnergyKwh: session.last.energyKwh,
        suppliedSeconds: session.last.suppliedSeconds,
      });
      if (session.supplying) this.#send({ type: "supply", sessionId });
    }
  }

  #send(message: ToChargingWorker): void {
    if (this.#closed !== null) return;
    clearTimeout(this.#retireTimer);
    this.#retireTimer = undefined;
    this.#worker ??= this.#spawn();
    this.#worker.postMessage(message);
  }

  #receive(message: FromChargingWorker): void {
    switch (message.type) {
      case "readings":
        for (const reading of message.readings) {
          const session = this.#sessions.get(reading.sessionId);
          if (session === undefined) continue;
          session.last = reading;
          session.onReading(reading);
        }
        break;
      case "stopped": {
        const resolve = this.#pendingStops.get(message.requestId);
        this.#pendingStops.delete(message.requestId);
        resolve?.(message.reading);
        break;
      }
      case "closed":
        this.#resolveClosed?.();
        break;
    }
  }
}
