/**
 * What Central believes, read from its SQLite database (`ev_charging.db`, tables
 * `charging_points` and `charging_sesiones`, Spanish column names) without writing to it, and a
 * watcher that records every change with the run's clock.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { formatT, type RunClock, type RunSeconds } from "./clock.ts";

/** A row of `charging_points`, as Central keeps it. */
export interface ChargingPointRow {
  readonly cpId: string;
  /** `estado`: available, reserved, charging, fault, out_of_service, offline. */
  readonly status: string;
  /** `localizacion`. */
  readonly location: string;
}

/** A row of `charging_sesiones`, with the user's name. */
export interface SessionRow {
  readonly id: number;
  readonly userId: number;
  /** `usuarios.nombre`, when the user exists. */
  readonly username: string | null;
  readonly cpId: string;
  /** Epoch seconds. */
  readonly startTime: number;
  /** Epoch seconds, or null while the session is active. */
  readonly endTime: number | null;
  /** `energia_kwh`: Central updates it from `charging_progress`, and sets it when it closes. */
  readonly energyKwh: number;
  /** `coste`, set when Central closes the session with a charge. */
  readonly cost: number;
  /** `estado`: active, completed (closed with a charge) or terminated (closed without). */
  readonly state: string;
}

function field(row: Record<string, unknown>, name: string, table: string): unknown {
  if (!(name in row)) {
    throw new Error(`Central's ${table} row has no column "${name}": ${JSON.stringify(row)}`);
  }
  return row[name];
}

function text(row: Record<string, unknown>, name: string, table: string): string {
  const value = field(row, name, table);
  return value === null || value === undefined ? "" : String(value);
}

function number(row: Record<string, unknown>, name: string, table: string): number {
  const value = field(row, name, table);
  if (value === null) return 0;
  const n = typeof value === "bigint" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isFinite(n)) {
    throw new Error(`Central's ${table}.${name} is not a number: ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * Reads a `charging_points` row (`cp_id`, `estado`, `localizacion`).
 *
 * @throws {Error} when a column is missing (Central's schema changed).
 */
export function toChargingPoint(row: Record<string, unknown>): ChargingPointRow {
  return {
    cpId: text(row, "cp_id", "charging_points"),
    status: text(row, "estado", "charging_points"),
    location: text(row, "localizacion", "charging_points"),
  };
}

/**
 * Reads a `charging_sesiones` row joined with the user's `nombre` as `username`.
 *
 * @throws {Error} when a column is missing or not a number where one is expected.
 */
export function toSession(row: Record<string, unknown>): SessionRow {
  const table = "charging_sesiones";
  const end = field(row, "end_time", table);
  const username = "username" in row && row["username"] !== null ? String(row["username"]) : null;
  return {
    id: number(row, "id", table),
    userId: number(row, "user_id", table),
    username,
    cpId: text(row, "cp_id", table),
    startTime: number(row, "start_time", table),
    endTime: end === null ? null : number(row, "end_time", table),
    energyKwh: number(row, "energia_kwh", table),
    cost: number(row, "coste", table),
    state: text(row, "estado", table),
  };
}

/**
 * One line for the evidence: `session 103 driver1@CP_001 completed, 0.073 kWh, 0.03 EUR,
 * t+40.1 -> t+54.2`.
 */
export function describeSession(session: SessionRow, clock: RunClock): string {
  const end = session.endTime === null ? "open" : formatT(clock.fromEpoch(session.endTime));
  return `session ${session.id} ${
    session.username ?? `user ${session.userId}`
  }@${session.cpId} ${session.state}, ${session.energyKwh.toFixed(3)} kWh, ${
    session.cost.toFixed(2)
  } EUR, ${formatT(clock.fromEpoch(session.startTime))} -> ${end}`;
}

/** Central's database, opened read-only. */
export class CentralDb {
  readonly #db: DatabaseSync;

  /**
   * Opens `path` read-only (Central must have created its write-ahead log first).
   *
   * @throws {Error} when the file cannot be opened.
   */
  constructor(readonly path: string) {
    this.#db = new DatabaseSync(path, { readOnly: true });
  }

  /** The charging point `cpId`, or null when Central has no such row. */
  chargingPoint(cpId: string): ChargingPointRow | null {
    const row = this.#db.prepare(
      "SELECT cp_id, estado, localizacion FROM charging_points WHERE cp_id = ?",
    ).get(cpId);
    return row === undefined ? null : toChargingPoint(row as Record<string, unknown>);
  }

  /** The highest session id (0 when there is none). */
  maxSessionId(): number {
    const row = this.#db.prepare("SELECT COALESCE(MAX(id), 0) AS id FROM charging_sesiones")
      .get() as Record<string, unknown>;
    return number(row, "id", "charging_sesiones");
  }

  /** The sessions with an id above `afterId`, oldest first. */
  sessionsAfter(afterId: number): SessionRow[] {
    return this.#db.prepare(
      `SELECT s.id, s.user_id, u.nombre AS username, s.cp_id, s.start_time, s.end_time,
              s.energia_kwh, s.coste, s.estado
         FROM charging_sesiones s LEFT JOIN usuarios u ON u.id = s.user_id
        WHERE s.id > ? ORDER BY s.id`,
    ).all(afterId).map((row) => toSession(row as Record<string, unknown>));
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#db.close();
    } catch {
      // Already closed.
    }
  }
}

/** A change of a charging point's status in Central's database. */
export interface StatusChange {
  readonly t: RunSeconds;
  readonly cpId: string;
  readonly from: string | null;
  readonly to: string;
}

/** A new or changed session row. */
export interface SessionChange {
  readonly t: RunSeconds;
  readonly session: SessionRow;
}

/**
 * Polls Central's database (every 100 ms by default) and records every change of the watched
 * charging points' status and of the sessions created during the run.
 */
export class DbWatcher {
  /** Every status change seen, oldest first. */
  readonly statusChanges: StatusChange[] = [];
  /** Every new or changed session row seen, oldest first. */
  readonly sessionChanges: SessionChange[] = [];
  /** Errors while reading (e.g. the database was busy), with when. */
  readonly readErrors: { t: RunSeconds; message: string }[] = [];
  readonly #db: CentralDb;
  readonly #clock: RunClock;
  readonly #cpIds: readonly string[];
  readonly #baseSessionId: number;
  readonly #status = new Map<string, string>();
  readonly #sessions = new Map<number, SessionRow>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Watches `cpIds` in `db`; only sessions created after now are recorded. */
  constructor(db: CentralDb, clock: RunClock, cpIds: readonly string[]) {
    this.#db = db;
    this.#clock = clock;
    this.#cpIds = cpIds;
    this.#baseSessionId = db.maxSessionId();
    this.poll();
  }

  /** Polls every `intervalMs` until {@link stop}. */
  start(intervalMs = 100): void {
    this.#timer ??= setInterval(() => this.poll(), intervalMs);
  }

  /** Stops polling. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Reads the database once and records what changed. */
  poll(): void {
    const t = this.#clock.now();
    try {
      for (const cpId of this.#cpIds) {
        const status = this.#db.chargingPoint(cpId)?.status ?? "(no row)";
        const before = this.#status.get(cpId) ?? null;
        if (before !== status) {
          this.#status.set(cpId, status);
          this.statusChanges.push({ t, cpId, from: before, to: status });
        }
      }
      for (const session of this.#db.sessionsAfter(this.#baseSessionId)) {
        const before = this.#sessions.get(session.id);
        if (!before || JSON.stringify(before) !== JSON.stringify(session)) {
          this.#sessions.set(session.id, session);
          this.sessionChanges.push({ t, session });
        }
      }
    } catch (error) {
      this.readErrors.push({ t, message: error instanceof Error ? error.message : String(error) });
    }
  }

  /** The status of `cpId` as last read (after a fresh read). */
  status(cpId: string): string | null {
    this.poll();
    return this.#status.get(cpId) ?? null;
  }

  /** The status `cpId` had at run second `t` (null before the first read). */
  statusAt(cpId: string, t: RunSeconds): string | null {
    let status: string | null = null;
    for (const change of this.statusChanges) {
      if (change.cpId === cpId && change.t <= t) status = change.to;
    }
    return status;
  }

  /** The first run second at or after `since` when `cpId` was `status`, or null. */
  firstTimeIn(cpId: string, status: string, since: RunSeconds): RunSeconds | null {
    const before = this.statusAt(cpId, since);
    if (before === status) return since;
    const change = this.statusChanges.find((c) =>
      c.cpId === cpId && c.t >= since && c.to === status
    );
    return change ? change.t : null;
  }

  /** The sessions created during the run, as last read (after a fresh read). */
  sessions(): SessionRow[] {
    this.poll();
    return [...this.#sessions.values()];
  }

  /** The session `id` as it was at run second `t`. */
  sessionAt(id: number, t: RunSeconds): SessionRow | null {
    let found: SessionRow | null = null;
    for (const change of this.sessionChanges) {
      if (change.session.id === id && change.t <= t) found = change.session;
    }
    return found;
  }
}
