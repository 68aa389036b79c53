/**
 * Every seam between the application and the world, inbound and outbound, in one place. The
 * application (`src/app/`, `src/fleet/`) depends only on these; adapters (`src/adapters/`)
 * implement them; the command line (`src/cli/`) picks the adapters and wires them; unit tests
 * pass fakes that behave like the real adapters.
 *
 * Outbound: {@linkcode Clock}, {@linkcode Logger}, {@linkcode EventPublisher},
 * {@linkcode Outbox}, {@linkcode SessionJournal}, {@linkcode ChargingMeter},
 * {@linkcode ProcessControl}. Inbound: {@linkcode EventBus} (commands in, events out),
 * {@linkcode HealthListenerFactory} (the Monitor's probes), {@linkcode OperatorView} (the
 * console's keys), {@linkcode PanelFactory} (the web panel), {@linkcode DuplicateWatch}; and
 * {@linkcode BusObserver}, what the bus tells the metrics.
 *
 * @module
 */
import type { Driver } from "../domain/charge_point.ts";
import type { MeterReading, PowerProfile } from "../domain/session.ts";
import type { PointControl } from "./view.ts";

// ---------------------------------------------------------------------------------------------
// Time, ids, logs
// ---------------------------------------------------------------------------------------------

/**
 * Time and timers. In unit tests, a small adapter over `@sinonjs/fake-timers`' `createClock()`
 * implements it (its `now` is a property there, a method here).
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/** A fresh UUID v4 per call. */
export type IdGenerator = () => string;

/** Numbers in [0, 1); seeded where runs must be reproducible. */
export type RandomSource = () => number;

/** Structured properties of a log line (`{name}` placeholders in the message read them). */
export type LogProperties = Record<string, unknown>;

/** Where the application logs; the logging adapter's loggers implement it. */
export interface Logger {
  debug(message: string, properties?: LogProperties): void;
  info(message: string, properties?: LogProperties): void;
  warn(message: string, properties?: LogProperties): void;
  error(message: string, properties?: LogProperties): void;
  /** The same logger with `properties` added to every line (e.g. the cp id). */
  with(properties: LogProperties): Logger;
}

// ---------------------------------------------------------------------------------------------
// Events out
// ---------------------------------------------------------------------------------------------

/** One message for the `cp-events` topic: a key (the cp id) and a JSON object. */
export interface OutboundEvent {
  readonly topic: string;
  readonly key: string;
  readonly value: Readonly<Record<string, unknown>> & {
    readonly message_id: string;
    readonly event_type: string;
    readonly timestamp: number;
  };
}

/**
 * Where the engine's events go. `publish` never throws and never loses an accepted event: the
 * adapter queues, retries and delivers in order. `flush` resolves once everything published so
 * far has been delivered or the deadline passed (returns whether all went out).
 */
export interface EventPublisher {
  publish(event: OutboundEvent): void;
  /**
   * Publishes `event` and runs `alongside` in the same transaction of the store that keeps it:
   * both happen, or neither yet. A ticket goes with forgetting the journaled session it closes,
   * so whatever fails (the disk, the process), exactly one ticket is ever sent for a session:
   * this one, or the recovered one after a restart. Never throws; while the store fails, both
   * wait in memory, in order, and are done together when it works again.
   */
  publishWith(event: OutboundEvent, alongside: () => void): void;
  flush(deadlineMs: number): Promise<boolean>;
}

/** An event waiting in the outbox, with its position. */
export interface StoredEvent {
  /** Position in the outbox; increases with every append. */
  readonly seq: number;
  readonly event: OutboundEvent;
}

/**
 * Where events wait until Kafka has them (the bus's store): appended before they are sent,
 * removed once acknowledged, delivered in order, at least once.
 */
export interface Outbox {
  /** Stores an event (durably, for a durable outbox) before returning. */
  append(event: OutboundEvent): void;
  /** The oldest `limit` events, oldest first. */
  peek(limit: number): StoredEvent[];
  /** Forgets delivered events. */
  remove(seqs: readonly number[]): void;
  /** Replaces a stored event (e.g. a re-stamped timestamp), keeping its position. */
  replace(seq: number, event: OutboundEvent): void;
  /** Runs `work` in one transaction: every change it makes to the store happens, or none. */
  atomically(work: () => void): void;
  /**
   * Resolves once every change committed so far would survive a power cut (a crash of the
   * process alone loses nothing committed in any case); rejects when the disk fails. The bus
   * waits for it before sending a ticket: a ticket on the wire whose journal deletion a power
   * cut undid would be sent twice.
   */
  durable(): Promise<void>;
  /** How many events wait. */
  size(): number;
  /** Releases resources. */
  close(): void;
}

// ---------------------------------------------------------------------------------------------
// The session journal (crash recovery)
// ---------------------------------------------------------------------------------------------

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
  /**
   * The `message_id` of the `charging_started` that began it (absent in rows written before it
   * was kept): after the recovery, a redelivery of that command is not applied again.
   */
  readonly commandId?: string | null;
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

/**
 * Where one charging point keeps its session in progress, so that after a crash (`kill -9`, a
 * power cut) the restarted engine can close it with `charging_completed` (`engine_recovered`).
 * The durable adapter keeps it in the same database as the outbox: that is what makes the ticket
 * exactly-once ({@linkcode EventPublisher.publishWith}).
 */
export interface SessionJournal {
  /** Records the session's latest figures (replacing the previous ones), durably. */
  save(session: JournaledSession): void;
  /** The session a previous run left behind, or null. */
  load(): JournaledSession | null;
  /** Forgets the session `sessionId` (nothing happens if another one is journaled). */
  clear(sessionId: string): void;
}

// ---------------------------------------------------------------------------------------------
// The charging loop
// ---------------------------------------------------------------------------------------------

/** The charging loop: meters sessions and reports readings once per tick. */
export interface ChargingMeter {
  /** Starts metering a session; `onReading` is called on every tick until it stops. */
  start(
    sessionId: string,
    profile: PowerProfile,
    baseEnergyKwh: number,
    onReading: (reading: MeterReading) => void,
  ): void;
  /** Energy starts to flow. */
  supply(sessionId: string): void;
  /** Stops metering and returns the final reading (null if the session was unknown). */
  stop(sessionId: string): Promise<MeterReading | null>;
}

/** A charging meter that holds resources (the Worker) and is shut down at the end. */
export interface ClosableMeter extends ChargingMeter {
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Kafka: commands in, events out
// ---------------------------------------------------------------------------------------------

/** Receives the raw value of each command message. Must not throw (errors are caught). */
export type CommandHandler = (value: Uint8Array | null) => void;

/** What an operator sees of the connection to Kafka. */
export interface BusStatus {
  /** Whether the last attempt to talk to Kafka succeeded. */
  readonly connected: boolean;
  /** How many events wait to be delivered. */
  readonly backlog: number;
}

/**
 * What the Kafka bus tells the metrics, as it happens: every event it accepts into its outbox,
 * every batch Kafka acknowledged, every command message it handed on. Must not throw.
 */
export interface BusObserver {
  /** `event` was accepted (it waits in the outbox until Kafka has it). */
  accepted(event: OutboundEvent): void;
  /** Kafka acknowledged `events` (all replicas in sync: `acks=-1`). */
  delivered(events: readonly OutboundEvent[]): void;
  /**
   * A command message was handled (decoded, and applied when it was for a point of this
   * process); `producedAt` is its Kafka timestamp (epoch ms), when the sender produced it.
   */
  commandHandled(producedAt: number): void;
}

/** The connection to Kafka: publisher of events and consumer of commands. */
export interface EventBus extends EventPublisher, BusStatus {
  /** Starts connecting in the background (retrying until closed). */
  start(): void;
  /**
   * Starts consuming the command topic with the point's consumer group, from the committed
   * offset (new groups start at the end: old commands are not replayed).
   */
  consumeCommands(handler: CommandHandler): Promise<void>;
  /** Calls `listener` every time the connection (re)opens. */
  onConnected(listener: () => void): void;
  /**
   * Calls `listener` every time the command consumer has joined its group and completed a
   * fetch: from then on no command sent to the point can be missed.
   */
  onConsuming(listener: () => void): void;
  /** Resolves the next time an attempt to reach Kafka fails. */
  nextFailure(): Promise<void>;
  /**
   * Resolves (never rejects) if the broker rejects the credentials before the first connection:
   * the bus has then stopped, and the process should exit with the error's message.
   */
  readonly authenticationFailure: Promise<Error>;
  /**
   * Stops consuming commands while events still go out: shutdown has begun. The consumer leaves
   * its group in the background ({@linkcode EventBus.close} waits for it a little).
   */
  stopCommands(): void;
  /** Stops consuming, delivers nothing more, and disconnects. */
  close(): Promise<void>;
}

/**
 * Whether Central is there: unknown until it is first seen (a lab may have none), then present,
 * or away since a moment.
 */
export type CentralPresence =
  | { readonly kind: "unknown" }
  | { readonly kind: "present" }
  | { readonly kind: "away"; readonly since: number };

/** Watches whether Central is there (one watch per process, for all its points). */
export interface CentralWatch {
  /** What is known now. */
  readonly presence: CentralPresence;
  /** Calls `listener` on every change; returns the unsubscribe. */
  onChange(listener: (presence: CentralPresence) => void): () => void;
  /** Starts looking (every few seconds). */
  start(): void;
  close(): Promise<void>;
}

/** Watches for a second engine running with the same cp id (reports by logging). */
export interface DuplicateWatch {
  /** Starts (or restarts) watching; called whenever Kafka is reachable. */
  start(): void;
  /** Checks the command group's members now. */
  checkGroup(): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// The health port (the Monitor's probes)
// ---------------------------------------------------------------------------------------------

/** What the health port answers: `KO` in fault or when the health flag is KO. */
export type HealthAnswer = "OK" | "KO";

/** The part of a point the health port asks; implemented by the engine, faked in tests. */
export interface HealthSource {
  /** The answer to give right now; called once per valid probe. */
  healthAnswer(): HealthAnswer;
  /** Called on every valid `STATUS?` probe (the engine watches for Monitor loss with it). */
  onProbe(): void;
}

/** An open health port. */
export interface HealthListener {
  /** The port actually listened on (the one the OS picked when asked for port 0). */
  readonly port: number;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/** Where a point's health port listens. */
export interface HealthAddress {
  readonly hostname: string;
  /** 0 lets the operating system pick a free port. */
  readonly port: number;
}

/**
 * Opens a health port answering for `source`.
 *
 * @throws {HealthPortInUseError} when something already listens there.
 */
export type HealthListenerFactory = (
  address: HealthAddress,
  source: HealthSource,
  logger: Logger,
) => HealthListener;

/**
 * A port of the process (a health port, the web panel's) could not be opened because something
 * already uses it: start-up stops, nothing stays open, and the process exits with code 1.
 */
export class PortInUseError extends Error {
  /** The port that was asked for. */
  readonly port: number;
  /** The address that was asked for. */
  readonly hostname: string;

  /** Builds the error for `hostname:port` with the one line the operator reads. */
  constructor(message: string, hostname: string, port: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "PortInUseError";
    this.port = port;
    this.hostname = hostname;
  }
}

/** A health port could not be opened because something already uses it. */
export class HealthPortInUseError extends PortInUseError {
  /** Builds the error for `hostname:port`; `cause` is the operating system's error. */
  constructor(hostname: string, port: number, options?: ErrorOptions) {
    super(
      `Cannot open the health port ${port} on ${hostname}: the address is already in use ` +
        `(is another engine running? pick another --health-port)`,
      hostname,
      port,
      options,
    );
    this.name = "HealthPortInUseError";
  }
}

// ---------------------------------------------------------------------------------------------
// The process and the operator
// ---------------------------------------------------------------------------------------------

/** The process the points run in: its stop request and its last-resort exit. */
export interface ProcessControl {
  /**
   * Resolves with the name of the first stop signal (SIGINT, SIGTERM), or with what `quit`
   * resolves with (the console's quit key), whichever comes first.
   */
  waitForStop(quit?: Promise<string>): Promise<string>;
  /**
   * Ends the process (after logging why) if a graceful shutdown still runs `ms` from now;
   * returns the function that cancels this guard.
   */
  guardShutdown(log: Logger, ms: number): () => void;
}

/** An operator's screen served on a network port (the web panel), open until shutdown. */
export interface PanelListener {
  /** The address listened on. */
  readonly hostname: string;
  /** The port actually listened on (the one the OS picked when asked for port 0). */
  readonly port: number;
  /** Stops listening and ends every open connection (live feeds included). */
  close(): Promise<void>;
}

/**
 * Opens the operator's panel for the points of the process, after their health ports.
 *
 * @throws {PortInUseError} when something already listens on its port.
 */
export type PanelFactory = (points: readonly PointControl[], bus: BusStatus) => PanelListener;

/** The operator's own screen and keys on the point (the console), when there is one. */
export interface OperatorView {
  /** Shows the point and starts taking keys. */
  attach(point: PointControl, bus: BusStatus): void;
  /** Gives the terminal back. */
  close(): void;
  /** Resolves (with what asked for it) when the operator asks to quit. */
  readonly quitRequested: Promise<string>;
}
