/**
 * The durable outbox and session journals of one engine process, in one SQLite database
 * (`node:sqlite`) at `<state-dir>/<name>/engine.sqlite3`: `<name>` is the cp id of a single
 * charging point, or `fleet-<group>` for a fleet, whose points each journal their own session.
 *
 * - Events are appended before they are sent and removed only once Kafka has acknowledged them,
 *   so they survive a crash of the engine or of the machine; delivery is in `seq` order.
 * - The database runs in WAL mode. A commit (one per event or run of events, one per journaled
 *   meter reading) has written its pages to the write-ahead log when `append` or `save`
 *   returns: a crash of the process (`kill -9`) loses nothing committed. Surviving a power cut
 *   also takes an fsync of the log, and that fsync (about 0.5 ms, often several) is done on
 *   Deno's blocking-I/O threads, never on the thread that answers probes and commands: each
 *   commit starts one ({@linkcode SqliteOutbox.durable}, several commits sharing one), and the
 *   bus waits for it before it sends a ticket (`charging_completed`), which is exactly what must
 *   survive a power cut. This is what `synchronous=FULL` guaranteed, with the fsync taken off the
 *   event loop (`synchronous=NORMAL` plus our own fdatasync of the log: SQLite syncs the log
 *   before every checkpoint, so the database itself is never at risk).
 * - Progress samples that went stale while Kafka was away (older than 30 s) are collapsed: a new
 *   `charging_progress` deletes the stale ones of the same session still waiting after the last
 *   status change or session end. Status changes, session ends and registrations are never
 *   touched. So the outbox of a long outage holds its status changes and session ends, the last
 *   30 s of progress per session and nothing more.
 * - The journal keeps one row per charging point: its session in progress (see
 *   `SessionJournal` in `src/app/ports.ts`).
 * - The engine holds the database with an exclusive lock while it runs: a second engine with
 *   the same cp id and state directory cannot open it and says so.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { join } from "node:path";
import type {
  Clock,
  JournaledSession,
  OutboundEvent,
  Outbox,
  SessionJournal,
  StoredEvent,
} from "../../app/ports.ts";

/** The database file inside `<state-dir>/<cp_id>/`. */
export const DATABASE_FILE = "engine.sqlite3";
/** A progress sample older than this (ms) while it waits may be collapsed (the re-stamp age). */
export const DEFAULT_STALE_PROGRESS_MS = 30_000;

const PROGRESS = "charging_progress";
/** 1: one journal row; 2: one journal row per charging point. */
const SCHEMA_VERSION = 2;

/** The state directory cannot be used: the message says which directory and why. */
export class StateDirError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StateDirError";
  }
}

/** Options of {@linkcode SqliteOutbox.open}. */
export interface SqliteOutboxOptions {
  /** Time, for the staleness of progress samples. */
  readonly clock: Pick<Clock, "now">;
  /** Waiting progress samples older than this may be collapsed (default 30 s). */
  readonly staleProgressMs?: number;
  /**
   * The most the database may grow to, bytes (`--state-max-mb`; default: no limit). Beyond it,
   * writes fail as on a full disk: events wait in memory and tickets are retried, as they would
   * be when the disk is really full.
   */
  readonly maxBytes?: number;
}

interface OutboxRow {
  seq: number;
  topic: string;
  key: string;
  value: string;
}

/**
 * The outbox and session journals, durable in SQLite. As a {@linkcode SessionJournal} it is the
 * journal of the point it was opened for; {@linkcode SqliteOutbox.journal} gives any point's.
 */
export class SqliteOutbox implements Outbox, SessionJournal {
  /** The database file. */
  readonly path: string;
  /** The point the database was opened for (its directory's name). */
  readonly #cpId: string;
  readonly #db: DatabaseSync;
  readonly #clock: Pick<Clock, "now">;
  readonly #staleProgressMs: number;
  readonly #insert: StatementSync;
  readonly #collapse: StatementSync;
  readonly #peek: StatementSync;
  readonly #delete: StatementSync;
  readonly #update: StatementSync;
  readonly #count: StatementSync;
  readonly #saveSession: StatementSync;
  readonly #loadSession: StatementSync;
  readonly #clearSession: StatementSync;
  #transactionDepth = 0;
  #closed = false;
  /** Journal rows saved in this turn, by cp id, committed together at its end (see #save). */
  readonly #journalWaiting = new Map<string, JournaledSession>();
  #journalScheduled = false;
  #journalFailure: unknown = null;
  /** The write-ahead log, opened for fsync once it exists. */
  #wal: Deno.FsFile | null = null;
  /** The fsync in progress, and whether commits made since it began wait for another one. */
  #syncing: Promise<void> | null = null;
  #resync: Promise<void> | null = null;
  /** SQLite fsyncs each commit itself: the log could not be opened for ours. */
  #sqliteSyncs = false;

  private constructor(
    path: string,
    cpId: string,
    db: DatabaseSync,
    options: SqliteOutboxOptions,
  ) {
    this.path = path;
    this.#cpId = cpId;
    this.#db = db;
    this.#clock = options.clock;
    this.#staleProgressMs = options.staleProgressMs ?? DEFAULT_STALE_PROGRESS_MS;
    this.#insert = db.prepare(
      "INSERT INTO outbox (topic, key, event_type, created_ms, value) VALUES (?, ?, ?, ?, ?)",
    );
    // The stale progress samples of the same session (same key and user) that wait after the
    // last event of any other kind: a status change or a session end bounds a session.
    this.#collapse = db.prepare(`
      DELETE FROM outbox
      WHERE event_type = '${PROGRESS}' AND key = :key AND created_ms < :cutoff
        AND json_extract(value, '$.username') IS :username
        AND json_extract(value, '$.user_id') IS :user_id
        AND seq > (SELECT coalesce(max(seq), 0) FROM outbox
                   WHERE key = :key AND event_type <> '${PROGRESS}')`);
    this.#peek = db.prepare("SELECT seq, topic, key, value FROM outbox ORDER BY seq LIMIT ?");
    this.#delete = db.prepare("DELETE FROM outbox WHERE seq = ?");
    this.#update = db.prepare("UPDATE outbox SET topic = ?, key = ?, value = ? WHERE seq = ?");
    this.#count = db.prepare("SELECT count(*) AS n FROM outbox");
    this.#saveSession = db.prepare(
      "INSERT OR REPLACE INTO session_journal (cp_id, session_id, session, journaled_at) VALUES (?, ?, ?, ?)",
    );
    this.#loadSession = db.prepare("SELECT session FROM session_journal WHERE cp_id = ?");
    this.#clearSession = db.prepare(
      "DELETE FROM session_journal WHERE cp_id = ? AND session_id = ?",
    );
  }

  /**
   * Opens (creating if needed) `<stateDir>/<name>/engine.sqlite3`; `name` is the cp id of a
   * single point (whose journal the store then is), or the fleet's name.
   *
   * @throws {StateDirError} when the directory cannot be created, read or written.
   */
  static open(stateDir: string, name: string, options: SqliteOutboxOptions): SqliteOutbox {
    const cpId = name;
    const dir = join(stateDir, name);
    for (const name of ["read", "write"] as const) {
      if (Deno.permissions.querySync({ name, path: dir }).state !== "granted") {
        throw new StateDirError(
          `Cannot use the state directory "${dir}" (--state-dir / STATE_DIR): the engine has no ${name} permission there; use a directory inside the one its --allow-${name} grants (./state for deno task start)`,
        );
      }
    }
    try {
      Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new StateDirError(
        `Cannot create the state directory "${dir}" (--state-dir / STATE_DIR): ${messageOf(error)}`,
        { cause: error },
      );
    }
    const path = join(dir, DATABASE_FILE);
    let db: DatabaseSync | null = null;
    try {
      db = new DatabaseSync(path);
      migrate(db, cpId);
      const store = new SqliteOutbox(path, cpId, db, options);
      if (options.maxBytes !== undefined) store.limitSize(options.maxBytes);
      return store;
    } catch (error) {
      try {
        db?.close();
      } catch {
        // Already unusable.
      }
      if (/locked|busy/i.test(messageOf(error))) {
        throw new StateDirError(
          `The state database "${path}" is in use by another engine: is "${cpId}" already running with this --state-dir?`,
          { cause: error },
        );
      }
      throw new StateDirError(
        `Cannot write the state database "${path}" (--state-dir / STATE_DIR): ${messageOf(error)}`,
        { cause: error },
      );
    }
  }

  /**
   * Resolves once every commit made so far is on disk (survives a power cut). Commits made while
   * an fsync runs share the next one: at most one runs and one waits, whatever the rate.
   */
  durable(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#syncing === null) {
      this.#syncing = this.#syncLog().finally(() => this.#syncing = null);
      return this.#syncing;
    }
    // The fsync running may have begun before the latest commit: one more after it.
    this.#resync ??= this.#syncing.catch(() => {}).then(() => {
      this.#resync = null;
      return this.durable();
    });
    return this.#resync;
  }

  async #syncLog(): Promise<void> {
    if (this.#sqliteSyncs) return;
    try {
      this.#wal ??= await Deno.open(`${this.path}-wal`, { read: true });
    } catch (error) {
      // No log yet: nothing was committed through it.
      if (error instanceof Deno.errors.NotFound) return;
      if (
        error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied
      ) {
        this.#letSqliteSync();
        return;
      }
      throw error;
    }
    await this.#wal.syncData();
  }

  /**
   * The log cannot be opened for our own fsync although SQLite writes it: the runtime refuses
   * the path (a state directory under `/dev`, such as `/dev/shm`, needs more than the engine's
   * permissions) or the system does. SQLite then syncs each commit itself (`synchronous=FULL`,
   * on the event loop: slower, as durable), and a checkpoint makes what was committed so far
   * durable now.
   */
  #letSqliteSync(): void {
    if (this.#sqliteSyncs || this.#closed) return;
    this.#sqliteSyncs = true;
    this.#db.exec("PRAGMA synchronous = FULL");
    this.#db.exec("PRAGMA wal_checkpoint(FULL)");
  }

  /** Whose fsync makes commits durable: ours, off the event loop, or SQLite's (see #letSqliteSync). */
  get fsyncBy(): "engine" | "sqlite" {
    return this.#sqliteSyncs ? "sqlite" : "engine";
  }

  /** Starts the fsync of what was just committed; its failure is the next waiter's to see. */
  #committed(): void {
    this.durable().catch(() => {});
  }

  append(event: OutboundEvent): void {
    this.atomically(() => {
      const value = event.value;
      if (value.event_type === PROGRESS) {
        this.#collapse.run({
          key: event.key,
          cutoff: this.#clock.now() - this.#staleProgressMs,
          username: sqlValue(value["username"]),
          user_id: sqlValue(value["user_id"]),
        });
      }
      this.#insert.run(
        event.topic,
        event.key,
        value.event_type,
        value.timestamp * 1000,
        JSON.stringify(value),
      );
    });
  }

  peek(limit: number): StoredEvent[] {
    const rows = this.#peek.all(limit) as unknown as OutboxRow[];
    return rows.map((row) => ({
      seq: Number(row.seq),
      event: { topic: row.topic, key: row.key, value: JSON.parse(row.value) },
    }));
  }

  remove(seqs: readonly number[]): void {
    if (this.#closed) return;
    // No fsync of its own: forgetting a delivered event is no loss if a power cut undoes it (the
    // event goes again, and Central drops a message id it has seen).
    this.#transaction(() => {
      for (const seq of seqs) this.#delete.run(seq);
    }, false);
  }

  replace(seq: number, event: OutboundEvent): void {
    if (this.#closed) return;
    this.#update.run(event.topic, event.key, JSON.stringify(event.value), seq);
    this.#committed();
  }

  size(): number {
    if (this.#closed) return 0;
    const row = this.#count.get() as { n: number } | undefined;
    return Number(row?.n ?? 0);
  }

  save(session: JournaledSession): void {
    this.#save(this.#cpId, session);
  }

  load(): JournaledSession | null {
    return this.#load(this.#cpId);
  }

  clear(sessionId: string): void {
    this.#clear(this.#cpId, sessionId);
  }

  /** The journal of the point `cpId` (a fleet keeps one per point in the same database). */
  journal(cpId: string): SessionJournal {
    return {
      save: (session) => this.#save(cpId, session),
      load: () => this.#load(cpId),
      clear: (sessionId) => this.#clear(cpId, sessionId),
    };
  }

  /**
   * Journals a point's latest figures at the end of the current turn of the event loop, in one
   * commit with every other point's of that turn: a fleet's 10,000 meter readings of a tick
   * were 10,000 commits a second, most of a charging fleet's CPU. Nothing observable happens
   * before the end of the turn (no I/O runs within it), so a crash loses no more than before;
   * every other use of the store commits what waits first. A commit that fails keeps what waits
   * for the next turn, and the next save throws its error (the caller says the journal fails).
   */
  #save(cpId: string, session: JournaledSession): void {
    // A meter reading may still arrive while the engine shuts down.
    if (this.#closed) return;
    this.#journalWaiting.set(cpId, session);
    if (!this.#journalScheduled) {
      this.#journalScheduled = true;
      queueMicrotask(() => {
        this.#journalScheduled = false;
        try {
          this.#commitJournal();
        } catch (error) {
          this.#journalFailure = error;
        }
      });
    }
    const failure = this.#journalFailure;
    if (failure !== null) {
      this.#journalFailure = null;
      throw failure;
    }
  }

  /** Commits the journal rows waiting (see #save); they stay waiting if that fails. */
  #commitJournal(): void {
    if (this.#journalWaiting.size === 0 || this.#closed) return;
    const waiting = [...this.#journalWaiting];
    this.#transaction(() => {
      for (const [cpId, session] of waiting) {
        this.#saveSession.run(
          cpId,
          session.sessionId,
          JSON.stringify(session),
          session.journaledAt,
        );
      }
    }, true);
    // Only what was committed: a save made meanwhile (inside a transaction's work) stays.
    for (const [cpId, session] of waiting) {
      if (this.#journalWaiting.get(cpId) === session) this.#journalWaiting.delete(cpId);
    }
  }

  #load(cpId: string): JournaledSession | null {
    this.#commitJournal();
    const row = this.#loadSession.get(cpId) as { session: string } | undefined;
    return row === undefined ? null : JSON.parse(row.session) as JournaledSession;
  }

  #clear(cpId: string, sessionId: string): void {
    if (this.#closed) return;
    this.#commitJournal();
    this.#clearSession.run(cpId, sessionId);
    if (this.#transactionDepth === 0) this.#committed();
  }

  atomically(work: () => void): void {
    // Rows waiting are committed on their own first: a failure of `work` must not undo them.
    if (this.#transactionDepth === 0) this.#commitJournal();
    this.#transaction(work, true);
  }

  #transaction(work: () => void, sync: boolean): void {
    if (this.#transactionDepth > 0) {
      work();
      return;
    }
    this.#db.exec("BEGIN IMMEDIATE");
    this.#transactionDepth++;
    try {
      work();
      this.#transactionDepth--;
      this.#db.exec("COMMIT");
      if (sync) this.#committed();
    } catch (error) {
      this.#transactionDepth = 0;
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /**
   * Caps the database's size at `bytes` (SQLite's `max_page_count`; never below what it holds
   * now), or lifts the cap with null. Beyond the cap, writes fail with "database or disk is
   * full", exactly as on a full disk.
   */
  limitSize(bytes: number | null): void {
    const pageSize = (this.#db.prepare("PRAGMA page_size").get() as { page_size: number })
      .page_size;
    const pages = bytes === null ? 1_073_741_823 : Math.max(1, Math.ceil(bytes / pageSize));
    this.#db.exec(`PRAGMA max_page_count = ${pages}`);
  }

  close(): void {
    if (this.#closed) return;
    try {
      this.#commitJournal();
    } catch {
      // The disk fails: the journal keeps the figures of the last commit that worked.
    }
    this.#closed = true;
    // Closing checkpoints the log into the database with fsyncs of its own.
    this.#db.close();
    try {
      this.#wal?.close();
    } catch {
      // An fsync still running holds it; the process is ending.
    }
  }
}

function migrate(db: DatabaseSync, cpId: string): void {
  // One engine per database: the lock is taken by the first write below and held until the
  // database is closed (or the process dies), so a second engine with the same cp id and state
  // directory waits at most 2 s, then fails to start.
  db.exec("PRAGMA busy_timeout = 2000");
  db.exec("PRAGMA locking_mode = EXCLUSIVE");
  db.exec("PRAGMA journal_mode = WAL");
  // The fsync that makes commits survive a power cut is ours, off the event loop: `durable()`.
  db.exec("PRAGMA synchronous = NORMAL");
  const version = (db.prepare("PRAGMA user_version").get() as { user_version: number })
    .user_version;
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `the database has schema version ${version}, newer than this engine's ${SCHEMA_VERSION}`,
    );
  }
  db.exec(`
    CREATE TABLE IF NOT EXISTS outbox (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      topic TEXT NOT NULL,
      key TEXT NOT NULL,
      event_type TEXT NOT NULL,
      created_ms REAL NOT NULL,
      value TEXT NOT NULL
    );
  `);
  // A progress sample's collapse looks up its own point's events: without this index every
  // append read the whole outbox, so a backlog (a fleet's burst, an outage) made every append
  // slower, the backlog longer, and a fleet of 10,000 points never caught up. Older engines
  // open a database with it as before.
  db.exec("CREATE INDEX IF NOT EXISTS outbox_by_point ON outbox (key, event_type, seq)");
  if (version === 1) {
    // Version 1 journaled one session in slot 1, for the point the database is named after.
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec("ALTER TABLE session_journal RENAME TO session_journal_v1");
      createJournal(db);
      db.prepare(`
        INSERT INTO session_journal (cp_id, session_id, session, journaled_at)
        SELECT ?, session_id, session, journaled_at FROM session_journal_v1`).run(cpId);
      db.exec("DROP TABLE session_journal_v1");
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
    return;
  }
  createJournal(db);
  db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
}

function createJournal(db: DatabaseSync): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS session_journal (
      cp_id TEXT PRIMARY KEY,
      session_id TEXT NOT NULL,
      session TEXT NOT NULL,
      journaled_at INTEGER NOT NULL
    );
  `);
}

/** A JSON field's value as SQLite's `json_extract` returns it. */
function sqlValue(value: unknown): string | number | null {
  if (typeof value === "string" || typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  return null;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
