/**
 * The seams between the engine and the world: time, the event bus and the charging meter.
 * Adapters in `src/adapters/` implement them; unit tests pass fakes.
 *
 * @module
 */
import type { MeterReading, PowerProfile } from "../domain/session.ts";

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

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
};

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
  flush(deadlineMs: number): Promise<boolean>;
}

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
