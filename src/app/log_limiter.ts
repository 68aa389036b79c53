/**
 * Rate limiting of log lines caused by outside input, so that a flood of hostile or broken
 * messages cannot flood the log: at most a few lines per window, then one summary line with
 * the count of the lines held back and the last reason.
 *
 * @module
 */
import type { Clock } from "./ports.ts";

/** Options of {@linkcode LogRateLimiter}. */
export interface LogRateLimitOptions {
  /** Lines let through per window (default 5). */
  readonly maxLines?: number;
  /** Length of a window in milliseconds (default 10 000). */
  readonly windowMs?: number;
}

/** What a summary reports: how many lines were held back in a window, and the last reason. */
export interface SuppressedSummary {
  /** Lines held back. */
  readonly count: number;
  /** The reason given with the last line held back (cut to 200 characters). */
  readonly lastReason: string;
  /** How long the window ran: its full length, or less when flushed early by `dispose`. */
  readonly windowMs: number;
}

/** Longest reason kept for a summary: a hostile message must not make the summary huge. */
const MAX_REASON_LENGTH = 200;

/**
 * Fixed windows: the first `maxLines` calls of a window are admitted; the rest are counted and
 * reported by one summary when the window ends (on a timer, so the summary comes even if the
 * flood stops). Call {@linkcode LogRateLimiter.dispose} to flush the summary and stop the timer.
 */
export class LogRateLimiter {
  readonly #clock: Clock;
  readonly #maxLines: number;
  readonly #windowMs: number;
  readonly #onSummary: (summary: SuppressedSummary) => void;
  #windowStart = Number.NEGATIVE_INFINITY;
  #lines = 0;
  #suppressed = 0;
  #lastReason = "";
  #timer: unknown = null;

  /**
   * Creates a limiter; nothing is scheduled until a line is held back.
   *
   * @param clock time and timers
   * @param options lines per window and window length
   * @param onSummary logs the summary of a window in which lines were held back
   */
  constructor(
    clock: Clock,
    options: LogRateLimitOptions,
    onSummary: (summary: SuppressedSummary) => void,
  ) {
    this.#clock = clock;
    this.#maxLines = options.maxLines ?? 5;
    this.#windowMs = options.windowMs ?? 10_000;
    this.#onSummary = onSummary;
  }

  /** Lines held back in the current window so far. */
  get suppressed(): number {
    return this.#suppressed;
  }

  /** True when the caller may log its line now; false when it is held back and counted. */
  admit(reason: string): boolean {
    const now = this.#clock.now();
    if (now - this.#windowStart >= this.#windowMs) {
      this.#flush();
      this.#windowStart = now;
      this.#lines = 0;
    }
    if (this.#lines < this.#maxLines) {
      this.#lines++;
      return true;
    }
    this.#suppressed++;
    this.#lastReason = reason.length > MAX_REASON_LENGTH
      ? `${reason.slice(0, MAX_REASON_LENGTH)}...`
      : reason;
    this.#timer ??= this.#clock.setTimeout(() => {
      this.#timer = null;
      this.#flush();
    }, Math.max(0, this.#windowStart + this.#windowMs - now));
    return false;
  }

  /** Reports what is held back now and stops the timer. */
  dispose(): void {
    this.#flush();
  }

  #flush(): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#suppressed === 0) return;
    const elapsed = this.#clock.now() - this.#windowStart;
    const summary = {
      count: this.#suppressed,
      lastReason: this.#lastReason,
      // Whole seconds, so that "in the last 4 s" reads naturally.
      windowMs: Math.min(this.#windowMs, Math.max(1000, Math.ceil(elapsed / 1000) * 1000)),
    };
    this.#suppressed = 0;
    this.#onSummary(summary);
  }
}
