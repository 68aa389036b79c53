/**
 * The ids of the last commands applied, so that a command Kafka delivers twice (a redelivery
 * after a rebalance, a producer's retry) is applied once.
 *
 * @module
 */

/** The most recent ids seen, bounded: the oldest is forgotten first. */
export class RecentIds {
  /** Made with the first id: most points never see a command with an id. */
  #ids: Set<string> | null = null;

  /** Remembers at most `capacity` ids. */
  constructor(private readonly capacity = 1_000) {}

  /** Whether `id` was seen; remembers it either way. */
  seenBefore(id: string): boolean {
    this.#ids ??= new Set();
    if (this.#ids.has(id)) return true;
    this.#ids.add(id);
    if (this.#ids.size > this.capacity) {
      const oldest = this.#ids.values().next().value;
      if (oldest !== undefined) this.#ids.delete(oldest);
    }
    return false;
  }
}
