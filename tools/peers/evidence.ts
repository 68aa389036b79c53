/**
 * The evidence of a run as one timeline: the harness's actions, the key log lines of each peer,
 * the Kafka traffic (repetitive messages collapsed into runs) and the changes in Central's
 * database, each stamped with the run's clock. Pure functions of what the run recorded.
 *
 * @module
 */
import { formatT, type RunClock, type RunSeconds } from "./clock.ts";
import { describeSession, type SessionChange, type StatusChange } from "./central_db.ts";
import { eventName, type TapEvent } from "./kafka_tap.ts";
import type { LogLine } from "./process.ts";
import { median } from "./verdicts.ts";

/** One line of the timeline. */
export interface TimelineEntry {
  readonly t: RunSeconds;
  /** Who: `harness`, `central`, `engine CP_001`, `kafka`, `db`, ... */
  readonly source: string;
  readonly text: string;
}

/** Which lines of a peer's output are evidence, and which repetitive ones are collapsed. */
export interface LineFilter {
  /** Lines kept as they are. */
  readonly key: RegExp;
  /** Repetitive lines, collapsed into one entry per run (checked before `key`). */
  readonly noisy?: RegExp;
  /** Lines never kept (checked first). */
  readonly skip?: RegExp;
}

/** The evidence lines of each kind of peer, from what the peers print (SD/). */
export const LINE_FILTERS: Readonly<Record<string, LineFilter>> = {
  central: {
    skip: /HARNESS_PROBE|No clients connected|Broadcasting generic event/,
    key: new RegExp(
      [
        "Auto-reg CP on connect",
        "Salud confirmada",
        "Sincronizando estado BD",
        "Ignorando cp_status_change",
        "ignorando duplicado",
        "registro duplicado",
        "Sesión \\d+ (creada|finalizada|cancelada)",
        "Ticket enviado",
        "no responde",
        "ENGINE_FAILURE recibido",
        "marcado como",
        "Procesando (charging_completed|charging_stopped|CHARGING_TIMEOUT)",
        "No se encontró sesión activa",
        "liberado después de timeout",
        "Parando CP",
        "Reanudando CP",
        "Solicitud de autorización",
        "tiene estado",
        "Ignorando evento",
        "sesiones activas terminadas",
        "marcado\\(s\\) como 'offline'",
        "Monitor conectado",
        "ya está sincronizado",
        "\\[DB\\] OK CP \\S+ status updated",
        "Error",
        "Traceback",
      ].join("|"),
    ),
  },
  monitor: {
    key: new RegExp(
      [
        "ENGINE_HEALTH_OK publicado",
        "Health check KO",
        "ENGINE_FAILURE",
        "Engine offline",
        "Cannot connect to Engine",
        "Recovered",
        "connectivity verified",
        "Could not verify",
        "Starting continuous health checks",
        "reporting to Central",
        "ya reportado",
        "Timeout reading",
        "Connection timeout",
        "MONITOR_CONNECTED sent",
        "Error",
      ].join("|"),
    ),
  },
  driver: {
    skip: /HARNESS_PROBE/,
    noisy: /Actualización de CP_E/,
    key: new RegExp(
      [
        "Central autorizó",
        "Central rechazó",
        "Ticket recibido",
        "TIMEOUT",
        "Solicitando detener",
        "Solicitando autorización",
        "tiene error",
        "reparado",
        "Error",
        "Traceback",
      ].join("|"),
    ),
  },
  "engine original": {
    noisy: /Published event: charging_progress/,
    key: new RegExp(
      [
        "Status change",
        "Reason:",
        "Published event: (CP_REGISTRATION|cp_status_change|charging_completed)",
        "Starting charging simulation",
        "Charging stopped",
        "Ignorando evento antiguo",
        "Simulating error",
        "Error fixed",
        "STOP command",
        "RESUME command",
        "Cannot start charging",
        "UNPLUG",
        "Throttling",
        "Ignorando cp_status_change",
        "Charging session completed",
        "Not charging",
        "Health check server started",
        "Error",
        "Traceback",
      ].join("|"),
    ),
  },
  "engine ours": {
    skip: /CP_INFO|cp_info_update|CHARGING_TICKET|AUTHORIZATION_RESPONSE|HARNESS_PROBE/,
    noisy: /Charging \S+: [\d.]+ kWh/,
    key: /./,
  },
};

/** A log line without the ISO timestamp our engine starts it with (the timeline has its own). */
export function withoutTimestamp(text: string): string {
  return text.replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\s+/, "").trim();
}

/**
 * The evidence lines of one peer process: key lines as they are, and each run of noisy lines as
 * one entry (`×N t+a..t+b, last: ...`).
 */
export function keyLines(
  source: string,
  filter: LineFilter,
  lines: readonly LogLine[],
): TimelineEntry[] {
  const entries: TimelineEntry[] = [];
  let run: LogLine[] = [];
  const closeRun = () => {
    const first = run[0];
    const last = run[run.length - 1];
    if (first && last) {
      entries.push({
        t: first.t,
        source,
        text: run.length === 1
          ? withoutTimestamp(first.text)
          : `×${run.length} ${formatT(first.t)}..${formatT(last.t)}, last: ${
            withoutTimestamp(last.text)
          }`,
      });
    }
    run = [];
  };
  for (const line of lines) {
    if (line.text.trim() === "" || filter.skip?.test(line.text)) continue;
    if (filter.noisy?.test(line.text)) {
      run.push(line);
      continue;
    }
    if (filter.key.test(line.text)) {
      closeRun();
      entries.push({ t: line.t, source, text: withoutTimestamp(line.text) });
    }
  }
  closeRun();
  return entries;
}

/** Messages that are never evidence: the harness's probes and Central's display refreshes. */
const SKIPPED_EVENTS = new Set(["CP_INFO", "MONITOR_AUTH_RESPONSE"]);
/** Messages collapsed into runs. */
const COLLAPSED_EVENTS = new Set(["charging_progress", "MONITOR_HEARTBEAT"]);
/** A run of collapsed messages ends after this silence. */
const RUN_GAP_SECONDS = 3;

function num(value: unknown, digits: number): string {
  return typeof value === "number" ? value.toFixed(digits) : String(value);
}

/** One message in a few words: its name, charging point and the fields that matter. */
export function describeEvent(event: TapEvent): string {
  const v = event.value;
  const name = eventName(v);
  const cp = typeof v["cp_id"] === "string" ? ` ${v["cp_id"]}` : "";
  const parts: string[] = [];
  switch (name) {
    case "cp_status_change":
      parts.push(`${v["previous_status"] ?? "?"} -> ${v["status"]} (${v["reason"] ?? ""})`);
      break;
    case "CP_REGISTRATION":
      parts.push(`status ${v["status"]}`);
      break;
    case "charging_completed":
    case "CHARGING_TICKET":
      parts.push(
        `${v["username"]}, ${num(v["energy_kwh"], 3)} kWh, ${num(v["cost"], 2)} EUR, ` +
          `${v["duration_sec"] ?? "?"} s, reason ${v["reason"]}`,
      );
      break;
    case "charging_started":
    case "charging_stopped":
    case "CHARGING_TIMEOUT":
      parts.push(`${v["username"]}`);
      break;
    case "AUTHORIZATION_REQUEST":
      parts.push(`${v["username"]}`);
      break;
    case "AUTHORIZATION_RESPONSE":
      parts.push(`authorized=${v["authorized"]}${v["reason"] ? ` (${v["reason"]})` : ""}`);
      break;
    case "CP_ERROR_SIMULATED":
    case "CP_ERROR_FIXED":
    case "CP_STOP":
    case "CP_RESUME":
      parts.push(`new_status ${v["new_status"] ?? "(none)"}`);
      break;
    case "ENGINE_FAILURE":
    case "ENGINE_OFFLINE":
      parts.push(`${v["failure_type"] ?? ""} after ${v["consecutive_failures"]} failures`);
      break;
  }
  return `${event.topic} ${name}${cp}${parts.length > 0 ? `: ${parts.join(" ")}` : ""}`;
}

/**
 * The Kafka traffic as timeline entries: probes and display refreshes dropped, progress and
 * heartbeats collapsed per charging point (and user) into runs that end at a silence of 3 s or
 * at another message about the same charging point.
 */
export function eventEntries(events: readonly TapEvent[]): TimelineEntry[] {
  const entries: TimelineEntry[] = [];
  const runs = new Map<string, TapEvent[]>();
  const closeRun = (key: string) => {
    const run = runs.get(key);
    runs.delete(key);
    const first = run?.[0];
    const last = run?.[run.length - 1];
    if (!run || !first || !last) return;
    if (run.length === 1) {
      entries.push({ t: first.t, source: "kafka", text: describeEvent(first) });
      return;
    }
    const gaps = run.slice(1).map((event, i) => event.t - run[i]!.t);
    const energy = eventName(first.value) === "charging_progress"
      ? `, ${num(first.value["energy_kwh"], 3)} -> ${num(last.value["energy_kwh"], 3)} kWh`
      : "";
    entries.push({
      t: first.t,
      source: "kafka",
      text: `${describeEvent(first)} ×${run.length} ${formatT(first.t)}..${formatT(last.t)}, ` +
        `median gap ${median(gaps).toFixed(1)} s${energy}`,
    });
  };
  for (const event of events) {
    const name = eventName(event.value);
    if (name.startsWith("HARNESS_PROBE") || SKIPPED_EVENTS.has(name)) continue;
    const cp = String(event.value["cp_id"] ?? "");
    for (const [key, run] of runs) {
      const last = run[run.length - 1];
      if (last && event.t - last.t > RUN_GAP_SECONDS) closeRun(key);
    }
    if (COLLAPSED_EVENTS.has(name)) {
      const key = `${event.topic}|${name}|${cp}|${String(event.value["username"] ?? "")}`;
      const run = runs.get(key) ?? [];
      run.push(event);
      runs.set(key, run);
      continue;
    }
    for (const key of [...runs.keys()]) {
      if (key.split("|")[2] === cp) closeRun(key);
    }
    entries.push({ t: event.t, source: "kafka", text: describeEvent(event) });
  }
  for (const key of [...runs.keys()]) closeRun(key);
  return entries.sort((a, b) => a.t - b.t);
}

/**
 * Central's database as timeline entries: every status change of a charging point, and every
 * session's appearance and change of state (energy-only updates are left out).
 */
export function dbEntries(
  statusChanges: readonly StatusChange[],
  sessionChanges: readonly SessionChange[],
  clock: RunClock,
): TimelineEntry[] {
  const entries: TimelineEntry[] = statusChanges.map((change) => ({
    t: change.t,
    source: "db",
    text: `${change.cpId} ${change.from ?? "(first read)"} -> ${change.to}`,
  }));
  const states = new Map<number, string>();
  for (const change of sessionChanges) {
    if (states.get(change.session.id) === change.session.state) continue;
    states.set(change.session.id, change.session.state);
    entries.push({ t: change.t, source: "db", text: describeSession(change.session, clock) });
  }
  return entries.sort((a, b) => a.t - b.t);
}

/**
 * The timeline entries in `[from, to]`, sorted, as text lines (`t+12.3 central | ...`); at most
 * `max` lines, the rest counted in a last line.
 */
export function renderTimeline(
  entries: readonly TimelineEntry[],
  from: RunSeconds = -Infinity,
  to: RunSeconds = Infinity,
  max = Infinity,
): string[] {
  const kept = entries.filter((entry) => entry.t >= from && entry.t <= to)
    .sort((a, b) => a.t - b.t);
  const width = Math.max(0, ...kept.map((entry) => entry.source.length));
  const lines = kept.slice(0, max).map((entry) =>
    `${formatT(entry.t).padStart(8)} ${entry.source.padEnd(width)} | ${entry.text}`
  );
  if (kept.length > max) lines.push(`... ${kept.length - max} more lines`);
  return lines;
}
