/**
 * How each scenario is judged: pure functions from what a run observed (numbers and statuses,
 * gathered by `scenarios.ts`) to a verdict and a short observation for the table. The rules are
 * the scenario descriptions of the issue, written down once here so that they can be tested
 * without the peers.
 *
 * @module
 */

/** The outcome of a scenario: PASS or FAIL judge the engine; ERROR means the harness failed. */
export type Verdict = "PASS" | "FAIL" | "ERROR";

/** A verdict and the key observation behind it, e.g. `PASS` / `ticket 0.068 kWh at 13 s`. */
export interface Judgement {
  readonly verdict: Verdict;
  readonly summary: string;
}

/** The median of `values` (0 when empty). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** How regularly something happened: how often, the median interval and the longest gap. */
export interface Cadence {
  readonly count: number;
  /** Seconds; 0 with fewer than two occurrences. */
  readonly medianInterval: number;
  /** Seconds; 0 with fewer than two occurrences. */
  readonly maxGap: number;
}

/** The cadence of occurrences at `times` (seconds, any order). */
export function cadence(times: readonly number[]): Cadence {
  const sorted = [...times].sort((a, b) => a - b);
  const gaps = sorted.slice(1).map((t, i) => t - sorted[i]!);
  return {
    count: sorted.length,
    medianInterval: median(gaps),
    maxGap: gaps.length === 0 ? 0 : Math.max(...gaps),
  };
}

/** A value observed at a time. */
export interface Sample {
  readonly t: number;
  readonly value: number;
}

/** The last sample at or before `t`, or null when there is none. */
export function valueAt(samples: readonly Sample[], t: number): number | null {
  let found: number | null = null;
  for (const sample of [...samples].sort((a, b) => a.t - b.t)) {
    if (sample.t <= t) found = sample.value;
  }
  return found;
}

function seconds(value: number): string {
  return `${value.toFixed(1)} s`;
}

function kwh(value: number | null): string {
  return value === null ? "no kWh" : `${value.toFixed(3)} kWh`;
}

function judged(failures: readonly string[], facts: readonly string[]): Judgement {
  return failures.length === 0
    ? { verdict: "PASS", summary: facts.join("; ") }
    : { verdict: "FAIL", summary: [...failures, ...facts].join("; ") };
}

// ---------------------------------------------------------------------------------------------
// register
// ---------------------------------------------------------------------------------------------

/** What [register] observed for one charging point. */
export interface RegisterPoint {
  readonly cpId: string;
  /** Seconds from the engine's start to `available` in Central's database, or null. */
  readonly availableAfter: number | null;
  /** The statuses Central's database went through afterwards, with seconds from the start. */
  readonly later: readonly { readonly status: string; readonly after: number }[];
  /** Its status in Central's database at the end. */
  readonly finalStatus: string | null;
}

/**
 * [register]: every point shows `available` in Central within the deadline and stays so (a
 * flap through another status fails: a Driver asking then is refused or loses the session).
 */
export function judgeRegister(points: readonly RegisterPoint[], deadline: number): Judgement {
  const failures: string[] = [];
  const facts: string[] = [];
  for (const point of points) {
    if (point.availableAfter === null) {
      failures.push(`${point.cpId} not available within ${deadline} s (${point.finalStatus})`);
    } else if (point.later.length > 0) {
      failures.push(
        `${point.cpId} available at ${seconds(point.availableAfter)}, then ` +
          point.later.map((change) => `${change.status} at ${seconds(change.after)}`).join(", "),
      );
    } else {
      facts.push(`${point.cpId} available ${seconds(point.availableAfter)} after start`);
    }
  }
  return judged(failures, facts);
}

// ---------------------------------------------------------------------------------------------
// driver-session
// ---------------------------------------------------------------------------------------------

/** What [driver-session] observed. */
export interface DriverSessionObservation {
  /** Whether Central authorised the Driver's request. */
  readonly authorized: boolean;
  /** The engine's `charging_progress` messages (by their own timestamps). */
  readonly engineProgress: Cadence;
  /** Seconds from Central's `charging_started` command to the first progress message. */
  readonly firstProgressAfter: number | null;
  /** Energy the engine reported 5 s and 13 s after the start command. */
  readonly kwhAt5: number | null;
  readonly kwhAt13: number | null;
  /** Updates of the session's energy in Central's database. */
  readonly centralUpdates: Cadence;
  /** Progress updates the Driver logged. */
  readonly driverUpdates: Cadence;
  /** The Driver's ticket, if one arrived. */
  readonly ticket: {
    readonly energyKwh: number;
    readonly cost: number;
    readonly reason: string;
    /** Seconds after the Driver's stop. */
    readonly after: number;
  } | null;
  /** The session's state in Central's database at the end. */
  readonly sessionState: string | null;
  /** The point's status in Central's database at the end. */
  readonly finalStatus: string | null;
  /** Progress messages the engine sent more than 2 s after the stop command. */
  readonly progressAfterStop: number;
}

/** The longest median interval that still counts as "every second". */
export const EVERY_SECOND = 1.5;

/**
 * [driver-session]: progress about every second from the engine, in Central's database and in
 * the Driver; the first within 5 s of the start command; a ticket within 10 s of the Driver's
 * stop; the session completed and the point available at the end.
 */
export function judgeDriverSession(o: DriverSessionObservation): Judgement {
  if (!o.authorized) return { verdict: "FAIL", summary: "Central did not authorise the session" };
  const failures: string[] = [];
  if (o.engineProgress.count === 0) failures.push("no charging_progress");
  else if (o.engineProgress.medianInterval > EVERY_SECOND) {
    failures.push(`progress every ${seconds(o.engineProgress.medianInterval)}`);
  }
  if (o.firstProgressAfter === null || o.firstProgressAfter > 5) {
    failures.push(
      o.firstProgressAfter === null
        ? "no first progress"
        : `first progress after ${seconds(o.firstProgressAfter)}`,
    );
  }
  if (o.centralUpdates.count < 2 || o.centralUpdates.medianInterval > EVERY_SECOND) {
    failures.push(
      `Central's kWh updated ${o.centralUpdates.count}x` +
        (o.centralUpdates.count > 1 ? ` every ${seconds(o.centralUpdates.medianInterval)}` : ""),
    );
  }
  if (o.driverUpdates.count < 2 || o.driverUpdates.medianInterval > EVERY_SECOND) {
    failures.push(
      `Driver updated ${o.driverUpdates.count}x` +
        (o.driverUpdates.count > 1 ? ` every ${seconds(o.driverUpdates.medianInterval)}` : ""),
    );
  }
  if (o.ticket === null) failures.push("no ticket");
  else if (o.ticket.after > 10) failures.push(`ticket only ${seconds(o.ticket.after)} after stop`);
  if (o.sessionState !== "completed") failures.push(`session ${o.sessionState ?? "missing"}`);
  if (o.finalStatus !== "available") failures.push(`point ends ${o.finalStatus}`);
  const facts = [
    `progress every ${seconds(o.engineProgress.medianInterval)}`,
    `${kwh(o.kwhAt5)} at 5 s, ${kwh(o.kwhAt13)} at 13 s`,
    o.ticket === null
      ? "no ticket"
      : `ticket ${o.ticket.energyKwh.toFixed(3)} kWh ${o.ticket.cost.toFixed(2)} EUR ` +
        `${seconds(o.ticket.after)} after stop`,
  ];
  if (o.progressAfterStop > 0) facts.push(`${o.progressAfterStop} progress after stop`);
  return judged(failures, failures.length === 0 ? facts : facts.slice(1));
}

// ---------------------------------------------------------------------------------------------
// fault-recover
// ---------------------------------------------------------------------------------------------

/** One `simulate_error` + `fix_error` pair of [fault-recover]. */
export interface FaultPair {
  /** The statuses Central's database went through after the fault click. */
  readonly statuses: readonly string[];
  /** The status once the pair settled. */
  readonly settledStatus: string | null;
}

/** [fault-recover]: after every pair settles, Central shows the point's real status, available. */
export function judgeFaultRecover(pairs: readonly FaultPair[]): Judgement {
  const wrong = pairs.flatMap((pair, index) =>
    pair.settledStatus === "available" ? [] : [`#${index + 1} ${pair.settledStatus}`]
  );
  const right = pairs.length - wrong.length;
  const summary = `${right}/${pairs.length} pairs ended available` +
    (wrong.length > 0 ? ` (${wrong.join(", ")})` : "");
  return { verdict: wrong.length === 0 && pairs.length > 0 ? "PASS" : "FAIL", summary };
}

// ---------------------------------------------------------------------------------------------
// monitor-killed
// ---------------------------------------------------------------------------------------------

/** What [monitor-killed] observed. */
export interface MonitorKilledObservation {
  readonly sessionStarted: boolean;
  /** Seconds from the kill to the session leaving `active` in Central's database. */
  readonly closedAfter: number | null;
  readonly closedState: string | null;
  /** Seconds from the kill to Central's `CHARGING_TICKET` for the driver. */
  readonly ticketAfter: number | null;
  readonly ticketReason: string | null;
  readonly ticketEnergy: number | null;
  readonly finalStatus: string | null;
  /** The status the engine last reported (its own view), when known. */
  readonly engineStatus: string | null;
  /** Progress messages the engine still sent 15 s or more after the kill. */
  readonly progressAfter15: number;
}

/** [monitor-killed]: Central closes the session with a ticket within 15 s of the Monitor's death. */
export function judgeMonitorKilled(o: MonitorKilledObservation): Judgement {
  if (!o.sessionStarted) return { verdict: "FAIL", summary: "no session started" };
  const failures: string[] = [];
  if (o.closedAfter === null || o.closedAfter > 15) {
    failures.push(
      o.closedAfter === null
        ? "session still active in Central"
        : `session closed only after ${seconds(o.closedAfter)}`,
    );
  }
  if (o.ticketAfter === null || o.ticketAfter > 15) {
    failures.push(o.ticketAfter === null ? "no ticket" : `ticket after ${seconds(o.ticketAfter)}`);
  }
  const facts: string[] = [];
  if (o.closedAfter !== null) {
    facts.push(`session ${o.closedState} ${seconds(o.closedAfter)} after kill`);
  }
  if (o.ticketAfter !== null) {
    facts.push(`ticket ${o.ticketReason} ${kwh(o.ticketEnergy)} at ${seconds(o.ticketAfter)}`);
  }
  facts.push(
    `point ${o.finalStatus}` +
      (o.engineStatus !== null && o.engineStatus !== o.finalStatus
        ? ` while the engine says ${o.engineStatus}`
        : ""),
  );
  if (o.progressAfter15 > 0) facts.push(`engine still charging (${o.progressAfter15} progress)`);
  return judged(failures, facts);
}

// ---------------------------------------------------------------------------------------------
// restart-stale-auth
// ---------------------------------------------------------------------------------------------

/** What [restart-stale-auth] observed. */
export interface StaleAuthObservation {
  /** Central's status of the point when the Driver asked. */
  readonly statusAtRequest: string | null;
  readonly authorized: boolean;
  /** Seconds from the start command to the Driver's timeout message. */
  readonly driverTimeoutAfter: number | null;
  /** Seconds from the start command to Central closing the session. */
  readonly centralClosedAfter: number | null;
  /** Seconds from the start command to the engine's restart. */
  readonly restartAfter: number;
  /** What the restarted engine did for that user: progress, `charging` statuses, completions. */
  readonly phantomProgress: number;
  readonly phantomCharging: number;
  /** Whether Central's database had an active session after the restart. */
  readonly activeSessionAfterRestart: boolean;
  readonly finalStatus: string | null;
}

/** [restart-stale-auth]: the restarted engine starts no session from the stale command. */
export function judgeStaleAuth(o: StaleAuthObservation): Judgement {
  if (!o.authorized) {
    return {
      verdict: "ERROR",
      summary: `precondition failed: Central did not authorise (point ${o.statusAtRequest})`,
    };
  }
  const failures: string[] = [];
  if (o.phantomProgress > 0 || o.phantomCharging > 0) {
    failures.push(
      `phantom session: ${o.phantomProgress} progress, ${o.phantomCharging} charging status`,
    );
  }
  if (o.activeSessionAfterRestart) failures.push("active session in Central after restart");
  if (o.finalStatus === "charging") failures.push("point ends charging");
  const facts = [
    o.driverTimeoutAfter === null
      ? "Driver never timed out"
      : `Driver timeout at ${seconds(o.driverTimeoutAfter)}`,
    o.centralClosedAfter === null
      ? "Central kept the session"
      : `Central closed it at ${seconds(o.centralClosedAfter)}`,
    `restart at ${seconds(o.restartAfter)}: no phantom session`,
    `point ${o.finalStatus}`,
  ];
  return judged(failures, failures.length === 0 ? facts : facts.slice(0, 2));
}

// ---------------------------------------------------------------------------------------------
// crash-mid-session
// ---------------------------------------------------------------------------------------------

/** What [crash-mid-session] observed. */
export interface CrashObservation {
  readonly sessionStarted: boolean;
  /** The engine's `charging_completed` after the restart, if any. */
  readonly completed: { readonly reason: string; readonly energyKwh: number } | null;
  /** The energy of the last progress before the crash. */
  readonly lastProgressKwh: number | null;
  /** Central's ticket after the restart, if any. */
  readonly ticket: {
    readonly reason: string;
    readonly energyKwh: number;
    /** Seconds after the restart. */
    readonly after: number;
  } | null;
  readonly sessionState: string | null;
  readonly finalStatus: string | null;
  /** Whether the engine must report the crash as `charging_completed` `engine_recovered`. */
  readonly requireRecovered: boolean;
}

/**
 * [crash-mid-session]: after the restart Central gets a ticket (within 20 s), closes the session
 * and ends with the point available; ours must send `charging_completed` `engine_recovered` with
 * no less energy than the last progress before the crash.
 */
export function judgeCrash(o: CrashObservation): Judgement {
  if (!o.sessionStarted) return { verdict: "FAIL", summary: "no session started" };
  const failures: string[] = [];
  if (o.ticket === null || o.ticket.after > 20) {
    failures.push(o.ticket === null ? "no ticket" : `ticket after ${seconds(o.ticket.after)}`);
  }
  if (o.sessionState === "active" || o.sessionState === null) {
    failures.push(`session ${o.sessionState ?? "missing"} in Central`);
  }
  if (o.finalStatus !== "available") failures.push(`point ends ${o.finalStatus}`);
  if (o.requireRecovered) {
    if (o.completed?.reason !== "engine_recovered") {
      failures.push(
        o.completed === null
          ? "no charging_completed"
          : `charging_completed reason ${o.completed.reason}`,
      );
    } else if (o.lastProgressKwh !== null && o.completed.energyKwh < o.lastProgressKwh) {
      failures.push(
        `recovered ${kwh(o.completed.energyKwh)} < last progress ${kwh(o.lastProgressKwh)}`,
      );
    }
  }
  const facts: string[] = [];
  if (o.ticket !== null) {
    facts.push(
      `ticket ${o.ticket.reason} ${kwh(o.ticket.energyKwh)} ${
        seconds(o.ticket.after)
      } after restart`,
    );
  }
  if (o.completed !== null) facts.push(`completed ${o.completed.reason}`);
  if (failures.length === 0) facts.push(`session ${o.sessionState}`, `point ${o.finalStatus}`);
  return judged(failures, facts);
}

// ---------------------------------------------------------------------------------------------
// stop-resume
// ---------------------------------------------------------------------------------------------

/** What [stop-resume] observed. */
export interface StopResumeObservation {
  readonly sessionStarted: boolean;
  /** Central's tickets for the driver after `stop_cp`. */
  readonly tickets: readonly { readonly reason: string; readonly energyKwh: number }[];
  /** The statuses Central's database went through from `stop_cp` on. */
  readonly statuses: readonly string[];
  readonly sessionState: string | null;
  readonly finalStatus: string | null;
  /** Progress messages more than 3 s after `stop_cp`. */
  readonly progressAfterStop: number;
}

/**
 * [stop-resume]: the stop ends the supply and the session (with a ticket), and after the resume
 * Central shows the point available.
 */
export function judgeStopResume(o: StopResumeObservation): Judgement {
  if (!o.sessionStarted) return { verdict: "FAIL", summary: "no session started" };
  const failures: string[] = [];
  if (o.tickets.length === 0) failures.push("no ticket");
  if (o.sessionState === "active" || o.sessionState === null) {
    failures.push(`session ${o.sessionState ?? "missing"} in Central`);
  }
  if (o.progressAfterStop > 0) failures.push(`${o.progressAfterStop} progress after stop`);
  if (o.finalStatus !== "available") failures.push(`point ends ${o.finalStatus}`);
  const facts = [
    ...o.tickets.map((ticket) => `ticket ${ticket.reason} ${kwh(ticket.energyKwh)}`),
    `Central ${o.statuses.join(">")}`,
  ];
  if (failures.length === 0) facts.push(`session ${o.sessionState}`);
  return judged(failures, facts);
}

// ---------------------------------------------------------------------------------------------
// healthcheck-cadence
// ---------------------------------------------------------------------------------------------

/** What [healthcheck-cadence] observed. */
export interface HealthcheckObservation {
  readonly sessionStarted: boolean;
  /** The answers to the probes, in order. */
  readonly answers: readonly string[];
  /** The engine ended the session on its own before the stop, and why. */
  readonly endedEarly: string | null;
  /** The longest silence between progress messages during the session (seconds). */
  readonly maxProgressGap: number;
  /** The engine's progress interval (median, seconds). */
  readonly progressInterval: number;
  /** The session's state in Central's database 30 s into the session. */
  readonly sessionStateAt30: string | null;
}

/**
 * [healthcheck-cadence]: with no Monitor but a probe every 10 s, a 30 s session goes on: no
 * early end, progress never silent for more than two intervals plus 1 s, every probe `OK`.
 */
export function judgeHealthcheck(o: HealthcheckObservation): Judgement {
  if (!o.sessionStarted) return { verdict: "FAIL", summary: "no session started" };
  const failures: string[] = [];
  if (o.endedEarly !== null) failures.push(`session ended by the engine: ${o.endedEarly}`);
  const allowedGap = 2 * o.progressInterval + 1;
  if (o.maxProgressGap > allowedGap) failures.push(`progress silent ${seconds(o.maxProgressGap)}`);
  const notOk = o.answers.filter((answer) => answer !== "OK");
  if (notOk.length > 0) failures.push(`probe answers ${o.answers.join(",")}`);
  if (o.sessionStateAt30 !== "active") failures.push(`session ${o.sessionStateAt30} at 30 s`);
  const facts = [
    `${o.answers.length} probes ${o.answers.join(",")}`,
    `session ${o.sessionStateAt30} at 30 s`,
    `max progress gap ${seconds(o.maxProgressGap)}`,
  ];
  return judged(failures, failures.length === 0 ? facts : facts.slice(0, 1));
}

// ---------------------------------------------------------------------------------------------
// restart-together
// ---------------------------------------------------------------------------------------------

/** How the Driver's request right after the point showed available ended. */
export type TogetherOutcome =
  | "survived"
  | "refused"
  | "killed by Monitor timeout"
  | "ended otherwise"
  | "not requested";

/** What [restart-together] observed. */
export interface TogetherObservation {
  /** Seconds from the restart to the point showing available (after the new registration). */
  readonly availableAfter: number | null;
  readonly outcome: TogetherOutcome;
  /** Seconds from the request to the end of the session, and how, when it ended. */
  readonly endedAfter: number | null;
  readonly endReason: string | null;
  /** The engine supplied the user after Central had closed the session: from when, how often. */
  readonly suppliedAfterClose: { readonly after: number; readonly progress: number } | null;
}

/**
 * [restart-together]: no session handed out by Central may be killed by Central's Monitor
 * timeout: the request is refused, or the session survives 20 s.
 */
export function judgeTogether(o: TogetherObservation): Judgement {
  const when = o.availableAfter === null
    ? "never available"
    : `available ${seconds(o.availableAfter)} after restart`;
  switch (o.outcome) {
    case "survived":
      return { verdict: "PASS", summary: `${when}; request survived 20 s` };
    case "refused":
      return { verdict: "PASS", summary: `${when}; request refused` };
    case "not requested":
      return { verdict: "FAIL", summary: when };
    default:
      return {
        verdict: "FAIL",
        summary: `${when}; session ${o.outcome}` +
          (o.endedAfter === null ? "" : ` ${seconds(o.endedAfter)} after request`) +
          (o.endReason === null ? "" : ` (${o.endReason})`) +
          (o.suppliedAfterClose === null
            ? o.outcome === "killed by Monitor timeout"
              ? "; the engine did not supply it after Central closed it"
              : ""
            : `; the engine then supplied it anyway from ${
              seconds(o.suppliedAfterClose.after)
            } (${o.suppliedAfterClose.progress} progress)`),
      };
  }
}

// ---------------------------------------------------------------------------------------------
// central-restart
// ---------------------------------------------------------------------------------------------

/** What [central-restart] observed. */
export interface CentralRestartObservation {
  readonly sessionStarted: boolean;
  /** Progress messages while Central was down. */
  readonly progressWhileDown: number;
  /** What the second Driver request got while Central was down. */
  readonly secondRequest: string;
  /** The engine's `charging_completed` while Central was down, if any. */
  readonly endedWhileDown: string | null;
  /** Seconds from Central's restart (reading its topics) to the point showing available. */
  readonly availableAfter: number | null;
  /** The statuses Central's database went through after the restart. */
  readonly statusesAfterRestart: readonly string[];
}

/**
 * [central-restart]: a restarted Central shows the point with its real status (available)
 * within 15 s, without the engine or the Monitor restarting.
 */
export function judgeCentralRestart(o: CentralRestartObservation): Judgement {
  if (!o.sessionStarted) return { verdict: "FAIL", summary: "no session started" };
  const failures: string[] = [];
  if (o.availableAfter === null || o.availableAfter > 15) {
    failures.push(
      o.availableAfter === null
        ? `not available after restart (${o.statusesAfterRestart.join(">")})`
        : `available only ${seconds(o.availableAfter)} after restart`,
    );
  }
  const facts = [
    `${o.progressWhileDown} progress while down`,
    `2nd request ${o.secondRequest}`,
    `ended while down: ${o.endedWhileDown ?? "no"}`,
  ];
  if (o.availableAfter !== null && failures.length === 0) {
    facts.unshift(`available ${seconds(o.availableAfter)} after restart`);
  }
  return judged(failures, facts);
}
