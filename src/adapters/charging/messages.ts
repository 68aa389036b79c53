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
  }
  | { readonly type: "supply"; readonly sessionId: string }
  | { readonly type: "stop"; readonly sessionId: string; readonly requestId: number }
  | { readonly type: "close" };

/** Worker -> main thread. */
export type FromChargingWorker =
  /** Every tick: the readings of all sessions, taken at the same moment. */
  | { readonly type: "readings"; readonly readings: readonly MeterReading[] }
  /** The answer to a `stop`: the final reading (null if the session was unknown). */
  | { readonly type: "stopped"; readonly requestId: number; readonly reading: MeterReading | null }
  | { readonly type: "closed" };
