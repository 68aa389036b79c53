/**
 * What the process counts for its operators (the web panel's `/metrics`): the events the bus
 * accepted and Kafka acknowledged, the sessions they closed and the energy they billed, the
 * Kafka connections, the command messages handled and how late they were, the health probes
 * answered; and, at each reading, the points' states from their snapshots.
 *
 * Counting only: no clock of its own (the time comes from the {@linkcode Clock} port), no
 * format (the Prometheus text is the web adapter's). It exists only when the panel is on, so a
 * process without one counts nothing.
 *
 * @module
 */
import { type Status, STATUSES } from "../domain/charge_point.ts";
import type {
  BusObserver,
  BusStatus,
  Clock,
  HealthAnswer,
  HealthSource,
  OutboundEvent,
} from "./ports.ts";
import type { PointControl } from "./view.ts";

/**
 * Upper bounds of the command latency histogram, in seconds: a command crosses a healthy local
 * broker in milliseconds; seconds mean a lagging consumer or a backlog.
 */
export const COMMAND_LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/** A histogram as Prometheus reads it: cumulative counts per upper bound, sum and count. */
export interface HistogramReading {
  /** `[upper bound, observations <= it]`, bounds increasing (`+Inf` is `count`). */
  readonly buckets: readonly (readonly [number, number])[];
  readonly sum: number;
  readonly count: number;
}

/** Everything the metrics say at one moment. */
export interface MetricsReading {
  /** Points of the process by status (every status present, 0 when none). */
  readonly pointsByStatus: Readonly<Record<Status, number>>;
  /** Points whose health port answers `KO`. */
  readonly pointsHealthKo: number;
  /** Points with a vehicle plugged in. */
  readonly pointsPluggedIn: number;
  /** Sessions in progress, and how many of them draw energy. */
  readonly sessionsActive: number;
  readonly sessionsSupplying: number;
  /** Sessions closed by a ticket Kafka acknowledged, by its reason. */
  readonly sessionsCompleted: Readonly<Record<string, number>>;
  /** Energy and cost of the tickets Kafka acknowledged. */
  readonly energyDeliveredKwh: number;
  readonly revenueEur: number;
  /** Energy of the sessions in progress, not yet in a ticket. */
  readonly energyInProgressKwh: number;
  /** Events accepted into the outbox, by `event_type`. */
  readonly eventsAccepted: Readonly<Record<string, number>>;
  /** Events Kafka acknowledged, by `event_type`. */
  readonly eventsPublished: Readonly<Record<string, number>>;
  /** Events waiting to be delivered. */
  readonly outboxBacklog: number;
  readonly kafkaConnected: boolean;
  /** Times the connection to Kafka opened, and re-opened after the first. */
  readonly kafkaConnections: number;
  readonly kafkaReconnects: number;
  /** Command messages handled, and their latency from the sender's Kafka timestamp. */
  readonly commandsHandled: number;
  readonly commandLatencySeconds: HistogramReading;
  /** Valid health probes answered, by answer. */
  readonly healthProbes: Readonly<Record<HealthAnswer, number>>;
}

function increment(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

/**
 * The process's counters. The bus reports to it ({@linkcode BusObserver}), the health ports'
 * sources are wrapped by {@linkcode MetricsCollector.countProbes}, and the bus's
 * `onConnected` calls {@linkcode MetricsCollector.kafkaConnected}.
 */
export class MetricsCollector implements BusObserver {
  readonly #clock: Pick<Clock, "now">;
  readonly #accepted: Record<string, number> = {};
  readonly #published: Record<string, number> = {};
  readonly #completed: Record<string, number> = {};
  readonly #probes: Record<HealthAnswer, number> = { OK: 0, KO: 0 };
  /** Non-cumulative counts per bucket; the last one is `+Inf`. */
  readonly #latencyCounts = new Array<number>(COMMAND_LATENCY_BUCKETS_SECONDS.length + 1).fill(0);
  #latencySum = 0;
  #commands = 0;
  #energyKwh = 0;
  #revenueEur = 0;
  #connections = 0;

  /** `clock` tells the latency of commands (now minus their Kafka timestamp). */
  constructor(clock: Pick<Clock, "now">) {
    this.#clock = clock;
  }

  /** Counts an event accepted into the outbox. */
  accepted(event: OutboundEvent): void {
    increment(this.#accepted, event.value.event_type);
  }

  /** Counts events Kafka acknowledged; a ticket adds its session, energy and cost. */
  delivered(events: readonly OutboundEvent[]): void {
    for (const { value } of events) {
      increment(this.#published, value.event_type);
      if (value.event_type !== "charging_completed") continue;
      increment(this.#completed, String(value["reason"] ?? "unknown"));
      this.#energyKwh += finiteOrZero(value["energy_kwh"]);
      this.#revenueEur += finiteOrZero(value["cost"]);
    }
  }

  /** Counts a command message handled, `producedAt` epoch ms (a bad timestamp counts as 0 s). */
  commandHandled(producedAt: number): void {
    const seconds = Number.isFinite(producedAt)
      ? Math.max(0, (this.#clock.now() - producedAt) / 1000)
      : 0;
    this.#commands++;
    this.#latencySum += seconds;
    let bucket = COMMAND_LATENCY_BUCKETS_SECONDS.findIndex((bound) => seconds <= bound);
    if (bucket === -1) bucket = COMMAND_LATENCY_BUCKETS_SECONDS.length;
    this.#latencyCounts[bucket]!++;
  }

  /** Counts a (re)opened connection to Kafka. */
  kafkaConnected(): void {
    this.#connections++;
  }

  /** `source`, counting every answer it gives to a valid probe. */
  countProbes(source: HealthSource): HealthSource {
    return {
      healthAnswer: () => {
        const answer = source.healthAnswer();
        this.#probes[answer]++;
        return answer;
      },
      onProbe: () => source.onProbe(),
    };
  }

  /** The counters now, with the state of `points` and of `bus`. */
  read(points: readonly PointControl[], bus: BusStatus): MetricsReading {
    const byStatus = Object.fromEntries(STATUSES.map((status) => [status, 0])) as Record<
      Status,
      number
    >;
    let healthKo = 0;
    let pluggedIn = 0;
    let active = 0;
    let supplying = 0;
    let inProgressKwh = 0;
    for (const point of points) {
      const snapshot = point.snapshot();
      byStatus[snapshot.status]++;
      if (snapshot.health === "KO") healthKo++;
      if (snapshot.vehiclePluggedIn) pluggedIn++;
      if (snapshot.session === null) continue;
      active++;
      if (snapshot.session.supplying) supplying++;
      inProgressKwh += snapshot.session.energyKwh;
    }
    let cumulative = 0;
    const buckets = COMMAND_LATENCY_BUCKETS_SECONDS.map((bound, index) => {
      cumulative += this.#latencyCounts[index]!;
      return [bound, cumulative] as const;
    });
    return {
      pointsByStatus: byStatus,
      pointsHealthKo: healthKo,
      pointsPluggedIn: pluggedIn,
      sessionsActive: active,
      sessionsSupplying: supplying,
      sessionsCompleted: { ...this.#completed },
      energyDeliveredKwh: this.#energyKwh,
      revenueEur: this.#revenueEur,
      energyInProgressKwh: inProgressKwh,
      eventsAccepted: { ...this.#accepted },
      eventsPublished: { ...this.#published },
      outboxBacklog: bus.backlog,
      kafkaConnected: bus.connected,
      kafkaConnections: this.#connections,
      kafkaReconnects: Math.max(0, this.#connections - 1),
      commandsHandled: this.#commands,
      commandLatencySeconds: { buckets, sum: this.#latencySum, count: this.#commands },
      healthProbes: { ...this.#probes },
    };
  }
}

function finiteOrZero(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}
