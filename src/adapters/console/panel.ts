/**
 * The operator console's screen, as pure functions: what the panel shows for a snapshot of the
 * engine, fitted to the terminal's width, with or without colour. No I/O: the console adapter
 * (`console.ts`) writes the lines this module returns.
 *
 * @module
 */
import type { EngineSnapshot, StartupView } from "../../app/view.ts";
import type { PlugInMode, Status } from "../../domain/charge_point.ts";

/** What the panel is drawn from at one moment. */
export interface PanelView {
  readonly snapshot: EngineSnapshot;
  readonly kafka: { readonly connected: boolean; readonly backlog: number };
  /** Epoch milliseconds now (for the age of the last probe). */
  readonly now: number;
  readonly plugInMode: PlugInMode;
  readonly plugInTimeoutSeconds: number;
  /** Simulated seconds per real second (session times are simulated). */
  readonly timeScale: number;
  /** The user name typed so far while the console asks for one, else null. */
  readonly prompt: string | null;
  /** One line of feedback about the last key, or null. */
  readonly notice: string | null;
  readonly showHelp: boolean;
}

/** The terminal the panel is drawn on. */
export interface PanelLayout {
  readonly columns: number;
  readonly rows: number;
  /** False when `NO_COLOR` is set: plain text only. */
  readonly color: boolean;
  /** Whether the terminal has 256 colours (for orange); else yellow stands in. */
  readonly colors256: boolean;
}

/** A piece of a line with an optional style. */
interface Segment {
  readonly text: string;
  readonly style?: Style;
}

type Style = "bold" | "dim" | "green" | "orange" | "red" | "grey" | "inverse";

type Line = readonly Segment[];

const SGR: Record<Style, string> = {
  bold: "1",
  dim: "2",
  green: "1;32",
  orange: "1;38;5;208",
  red: "1;31",
  grey: "90",
  inverse: "7",
};

/** The key bindings, in the order the help shows them. */
export const KEY_HELP: readonly (readonly [keys: string, what: string])[] = [
  ["P", "plug the vehicle in"],
  ["U", "unplug the vehicle (ends the session, ticket)"],
  ["F", "hardware fault (health KO, ends the session)"],
  ["R", "recover from a fault (health OK)"],
  ["M", "start a manual session at the point"],
  ["S", "stop service at the point / resume it"],
  ["H ?", "show or hide this help"],
  ["Q ^C", "quit (ends a session, goes offline)"],
];

const STATUS_STYLE: Record<Status, Style> = {
  available: "green",
  charging: "green",
  out_of_service: "orange",
  fault: "red",
  offline: "grey",
};

/** The colour Central's dashboard gives a status. */
export function statusStyle(status: Status): "green" | "orange" | "red" | "grey" {
  return STATUS_STYLE[status] as "green" | "orange" | "red" | "grey";
}

const BAR_WIDTH = 24;

/** `1234` seconds as `00:20:34`. */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return [h, m, s].map((part) => String(part).padStart(2, "0")).join(":");
}

/** A bar of `width` cells, `fraction` (clamped to [0, 1]) of them full. */
export function progressBar(fraction: number, width = BAR_WIDTH): string {
  const clamped = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const full = Math.round(clamped * width);
  return "█".repeat(full) + "░".repeat(width - full);
}

// Control characters (C0, DEL, C1) would let a user name coming from Kafka move the cursor or
// recolour the terminal: they are shown as `?`.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** `text` with every control character replaced by `?`, safe to print on a terminal. */
export function sanitize(text: string): string {
  return text.replace(CONTROL, "?");
}

/**
 * Fits a line to `width` terminal cells and applies its styles (only when `color`). Cuts on
 * code points; every character is taken to be one cell wide.
 */
function fit(line: Line, width: number, layout: PanelLayout): string {
  let left = Math.max(0, width);
  let out = "";
  for (const segment of line) {
    if (left === 0) break;
    const chars = Array.from(sanitize(segment.text));
    const shown = chars.slice(0, left).join("");
    left -= Math.min(chars.length, left);
    out += layout.color && segment.style !== undefined && shown !== ""
      ? `\x1b[${sgr(segment.style, layout)}m${shown}\x1b[0m`
      : shown;
  }
  return out;
}

function sgr(style: Style, layout: PanelLayout): string {
  return style === "orange" && !layout.colors256 ? "1;33" : SGR[style];
}

/** Visible length of an unstyled line. */
function lengthOf(line: Line): number {
  return line.reduce((sum, segment) => sum + Array.from(segment.text).length, 0);
}

function header(snapshot: EngineSnapshot, width: number): Line {
  const title = ` ${snapshot.cpId} · ${snapshot.location} `;
  const line: Segment[] = [{ text: "──" }, { text: title, style: "bold" }];
  const rest = width - lengthOf(line);
  if (rest > 0) line.push({ text: "─".repeat(rest) });
  return line;
}

function monitorSegments(snapshot: EngineSnapshot, now: number): Segment[] {
  if (snapshot.lastProbeAt === null) return [{ text: "Monitor " }, { text: "no probe yet" }];
  const ago = Math.max(0, Math.floor((now - snapshot.lastProbeAt) / 1000));
  if (snapshot.monitorLost) {
    return [{ text: "Monitor " }, { text: `LOST, last probe ${ago} s ago`, style: "red" }];
  }
  const watching = snapshot.monitorWatching ? ", watching" : "";
  return [{ text: "Monitor " }, { text: `probe ${ago} s ago${watching}` }];
}

function kafkaSegments(kafka: PanelView["kafka"]): Segment[] {
  if (!kafka.connected) {
    const queued = kafka.backlog > 0 ? ` (${kafka.backlog} queued)` : "";
    return [{ text: "Kafka " }, { text: `unreachable${queued}`, style: "red" }];
  }
  const queued = kafka.backlog > 0 ? ` (${kafka.backlog} to send)` : "";
  return [{ text: "Kafka " }, { text: `connected${queued}`, style: "green" }];
}

/**
 * Why the point is still offline at start-up. The wait for a Monitor is the surprise (20 s by
 * default, docs/decisions.md): say how long is left and how a lab without a Monitor skips it.
 */
export function startupText(startup: StartupView, now: number): string {
  if (startup.phase === "registering") {
    return " Starting: registering with Central, waiting for commands to flow";
  }
  const left = Math.max(0, Math.ceil((startup.until - now) / 1000));
  return ` Offline until a Monitor watches (3 probes) or ${left} s pass ` +
    `(--monitor-wait ${startup.waitSeconds}; 0 in a lab without a Monitor)`;
}

function sessionLines(view: PanelView): Line[] {
  const { snapshot } = view;
  const session = snapshot.session;
  if (session === null && snapshot.startup !== null && snapshot.status === "offline") {
    return [[{ text: startupText(snapshot.startup, view.now), style: "dim" }]];
  }
  if (session === null) {
    const vehicle = view.plugInMode === "manual"
      ? (snapshot.vehiclePluggedIn ? " · vehicle plugged in" : " · no vehicle")
      : "";
    return [[{ text: " No session" + vehicle, style: "dim" }]];
  }
  const user: Line = [
    { text: " User " },
    { text: session.username, style: "bold" },
    { text: `   Elapsed ${formatDuration(session.elapsedSeconds)}` },
  ];
  if (!session.supplying) {
    const waited = session.elapsedSeconds / view.timeScale;
    const left = Math.max(0, Math.ceil(view.plugInTimeoutSeconds - waited));
    return [
      user,
      [
        { text: " [" },
        { text: progressBar(left / view.plugInTimeoutSeconds), style: "orange" },
        { text: `] waiting for the vehicle: press P (${left} s left)` },
      ],
      [{ text: " Energy 0.000 kWh   Cost 0.00 EUR   Power 0.00 kW" }],
    ];
  }
  const fraction = snapshot.maxPowerKw > 0 ? session.powerKw / snapshot.maxPowerKw : 0;
  return [
    user,
    [
      { text: " [" },
      { text: progressBar(fraction), style: "green" },
      {
        text: `] ${Math.round(fraction * 100)} % of ${snapshot.maxPowerKw} kW`,
      },
    ],
    [
      { text: " Energy " },
      { text: `${session.energyKwh.toFixed(3)} kWh`, style: "bold" },
      { text: "   Cost " },
      { text: `${session.costEur.toFixed(2)} EUR`, style: "bold" },
      { text: "   Power " },
      { text: `${session.powerKw.toFixed(2)} kW`, style: "bold" },
    ],
  ];
}

function keyLines(view: PanelView): Line[] {
  if (view.prompt !== null) {
    return [[
      { text: " User name for the manual session: " },
      { text: `${view.prompt}_`, style: "inverse" },
      { text: "  (Enter: start, Esc: cancel)", style: "dim" },
    ]];
  }
  if (!view.showHelp) {
    return [[{
      text: " P plug in  U unplug  F fault  R recover  M manual session  S stop/resume  " +
        "H help  Q quit",
      style: "dim",
    }]];
  }
  return [
    [{ text: " Keys (single press, no Enter):", style: "bold" }],
    ...KEY_HELP.map(([keys, what]): Line => [
      { text: `   ${keys.padEnd(5)}`, style: "bold" },
      { text: what },
    ]),
  ];
}

/**
 * The panel's lines for `view`, fitted to `layout`: each at most `columns - 1` cells wide (so
 * the terminal never wraps one) and at most `rows - 1` of them (so a redraw can always reach
 * the first); on a small terminal the key hints go first, then the session details.
 */
export function renderPanel(view: PanelView, layout: PanelLayout): string[] {
  const width = Math.max(1, layout.columns - 1);
  const { snapshot } = view;
  const status: Line = [
    { text: " Status " },
    { text: snapshot.status.toUpperCase(), style: statusStyle(snapshot.status) },
    { text: "   Health " },
    { text: snapshot.health, style: snapshot.health === "OK" ? "green" : "red" },
    { text: "   " },
    ...kafkaSegments(view.kafka),
    { text: "   " },
    ...monitorSegments(snapshot, view.now),
  ];
  // Lines with their priority: on a short terminal the lowest priorities are left out.
  const ranked: [Line, number][] = [
    [header(snapshot, width), 2],
    [status, 0],
    ...sessionLines(view).map((line, index): [Line, number] => [line, index === 0 ? 3 : 5]),
  ];
  if (snapshot.centralAwaySince !== null) {
    const since = new Date(snapshot.centralAwaySince).toISOString().slice(11, 19);
    ranked.push([[{
      text: ` Central unreachable since ${since} UTC: no new sessions`,
      style: "red",
    }], 0]);
  }
  if (view.notice !== null) ranked.push([[{ text: ` » ${view.notice}` }], 4]);
  ranked.push(
    ...keyLines(view).map((line, index): [Line, number] => [line, index === 0 ? 1 : 6]),
  );
  const maxLines = Math.max(1, layout.rows - 1);
  const kept = new Set(
    ranked.map((entry, index) => ({ rank: entry[1], index }))
      .sort((a, b) => a.rank - b.rank || a.index - b.index)
      .slice(0, maxLines)
      .map((entry) => entry.index),
  );
  const shown = ranked.filter((_, index) => kept.has(index));
  return shown.map(([line]) => fit(line, width, layout));
}
