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
}

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
  #worker: Worker;
  #nextRequestId = 1;
  #closed: Promise<void> | null = null;
  #resolveClosed: (() => void) | null = null;
  /** How many times the Worker failed and was started again. */
  restarts = 0;

  constructor(options: WorkerMeterOptions) {
    this.#options = options;
    this.#worker = this.#spawn();
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
      }, this.#options.stopTimeoutMs ?? 2_000);
      this.#pendingStops.set(requestId, (reading) => {
        clearTimeout(timer);
        resolve(reading ?? last);
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
      this.#worker.terminate();
    });
    this.#send({ type: "close" });
    return this.#closed;
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
    this.#worker.terminate();
    for (const [requestId, resolve] of this.#pendingStops) {
      this.#pendingStops.delete(requestId);
      resolve(null);
    }
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
