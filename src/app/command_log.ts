/**
 * The engine's log lines about messages on the command topic, rate limited so that a flood of
 * hostile, broken or pointless messages cannot flood the log (protocol.md section 4: bad input
 * gets one clear log line and changes nothing). Each kind of line has its own budget of
 * {@linkcode INPUT_LOG_MAX_LINES} lines per {@linkcode INPUT_LOG_WINDOW_MS}; beyond it, one summary
 * line per window counts what was held back and gives the last reason.
 *
 * Commands that change the engine's state are always logged: only lines about messages that
 * change nothing are limited.
 *
 * @module
 */
import { LogRateLimiter, type SuppressedSummary } from "./log_limiter.ts";
import type { Clock, Logger } from "./ports.ts";

/** Lines of one kind let through per window. */
export const INPUT_LOG_MAX_LINES = 5;
/** Length of a rate-limiting window, in milliseconds. */
export const INPUT_LOG_WINDOW_MS = 10_000;

type Level = "debug" | "info" | "warn";

/** Rate-limited log lines about what arrives on the command topic. */
export class CommandInputLog {
  readonly #log: Logger;
  readonly #clock: Clock;
  // Made on first use: most points of a fleet never need most of them, and four limiters for
  // each of ten thousand points are memory for nothing.
  #rejectedLimiter: LogRateLimiter | null = null;
  #ignoredLimiter: LogRateLimiter | null = null;
  #staleLimiter: LogRateLimiter | null = null;
  #unchangedLimiter: LogRateLimiter | null = null;

  /** Logs to `logger`; windows are measured on `clock`. */
  constructor(logger: Logger, clock: Clock) {
    this.#log = logger;
    this.#clock = clock;
  }

  get #rejected(): LogRateLimiter {
    return this.#rejectedLimiter ??= this.#limiter("warn", "rejected messages");
  }

  get #ignored(): LogRateLimiter {
    return this.#ignoredLimiter ??= this.#limiter("debug", "ignored messages");
  }

  get #stale(): LogRateLimiter {
    return this.#staleLimiter ??= this.#limiter("info", "commands skipped for their age");
  }

  get #unchanged(): LogRateLimiter {
    return this.#unchangedLimiter ??= this.#limiter("info", "commands that changed nothing");
  }

  #limiter(level: Level, noun: string): LogRateLimiter {
    return new LogRateLimiter(
      this.#clock,
      { maxLines: INPUT_LOG_MAX_LINES, windowMs: INPUT_LOG_WINDOW_MS },
      (summary) => this.#summarize(level, noun, summary),
    );
  }

  /** A malformed message: not JSON, not an object, missing or mistyped fields. */
  rejected(reason: string): void {
    if (!this.#rejected.admit(reason)) return;
    this.#log.warn("Rejected a message on the command topic: {reason}", { reason });
  }

  /** A message for another point, too old, or of a kind the engine does not act on. */
  ignored(name: string, reason: string): void {
    if (!this.#ignored.admit(`${name}: ${reason}`)) return;
    this.#log.debug("Ignored {name}: {reason}", { name, reason });
  }

  /**
   * A command for this point skipped for its age: too old, or sent while the engine was down
   * (a `charging_started` that Central has cancelled since must not start a session).
   */
  skipped(name: string, reason: string): void {
    if (!this.#stale.admit(`${name}: ${reason}`)) return;
    this.#log.info("Skipped {name}: {reason}", { name, reason });
  }

  /** A command whose `message_id` was already applied. */
  duplicate(name: string, messageId: string): void {
    if (!this.#unchanged.admit(`${name}: message ${messageId} was already applied`)) return;
    this.#log.info("Ignored {name}: message {message_id} was already applied", {
      name,
      message_id: messageId,
    });
  }

  /**
   * A valid command was applied. Logs `Command received` and returns true when the command's
   * own log lines may follow: always when it changed the state, within the budget otherwise.
   */
  command(name: string, changedState: boolean, status: string): boolean {
    if (!changedState && !this.#unchanged.admit(`${name} changed nothing (status ${status})`)) {
      return false;
    }
    this.#log.info("Command received: {name}", { name });
    return true;
  }

  /** Writes the summaries of what is held back now and stops the timers. */
  dispose(): void {
    this.#rejectedLimiter?.dispose();
    this.#ignoredLimiter?.dispose();
    this.#staleLimiter?.dispose();
    this.#unchangedLimiter?.dispose();
  }

  #summarize(level: Level, noun: string, summary: SuppressedSummary): void {
    this.#log[level]("{count} more {noun} in the last {seconds} s (last reason: {reason})", {
      count: summary.count,
      noun,
      seconds: summary.windowMs / 1000,
      reason: summary.lastReason,
    });
  }
}

/** True when the two records have the same own fields with identical values (shallow). */
export function sameFields(a: object, b: object): boolean {
  if (a === b) return true;
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left);
  if (keys.length !== Object.keys(right).length) return false;
  return keys.every((key) => Object.is(left[key], right[key]));
}
