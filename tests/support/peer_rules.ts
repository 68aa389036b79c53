/**
 * The original Python Central, Monitor and Driver, reduced to the rules an engine must live with
 * (`../shared/peers.md`, with the line numbers of `SD/` in the public repository lbf19-ua/SD).
 * Our own {@linkcode CentralDouble} follows our reading of the contract; this model follows the
 * real peers, so the suite catches, without the original code, what only the peers showed:
 *
 * - Central drops a repeated `message_id` (EV_Central_WebSocket.py:1755-1766), an event more than
 *   30 s old by its `timestamp` (:1806-1814), and, for the same charging point, a second
 *   `cp_status_change` (or `CP_REGISTRATION`) processed less than 2.0 s after the previous one
 *   of that type, on ITS clock when it processes the message (:1768-1790).
 * - A registration resets the point to `offline` (:2004-2050) and, for 5 s, Central ignores a
 *   change to `available` (:2453-2488); for 30 s it ignores `offline` over `available` (:2490).
 *   Central ignores a registration less than 10 s after the point's previous one, and one of a
 *   point it already holds as `available` (:1850-1870): a restarted engine stays `available`.
 * - `charging_completed` closes the user's active session with a ticket and frees the point;
 *   without an active session it only frees the point (:2290-2340).
 * - The Monitor probes every second after a silent start of 15 s (EV_CP_M_WebSocket.py:1008-1035)
 *   and sends a heartbeat after every OK, `ENGINE_HEALTH_OK` on the first one, which makes the
 *   point available (EV_Central_WebSocket.py:1981-1994).
 * - Central's Monitor-timeout checker runs every 2 s; a point whose Monitor has been silent for
 *   more than 5 s and that is NOT already offline is marked offline and its active session is
 *   closed with the energy Central has seen, and a `CHARGING_TICKET` goes out on
 *   `central-events` for the Driver, with no command to the point (:1089-1180).
 * - The Driver cancels a session that shows no `charging_progress` for its user within 15 s
 *   (EV_Driver_WebSocket.py:308-364); Central then cancels it and frees the point.
 *
 * The model is pure (times are passed in, in seconds); {@linkcode PeerCentral} runs it against a
 * real broker.
 *
 * @module
 */

/** A session as Central holds it. */
export interface CentralSession {
  readonly username: string;
  readonly cpId: string;
  /** `active` until a ticket, a Monitor timeout or the Driver's cancellation closes it. */
  state: "active" | "completed" | "monitor_timeout" | "cancelled";
  /** The energy Central last saw for it (from progress or the ticket). */
  energyKwh: number;
  /** When Central authorised it. */
  readonly authorizedAt: number;
  /** When Central last saw progress for it, or null. */
  lastProgressAt: number | null;
  /** The ticket's reason, when closed by a `charging_completed`. */
  ticketReason: string | null;
}

/** What Central believes of one charging point. */
export interface CentralPoint {
  status: string;
  registeredAt: number | null;
  monitorSeenAt: number | null;
}

/** An event Central discarded, and why. */
export interface DroppedEvent {
  readonly at: number;
  readonly cpId: string;
  readonly type: string;
  readonly status: unknown;
  readonly why: string;
}

/** A `CHARGING_TICKET` Central publishes on `central-events` by itself (no `action`). */
export interface CentralTicket {
  readonly event_type: "CHARGING_TICKET";
  readonly cp_id: string;
  readonly username: string;
  readonly energy_kwh: number;
  readonly cost: number;
  readonly reason: string;
  readonly timestamp: number;
}

/** Central ignores a registration this soon after the point's previous one, seconds. */
export const CENTRAL_REREGISTRATION_S = 10;
/** Central's 2.0 s duplicate window per (point, event type), seconds. */
export const CENTRAL_DUPLICATE_WINDOW_S = 2.0;
/** Events older than this are discarded, seconds. */
export const CENTRAL_MAX_AGE_S = 30;
/** Central's Monitor timeout, and how often its checker runs, seconds. */
export const CENTRAL_MONITOR_TIMEOUT_S = 5;
export const CENTRAL_MONITOR_CHECK_EVERY_S = 2;
/** The Driver's wait for a session's first progress, seconds. */
export const DRIVER_PROGRESS_TIMEOUT_S = 15;

/** The original Central's rules over the events it reads, as a pure state machine. */
export class CentralRules {
  readonly points = new Map<string, CentralPoint>();
  readonly sessions: CentralSession[] = [];
  readonly dropped: DroppedEvent[] = [];
  /** Tickets Central published by itself, oldest first (for the Driver, and the point sees them). */
  readonly tickets: CentralTicket[] = [];
  readonly #seenIds = new Set<string>();
  readonly #lastOfType = new Map<string, number>();
  #lastCheckAt = 0;

  /** The point `cpId` as Central sees it (created offline on first mention). */
  point(cpId: string): CentralPoint {
    let point = this.points.get(cpId);
    if (point === undefined) {
      point = { status: "offline", registeredAt: null, monitorSeenAt: null };
      this.points.set(cpId, point);
    }
    return point;
  }

  /** The session of `cpId` that is active, if any. */
  activeSession(cpId: string): CentralSession | undefined {
    return this.sessions.find((session) => session.cpId === cpId && session.state === "active");
  }

  /**
   * A Driver asks for a session at `cpId`: Central authorises it only for an available point
   * (and then sends `charging_started`); returns the session, or null when refused.
   */
  authorize(cpId: string, username: string, now: number): CentralSession | null {
    const point = this.point(cpId);
    if (point.status !== "available" || this.activeSession(cpId) !== undefined) return null;
    const session: CentralSession = {
      username,
      cpId,
      state: "active",
      energyKwh: 0,
      authorizedAt: now,
      lastProgressAt: null,
      ticketReason: null,
    };
    this.sessions.push(session);
    point.status = "charging";
    return session;
  }

  /**
   * A Monitor starts and connects to Central (MONITOR_CONNECTED): Central's timeout clock for it
   * starts now, although its first probe comes only 15 s later (EV_Central_WebSocket.py:1891).
   */
  monitorConnected(cpId: string, now: number): void {
    this.point(cpId).monitorSeenAt = now;
  }

  /** A Monitor's heartbeat after an OK answer; the first one makes the point available. */
  monitorOk(cpId: string, now: number, first: boolean): void {
    const point = this.point(cpId);
    point.monitorSeenAt = now;
    if (first) point.status = "available";
  }

  /** Central processes one event from `cp-events` at `now` (seconds). */
  receive(event: Record<string, unknown>, now: number): void {
    const cpId = String(event["cp_id"] ?? event["engine_id"] ?? "");
    const type = String(event["event_type"] ?? event["action"] ?? "");
    const drop = (why: string): void => {
      this.dropped.push({ at: now, cpId, type, status: event["status"], why });
    };
    const id = event["message_id"];
    if (typeof id === "string") {
      if (this.#seenIds.has(id)) return drop("repeated message_id");
      this.#seenIds.add(id);
    }
    if (type === "CP_REGISTRATION" || type === "cp_status_change") {
      const key = `${cpId}\u0000${type}`;
      const last = this.#lastOfType.get(key);
      if (last !== undefined && now - last < CENTRAL_DUPLICATE_WINDOW_S) {
        if (typeof id === "string") this.#seenIds.delete(id);
        return drop(`same type for this point ${(now - last).toFixed(3)} s after the last`);
      }
      this.#lastOfType.set(key, now);
    }
    const stamped = Number(event["timestamp"]);
    if (Number.isFinite(stamped) && now - stamped > CENTRAL_MAX_AGE_S) {
      return drop(`${(now - stamped).toFixed(0)} s old`);
    }
    const point = this.point(cpId);
    switch (event["action"]) {
      case "connect":
        if (point.registeredAt !== null && now - point.registeredAt < CENTRAL_REREGISTRATION_S) {
          return drop(`registered again ${(now - point.registeredAt).toFixed(1)} s after the last`);
        }
        if (point.status === "available") return drop("already available: registration ignored");
        point.status = "offline";
        point.registeredAt = now;
        return;
      case "cp_status_change":
        return this.#statusChange(point, String(event["status"]), now, drop);
      case "charging_progress": {
        const session = this.#activeFor(cpId, String(event["username"]));
        if (session === undefined) return;
        session.energyKwh = Number(event["energy_kwh"]);
        session.lastProgressAt = now;
        return;
      }
      case "charging_completed": {
        const session = this.#activeFor(cpId, String(event["username"]));
        if (session !== undefined) {
          session.state = "completed";
          session.energyKwh = Number(event["energy_kwh"]);
          session.ticketReason = String(event["reason"]);
        }
        point.status = "available";
        return;
      }
    }
  }

  /**
   * Time passes: Central's Monitor-timeout checker (every 2 s) and the Driver's progress
   * timeout (15 s) are judged.
   */
  advance(now: number): void {
    for (const session of this.sessions) {
      if (
        session.state === "active" && session.lastProgressAt === null &&
        now - session.authorizedAt > DRIVER_PROGRESS_TIMEOUT_S
      ) {
        session.state = "cancelled";
        this.point(session.cpId).status = "available";
      }
    }
    if (now - this.#lastCheckAt < CENTRAL_MONITOR_CHECK_EVERY_S) return;
    this.#lastCheckAt = now;
    for (const [cpId, point] of this.points) {
      if (point.monitorSeenAt === null) continue;
      if (now - point.monitorSeenAt <= CENTRAL_MONITOR_TIMEOUT_S) continue;
      if (point.status !== "offline") {
        point.status = "offline";
        const session = this.activeSession(cpId);
        if (session !== undefined) {
          session.state = "monitor_timeout";
          this.tickets.push({
            event_type: "CHARGING_TICKET",
            cp_id: cpId,
            username: session.username,
            energy_kwh: session.energyKwh,
            cost: 0,
            reason: "monitor_timeout",
            timestamp: now,
          });
        }
      }
      point.monitorSeenAt = null;
    }
  }

  #activeFor(cpId: string, username: string): CentralSession | undefined {
    return this.sessions.find((session) =>
      session.cpId === cpId && session.username === username && session.state === "active"
    );
  }

  #statusChange(
    point: CentralPoint,
    status: string,
    now: number,
    drop: (why: string) => void,
  ): void {
    const sinceRegistration = point.registeredAt === null ? Infinity : now - point.registeredAt;
    if (status === "available" && sinceRegistration < 5) {
      return drop("available within 5 s of the registration");
    }
    if (point.status === status) return;
    if (status === "offline" && point.status === "available" && sinceRegistration < 30) {
      return drop("offline over available within 30 s of the registration");
    }
    point.status = status;
  }
}
