/**
 * The charging point as its operators see it (the console, the web panel) and act on it: a
 * snapshot of its state and figures, and the commands they may apply.
 *
 * @module
 */
import type { Command, Status } from "../domain/charge_point.ts";
import type { DecodedCommand } from "../protocol/commands.ts";

/** Where a command came from, for the logs: Central (Kafka), the operator, the engine itself. */
export type CommandSource = "kafka" | "console" | "engine";

/** The figures of the session in progress. */
export interface SessionView {
  readonly id: string;
  readonly username: string;
  readonly userId: number | string | null;
  readonly supplying: boolean;
  readonly energyKwh: number;
  readonly costEur: number;
  readonly powerKw: number;
  /** Simulated seconds since the session was authorized. */
  readonly elapsedSeconds: number;
}

/**
 * Why a point still says `offline` at start-up: it is registering (commands do not flow yet), or
 * it waits for a Monitor's first probe until `until` (epoch ms; `--monitor-wait`).
 */
export type StartupView =
  | { readonly phase: "registering" }
  | { readonly phase: "waiting_for_monitor"; readonly until: number; readonly waitSeconds: number };

/** What an operator sees of a charging point at one moment. */
export interface EngineSnapshot {
  readonly cpId: string;
  readonly location: string;
  readonly maxPowerKw: number;
  readonly tariffEurPerKwh: number;
  readonly status: Status;
  readonly health: "OK" | "KO";
  readonly vehiclePluggedIn: boolean;
  /** Epoch ms of the last probe on the health port, or null. */
  readonly lastProbeAt: number | null;
  /** Whether a Monitor probes at its cadence (only then does its silence count). */
  readonly monitorWatching: boolean;
  readonly monitorLost: boolean;
  /** Epoch ms since which Central is unreachable, or null while it is there (or never seen). */
  readonly centralAwaySince: number | null;
  readonly session: SessionView | null;
  /** Why the point is not open for sessions yet, or null once it is (or is shutting down). */
  readonly startup: StartupView | null;
}

/** A charging point as an operator's screen uses it. */
export interface PointControl {
  snapshot(): EngineSnapshot;
  /** Applies a command as if it came from `source` (the console and the web panel: `console`). */
  apply(command: Command | DecodedCommand, source: CommandSource): void;
  /** Calls `listener` after every change of state or figures; returns the unsubscribe. */
  subscribe(listener: () => void): () => void;
}
