/**
 * Coalescing of status changes: Central silently drops a second `cp_status_change` for the same
 * charging point within 2.0 s, measured on its own clock when it processes the message
 * (EV_Central_WebSocket.py:1755-1782, protocol.md 3.2). So changes are sent at most once per
 * window, with a margin for network and processing jitter (2.5 s: 2.000 s lost 7 of 10
 * fault/recover pairs against the real Central), and the latest state is always delivered once
 * the window has passed. Never dropped, only merged.
 *
 * Central also ignores a change to `available` within 5 s of the point's registration
 * (EV_Central_WebSocket.py:2453-2488), so the first `available` after a registration waits until
 * {@linkcode REGISTRATION_QUIET_MS} have passed.
 *
 * @module
 */
import type { Status } from "../domain/charge_point.ts";
import type { Clock } from "./ports.ts";

/** The default window between two status changes, ms (Central's 2.0 s plus a margin). */
export const DEFAULT_STATUS_WINDOW_MS = 2_500;
/** How long after a registration an `available` is held back, ms (Central's 5 s plus a margin). */
export const REGISTRATION_QUIET_MS = 6_000;

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
  #availableNotBefore = 0;

  /**
   * @param clock time and timers
   * @param windowMs minimum time between two changes sent ({@linkcode DEFAULT_STATUS_WINDOW_MS})
   * @param send called with each change that goes out
   * @param initial the status Central believes (offline after a registration)
   * @param registrationQuietMs how long after a registration `available` waits (0: not at all)
   */
  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number,
    private readonly send: (change: StatusChange) => void,
    initial: Status = "offline",
    private readonly registrationQuietMs: number = REGISTRATION_QUIET_MS,
  ) {
    this.#lastSent = initial;
  }

  /**
   * A registration was just published: Central now believes `offline`, and ignores `available`
   * for 5 s, so the next `available` waits out {@linkcode REGISTRATION_QUIET_MS}.
   */
  registered(): void {
    this.#lastSent = "offline";
    this.#availableNotBefore = this.clock.now() + this.registrationQuietMs;
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
    // The wait depends on the status (an `available` may wait longer): judge it again.
    if (this.#timer !== null) this.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#sendWhenDue();
  }

  /** Sends the pending change now if its time has come, else arms the timer for then. */
  #sendWhenDue(): void {
    const pending = this.#pending;
    if (pending === null) return;
    const now = this.clock.now();
    let wait = this.#lastSentAt === null ? 0 : this.#lastSentAt + this.windowMs - now;
    if (pending.status === "available") wait = Math.max(wait, this.#availableNotBefore - now);
    if (wait <= 0) {
      this.#emit();
    } else {
      this.#timer = this.clock.setTimeout(() => {
        this.#timer = null;
        this.#sendWhenDue();
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
