/**
 * What the scenarios share: bringing a run up, a Driver session, selecting the engine's
 * messages, and assembling the evidence (facts and timeline).
 *
 * @module
 */
import { formatT, pollUntil, type RunSeconds, sleep } from "./clock.ts";
import { describeSession, type SessionRow } from "./central_db.ts";
import {
  dbEntries,
  eventEntries,
  keyLines,
  LINE_FILTERS,
  renderTimeline,
  type TimelineEntry,
} from "./evidence.ts";
import { isEvent, type TapEvent } from "./kafka_tap.ts";
import type { PeerStack } from "./stack.ts";
import type { Judgement } from "./verdicts.ts";

/** What a scenario hands back: its verdict, the facts behind it and where its timeline starts. */
export interface ScenarioOutput extends Judgement {
  /** Measured facts, one per line, printed before the timeline. */
  readonly facts: readonly string[];
  /** The run second from which the printed timeline starts (the full one goes to the logs). */
  readonly focusFrom: RunSeconds;
}

/** A scenario of the issue. */
export interface Scenario {
  /** Its name on the command line and in the table. */
  readonly name: string;
  /** One line saying what it checks. */
  readonly title: string;
  /** Runs it on a fresh stack. */
  readonly run: (stack: PeerStack) => Promise<ScenarioOutput>;
}

/** How long a charging point may take to show available after its engine starts. */
export const AVAILABLE_DEADLINE_S = 45;

/** When each charging point's engine started and when Central showed it available. */
export interface BroughtUp {
  readonly engineStartedAt: ReadonlyMap<string, RunSeconds>;
  /** Null for a point that did not show available in time. */
  readonly availableAt: ReadonlyMap<string, RunSeconds | null>;
}

/**
 * Starts Central and the Driver, then for each point its Monitor (unless `monitors` is false)
 * and its engine, and waits for each point to show `available` in Central's database.
 *
 * @throws {Error} when an engine cannot open its health port (a harness problem, not a verdict).
 */
export async function bringUp(
  stack: PeerStack,
  cpIds: readonly string[],
  { monitors = true }: { monitors?: boolean } = {},
): Promise<BroughtUp> {
  await stack.startCentral();
  await stack.startDriver();
  const engineStartedAt = new Map<string, RunSeconds>();
  for (const cpId of cpIds) {
    if (monitors) stack.startMonitor(cpId);
    await stack.startEngine(cpId);
    engineStartedAt.set(cpId, stack.clock.now());
  }
  for (const cpId of cpIds) await stack.engineListening(cpId);
  const availableAt = new Map<string, RunSeconds | null>();
  if (monitors) {
    for (const cpId of cpIds) {
      availableAt.set(
        cpId,
        await waitForStatus(stack, cpId, "available", engineStartedAt.get(cpId)!, {
          timeoutS: AVAILABLE_DEADLINE_S,
        }),
      );
    }
    const deadline = Math.min(...engineStartedAt.values()) + AVAILABLE_DEADLINE_S;
    for (const cpId of cpIds) {
      if (availableAt.get(cpId) === null) continue;
      const settled = await settledAvailable(stack, cpId, deadline);
      stack.mark(
        settled === null
          ? `${cpId} did not settle available (Monitor heartbeats, 2 s steady) by ${
            formatT(deadline)
          }`
          : `${cpId} settled available (Monitor heartbeating, 2 s steady)`,
      );
      if (settled === null) availableAt.set(cpId, null);
    }
  }
  return { engineStartedAt, availableAt };
}

/**
 * Waits until `cpId` is available in Central with its Monitor heartbeating (a heartbeat after
 * the point showed available) and stays available for 2 s: the steady state the scenarios start
 * from. A point that shows available before its Monitor's first heartbeat is marked offline by
 * Central's Monitor-timeout check (EV_Central_WebSocket.py:1098-1126) at its next 2 s tick.
 * Resolves to the run second it settled, or null at `deadline`.
 */
async function settledAvailable(
  stack: PeerStack,
  cpId: string,
  deadline: RunSeconds,
): Promise<RunSeconds | null> {
  const settled = await pollUntil(() => {
    stack.db.poll();
    const now = stack.clock.now();
    const since = stack.db.statusChanges.findLast((c) => c.cpId === cpId)?.t ?? 0;
    if (stack.db.status(cpId) !== "available" || now - since < 2) return undefined;
    const heartbeat = stack.tap.select(
      "monitor-events",
      (v) => isEvent(v, "MONITOR_HEARTBEAT") && v["cp_id"] === cpId,
      since,
    )[0];
    return heartbeat ? now : undefined;
  }, Math.max(0, (deadline - stack.clock.now()) * 1000));
  return settled ?? null;
}

/**
 * Waits until Central's database shows `cpId` in `status` at or after `since`; resolves to the
 * first such run second, or null after `timeoutS` (counted from now).
 */
export async function waitForStatus(
  stack: PeerStack,
  cpId: string,
  status: string,
  since: RunSeconds,
  { timeoutS }: { timeoutS: number },
): Promise<RunSeconds | null> {
  const found = await pollUntil(() => {
    stack.db.poll();
    return stack.db.firstTimeIn(cpId, status, since) ?? undefined;
  }, timeoutS * 1000);
  return found ?? null;
}

/** Sleeps until run second `t` (at once if it has passed). */
export async function sleepUntil(stack: PeerStack, t: RunSeconds): Promise<void> {
  const wait = (t - stack.clock.now()) * 1000;
  if (wait > 0) await sleep(wait);
}

/** The start of a Driver session. */
export interface SessionStart {
  /** When the Driver was asked. */
  readonly requestedAt: RunSeconds;
  /** Whether the Driver said `charging_started` (Central authorised). */
  readonly authorized: boolean;
  /** The Driver's answer, for the facts. */
  readonly answer: string;
  /** When the harness saw Central's `charging_started` command, else the request time. */
  readonly commandAt: RunSeconds;
}

/**
 * A race inside the peers voided the run (not a verdict on the engine): the harness retries it.
 */
export class PeerRaceError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "PeerRaceError";
  }
}

/**
 * Asks the Driver (as `username`) to charge at `cpId` and waits up to 10 s for its answer.
 *
 * @throws {PeerRaceError} when Central authorised but the Driver dropped the answer: the Driver
 * stores its pending request only after sending it (EV_Driver_WebSocket.py:536-550), so an
 * answer from Central within a few milliseconds finds no pending request and is lost.
 */
export async function requestCharging(
  stack: PeerStack,
  username: string,
  cpId: string,
): Promise<SessionStart> {
  const driver = await stack.driver(username);
  const requestedAt = stack.mark(`driver ${username}: request_charging_at_cp ${cpId}`);
  driver.send({ type: "request_charging_at_cp", username, cp_id: cpId });
  const answer = await driver.waitFor(
    (data) => data["type"] === "charging_started" || data["type"] === "error",
    10_000,
    requestedAt,
  );
  if (answer === null) {
    const authorization = stack.tap.select(
      "central-events",
      (v) =>
        v["event_type"] === "AUTHORIZATION_RESPONSE" && v["cp_id"] === cpId &&
        v["authorized"] === true,
      requestedAt,
    )[0];
    if (authorization) {
      throw new PeerRaceError(
        `The Driver dropped Central's authorisation of ${username} at ${cpId} (sent ${
          ((authorization.t - requestedAt) * 1000).toFixed(0)
        } ms after the request, before the Driver stored it as pending: ` +
          `EV_Driver_WebSocket.py:536-550); this run is void`,
      );
    }
  }
  const authorized = answer?.data["type"] === "charging_started";
  const command = authorized
    ? await stack.tap.waitFor(
      "central-events",
      (v) =>
        v["action"] === "charging_started" && v["cp_id"] === cpId && v["username"] === username,
      5_000,
      requestedAt,
    )
    : null;
  return {
    requestedAt,
    authorized,
    answer: answer === null
      ? "no answer in 10 s"
      : `${answer.data["type"]}${answer.data["message"] ? `: ${answer.data["message"]}` : ""}`,
    commandAt: command?.t ?? requestedAt,
  };
}

/** The engine's `charging_progress` for `cpId` (and `username` when given) in `[from, to]`. */
export function progressOf(
  stack: PeerStack,
  cpId: string,
  from: RunSeconds,
  to: RunSeconds = Infinity,
  username: string | null = null,
): TapEvent[] {
  return stack.tap.select(
    "cp-events",
    (v) =>
      isEvent(v, "charging_progress") && v["cp_id"] === cpId &&
      (username === null || v["username"] === username),
    from,
  ).filter((event) => event.t <= to);
}

/** The engine's messages named `name` for `cpId` at or after `from`. */
export function engineEvents(
  stack: PeerStack,
  cpId: string,
  name: string,
  from: RunSeconds,
): TapEvent[] {
  return stack.tap.select("cp-events", (v) => isEvent(v, name) && v["cp_id"] === cpId, from);
}

/** Central's `CHARGING_TICKET`s for `username` at or after `from`. */
export function ticketsFor(stack: PeerStack, username: string, from: RunSeconds): TapEvent[] {
  return stack.tap.select(
    "central-events",
    (v) => isEvent(v, "CHARGING_TICKET") && v["username"] === username,
    from,
  );
}

/** The latest session of `username` at `cpId` that started at or after `since`, as last read. */
export function sessionOf(
  stack: PeerStack,
  username: string,
  cpId: string,
  since: RunSeconds,
): SessionRow | null {
  const sessions = stack.db.sessions().filter((session) =>
    session.username === username && session.cpId === cpId &&
    stack.clock.fromEpoch(session.startTime) >= since - 1
  );
  return sessions[sessions.length - 1] ?? null;
}

/**
 * The first run second at or after `from` when session `id` was no longer `active` in Central's
 * database, or null.
 */
export function sessionClosedAt(stack: PeerStack, id: number, from: RunSeconds): RunSeconds | null {
  const change = stack.db.sessionChanges.find((c) =>
    c.session.id === id && c.t >= from && c.session.state !== "active"
  );
  return change?.t ?? null;
}

/** The distinct statuses of `cpId` in Central's database from `from` on (the one at `from` first). */
export function statusesFrom(stack: PeerStack, cpId: string, from: RunSeconds): string[] {
  const statuses: string[] = [];
  const at = stack.db.statusAt(cpId, from);
  if (at !== null) statuses.push(at);
  for (const change of stack.db.statusChanges) {
    if (change.cpId === cpId && change.t > from && statuses[statuses.length - 1] !== change.to) {
      statuses.push(change.to);
    }
  }
  return statuses;
}

/** One fact line about a session in Central's database. */
export function sessionFact(stack: PeerStack, session: SessionRow | null): string {
  return session === null ? "db: no session" : `db: ${describeSession(session, stack.clock)}`;
}

/** `0.068` (3 decimals) of a message's `energy_kwh`, or null. */
export function energyOf(event: TapEvent | undefined): number | null {
  const value = event?.value["energy_kwh"];
  return typeof value === "number" ? value : null;
}

/** Every timeline entry of the run: actions, key log lines, Kafka traffic, database changes. */
export function timelineOf(stack: PeerStack): TimelineEntry[] {
  const entries: TimelineEntry[] = stack.marks.map((mark) => ({
    t: mark.t,
    source: "harness",
    text: mark.text,
  }));
  for (const { role, process } of stack.processes) {
    const filter = role === "engine"
      ? LINE_FILTERS[`engine ${stack.options.engine}`]!
      : LINE_FILTERS[role]!;
    entries.push(...keyLines(process.name, filter, process.lines));
  }
  entries.push(...eventEntries(stack.tap.events));
  entries.push(...dbEntries(stack.db.statusChanges, stack.db.sessionChanges, stack.clock));
  return entries.sort((a, b) => a.t - b.t);
}

/** The printed evidence: the facts, then the timeline from `from` (at most `max` lines). */
export function evidenceOf(
  stack: PeerStack,
  output: ScenarioOutput,
  max = 60,
): string[] {
  return [
    ...output.facts,
    "",
    `timeline (run seconds; from ${formatT(output.focusFrom)}):`,
    ...renderTimeline(timelineOf(stack), output.focusFrom, Infinity, max),
  ];
}
