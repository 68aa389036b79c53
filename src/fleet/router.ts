/**
 * Commands for a fleet arrive on one consumer: each is handed to the one point it names. The
 * cp id is read once here; the point decodes and checks the rest, exactly as a single engine
 * does. What names no point of the fleet changes nothing; broken input gets one rate-limited
 * line, like a single engine's.
 *
 * @module
 */
import { CommandInputLog } from "../app/command_log.ts";
import type { Clock, CommandHandler, Logger } from "../app/ports.ts";

/** A point that takes raw commands. */
export interface CommandTarget {
  receive(raw: Uint8Array | null): void;
}

const decoder = new TextDecoder();

/** Builds the handler that routes each raw command to the point it names. */
export function commandRouter(
  points: ReadonlyMap<string, CommandTarget>,
  logger: Logger,
  clock: Clock,
): CommandHandler & { dispose(): void } {
  const input = new CommandInputLog(logger, clock);
  const route = (value: Uint8Array | null) => {
    let parsed: unknown;
    try {
      parsed = value === null ? null : JSON.parse(decoder.decode(value));
    } catch {
      input.rejected("not JSON");
      return;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      input.rejected("not a JSON object");
      return;
    }
    const cpId = (parsed as Record<string, unknown>)["cp_id"];
    const point = typeof cpId === "string" ? points.get(cpId) : undefined;
    if (point === undefined) {
      input.ignored(String(cpId).slice(0, 64), "not a point of this fleet");
      return;
    }
    point.receive(value);
  };
  return Object.assign(route, { dispose: () => input.dispose() });
}
