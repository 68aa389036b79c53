/**
 * The metrics in the Prometheus text exposition format (version 0.0.4): `# HELP` and `# TYPE`
 * lines, then one sample per line, label values escaped. Pure: the web server serves the text.
 *
 * @module
 */
import type { HistogramReading, MetricsReading } from "../../app/metrics.ts";

/** The content type of the text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** What the web panel counts of itself. */
export interface PanelReading {
  /** Actions applied to points from the page, by action. */
  readonly actions: Readonly<Record<string, number>>;
  /** Pages following the live feed now. */
  readonly liveClients: number;
  /** Seconds spent building and sending the live feed's messages. */
  readonly feedSeconds: number;
}

type Labels = Readonly<Record<string, string>>;

/** One metric family being written. */
class Family {
  readonly lines: string[] = [];

  constructor(name: string, type: "counter" | "gauge" | "histogram", help: string) {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
    this.lines.push(`# TYPE ${name} ${type}`);
    this.name = name;
  }

  readonly name: string;

  sample(value: number, labels: Labels = {}, suffix = ""): this {
    this.lines.push(`${this.name}${suffix}${formatLabels(labels)} ${formatNumber(value)}`);
    return this;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries.map(([name, value]) => `${name}="${escapeLabel(value)}"`).join(",")}}`;
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function histogram(family: Family, reading: HistogramReading): void {
  for (const [bound, count] of reading.buckets) {
    family.sample(count, { le: formatNumber(bound) }, "_bucket");
  }
  family.sample(reading.count, { le: "+Inf" }, "_bucket");
  family.sample(reading.sum, {}, "_sum");
  family.sample(reading.count, {}, "_count");
}

function byLabel(family: Family, label: string, counts: Readonly<Record<string, number>>): Family {
  for (const [key, value] of Object.entries(counts).sort(([a], [b]) => a.localeCompare(b))) {
    family.sample(value, { [label]: key });
  }
  return family;
}

/** The text of every metric: the process's ({@linkcode MetricsReading}) and the panel's. */
export function renderMetrics(metrics: MetricsReading, panel: PanelReading): string {
  const families: Family[] = [
    byLabel(
      new Family("evcp_points", "gauge", "Charging points of this process, by status."),
      "status",
      metrics.pointsByStatus,
    ),
    new Family(
      "evcp_points_health_ko",
      "gauge",
      "Charging points whose health port answers KO.",
    ).sample(metrics.pointsHealthKo),
    new Family(
      "evcp_points_plugged_in",
      "gauge",
      "Charging points with a vehicle plugged in.",
    ).sample(metrics.pointsPluggedIn),
    new Family("evcp_sessions_active", "gauge", "Charging sessions in progress.")
      .sample(metrics.sessionsActive),
    new Family(
      "evcp_sessions_supplying",
      "gauge",
      "Charging sessions in progress that draw energy.",
    ).sample(metrics.sessionsSupplying),
    byLabel(
      new Family(
        "evcp_sessions_completed_total",
        "counter",
        "Sessions closed by a charging_completed ticket that Kafka acknowledged, by reason.",
      ),
      "reason",
      metrics.sessionsCompleted,
    ),
    new Family(
      "evcp_energy_delivered_kwh_total",
      "counter",
      "Energy of the charging_completed tickets Kafka acknowledged, kWh.",
    ).sample(metrics.energyDeliveredKwh),
    new Family(
      "evcp_revenue_eur_total",
      "counter",
      "Cost of the charging_completed tickets Kafka acknowledged, EUR.",
    ).sample(metrics.revenueEur),
    new Family(
      "evcp_energy_in_progress_kwh",
      "gauge",
      "Energy supplied so far by the sessions in progress, kWh.",
    ).sample(metrics.energyInProgressKwh),
    byLabel(
      new Family(
        "evcp_events_queued_total",
        "counter",
        "Events accepted into the outbox, by event_type.",
      ),
      "event_type",
      metrics.eventsAccepted,
    ),
    byLabel(
      new Family(
        "evcp_events_published_total",
        "counter",
        "Events Kafka acknowledged (acks=all), by event_type.",
      ),
      "event_type",
      metrics.eventsPublished,
    ),
    new Family("evcp_outbox_backlog", "gauge", "Events waiting in the outbox for Kafka.")
      .sample(metrics.outboxBacklog),
    new Family(
      "evcp_kafka_connected",
      "gauge",
      "1 when the last attempt to talk to Kafka succeeded, else 0.",
    ).sample(metrics.kafkaConnected ? 1 : 0),
    new Family(
      "evcp_kafka_reconnects_total",
      "counter",
      "Times the connection to Kafka opened again after the first time.",
    ).sample(metrics.kafkaReconnects),
    new Family(
      "evcp_commands_handled_total",
      "counter",
      "Command messages taken from Kafka and handled.",
    ).sample(metrics.commandsHandled),
    byLabel(
      new Family(
        "evcp_health_probes_total",
        "counter",
        "Valid STATUS? probes answered on the health ports, by answer.",
      ),
      "answer",
      metrics.healthProbes,
    ),
    byLabel(
      new Family(
        "evcp_panel_actions_total",
        "counter",
        "Actions applied to points from the web panel, by action.",
      ),
      "action",
      panel.actions,
    ),
    new Family(
      "evcp_panel_live_clients",
      "gauge",
      "Pages following the web panel's live feed.",
    ).sample(panel.liveClients),
    new Family(
      "evcp_panel_feed_seconds_total",
      "counter",
      "Time the engine spent building and sending the live feed's messages (the panel's cost).",
    ).sample(panel.feedSeconds),
  ];
  const latency = new Family(
    "evcp_command_latency_seconds",
    "histogram",
    "From a command's Kafka timestamp (when its sender produced it) to when it was handled.",
  );
  histogram(latency, metrics.commandLatencySeconds);
  families.push(latency);
  return families.map((family) => family.lines.join("\n")).join("\n") + "\n";
}
