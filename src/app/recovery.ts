/**
 * Crash recovery: a session that a crash (`kill -9`, a power cut) left in the journal is closed
 * at the next start with `charging_completed` (`engine_recovered`), carrying the energy supplied
 * up to the last journaled reading and never less than the last published progress.
 *
 * @module
 */
import { costOf, roundEnergy } from "../domain/session.ts";
import { completedEvent, type EventContext, type EventPayload } from "../protocol/events.ts";
import type { JournaledSession, Logger, SessionJournal } from "./ports.ts";

/** What recovery needs. */
export interface RecoveryDependencies {
  readonly journal: SessionJournal;
  readonly context: () => EventContext;
  /** Publishes the ticket and forgets the session in one transaction of the store. */
  readonly publishWith: (payload: EventPayload, alongside: () => void) => void;
  readonly logger: Logger;
  readonly tariffEurPerKwh: number;
  /** Simulated seconds per real second. */
  readonly timeScale: number;
}

/**
 * Closes the session a crash left behind, if any: the ticket is stored and the journal row
 * deleted in one transaction, so this happens exactly once. Returns the session, or null (also
 * when the journal cannot be read: that is logged, and the engine starts without it).
 */
export function recoverInterruptedSession(deps: RecoveryDependencies): JournaledSession | null {
  let journaled: JournaledSession | null;
  try {
    journaled = deps.journal.load();
  } catch (error) {
    deps.logger.error("Cannot read the session journal: {error}", { error });
    return null;
  }
  if (journaled === null) return null;
  const energy = Math.max(journaled.energyKwh, journaled.publishedEnergyKwh);
  const durationSeconds = Math.max(0, (journaled.journaledAt - journaled.authorizedAt) / 1000) *
    deps.timeScale;
  const ticket = completedEvent(deps.context(), {
    driver: journaled.driver,
    energyKwh: energy,
    tariffEurPerKwh: deps.tariffEurPerKwh,
    durationSeconds,
    reason: "engine_recovered",
  });
  deps.publishWith(ticket, () => deps.journal.clear(journaled.sessionId));
  deps.logger.warn(
    "Recovered the session of {username} interrupted by a crash: {energy} kWh, {cost} EUR, {duration} s (engine_recovered)",
    {
      username: journaled.driver.username,
      energy: roundEnergy(energy).toFixed(3),
      cost: costOf(energy, deps.tariffEurPerKwh).toFixed(2),
      duration: Math.round(durationSeconds),
      session_id: journaled.sessionId,
    },
  );
  return journaled;
}
