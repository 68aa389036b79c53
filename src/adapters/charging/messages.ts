/**
 * Messages between the engine and the charging Worker, in one module both sides import.
 *
 * @module
 */
import type { MeterReading, PowerProfile } from "../../domain/session.ts";

/** Main thread -> Worker. */
export type ToChargingWorker =
  | { readonly type: "configure"; readonly timeScale: number; readonly tickMs: number }
  | {
    readonly type: "start";
    readonly sessionId: string;
    readonly profile: PowerProfile;
    readonly baseEnergyKwh: number;
    /** Seconds of supply `baseEnergyKwh` stands for (a new Worker going on with a session). */
    readonly suppliedSeconds?: number;
  }
  | { readonly type: "supply"; readonly sessionId: string }
  | { readonly type: "stop"; readonly sessionId: string; readonly requestId: number }
  | { readonly type: "close" }
  /** Fault injection (tests): the Worker throws, as a bug in it would. */
  | { readonly type: "fail"; readonly reason: string };

/** Worker -> main thread. */
export type FromChargingWorker =
  /** Every tick: the readings of all sessions, taken at the same moment. */
  | { readonly type: "readings"; readonly readings: readonly MeterReading[] }
  /** The answer to a `stop`: the final reading (null if the session was unknown). */
  | { readonly type: "stopped"; readonly requestId: number; readonly reading: MeterReading | null }
  | { readonly type: "closed" };
