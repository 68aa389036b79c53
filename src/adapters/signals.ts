/**
 * The process's stop request: SIGINT / SIGTERM (SIGINT / SIGBREAK on Windows), shared by a single
 * point and a fleet (`src/app/lifecycle.ts`).
 *
 * @module
 */
import type { ProcessControl } from "../app/ports.ts";

/**
 * Resolves with the name of the first stop signal received, or with the reason `quit` resolves
 * with (the operator console's quit key), whichever comes first; then removes its listeners.
 *
 * @example
 * ```ts
 * const signal = await waitForStopSignal();
 * log.info("Received {signal}: shutting down", { signal });
 * ```
 */
export function waitForStopSignal(quit?: Promise<string>): Promise<string> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = Deno.build.os === "windows"
      ? ["SIGINT", "SIGBREAK"]
      : ["SIGINT", "SIGTERM"];
    const stop = (reason: string) => {
      for (const [name, handler] of handlers) Deno.removeSignalListener(name, handler);
      resolve(reason);
    };
    const handlers = signals.map((signal) => {
      const handler = () => stop(signal);
      Deno.addSignalListener(signal, handler);
      return [signal, handler] as const;
    });
    quit?.then(stop);
  });
}

/**
 * Exits the process with code 1 (after logging why) if a graceful shutdown is still running
 * `ms` from now: a stuck broker connection must not keep a stopped engine alive. Returns the
 * function that cancels the guard once the shutdown is over.
 */
export function exitIfShutdownHangs(log: { error(message: string): void }, ms: number): () => void {
  const guard = setTimeout(() => {
    log.error("Shutdown took too long: exiting anyway");
    Deno.exit(1);
  }, ms);
  return () => clearTimeout(guard);
}

/** The real process: its stop signals and its last-resort exit. */
export const processControl: ProcessControl = {
  waitForStop: (quit) => waitForStopSignal(quit),
  guardShutdown: (log, ms) => exitIfShutdownHangs(log, ms),
};
