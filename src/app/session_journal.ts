/**
 * The session journal: the port through which the engine keeps the session in progress on disk,
 * so that after a crash (`kill -9`, power cut) the restarted engine can close it with a
 * `charging_completed` (`engine_recovered`) that carries the energy supplied up to the crash.
 *
 * `src/adapters/sqlite_outbox.ts` implements it in the same database as the outbox, which is what
 * makes the recovery exactly-once: the completed event is appended and the journal row deleted
 * in one transaction ({@linkcode SessionJournal.atomically}).
 *
 * @module
 */
import type { Driver } from "../domain/charge_point.ts";
import type { PowerProfile } from "../domain/session.ts";

/** Everything needed to close a session that a crash interrupted. */
export interface JournaledSession {
  /** The session's id (the engine's, not on the wire). */
  readonly sessionId: string;
  /** Who the session is for: `username`, `user_id` and `client_id` of `charging_started`. */
  readonly driver: Driver;
  /** Central's `charging_started` or the point's own keypad. */
  readonly origin: "central" | "local";
  /** Epoch milliseconds of the authorization. */
  readonly authorizedAt: number;
  /** Whether energy was flowing at the last reading. */
  readonly supplying: boolean;
  /** Energy supplied up to the last reading, kWh (unrounded). */
  readonly energyKwh: number;
  /** Cost of that energy, EUR. */
  readonly costEur: number;
  /** Power at the last reading, kW. */
  readonly powerKw: number;
  /** Simulated seconds energy had been flowing at the last reading. */
  readonly suppliedSeconds: number;
  /** The session's power curve. */
  readonly profile: PowerProfile;
  /** The energy of the last `charging_progress` published, kWh: the floor of the final energy. */
  readonly publishedEnergyKwh: number;
  /** Epoch milliseconds of the last reading journaled. */
  readonly journaledAt: number;
}

/** Where the session in progress is kept. One charging point has at most one session. */
export interface SessionJournal {
  /** Records the session's latest figures (replacing the previous ones), durably. */
  save(session: JournaledSession): void;
  /** The session a previous run left behind, or null. */
  load(): JournaledSession | null;
  /** Forgets the session `sessionId` (nothing happens if another one is journaled). */
  clear(sessionId: string): void;
  /**
   * Runs `work` in one transaction with the outbox: either every event it publishes is stored
   * and every journal change made, or none is.
   */
  atomically(work: () => void): void;
}

/** A journal that keeps nothing: for tests and engines without a state directory. */
export const NULL_JOURNAL: SessionJournal = {
  save: () => {},
  load: () => null,
  clear: () => {},
  atomically: (work) => work(),
};
