/**
 * The charging point's state machine: pure, with no I/O, no timers and no clock reads.
 *
 * {@linkcode transition} takes the current state, one command and the current time, and returns
 * the next state with the effects the application service must carry out (publish a status,
 * start or stop the meter, log a refusal). Everything the wire contract says about reactions to
 * commands lives here, so it can be tested for every state and every command.
 *
 * @module
 */

/** The statuses Central knows, lower case, exactly as they go on the wire. */
export const STATUSES = ["available", "charging", "offline", "fault", "out_of_service"] as const;
/** A charging point status as Central knows it. */
export type Status = (typeof STATUSES)[number];

/** Why a session ended, as carried by `charging_completed.reason`. */
export type EndReason =
  | "unplugged_by_user"
  | "stopped_by_central"
  | "fault"
  | "engine_shutdown"
  | "engine_recovered"
  | "plug_in_timeout"
  | "monitor_lost";

/** Why a session ended without a `charging_completed` (Central already closed it). */
export type SilentEndReason = "charging_stopped" | "error_simulated";

/** How a vehicle gets connected: at once on authorization, or by an explicit plug-in. */
export type PlugInMode = "auto" | "manual";

/** The user a session is for, as named in `charging_started`. */
export interface Driver {
  readonly username: string;
  readonly userId: number | string | null;
  readonly clientId: string | null;
}

/** A charging session: authorized, and supplying once the vehicle is plugged in. */
export interface Session {
  readonly id: string;
  readonly driver: Driver;
  /** Epoch milliseconds of the authorization. */
  readonly authorizedAt: number;
  /** Whether energy flows (false while waiting for the vehicle in manual plug-in mode). */
  readonly supplying: boolean;
  /** Where the session came from: Central's `charging_started` or the point's own keypad. */
  readonly origin: "central" | "local";
}

/** Everything the state machine knows about one charging point. */
export interface ChargePointState {
  /** The real status, which Central should eventually see. */
  readonly status: Status;
  /** The hardware health flag; the health port answers KO when false or when in `fault`. */
  readonly healthy: boolean;
  readonly session: Session | null;
  readonly vehiclePluggedIn: boolean;
  /** False until the engine has registered and commands flow (start-up step 4). */
  readonly ready: boolean;
  /** Epoch ms when the engine became ready, or null. */
  readonly readyAt: number | null;
  /**
   * True once the point has announced itself `available` after start-up: at a Monitor's first
   * probe, when Central hands it a session, or when no probe came within `monitorWaitMs` of
   * being ready (see {@linkcode tick}). Until then it stays `offline` when idle.
   */
  readonly open: boolean;
  /** Epoch ms of the last health probe (Monitor or anyone else), or null if none came. */
  readonly lastProbeAt: number | null;
  /** Probes in a row, each at most {@linkcode WATCHING_GAP_MS} after the one before. */
  readonly probeStreak: number;
  /**
   * True while a Monitor is watching: probing at its cadence (about every second), not a person's
   * one-off probe nor a container health check every 10-30 s. Only a watching Monitor's silence
   * counts as Monitor loss (protocol.md 5).
   */
  readonly monitorWatching: boolean;
  /** True while a Monitor that was watching during a session has been silent too long. */
  readonly monitorLost: boolean;
  /** Epoch ms of the last status re-sent to correct Central's view (CP_INFO), or null. */
  readonly lastReconciledAt: number | null;
}

/** Settings the state machine needs. */
export interface ChargePointSettings {
  readonly plugInMode: PlugInMode;
  /** Milliseconds a manual-mode session waits for the vehicle. */
  readonly plugInTimeoutMs: number;
  /** Milliseconds without a probe after which the Monitor counts as lost. */
  readonly monitorTimeoutMs: number;
  /** Minimum milliseconds between two status corrections caused by `CP_INFO`. */
  readonly reconcileIntervalMs: number;
  /**
   * Once ready, how long the point waits for a Monitor to start watching before it goes
   * `available` without one (0: at once). The Python Monitor waits 15 s before its first probe.
   */
  readonly monitorWaitMs: number;
}

/** Probes this close together (ms) count as one Monitor's cadence (it probes every second). */
export const WATCHING_GAP_MS = 2_500;
/** Probes in a row at the Monitor's cadence after which a Monitor counts as watching. */
export const WATCHING_STREAK = 3;

/** Default settings, as the wire contract gives them. */
export const DEFAULT_SETTINGS: ChargePointSettings = {
  plugInMode: "auto",
  plugInTimeoutMs: 60_000,
  monitorTimeoutMs: 5_000,
  reconcileIntervalMs: 10_000,
  monitorWaitMs: 20_000,
};

/** The state of a charging point that has just started: offline, healthy, idle. */
export function initialState(): ChargePointState {
  return {
    status: "offline",
    healthy: true,
    session: null,
    vehiclePluggedIn: false,
    ready: false,
    readyAt: null,
    open: false,
    lastProbeAt: null,
    probeStreak: 0,
    monitorWatching: false,
    monitorLost: false,
    lastReconciledAt: null,
  };
}

/** A command, from Central (Kafka), the operator console, or the engine itself. */
export type Command =
  | { readonly type: "ready" }
  | {
    readonly type: "charging_started";
    readonly driver: Driver;
    readonly origin: "central" | "local";
    readonly sessionId: string;
  }
  | { readonly type: "charging_stopped" }
  | {
    readonly type: "error_simulated";
    readonly errorType: string;
    readonly newStatus: "fault" | "out_of_service" | "offline";
  }
  | { readonly type: "error_fixed" }
  | { readonly type: "stop"; readonly reason: string }
  | { readonly type: "resume"; readonly reason: string }
  | { readonly type: "plug_in" }
  | { readonly type: "unplug" }
  | { readonly type: "fault" }
  | { readonly type: "recover" }
  | { readonly type: "cp_info"; readonly status: string }
  | { readonly type: "authorization_response"; readonly authorized: boolean | null }
  | { readonly type: "ignored"; readonly name: string }
  | { readonly type: "monitor_probe" }
  | { readonly type: "tick" }
  | { readonly type: "shutdown" };

/** The kinds of command, for tables and logs. */
export type CommandType = Command["type"];

/** Something the application service must do after a transition. */
export type Effect =
  /** Make Central see `status` (coalesced by the publisher; `force` re-sends an unchanged one). */
  | {
    readonly kind: "publish_status";
    readonly status: Status;
    readonly reason: string;
    readonly force: boolean;
  }
  /** Start metering a new session (energy flows only once `supply_session` follows). */
  | { readonly kind: "start_session"; readonly session: Session }
  /** The vehicle is connected: energy starts to flow. */
  | { readonly kind: "supply_session"; readonly sessionId: string }
  /** Stop the meter and, when `completed` is set, publish `charging_completed` with that reason. */
  | {
    readonly kind: "end_session";
    readonly session: Session;
    readonly completed: EndReason | null;
    readonly cause: EndReason | SilentEndReason;
  }
  | {
    readonly kind: "log";
    readonly level: "debug" | "info" | "warning";
    readonly message: string;
  };

/** The result of a transition: the next state and what to do about it. */
export interface Transition {
  readonly state: ChargePointState;
  readonly effects: readonly Effect[];
}

function status(state: Status, reason: string, force = false): Effect {
  return { kind: "publish_status", status: state, reason, force };
}

function log(level: "debug" | "info" | "warning", message: string): Effect {
  return { kind: "log", level, message };
}

function unchanged(state: ChargePointState, ...effects: Effect[]): Transition {
  return { state, effects };
}

/** What the health port answers for a state. */
export function healthAnswer(state: ChargePointState): "OK" | "KO" {
  return state.status === "fault" || !state.healthy ? "KO" : "OK";
}

/**
 * Ends the active session, if any, and returns the state without it plus the effect.
 * `completed` is the `charging_completed` reason, or null when Central already closed it.
 */
function endSession(
  state: ChargePointState,
  completed: EndReason | null,
  cause: EndReason | SilentEndReason,
): { state: ChargePointState; effects: Effect[] } {
  if (state.session === null) return { state, effects: [] };
  return {
    state: { ...state, session: null },
    effects: [{ kind: "end_session", session: state.session, completed, cause }],
  };
}

/**
 * Where the point goes when it is free again: available, unless the Monitor is lost or the
 * engine is not (or not yet, or no longer) open for sessions.
 */
function idleStatus(state: ChargePointState): Status {
  return state.monitorLost || !state.ready || !state.open ? "offline" : "available";
}

/**
 * Opens the point after start-up (once `ready`): `offline -> available` at a Monitor's first
 * probe, or once `monitorWaitMs` passed without any. Until then the idle point stays `offline`:
 * the original Monitor starts silent for 15 s, and Central times a Monitor out after 5 s of
 * silence, closing the session of any point it does not already see offline
 * (EV_Central_WebSocket.py:1089-1180). So after a restart of engine and Monitor together, the
 * engine must not announce `available` before the Monitor speaks; the Monitor's first OK is also
 * what makes Central mark the point available (ENGINE_HEALTH_OK), as in the original system.
 */
function openIfDue(
  state: ChargePointState,
  now: number,
  settings: ChargePointSettings,
): Transition {
  if (!state.ready || state.open || state.readyAt === null) return unchanged(state);
  const probed = state.lastProbeAt !== null;
  if (!probed && now - state.readyAt < settings.monitorWaitMs) return unchanged(state);
  const why = probed
    ? "Engine ready, health port probed"
    : settings.monitorWaitMs === 0
    ? "Engine ready"
    : `Engine ready, no Monitor within ${Math.round(settings.monitorWaitMs / 1000)} s`;
  const opened = { ...state, open: true };
  if (state.status !== "offline" || state.monitorLost) return unchanged(opened, log("info", why));
  return {
    state: { ...opened, status: "available" },
    effects: [log("info", why), status("available", why)],
  };
}

/** Applies one command at time `now` (epoch ms). Pure. */
export function transition(
  state: ChargePointState,
  command: Command,
  now: number,
  settings: ChargePointSettings = DEFAULT_SETTINGS,
): Transition {
  switch (command.type) {
    case "ready": {
      if (state.ready) return unchanged(state);
      const opened = openIfDue({ ...state, ready: true, readyAt: now }, now, settings);
      if (opened.state.open) return opened;
      return unchanged(
        opened.state,
        log(
          "info",
          `Engine ready: waiting up to ${
            Math.round(settings.monitorWaitMs / 1000)
          } s for a Monitor before accepting sessions`,
        ),
      );
    }

    case "charging_started":
      return chargingStarted(state, command, now, settings);

    case "charging_stopped": {
      if (state.session === null) {
        return unchanged(
          state,
          log("info", "charging_stopped received with no session in progress"),
        );
      }
      const ended = endSession(state, null, "charging_stopped");
      const next = idleStatus(state);
      return {
        state: { ...ended.state, status: next },
        effects: [...ended.effects, status(next, "Charging stopped by Central")],
      };
    }

    case "error_simulated": {
      const ended = endSession(state, null, "error_simulated");
      const healthy = command.newStatus === "fault" ? false : state.healthy;
      return {
        state: { ...ended.state, status: command.newStatus, healthy },
        effects: [
          ...ended.effects,
          status(command.newStatus, `Simulated error: ${command.errorType}`),
        ],
      };
    }

    case "error_fixed": {
      if (state.session !== null) {
        return {
          state: { ...state, healthy: true },
          effects: [log("info", "Error fixed during a session: health OK, the session goes on")],
        };
      }
      const next = idleStatus(state);
      return {
        state: { ...state, healthy: true, status: next },
        effects: [status(next, "Error fixed")],
      };
    }

    case "stop": {
      const ended = endSession(state, "stopped_by_central", "stopped_by_central");
      return {
        state: { ...ended.state, status: "out_of_service" },
        effects: [
          ...ended.effects,
          status("out_of_service", command.reason || "Stopped by Central"),
        ],
      };
    }

    case "resume": {
      if (state.session !== null) {
        return unchanged(state, log("info", "Resume ignored: a session is in progress"));
      }
      if (state.status !== "out_of_service" && state.status !== "fault") {
        return unchanged(
          state,
          log("info", `Resume ignored: the point is ${state.status}, not out of service or fault`),
        );
      }
      const next = idleStatus(state);
      return {
        state: { ...state, healthy: true, status: next },
        effects: [status(next, command.reason || "Service resumed")],
      };
    }

    case "plug_in": {
      if (state.vehiclePluggedIn) {
        return unchanged(state, log("info", "Plug-in ignored: a vehicle is already plugged in"));
      }
      const plugged = { ...state, vehiclePluggedIn: true };
      if (state.session !== null && !state.session.supplying) {
        const session = { ...state.session, supplying: true };
        return {
          state: { ...plugged, session },
          effects: [
            log("info", `Vehicle plugged in: supplying energy to ${session.driver.username}`),
            { kind: "supply_session", sessionId: session.id },
          ],
        };
      }
      return unchanged(plugged, log("info", "Vehicle plugged in"));
    }

    case "unplug": {
      if (state.session === null) {
        return unchanged(
          { ...state, vehiclePluggedIn: false },
          log("info", "Vehicle unplugged (no session in progress)"),
        );
      }
      const ended = endSession(state, "unplugged_by_user", "unplugged_by_user");
      const next = idleStatus(state);
      return {
        state: { ...ended.state, vehiclePluggedIn: false, status: next },
        effects: [...ended.effects, status(next, "Vehicle unplugged")],
      };
    }

    case "fault": {
      const ended = endSession(state, "fault", "fault");
      return {
        state: { ...ended.state, status: "fault", healthy: false },
        effects: [...ended.effects, status("fault", "Hardware fault")],
      };
    }

    case "recover": {
      if (state.session !== null) {
        return {
          state: { ...state, healthy: true },
          effects: [log("info", "Recover during a session: health OK, the session goes on")],
        };
      }
      const next = idleStatus(state);
      return {
        state: { ...state, healthy: true, status: next },
        effects: [status(next, "Recovered")],
      };
    }

    case "cp_info":
      return reconcile(state, command.status, now, settings);

    case "authorization_response":
      return unchanged(
        state,
        log(
          "info",
          `Authorization response: ${command.authorized ? "authorized" : "not authorized"}`,
        ),
      );

    case "ignored":
      return unchanged(state, log("debug", `Ignored ${command.name}`));

    case "monitor_probe":
      return monitorProbe(state, now, settings);

    case "tick":
      return tick(state, now, settings);

    case "shutdown": {
      const ended = endSession(state, "engine_shutdown", "engine_shutdown");
      return {
        state: { ...ended.state, status: "offline", ready: false, open: false },
        effects: [...ended.effects, status("offline", "Engine shutting down")],
      };
    }
  }
}

function chargingStarted(
  state: ChargePointState,
  command: Extract<Command, { type: "charging_started" }>,
  now: number,
  settings: ChargePointSettings,
): Transition {
  const { driver } = command;
  const refuse = (why: string) =>
    unchanged(
      state,
      log("warning", `charging_started for ${driver.username} refused: ${why}`),
      status(state.status, `Refused charging_started: ${why}`, true),
    );

  if (state.session !== null) {
    if (state.session.driver.username === driver.username) {
      return unchanged(
        state,
        log(
          "info",
          `charging_started for ${driver.username} again: already charging, nothing to do`,
        ),
      );
    }
    return refuse(`already charging for ${state.session.driver.username}`);
  }
  if (!state.ready) return refuse("the engine is not ready yet");
  if (state.monitorLost) return refuse("the Monitor stopped probing");
  // Still waiting for a Monitor, idle and healthy: Central has decided the point is available
  // (a Monitor's OK told it so), so the session is taken and the point counts as open.
  const waitingToOpen = !state.open && state.status === "offline";
  if (state.status !== "available" && !waitingToOpen) {
    return refuse(`the point is ${state.status}`);
  }
  if (!state.healthy) return refuse("the health check is KO");

  const supplying = settings.plugInMode === "auto" || state.vehiclePluggedIn;
  const session: Session = {
    id: command.sessionId,
    driver,
    authorizedAt: now,
    supplying,
    origin: command.origin,
  };
  const effects: Effect[] = [
    { kind: "start_session", session },
    // Forced: Central may have moved the point on by itself since the last status it was sent
    // (a ticket makes it available), so a new session's `charging` always goes out.
    status("charging", `Charging started for ${driver.username}`, true),
  ];
  if (supplying) effects.push({ kind: "supply_session", sessionId: session.id });
  else effects.push(log("info", `Waiting for the vehicle of ${driver.username} to be plugged in`));
  return {
    state: {
      ...state,
      session,
      status: "charging",
      open: true,
    },
    effects,
  };
}

function reconcile(
  state: ChargePointState,
  centralView: string,
  now: number,
  settings: ChargePointSettings,
): Transition {
  const view = centralView.toLowerCase();
  if (view === state.status) return unchanged(state, log("debug", "Central's view agrees"));
  if (!state.monitorWatching || !state.ready) {
    return unchanged(
      state,
      log("debug", `Central sees ${view}; no Monitor probing, not correcting`),
    );
  }
  if (
    state.lastReconciledAt !== null && now - state.lastReconciledAt < settings.reconcileIntervalMs
  ) {
    return unchanged(state, log("debug", `Central sees ${view}; corrected recently, waiting`));
  }
  return {
    state: { ...state, lastReconciledAt: now },
    effects: [
      log("info", `Central sees ${view} but the point is ${state.status}: re-sending the status`),
      status(state.status, "Status re-sent: Central's view differed", true),
    ],
  };
}

function monitorProbe(
  state: ChargePointState,
  now: number,
  settings: ChargePointSettings,
): Transition {
  const atCadence = state.lastProbeAt !== null && now - state.lastProbeAt <= WATCHING_GAP_MS;
  const probeStreak = atCadence ? state.probeStreak + 1 : 1;
  const probed = { ...state, lastProbeAt: now, probeStreak };
  if (state.monitorWatching || probeStreak < WATCHING_STREAK) {
    return openIfDue(probed, now, settings);
  }

  const effects: Effect[] = [];
  let next: ChargePointState = { ...probed, monitorWatching: true };
  if (state.monitorLost) {
    next = { ...next, monitorLost: false };
    if (next.status === "offline" && next.ready && next.open) {
      next = { ...next, status: "available" };
      effects.push(
        log("info", "Monitor probes are back: accepting sessions again"),
        status("available", "Monitor probes resumed"),
      );
    } else {
      effects.push(log("info", "Monitor probes are back"));
    }
  } else {
    effects.push(log("info", "A Monitor is watching (a probe about every second)"));
  }
  const opened = openIfDue(next, now, settings);
  return { state: opened.state, effects: [...effects, ...opened.effects] };
}

/** The periodic checks (once a second): plug-in timeout, opening after start-up, Monitor loss. */
function tick(state: ChargePointState, now: number, settings: ChargePointSettings): Transition {
  const steps = [plugInTimeout, openIfDue, monitorSilence];
  let current = state;
  const effects: Effect[] = [];
  for (const step of steps) {
    const result = step(current, now, settings);
    current = result.state;
    effects.push(...result.effects);
  }
  return { state: current, effects };
}

function plugInTimeout(
  state: ChargePointState,
  now: number,
  settings: ChargePointSettings,
): Transition {
  const session = state.session;
  if (
    session === null || session.supplying || now - session.authorizedAt < settings.plugInTimeoutMs
  ) {
    return unchanged(state);
  }
  const ended = endSession(state, "plug_in_timeout", "plug_in_timeout");
  const next = idleStatus(state);
  return {
    state: { ...ended.state, status: next },
    effects: [
      log("warning", `No vehicle plugged in within ${settings.plugInTimeoutMs / 1000} s`),
      ...ended.effects,
      status(next, "Plug-in timeout"),
    ],
  };
}

/**
 * Monitor loss (protocol.md 5): only a watching Monitor counts, and its silence is counted from
 * the later of its last probe and the session's start. During a session the engine closes the
 * session itself with `charging_completed` (`monitor_lost`) and goes `offline`: Central's own
 * Monitor-timeout checker closes sessions only of points not yet offline, so the ticket must
 * come from the engine. While idle, a silent Monitor simply stops counting as watching.
 */
function monitorSilence(
  state: ChargePointState,
  now: number,
  settings: ChargePointSettings,
): Transition {
  if (!state.monitorWatching) return unchanged(state);
  const since = Math.max(state.lastProbeAt ?? 0, state.session?.authorizedAt ?? 0);
  const silentFor = now - since;
  if (silentFor < settings.monitorTimeoutMs) return unchanged(state);
  const silent = { ...state, monitorWatching: false, probeStreak: 0 };
  if (state.session === null) {
    return unchanged(
      silent,
      log("info", `The Monitor stopped probing ${Math.round(silentFor / 1000)} s ago`),
    );
  }
  const ended = endSession({ ...silent, monitorLost: true }, "monitor_lost", "monitor_lost");
  return {
    state: { ...ended.state, status: "offline" },
    effects: [
      log(
        "warning",
        `Monitor silent for ${Math.round(silentFor / 1000)} s: stopping the supply, ` +
          "refusing sessions until it returns",
      ),
      ...ended.effects,
      status("offline", "Monitor lost"),
    ],
  };
}
