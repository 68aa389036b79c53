/**
 * Coalescing of status changes: Central silently drops a second `cp_status_change` for the same
 * charging point within 2 s (protocol.md 3.2), so changes are sent at most once per window and
 * the latest state is always delivered once the window has passed. Never dropped, only merged.
 *
 * @module
 */
import type { Status } from "./domain/charge_point.ts";
import type { Clock } from "./ports.ts";

/** One status change as it goes on the wire. */
export interface StatusChange {
  readonly status: Status;
  readonly previousStatus: Status;
  readonly reason: string;
}

/** Holds back status changes so that at most one goes out per window. */
export class StatusCoalescer {
  #lastSent: Status;
  #lastSentAt: number | null = null;
  #pending: { status: Status; reason: string; force: boolean } | null = null;
  #timer: unknown = null;
  #waiters: (() => void)[] = [];

  /**
   * @param clock time and timers
   * @param windowMs minimum time between two changes sent (2000 for Central)
   * @param send called with each change that goes out
   * @param initial the status Central believes (offline after a registration)
   */
  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number,
    private readonly send: (change: StatusChange) => void,
    initial: Status = "offline",
  ) {
    this.#lastSent = initial;
  }

  /** The last status sent, which is what Central believes. */
  get lastSent(): Status {
    return this.#lastSent;
  }

  /** Whether a change is waiting for the window to pass. */
  get hasPending(): boolean {
    return this.#pending !== null;
  }

  /**
   * Asks for `status` to be sent. `force` sends it even when Central already has it (a refused
   * command re-publishes the real status so that Central can see it).
   */
  update(status: Status, reason: string, force = false): void {
    this.#pending = { status, reason, force: force || (this.#pending?.force ?? false) };
    if (this.#timer !== null) return;
    const now = this.clock.now();
    const wait = this.#lastSentAt === null ? 0 : this.#lastSentAt + this.windowMs - now;
    if (wait <= 0) {
      this.#emit();
    } else {
      this.#timer = this.clock.setTimeout(() => {
        this.#timer = null;
        this.#emit();
      }, wait);
    }
  }

  /** Resolves once no change is pending (at most one window from now). */
  settled(): Promise<void> {
    if (this.#pending === null) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Cancels the timer; a pending change is dropped (use {@linkcode settled} first). */
  dispose(): void {
    if (this.#timer !== null) this.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#release();
  }

  #emit(): void {
    const pending = this.#pending;
    this.#pending = null;
    if (pending !== null && (pending.force || pending.status !== this.#lastSent)) {
      const change = {
        status: pending.status,
        previousStatus: this.#lastSent,
        reason: pending.reason,
      };
      this.#lastSent = pending.status;
      this.#lastSentAt = this.clock.now();
      this.send(change);
    }
    this.#release();
  }

  #release(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}
