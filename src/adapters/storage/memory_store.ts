/**
 * Storage that keeps nothing on disk: an ordered outbox in memory, and a journal that keeps
 * nothing. For unit tests and tools; the engine and the fleet use the durable SQLite store.
 *
 * @module
 */
import type { OutboundEvent, Outbox, SessionJournal, StoredEvent } from "../../app/ports.ts";

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

  /** Nothing here survives a power cut, nor needs to wait for one. */
  durable(): Promise<void> {
    return Promise.resolve();
  }

  atomically(work: () => void): void {
    const saved = [...this.#events];
    const nextSeq = this.#nextSeq;
    try {
      work();
    } catch (error) {
      this.#events = saved;
      this.#nextSeq = nextSeq;
      throw error;
    }
  }

  close(): void {}
}

/** A journal that keeps nothing: a crash loses the session in progress. */
export const NULL_JOURNAL: SessionJournal = {
  save: () => {},
  load: () => null,
  clear: () => {},
};
