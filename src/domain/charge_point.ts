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

/**
 * Why a session ended without a `charging_completed` (Central already closed it): its own
 * command, or its `CHARGING_TICKET` for the session (it closed the session by itself).
 */
export type SilentEndReason = "charging_stopped" | "error_simulated" | "ticket_issued";

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
  /**
   * When Central authorized it, by Central's clock (the `timestamp` of its `charging_started`),
   * or null (the keypad, or a command without one). A `CHARGING_TICKET` stamped before it is
   * about an older session.
   */
  readonly requestedAt: number | null;
  /**
   * The `message_id` of the `charging_started` that began it, or null. Journaled with the
   * session, so that after a crash the same command, delivered again, is known as applied.
   */
  readonly commandId: string | null;
  /** Whether energy flows (false while waiting for the vehicle in manual plug-in mode). */
  readonly supplying: boolean;
  /** Where the session came from: Central's `charging_started` or the point's own keypad. */
  readonly origin: "central" | "local";
}

/** A status of a point with no session. */
export type IdleStatus = Exclude<Status, "charging">;

/** Where a point is in its life, apart from what it does. */
export type Startup =
  /** Registering: commands do not flow yet (start-up steps 1-3). */
  | { readonly phase: "starting" }
  /** Commands flow; until a probe comes (or `monitorWaitMs` passes) the idle point says offline. */
  | { readonly phase: "waiting"; readonly readyAt: number }
  /** Announced to Central: an idle, healthy point is available. */
  | { readonly phase: "open" }
  /** Shutting down: sessions are over and the point says offline. */
  | { readonly phase: "stopped" };

/**
 * What the engine knows of the Monitor, from the probes on its health port. Only a watching
 * Monitor counts for Monitor loss (protocol.md 5).
 */
export type MonitorWatch =
  /** No probe ever came. */
  | { readonly kind: "unseen" }
  /**
   * Probes came, but not (or no longer) at a Monitor's cadence: a person's probe, a container
   * health check every 10-30 s, or a Monitor that has just started. `streak` counts the last
   * probes in a row each at most {@linkcode WATCHING_GAP_MS} after the one before.
   */
  | { readonly kind: "probed"; readonly lastProbeAt: number; readonly streak: number }
  /** A Monitor probes at its cadence (about every second): its silence counts. */
  | { readonly kind: "watching"; readonly lastProbeAt: number }
  /**
   * A watching Monitor fell silent during a session: the point is offline and refuses sessions
   * until a Monitor watches again (`streak` as for `probed`).
   */
  | { readonly kind: "lost"; readonly lastProbeAt: number; readonly streak: number };

/**
 * Whether Central is there, as the point knows it: unknown until first seen (a lab may have no
 * Central at all), present, or away since a moment (epoch ms).
 */
export type CentralView =
  | { readonly kind: "unknown" }
  | { readonly kind: "present" }
  | { readonly kind: "away"; readonly since: number };

/** What a point knows besides its status and session. */
interface PointConditions {
  /** The hardware health flag; the health port answers KO when false or when in `fault`. */
  readonly healthy: boolean;
  readonly vehiclePluggedIn: boolean;
  readonly startup: Startup;
  readonly monitor: MonitorWatch;
  /** While Central is away, a running session goes on and no new one starts. */
  readonly central: CentralView;
  /** Epoch ms of the last status re-sent to correct Central's view (CP_INFO), or null. */
  readonly lastReconciledAt: number | null;
}

/**
 * Everything the state machine knows about one charging point. The status says what the point
 * does, and only a charging point has a session: a point charging without a session, or idle
 * with one, cannot be written down.
 */
export type ChargePointState =
  | (PointConditions & { readonly status: "charging"; readonly session: Session })
  | (PointConditions & { readonly status: IdleStatus; readonly session: null });

/** Settings the state machine needs. */
export interface ChargePointSettings {
  readonly plugInMode: PlugInMode;
  /** Milliseconds a manual-mode session waits for the vehicle. */
  readonly plugInTimeoutMs: number;
  /** Milliseconds without a probe after which a watching Monitor counts as lost. */
  readonly monitorTimeoutMs: number;
  /** Minimum milliseconds between two status corrections caused by `CP_INFO`. */
  readonly reconcileIntervalMs: number;
  /**
   * Once ready, how long the point waits for a watching Monitor before it says `available`
   * without one (0: at once). The Python Monitor waits 15 s before its first probe.
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
    session: null,
    healthy: true,
    vehiclePluggedIn: false,
    startup: { phase: "starting" },
    monitor: { kind: "unseen" },
    central: { kind: "unknown" },
    lastReconciledAt: null,
  };
}

/** Whether commands flow and the point is not shutting down (start-up step 4 reached). */
export function isReady(state: ChargePointState): boolean {
  return state.startup.phase === "waiting" || state.startup.phase === "open";
}

/** Epoch ms of the last probe on the health port, or null if none came. */
export function lastProbeAt(state: ChargePointState): number | null {
  return state.monitor.kind === "unseen" ? null : state.monitor.lastProbeAt;
}

/** The same point, idle with `status` (any session it had is gone). */
function idleAs(state: ChargePointState, status: IdleStatus): ChargePointState {
  return { ...state, status, session: null };
}

/** The same point, charging `session`. */
function chargingWith(state: ChargePointState, session: Session): ChargePointState {
  return { ...state, status: "charging", session };
}

/** A command, from Central (Kafka), the operator console, or the engine itself. */
export type Command =
  | { readonly type: "ready" }
  | {
    readonly type: "charging_started";
    readonly driver: Driver;
    readonly origin: "central" | "local";
    readonly sessionId: string;
    /** Central's `timestamp` of the command (epoch ms), when it has one. */
    readonly requestedAt?: number;
    /** The command's `message_id`, when it has one. */
    readonly commandId?: string;
  }
  | { readonly type: "charging_stopped" }
  /**
   * Central's `CHARGING_TICKET`: it closed `username`'s session on this point (billed) at
   * `issuedAt` (its `timestamp`, epoch ms; null without one), for `reason`.
   */
  | {
    readonly type: "ticket_issued";
    readonly username: string;
    readonly reason: string;
    readonly issuedAt: number | null;
  }
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
  /** Central came or went (the process's watch of its consumer groups). */
  | { readonly type: "central_presence"; readonly presence: CentralView }
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
  }
  /**
   * Central is back (a restarted Central knows nothing of the point): announce the point again,
   * registration (when no session runs) then the real status, and hand it the tickets it missed.
   */
  | { readonly kind: "rejoin_central"; readonly awaySince: number };

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
 * Ends the active session, if any: the point without it (idle with `then`) plus the effect.
 * `completed` is the `charging_completed` reason, or null when Central already closed it.
 */
function endSession(
  state: ChargePointState,
  then: IdleStatus,
  completed: EndReason | null,
  cause: EndReason | SilentEndReason,
): { state: ChargePointState; effects: Effect[] } {
  const idle = idleAs(state, then);
  if (state.session === null) return { state: idle, effects: [] };
  return {
    state: idle,
    effects: [{ kind: "end_session", session: state.session, completed, cause }],
  };
}

/**
 * Where the point goes when it is free again: available, unless the Monitor is lost or the
 * engine is not (or not yet, or no longer) open for sessions.
 */
function idleStatus(state: ChargePointState): IdleStatus {
  return state.monitor.kind === "lost" || state.startup.phase !== "open" ? "offline" : "available";
}

/**
 * Opens the point after start-up (once ready): `offline -> available` once a Monitor is watching
 * (three probes at its cadence), or once `monitorWaitMs` passed without one. Until then the idle
 * point stays `offline`: the original Monitor starts silent for 15 s, and Central starts timing
 * it out when it connects, closing the session of any point it does not already see offline
 * (EV_Central_WebSocket.py:1089-1180, :1891). So after a restart of engine and Monitor together,
 * the engine must not say `available` before the Monitor speaks. A single probe is not enough:
 * against the real peers, opening at the first probe let a lone early probe announce `available`
 * while Central still counted the point as registering (a flap in one run of four); three probes
 * a second apart put the announcement well past Central's 5 s registration window.
 */
function openIfDue(
  state: ChargePointState,
  now: number,
  settings: ChargePointSettings,
): Transition {
  if (state.startup.phase !== "waiting") return unchanged(state);
  const watched = state.monitor.kind === "watching";
  if (!watched && now - state.startup.readyAt < settings.monitorWaitMs) return unchanged(state);
  const why = watched
    ? "Engine ready, a Monitor is watching"
    : settings.monitorWaitMs === 0
    ? "Engine ready"
    : `Engine ready, no Monitor within ${Math.round(settings.monitorWaitMs / 1000)} s`;
  const opened: ChargePointState = { ...state, startup: { phase: "open" } };
  if (opened.status !== "offline" || opened.monitor.kind === "lost") {
    return unchanged(opened, log("info", why));
  }
  return {
    state: idleAs(opened, "available"),
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
      if (state.startup.phase !== "starting") return unchanged(state);
      const waiting: ChargePointState = { ...state, startup: { phase: "waiting", readyAt: now } };
      const opened = openIfDue(waiting, now, settings);
      if (opened.state.startup.phase === "open") return opened;
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

    case "ticket_issued":
      return ticketIssued(state, command, now);

    case "charging_stopped": {
      if (state.session === null) {
        return unchanged(
          state,
          log("info", "charging_stopped received with no session in progress"),
        );
      }
      const next = idleStatus(state);
      const ended = endSession(state, next, null, "charging_stopped");
      return {
        state: ended.state,
        effects: [...ended.effects, status(next, "Charging stopped by Central")],
      };
    }

    case "error_simulated": {
      const ended = endSession(state, command.newStatus, null, "error_simulated");
      const healthy = command.newStatus === "fault" ? false : state.healthy;
      return {
        state: { ...ended.state, healthy },
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
        state: idleAs({ ...state, healthy: true }, next),
        effects: [status(next, "Error fixed")],
      };
    }

    case "stop": {
      const ended = endSession(state, "out_of_service", "stopped_by_central", "stopped_by_central");
      return {
        state: ended.state,
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
        state: idleAs({ ...state, healthy: true }, next),
        effects: [status(next, command.reason || "Service resumed")],
      };
    }

    case "plug_in": {
      if (state.vehiclePluggedIn) {
        return unchanged(state, log("info", "Plug-in ignored: a vehicle is already plugged in"));
      }
      const plugged: ChargePointState = { ...state, vehiclePluggedIn: true };
      if (state.session !== null && !state.session.supplying) {
        const session = { ...state.session, supplying: true };
        return {
          state: chargingWith(plugged, session),
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
      const next = idleStatus(state);
      const ended = endSession(state, next, "unplugged_by_user", "unplugged_by_user");
      return {
        state: { ...ended.state, vehiclePluggedIn: false },
        effects: [...ended.effects, status(next, "Vehicle unplugged")],
      };
    }

    case "fault": {
      const ended = endSession(state, "fault", "fault", "fault");
      return {
        state: { ...ended.state, healthy: false },
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
        state: idleAs({ ...state, healthy: true }, next),
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

    case "central_presence":
      return centralPresence(state, command.presence);

    case "tick":
      return tick(state, now, settings);

    case "shutdown": {
      const ended = endSession(state, "offline", "engine_shutdown", "engine_shutdown");
      return {
        state: { ...ended.state, startup: { phase: "stopped" } },
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
  if (!isReady(state)) return refuse("the engine is not ready yet");
  if (state.central.kind === "away") return refuse("Central is unreachable");
  if (state.monitor.kind === "lost") return refuse("the Monitor stopped probing");
  // Still waiting for a Monitor, idle and healthy: Central has decided the point is available
  // (a Monitor's OK told it so), so the session is taken and the point counts as open.
  const waitingToOpen = state.startup.phase === "waiting" && state.status === "offline";
  if (state.status !== "available" && !waitingToOpen) {
    return refuse(`the point is ${state.status}`);
  }
  if (!state.healthy) return refuse("the health check is KO");

  const supplying = settings.plugInMode === "auto" || state.vehiclePluggedIn;
  const session: Session = {
    id: command.sessionId,
    driver,
    authorizedAt: now,
    requestedAt: command.requestedAt ?? null,
    commandId: command.commandId ?? null,
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
    state: chargingWith({ ...state, startup: { phase: "open" } }, session),
    effects,
  };
}

/**
 * Central's ticket for a session. Central closes sessions by itself and bills them (its Monitor
 * timeout, a Monitor that disconnected, a restart), and then only tells the driver, with a
 * `CHARGING_TICKET` (EV_Central_WebSocket.py:1089-1180, :1915-1957). If the point still supplies
 * that session it would charge a car nobody pays for, and its later `charging_completed` would
 * find no session at Central. So a ticket for the driver of the current session, issued after
 * Central authorized it, ends the session without a `charging_completed`. A ticket for an older
 * session (stamped before this one's authorization), for another driver, or with no session in
 * progress (the usual case: Central answers the point's own `charging_completed` with one)
 * changes nothing. After a Monitor-related ticket Central holds the point offline until the
 * Monitor's next OK, so the point waits for a watching Monitor too.
 */
function ticketIssued(
  state: ChargePointState,
  command: Extract<Command, { type: "ticket_issued" }>,
  now: number,
): Transition {
  const session = state.session;
  if (session === null || session.driver.username !== command.username) {
    return unchanged(state);
  }
  const authorized = session.requestedAt ?? session.authorizedAt;
  if (command.issuedAt !== null && command.issuedAt < authorized) {
    return unchanged(
      state,
      log("debug", `Ticket for ${command.username} is about an earlier session: kept charging`),
    );
  }
  const monitorGone = command.reason.startsWith("monitor");
  const next: ChargePointState = monitorGone
    ? { ...state, monitor: { kind: "lost", lastProbeAt: lastProbeAt(state) ?? now, streak: 0 } }
    : state;
  const then = idleStatus(next);
  const ended = endSession(next, then, null, "ticket_issued");
  const why = command.reason === "" ? "" : ` (${command.reason})`;
  return {
    state: ended.state,
    effects: [
      log(
        "warning",
        `Central closed the session of ${command.username}${why}: stopping the supply`,
      ),
      ...ended.effects,
      status(then, `Central closed the session${why}`, true),
    ],
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
  if (state.monitor.kind !== "watching" || !isReady(state)) {
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

/**
 * Central came or went. Away: a running session goes on to its end, new ones are refused, and
 * the health answer stays what the hardware is. Back: the point is announced again (see the
 * `rejoin_central` effect). The log lines are the process's, said once for all its points.
 */
function centralPresence(state: ChargePointState, presence: CentralView): Transition {
  const before = state.central;
  if (before.kind === presence.kind) return unchanged(state);
  const next: ChargePointState = { ...state, central: presence };
  if (presence.kind === "away") {
    return unchanged(next, log("debug", "Central is unreachable: new sessions are refused"));
  }
  if (presence.kind === "present" && before.kind === "away") {
    return {
      state: next,
      effects: [
        log("debug", "Central is back: announcing the point again"),
        { kind: "rejoin_central", awaySince: before.since },
      ],
    };
  }
  return unchanged(next);
}

/**
 * A probe on the health port: three in a row at a Monitor's cadence make a watching Monitor,
 * which opens a point waiting for its Monitor and ends a Monitor loss.
 */
function monitorProbe(
  state: ChargePointState,
  now: number,
  settings: ChargePointSettings,
): Transition {
  const monitor = state.monitor;
  if (monitor.kind === "watching") {
    return unchanged({ ...state, monitor: { kind: "watching", lastProbeAt: now } });
  }
  const atCadence = monitor.kind !== "unseen" && now - monitor.lastProbeAt <= WATCHING_GAP_MS;
  const streak = atCadence ? monitor.streak + 1 : 1;
  if (streak < WATCHING_STREAK) {
    const probed: ChargePointState = {
      ...state,
      monitor: monitor.kind === "lost"
        ? { kind: "lost", lastProbeAt: now, streak }
        : { kind: "probed", lastProbeAt: now, streak },
    };
    return openIfDue(probed, now, settings);
  }

  const watched: ChargePointState = { ...state, monitor: { kind: "watching", lastProbeAt: now } };
  const effects: Effect[] = [];
  let next = watched;
  if (monitor.kind === "lost") {
    if (watched.status === "offline" && watched.startup.phase === "open") {
      next = idleAs(watched, "available");
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
  const next = idleStatus(state);
  const ended = endSession(state, next, "plug_in_timeout", "plug_in_timeout");
  return {
    state: ended.state,
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
  const monitor = state.monitor;
  if (monitor.kind !== "watching") return unchanged(state);
  const since = Math.max(monitor.lastProbeAt, state.session?.authorizedAt ?? 0);
  const silentFor = now - since;
  if (silentFor < settings.monitorTimeoutMs) return unchanged(state);
  if (state.session === null) {
    return unchanged(
      { ...state, monitor: { kind: "probed", lastProbeAt: monitor.lastProbeAt, streak: 0 } },
      log("info", `The Monitor stopped probing ${Math.round(silentFor / 1000)} s ago`),
    );
  }
  const lost: ChargePointState = {
    ...state,
    monitor: { kind: "lost", lastProbeAt: monitor.lastProbeAt, streak: 0 },
  };
  const ended = endSession(lost, "offline", "monitor_lost", "monitor_lost");
  return {
    state: ended.state,
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
