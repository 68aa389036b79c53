/**
 * A charging point as the web page receives it: one flat JSON object per point (a "row"), the
 * figures rounded as they go on the wire, so that a point whose figures did not visibly change
 * produces the same text and is not sent again.
 *
 * @module
 */
import type { BusStatus } from "../../app/ports.ts";
import type { EngineSnapshot } from "../../app/view.ts";
import type { Status } from "../../domain/charge_point.ts";

/** What the Monitor does, as the page shows it. */
export type MonitorState =
  /** No probe ever came. */
  | "none"
  /** Probes came, not (yet) at a Monitor's cadence. */
  | "probed"
  /** A Monitor probes about every second. */
  | "watching"
  /** A watching Monitor fell silent during a session. */
  | "lost";

/** One point on the page. */
export interface PointRow {
  readonly id: string;
  readonly location: string;
  readonly maxPowerKw: number;
  readonly status: Status;
  readonly health: "OK" | "KO";
  readonly pluggedIn: boolean;
  /** Epoch ms of the last probe on the health port, or null. */
  readonly lastProbeAt: number | null;
  readonly monitor: MonitorState;
  /** Epoch ms since which Central is unreachable (as the console shows it), or null. */
  readonly centralAwaySince: number | null;
  /** The session's user, or null without a session. */
  readonly user: string | null;
  /** Whether energy flows (false while a manual-mode session waits for the vehicle). */
  readonly supplying: boolean;
  /** kWh with 3 decimals, EUR with 2, kW with 2 (as `charging_progress`); 0 without a session. */
  readonly energyKwh: number;
  readonly costEur: number;
  readonly powerKw: number;
  /** Simulated seconds since the session was authorized; 0 without a session. */
  readonly elapsedSeconds: number;
}

/** The Kafka link as the page shows it (one for the whole process). */
export interface KafkaLink {
  readonly connected: boolean;
  readonly backlog: number;
}

function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

/** The row of `snapshot`. */
export function pointRow(snapshot: EngineSnapshot): PointRow {
  const session = snapshot.session;
  return {
    id: snapshot.cpId,
    location: snapshot.location,
    maxPowerKw: snapshot.maxPowerKw,
    status: snapshot.status,
    health: snapshot.health,
    pluggedIn: snapshot.vehiclePluggedIn,
    lastProbeAt: snapshot.lastProbeAt,
    monitor: snapshot.monitorLost
      ? "lost"
      : snapshot.monitorWatching
      ? "watching"
      : snapshot.lastProbeAt === null
      ? "none"
      : "probed",
    centralAwaySince: snapshot.centralAwaySince,
    user: session?.username ?? null,
    supplying: session?.supplying ?? false,
    energyKwh: session === null ? 0 : round(session.energyKwh, 3),
    costEur: session === null ? 0 : round(session.costEur, 2),
    powerKw: session === null ? 0 : round(session.powerKw, 2),
    elapsedSeconds: session === null ? 0 : Math.floor(session.elapsedSeconds),
  };
}

/** The Kafka link of `bus`. */
export function kafkaLink(bus: BusStatus): KafkaLink {
  return { connected: bus.connected, backlog: bus.backlog };
}
