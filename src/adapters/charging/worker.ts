/**
 * The {@linkcode ChargingMeter} backed by a Web Worker that runs the charging loop
 * (`worker_main.ts`). One instance can serve many engines: readings are routed to
 * each session's callback by session id.
 *
 * @module
 */
import type { MeterReading, PowerProfile } from "../../domain/session.ts";
import type { ChargingMeter } from "../../app/ports.ts";
import type { FromChargingWorker, ToChargingWorker } from "./messages.ts";

/** Options of {@linkcode WorkerChargingMeter}. */
export interface WorkerMeterOptions {
  /** Simulated seconds per real second. */
  readonly timeScale: number;
  /** Real milliseconds between two readings (default 1000). */
  readonly tickMs?: number;
}

/** A charging meter whose loop runs in a Web Worker. */
export class WorkerChargingMeter implements ChargingMeter {
  readonly #worker: Worker;
  readonly #listeners = new Map<string, (reading: MeterReading) => void>();
  readonly #pendingStops = new Map<number, (reading: MeterReading | null) => void>();
  #nextRequestId = 1;
  #closed: Promise<void> | null = null;
  #resolveClosed: (() => void) | null = null;

  constructor(options: WorkerMeterOptions) {
    this.#worker = new Worker(new URL("./worker_main.ts", import.meta.url), {
      type: "module",
    });
    this.#worker.onmessage = (event: MessageEvent<FromChargingWorker>) => this.#receive(event.data);
    this.#worker.onerror = (event) => {
      event.preventDefault();
      throw new Error(`The charging worker failed: ${event.message}`);
    };
    this.#send({ type: "configure", timeScale: options.timeScale, tickMs: options.tickMs ?? 1000 });
  }

  start(
    sessionId: string,
    profile: PowerProfile,
    baseEnergyKwh: number,
    onReading: (reading: MeterReading) => void,
  ): void {
    this.#listeners.set(sessionId, onReading);
    this.#send({ type: "start", sessionId, profile, baseEnergyKwh });
  }

  supply(sessionId: string): void {
    this.#send({ type: "supply", sessionId });
  }

  stop(sessionId: string): Promise<MeterReading | null> {
    this.#listeners.delete(sessionId);
    const requestId = this.#nextRequestId++;
    return new Promise((resolve) => {
      this.#pendingStops.set(requestId, resolve);
      this.#send({ type: "stop", sessionId, requestId });
    });
  }

  /** Stops the loop and terminates the Worker. */
  close(): Promise<void> {
    if (this.#closed !== null) return this.#closed;
    this.#closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    }).then(() => this.#worker.terminate());
    this.#send({ type: "close" });
    return this.#closed;
  }

  #send(message: ToChargingWorker): void {
    this.#worker.postMessage(message);
  }

  #receive(message: FromChargingWorker): void {
    switch (message.type) {
      case "readings":
        for (const reading of message.readings) this.#listeners.get(reading.sessionId)?.(reading);
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
