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
  | "plug_in_timeout";

/** Why a session ended without a `charging_completed` (Central already closed it). */
export type SilentEndReason = "charging_stopped" | "error_simulated" | "monitor_lost";

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
  /** False until the engine has registered and opened its health port (start-up step 4). */
  readonly ready: boolean;
  /** Epoch ms of the last Monitor probe, or null if no Monitor ever probed. */
  readonly lastProbeAt: number | null;
  /** True while a Monitor that probed before has been silent for longer than the timeout. */
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
}

/** Default settings, as the wire contract gives them. */
export const DEFAULT_SETTINGS: ChargePointSettings = {
  plugInMode: "auto",
  plugInTimeoutMs: 60_000,
  monitorTimeoutMs: 5_000,
  reconcileIntervalMs: 10_000,
};

/** The state of a charging point that has just started: offline, healthy, idle. */
export function initialState(): ChargePointState {
  return {
    status: "offline",
    healthy: true,
    session: null,
    vehiclePluggedIn: false,
    ready: false,
    lastProbeAt: null,
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
 * engine is not (or no longer) ready to take sessions.
 */
function idleStatus(state: ChargePointState): Status {
  return state.monitorLost || !state.ready ? "offline" : "available";
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
      const next: Status = state.status === "offline" ? "available" : state.status;
      return {
        state: { ...state, ready: true, status: next },
        effects: [status(next, "Engine ready")],
      };
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

    case "monitor_probe": {
      const probed = { ...state, lastProbeAt: now };
      if (!state.monitorLost) return unchanged(probed);
      const back = { ...probed, monitorLost: false };
      if (state.status !== "offline" || !state.ready) {
        return unchanged(back, log("info", "Monitor probes are back"));
      }
      return {
        state: { ...back, status: "available" },
        effects: [
          log("info", "Monitor probes are back: accepting sessions again"),
          status("available", "Monitor probes resumed"),
        ],
      };
    }

    case "tick":
      return tick(state, now, settings);

    case "shutdown": {
      const ended = endSession(state, "engine_shutdown", "engine_shutdown");
      return {
        state: { ...ended.state, status: "offline", ready: false },
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
  if (state.status !== "available") return refuse(`the point is ${state.status}`);
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
    status("charging", `Charging started for ${driver.username}`),
  ];
  if (supplying) effects.push({ kind: "supply_session", sessionId: session.id });
  else effects.push(log("info", `Waiting for the vehicle of ${driver.username} to be plugged in`));
  return {
    state: {
      ...state,
      session,
      status: "charging",
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
  const monitorProbing = state.lastProbeAt !== null && !state.monitorLost;
  if (!monitorProbing || !state.ready) {
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

function tick(state: ChargePointState, now: number, settings: ChargePointSettings): Transition {
  const session = state.session;
  if (
    session !== null && !session.supplying && now - session.authorizedAt >= settings.plugInTimeoutMs
  ) {
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

  // Monitor loss (protocol.md 5) is judged during a session only: an idle point probed once
  // by hand must not go offline when the probing stops.
  const silentFor = state.lastProbeAt === null ? 0 : now - state.lastProbeAt;
  if (
    state.session === null || state.monitorLost || state.lastProbeAt === null ||
    silentFor < settings.monitorTimeoutMs
  ) {
    return unchanged(state);
  }
  const ended = endSession({ ...state, monitorLost: true }, null, "monitor_lost");
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
