/**
 * The soak's judge: reads what reached `cp-events` the way a de-duplicating Central does (a
 * repeated `message_id` is dropped) and checks the engine's promises against it.
 *
 * - Every session the engine started (a `charging` status or a progress for its user) has
 *   exactly one `charging_completed`, whatever was killed when.
 * - A ticket's energy is never below the last progress published for its session.
 * - Every event the engine acknowledged (stored in its outbox, as its debug log says) reached
 *   the topic: nothing accepted is lost.
 *
 * Pure: the events and the acknowledged ids are passed in.
 *
 * @module
 */

/** One event read back from `cp-events`, in topic order. */
export type SeenValue = Readonly<Record<string, unknown>>;

/** What the ledger found. */
export interface LedgerReport {
  /** Events read, duplicates included. */
  readonly events: number;
  /** Deliveries of a `message_id` already seen (at-least-once delivery: dropped, not wrong). */
  readonly duplicateDeliveries: number;
  /** Sessions the engine started (by cp id and user). */
  readonly sessions: number;
  /** Tickets expected: one per session. */
  readonly ticketsExpected: number;
  /** Tickets seen after de-duplication. */
  readonly ticketsSeen: number;
  /** Sessions with more than one ticket (distinct message ids). */
  readonly duplicateTickets: readonly string[];
  /** Sessions with no ticket. */
  readonly missingTickets: readonly string[];
  /** Tickets whose energy is below the session's last published progress. */
  readonly energyBelowProgress: readonly string[];
  /** Acknowledged events (stored by the engine) that never reached the topic. */
  readonly lost: readonly string[];
  /** Tickets by reason. */
  readonly reasons: Readonly<Record<string, number>>;
}

/** The session an event belongs to: `cp_id/username`. */
function sessionOf(value: SeenValue): string {
  return `${value["cp_id"]}/${value["username"]}`;
}

/**
 * Judges `events` (in topic order). `acknowledged` are the message ids the engine stored; they
 * must all be on the topic. `startedSessions` (`cp_id/username`) are the sessions the engine
 * says it started (its log line comes after the session is journaled, so each must end with a
 * ticket even if no progress ever went out). Sessions are told apart by user: the soak gives
 * every session its own user name.
 */
export function judge(
  events: readonly SeenValue[],
  acknowledged: Iterable<string> = [],
  startedSessions: Iterable<string> = [],
): LedgerReport {
  const seen = new Set<string>();
  let duplicateDeliveries = 0;
  const started = new Set<string>(startedSessions);
  const lastProgress = new Map<string, number>();
  const tickets = new Map<string, SeenValue[]>();
  const reasons: Record<string, number> = {};
  for (const value of events) {
    const id = String(value["message_id"]);
    if (seen.has(id)) {
      duplicateDeliveries++;
      continue;
    }
    seen.add(id);
    switch (value["event_type"]) {
      case "charging_progress": {
        const session = sessionOf(value);
        started.add(session);
        lastProgress.set(
          session,
          Math.max(lastProgress.get(session) ?? 0, Number(value["energy_kwh"])),
        );
        break;
      }
      case "charging_completed": {
        const session = sessionOf(value);
        const list = tickets.get(session) ?? [];
        list.push(value);
        tickets.set(session, list);
        const reason = String(value["reason"]);
        reasons[reason] = (reasons[reason] ?? 0) + 1;
        break;
      }
    }
  }
  const duplicateTickets: string[] = [];
  const missingTickets: string[] = [];
  const energyBelowProgress: string[] = [];
  let ticketsSeen = 0;
  for (const [session, list] of tickets) {
    ticketsSeen += list.length;
    started.add(session); // a ticket proves a session (one that never showed progress, too)
    if (list.length > 1) {
      duplicateTickets.push(`${session}: ${list.map((t) => t["reason"]).join(", ")}`);
    }
    const floor = lastProgress.get(session) ?? 0;
    for (const ticket of list) {
      if (Number(ticket["energy_kwh"]) + 1e-9 < floor) {
        energyBelowProgress.push(`${session}: ticket ${ticket["energy_kwh"]} < progress ${floor}`);
      }
    }
  }
  for (const session of started) {
    if (!tickets.has(session)) missingTickets.push(session);
  }
  const lost = [...acknowledged].filter((id) => !seen.has(id));
  return {
    events: events.length,
    duplicateDeliveries,
    sessions: started.size,
    ticketsExpected: started.size,
    ticketsSeen,
    duplicateTickets,
    missingTickets,
    energyBelowProgress,
    lost,
    reasons,
  };
}

/** Whether the report shows no broken promise. */
export function clean(report: LedgerReport): boolean {
  return report.duplicateTickets.length === 0 && report.missingTickets.length === 0 &&
    report.energyBelowProgress.length === 0 && report.lost.length === 0;
}
