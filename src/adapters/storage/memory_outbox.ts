/**
 * The outbox: every event the engine produces is stored here before it is sent, and removed
 * only once Kafka has acknowledged it. Delivery is in order and at least once.
 *
 * @module
 */
import type { OutboundEvent } from "../../app/ports.ts";

/** An event waiting in the outbox, with its position. */
export interface StoredEvent {
  /** Position in the outbox; increases with every append. */
  readonly seq: number;
  readonly event: OutboundEvent;
}

/** Where events wait until Kafka has them. */
export interface Outbox {
  /** Stores an event (durably, for a durable outbox) before returning. */
  append(event: OutboundEvent): void;
  /** The oldest `limit` events, oldest first. */
  peek(limit: number): StoredEvent[];
  /** Forgets delivered events. */
  remove(seqs: readonly number[]): void;
  /** Replaces a stored event (e.g. a re-stamped timestamp), keeping its position. */
  replace(seq: number, event: OutboundEvent): void;
  /** How many events wait. */
  size(): number;
  /** Releases resources. */
  close(): void;
}

/** An outbox in memory: ordered and lossless while the process lives. */
export class MemoryOutbox implements Outbox {
  #events: StoredEvent[] = [];
  #nextSeq = 1;

  append(event: OutboundEvent): void {
    this.#events.push({ seq: this.#nextSeq++, event });
  }

  peek(limit: number): StoredEvent[] {
    return this.#events.slice(0, limit);
  }

  remove(seqs: readonly number[]): void {
    const gone = new Set(seqs);
    this.#events = this.#events.filter((stored) => !gone.has(stored.seq));
  }

  replace(seq: number, event: OutboundEvent): void {
    const index = this.#events.findIndex((stored) => stored.seq === seq);
    if (index >= 0) this.#events[index] = { seq, event };
  }

  size(): number {
    return this.#events.length;
  }

  close(): void {}
}
