/**
 * The scenarios of the issue, each played against the real peers with one engine. A scenario
 * drives the peers (Central's and the Driver's dashboards, kills and restarts, CP control
 * messages, health probes), gathers what happened (Central's database, the Kafka traffic, the
 * peers' logs) and hands it to its judge in `verdicts.ts`.
 *
 * Waits are for conditions with deadlines, except where the scenario is about time (progress at
 * 5 s and 13 s, a restart 20+ s after a command, a 30 s session, 20 s of survival).
 *
 * @module
 */
import { formatT, pollUntil, type RunSeconds, sleep } from "./clock.ts";
import { eventName, isEvent } from "./kafka_tap.ts";
import { probeOnce } from "./health_probe.ts";
import {
  AVAILABLE_DEADLINE_S,
  bringUp,
  energyOf,
  engineEvents,
  progressOf,
  requestCharging,
  type Scenario,
  type ScenarioOutput,
  sessionClosedAt,
  sessionFact,
  sessionOf,
  sleepUntil,
  statusesFrom,
  ticketsFor,
  waitForStatus,
} from "./scenario_kit.ts";
import { cpIndex, type PeerStack, PORTS } from "./stack.ts";
import {
  cadence,
  judgeCentralRestart,
  judgeCrash,
  judgeDriverSession,
  judgeFaultRecover,
  judgeHealthcheck,
  judgeMonitorKilled,
  judgeRegister,
  judgeStaleAuth,
  judgeStopResume,
  judgeTogether,
  type TogetherOutcome,
  valueAt,
} from "./verdicts.ts";

const CP = "CP_001";
const USER = "driver1";

/** A FAIL for a point that never showed available, which every later step needs. */
function notAvailable(stack: PeerStack, cpId: string, since: RunSeconds): ScenarioOutput {
  return {
    verdict: "FAIL",
    summary: `${cpId} not available in Central within ${AVAILABLE_DEADLINE_S} s ` +
      `(${stack.db.status(cpId)})`,
    facts: [`statuses of ${cpId} in Central: ${statusesFrom(stack, cpId, since).join(" > ")}`],
    focusFrom: since,
  };
}

/** Brings one point up with its Monitor; null when it showed available, else the FAIL. */
async function upOrFail(stack: PeerStack): Promise<ScenarioOutput | null> {
  const up = await bringUp(stack, [CP]);
  const started = up.engineStartedAt.get(CP)!;
  return up.availableAt.get(CP) === null ? notAvailable(stack, CP, started) : null;
}

/** A FAIL for a session that Central did not authorise. */
function notAuthorized(stack: PeerStack, answer: string, since: RunSeconds): ScenarioOutput {
  return {
    verdict: "FAIL",
    summary: `session not started: Driver got ${answer}`,
    facts: [`statuses of ${CP} in Central: ${statusesFrom(stack, CP, since).join(" > ")}`],
    focusFrom: since,
  };
}

const register: Scenario = {
  name: "register",
  title: "two points register and show available in Central",
  run: async (stack) => {
    const cps = ["CP_001", "CP_002"];
    const up = await bringUp(stack, cps);
    const last = Math.max(...cps.map((cpId) => {
      const started = up.engineStartedAt.get(cpId)!;
      return stack.db.firstTimeIn(cpId, "available", started) ?? started;
    }));
    await sleepUntil(stack, last + 5);
    stack.db.poll();
    const facts: string[] = [];
    const points = cps.map((cpId) => {
      const started = up.engineStartedAt.get(cpId)!;
      const availableAt = stack.db.firstTimeIn(cpId, "available", started);
      const registration = engineEvents(stack, cpId, "CP_REGISTRATION", started)[0];
      const healthOk = stack.tap.select(
        "monitor-events",
        (v) => isEvent(v, "ENGINE_HEALTH_OK") && v["cp_id"] === cpId,
        started,
      )[0];
      const heartbeat = stack.tap.select(
        "monitor-events",
        (v) => isEvent(v, "MONITOR_HEARTBEAT") && v["cp_id"] === cpId,
        started,
      )[0];
      const statuses = engineEvents(stack, cpId, "cp_status_change", started)
        .map((e) => `${e.value["status"]}@${formatT(e.t)}`);
      facts.push(
        `${cpId}: engine started ${formatT(started)}, CP_REGISTRATION ${
          registration ? formatT(registration.t) : "never"
        }, its status changes [${statuses.join(", ")}], Monitor ENGINE_HEALTH_OK ${
          healthOk ? formatT(healthOk.t) : "never"
        }, first heartbeat ${heartbeat ? formatT(heartbeat.t) : "never"}, available in Central ${
          availableAt === null ? "never" : formatT(availableAt)
        }; Central's statuses ${statusesFrom(stack, cpId, started).join(" > ")}`,
      );
      return {
        cpId,
        availableAfter: availableAt === null ? null : availableAt - started,
        later: availableAt === null ? [] : stack.db.statusChanges
          .filter((c) => c.cpId === cpId && c.t > availableAt)
          .map((c) => ({ status: c.to, after: c.t - started })),
        finalStatus: stack.db.status(cpId),
      };
    });
    const focusFrom = Math.min(...[...up.engineStartedAt.values()]) - 1;
    return { ...judgeRegister(points, AVAILABLE_DEADLINE_S), facts, focusFrom };
  },
};

const driverSession: Scenario = {
  name: "driver-session",
  title: "a Driver session: progress every second, stop from the Driver, ticket",
  run: async (stack) => {
    const failed = await upOrFail(stack);
    if (failed) return failed;
    const start = await requestCharging(stack, USER, CP);
    if (!start.authorized) return notAuthorized(stack, start.answer, start.requestedAt - 1);
    const s0 = start.commandAt;
    await sleepUntil(stack, s0 + 14);
    const driver = await stack.driver(USER);
    const stopAt = stack.mark(`driver ${USER}: stop_charging`);
    driver.send({ type: "stop_charging", username: USER });
    const ticketShown = await driver.waitFor(
      (d) => d["type"] === "charging_ticket",
      10_000,
      stopAt,
    );
    await pollUntil(() => {
      const session = sessionOf(stack, USER, CP, s0);
      return session !== null && session.state !== "active" ? true : undefined;
    }, 10_000);
    await waitForStatus(stack, CP, "available", stopAt, { timeoutS: 10 });
    await sleepUntil(stack, stopAt + 6);

    const progress = progressOf(stack, CP, s0, stopAt, USER);
    const samples = progress.map((e) => ({ t: e.t - s0, value: energyOf(e) ?? 0 }));
    const session = sessionOf(stack, USER, CP, s0);
    const centralTimes = session === null ? [] : stack.db.sessionChanges
      .filter((c, i, all) =>
        c.session.id === session.id && c.session.state === "active" &&
        c.session.energyKwh !==
          all.slice(0, i).findLast((p) => p.session.id === session.id)?.session.energyKwh
      )
      .filter((c) => c.session.energyKwh > 0)
      .map((c) => c.t);
    const driverTimes = stack.latest("driver")!
      .find(new RegExp(`Actualización de CP_E: ${USER} `), s0)
      .filter((line) => line.t <= stopAt)
      .map((line) => line.t);
    const ticket = ticketsFor(stack, USER, stopAt)[0];
    const engineCadence = cadence(progress.map((e) => e.sentT ?? e.t));
    const observation = {
      authorized: true,
      engineProgress: engineCadence,
      firstProgressAfter: progress[0] ? progress[0].t - s0 : null,
      kwhAt5: valueAt(samples, 5),
      kwhAt13: valueAt(samples, 13),
      centralUpdates: cadence(centralTimes),
      driverUpdates: cadence(driverTimes),
      ticket: ticket && ticketShown
        ? {
          energyKwh: energyOf(ticket) ?? 0,
          cost: Number(ticket.value["cost"] ?? 0),
          reason: String(ticket.value["reason"]),
          after: ticketShown.t - stopAt,
        }
        : null,
      sessionState: session?.state ?? null,
      finalStatus: stack.db.status(CP),
      progressAfterStop: progressOf(stack, CP, stopAt + 2).length,
    };
    const facts = [
      `start command ${formatT(s0)} (Driver asked ${formatT(start.requestedAt)}), stop ${
        formatT(stopAt)
      }`,
      `engine charging_progress: ${engineCadence.count} messages, median interval ${
        engineCadence.medianInterval.toFixed(2)
      } s, max gap ${engineCadence.maxGap.toFixed(2)} s, first ${
        observation.firstProgressAfter?.toFixed(1) ?? "-"
      } s after the command`,
      `energy reported: ${observation.kwhAt5 ?? "-"} kWh at 5 s, ${
        observation.kwhAt13 ?? "-"
      } kWh at 13 s (power ${progress[0]?.value["power_kw"] ?? "-"} kW)`,
      `Central's energia_kwh updated ${observation.centralUpdates.count}x, median ${
        observation.centralUpdates.medianInterval.toFixed(2)
      } s; Driver logged ${observation.driverUpdates.count} updates, median ${
        observation.driverUpdates.medianInterval.toFixed(2)
      } s`,
      `ticket (Central): ${
        ticket
          ? `${energyOf(ticket)} kWh, ${ticket.value["cost"]} EUR, ${
            ticket.value["duration_sec"]
          } s, reason ${ticket.value["reason"]} at ${formatT(ticket.t)}`
          : "none"
      }; shown by the Driver ${ticketShown ? formatT(ticketShown.t) : "never"}`,
      `progress after the stop: ${
        progressOf(stack, CP, stopAt).map((e) => formatT(e.t)).join(", ") ||
        "none"
      }`,
      sessionFact(stack, session),
      `${CP} in Central at the end: ${observation.finalStatus}`,
    ];
    return { ...judgeDriverSession(observation), facts, focusFrom: start.requestedAt - 0.5 };
  },
};

/** Seconds between the fault click and the fix click of each pair ("1-1.5 s apart"). */
const CLICK_GAPS = [1.0, 1.25, 1.5, 1.1, 1.4];
/** A pair is settled 10 s after its fix click, once the status has not changed for 3 s. */
const SETTLE_S = 10;

const faultRecover: Scenario = {
  name: "fault-recover",
  title: "5 simulate_error/fix_error pairs clicked 1-1.5 s apart on Central's dashboard",
  run: async (stack) => {
    const failed = await upOrFail(stack);
    if (failed) return failed;
    const central = await stack.centralWs();
    const facts: string[] = [];
    const pairs = [];
    let focusFrom = Infinity;
    for (const [index, gap] of CLICK_GAPS.entries()) {
      const faultAt = stack.mark(
        `central dashboard: simulate_error ${CP} fault (pair ${index + 1})`,
      );
      focusFrom = Math.min(focusFrom, faultAt - 0.5);
      central.send({ type: "simulate_error", cp_id: CP, error_type: "fault" });
      await sleep(gap * 1000);
      const fixAt = stack.mark(`central dashboard: fix_error ${CP} (pair ${index + 1})`);
      central.send({ type: "fix_error", cp_id: CP });
      await sleepUntil(stack, fixAt + SETTLE_S);
      await pollUntil(
        () => {
          stack.db.poll();
          const lastChange = stack.db.statusChanges.findLast((c) => c.cpId === CP)?.t ?? 0;
          return stack.clock.now() - lastChange >= 3 ? true : undefined;
        },
        10_000,
        200,
      );
      const settledAt = stack.clock.now();
      const statuses = statusesFrom(stack, CP, faultAt);
      const settledStatus = stack.db.status(CP);
      const sent = engineEvents(stack, CP, "cp_status_change", faultAt)
        .filter((e) => e.t <= settledAt)
        .map((e) => `${e.value["status"]}@+${(e.t - faultAt).toFixed(1)}`);
      const kos = stack.latest("monitor", CP)!.find(/Health check KO/, faultAt)
        .filter((l) => l.t <= settledAt).length;
      const droppedByCentral = stack.latest("central")!
        .find(/cp_status_change para CP \S+ procesado hace .* ignorando duplicado/, faultAt)
        .filter((l) => l.t <= settledAt).length;
      facts.push(
        `pair ${index + 1}: fault ${formatT(faultAt)}, fix +${(fixAt - faultAt).toFixed(2)} s; ` +
          `Central ${statuses.join(" > ")}; engine sent [${sent.join(", ")}]; ` +
          `Central dropped ${droppedByCentral} as duplicate; Monitor KO x${kos}; ` +
          `settled ${settledStatus} at +${(settledAt - fixAt).toFixed(1)} s`,
      );
      pairs.push({ statuses, settledStatus });
    }
    return { ...judgeFaultRecover(pairs), facts, focusFrom };
  },
};

const monitorKilled: Scenario = {
  name: "monitor-killed",
  title: "Monitor killed (kill -9) mid-session: Central closes the session with a ticket",
  run: async (stack) => {
    const failed = await upOrFail(stack);
    if (failed) return failed;
    const start = await requestCharging(stack, USER, CP);
    if (!start.authorized) return notAuthorized(stack, start.answer, start.requestedAt - 1);
    await sleepUntil(stack, start.commandAt + 5);
    const killAt = await stack.kill("monitor", CP, "SIGKILL");
    const session = sessionOf(stack, USER, CP, start.commandAt);
    await pollUntil(() => {
      stack.db.poll();
      const closed = session !== null && sessionClosedAt(stack, session.id, killAt) !== null;
      return closed && ticketsFor(stack, USER, killAt).length > 0 ? true : undefined;
    }, 20_000);
    await sleepUntil(stack, killAt + 20);
    const closedAt = session === null ? null : sessionClosedAt(stack, session.id, killAt);
    const ticket = ticketsFor(stack, USER, killAt)[0];
    const completed = engineEvents(stack, CP, "charging_completed", killAt)[0];
    const observation = {
      sessionStarted: session !== null,
      closedAfter: closedAt === null ? null : closedAt - killAt,
      closedState: closedAt === null
        ? null
        : stack.db.sessionAt(session!.id, closedAt)?.state ?? null,
      ticketAfter: ticket ? ticket.t - killAt : null,
      ticketReason: ticket ? String(ticket.value["reason"]) : null,
      ticketEnergy: energyOf(ticket),
      finalStatus: stack.db.status(CP),
      engineStatus: String(
        engineEvents(stack, CP, "cp_status_change", start.requestedAt).at(-1)?.value["status"] ??
          "charging",
      ),
      progressAfter15: progressOf(stack, CP, killAt + 15).length,
    };
    const facts = [
      `Monitor killed ${formatT(killAt)} (session started ${formatT(start.commandAt)})`,
      `last Monitor heartbeat ${
        formatT(
          stack.tap.select("monitor-events", (v) => isEvent(v, "MONITOR_HEARTBEAT"))
            .findLast((e) => e.t <= killAt + 1)?.t ?? NaN,
        )
      }`,
      `Central's session: ${
        closedAt === null
          ? "still active"
          : `closed ${formatT(closedAt)} (+${(closedAt - killAt).toFixed(1)} s)`
      }; ticket ${
        ticket
          ? `${ticket.value["reason"]} ${energyOf(ticket)} kWh at ${formatT(ticket.t)}`
          : "none"
      }`,
      `engine after the kill: charging_completed ${
        completed
          ? `${completed.value["reason"]} ${energyOf(completed)} kWh at ${formatT(completed.t)}`
          : "none"
      }; status changes [${
        engineEvents(stack, CP, "cp_status_change", killAt)
          .map((e) => `${e.value["status"]}@${formatT(e.t)}`).join(", ")
      }]; progress messages 15-20 s after the kill: ${observation.progressAfter15}`,
      `Central's statuses from the kill: ${statusesFrom(stack, CP, killAt).join(" > ")}`,
      sessionFact(stack, sessionOf(stack, USER, CP, start.commandAt)),
    ];
    return { ...judgeMonitorKilled(observation), facts, focusFrom: killAt - 2 };
  },
};

const restartStaleAuth: Scenario = {
  name: "restart-stale-auth",
  title: "engine killed while idle, Driver authorised meanwhile, engine restarted 20+ s later",
  run: async (stack) => {
    const failed = await upOrFail(stack);
    if (failed) return failed;
    const killAt = await stack.kill("engine", CP, "SIGKILL");
    const statusAtRequest = stack.db.status(CP);
    const start = await requestCharging(stack, USER, CP);
    const s0 = start.commandAt;
    const session = sessionOf(stack, USER, CP, start.requestedAt);
    const driverProcess = stack.latest("driver")!;
    const timeout = await driverProcess.waitForLine(/CHARGING_TIMEOUT enviado/, 25_000, s0);
    await pollUntil(() => {
      stack.db.poll();
      return session === null || sessionClosedAt(stack, session.id, s0) !== null ? true : undefined;
    }, 10_000);
    await sleepUntil(stack, s0 + 21);
    const restartAt = stack.mark(
      `restart engine ${CP} (${(stack.clock.now() - s0).toFixed(1)} s after the command)`,
    );
    await stack.startEngine(CP);
    await sleepUntil(stack, restartAt + 25);
    stack.db.poll();
    const closedAt = session === null ? null : sessionClosedAt(stack, session.id, s0);
    const phantomProgress = progressOf(stack, CP, restartAt).length;
    const phantomCharging = engineEvents(stack, CP, "cp_status_change", restartAt)
      .filter((e) => e.value["status"] === "charging").length;
    const activeAfter = stack.db.sessionChanges.some((c) =>
      c.t >= restartAt && c.session.cpId === CP && c.session.state === "active"
    );
    const engineLog = stack.latest("engine", CP)!;
    const skipped = engineLog.find(/charging_started/, restartAt).slice(0, 3).map((l) =>
      l.text.trim()
    );
    const observation = {
      statusAtRequest,
      authorized: start.authorized,
      driverTimeoutAfter: timeout ? timeout.t - s0 : null,
      centralClosedAfter: closedAt === null ? null : closedAt - s0,
      restartAfter: restartAt - s0,
      phantomProgress,
      phantomCharging,
      activeSessionAfterRestart: activeAfter,
      finalStatus: stack.db.status(CP),
    };
    const facts = [
      `engine killed ${formatT(killAt)}; Central showed ${statusAtRequest} when the Driver asked ${
        formatT(start.requestedAt)
      }; Driver got ${start.answer}; charging_started command ${formatT(s0)}`,
      `Driver timeout ${
        timeout ? `${formatT(timeout.t)} (+${(timeout.t - s0).toFixed(1)} s)` : "never"
      }`,
      `Central's session: ${
        session === null
          ? "none"
          : closedAt === null
          ? "still active"
          : `${stack.db.sessionAt(session.id, closedAt)?.state} ${formatT(closedAt)} (+${
            (closedAt - s0).toFixed(1)
          } s)`
      }`,
      `engine restarted ${formatT(restartAt)} (+${(restartAt - s0).toFixed(1)} s); its log about ` +
      `charging_started: ${skipped.length > 0 ? skipped.join(" / ") : "nothing"}`,
      `after the restart: ${phantomProgress} progress, ${phantomCharging} charging status, ` +
      `engine status changes [${
        engineEvents(stack, CP, "cp_status_change", restartAt)
          .map((e) => `${e.value["status"]}@${formatT(e.t)}`).join(", ")
      }]`,
      `Central's statuses from the kill: ${statusesFrom(stack, CP, killAt).join(" > ")}`,
      sessionFact(stack, session === null ? null : sessionOf(stack, USER, CP, start.requestedAt)),
    ];
    return { ...judgeStaleAuth(observation), facts, focusFrom: killAt - 1 };
  },
};

const crashMidSession: Scenario = {
  name: "crash-mid-session",
  title: "engine killed (kill -9) mid-session and restarted",
  run: async (stack) => {
    const failed = await upOrFail(stack);
    if (failed) return failed;
    const start = await requestCharging(stack, USER, CP);
    if (!start.authorized) return notAuthorized(stack, start.answer, start.requestedAt - 1);
    await sleepUntil(stack, start.commandAt + 8);
    const killAt = await stack.kill("engine", CP, "SIGKILL");
    const lastProgress = progressOf(stack, CP, start.commandAt, killAt).at(-1);
    await sleep(1_000);
    const restartAt = stack.mark(`restart engine ${CP}`);
    await stack.startEngine(CP);
    await sleepUntil(stack, restartAt + 25);
    const session = sessionOf(stack, USER, CP, start.commandAt);
    const ticket = ticketsFor(stack, USER, killAt)[0];
    const completed = engineEvents(stack, CP, "charging_completed", restartAt)[0];
    const observation = {
      sessionStarted: session !== null,
      completed: completed
        ? { reason: String(completed.value["reason"]), energyKwh: energyOf(completed) ?? 0 }
        : null,
      lastProgressKwh: energyOf(lastProgress),
      ticket: ticket
        ? {
          reason: String(ticket.value["reason"]),
          energyKwh: energyOf(ticket) ?? 0,
          after: ticket.t - restartAt,
        }
        : null,
      sessionState: session?.state ?? null,
      finalStatus: stack.db.status(CP),
      requireRecovered: stack.options.engine === "ours",
    };
    const facts = [
      `session started ${formatT(start.commandAt)}; engine killed ${
        formatT(killAt)
      }, last progress ${energyOf(lastProgress) ?? "-"} kWh; restarted ${formatT(restartAt)}`,
      `engine after the restart: [${
        stack.tap.select("cp-events", (v) => v["cp_id"] === CP, restartAt)
          .filter((e) => !isEvent(e.value, "charging_progress"))
          .map((e) =>
            `${e.value["event_type"]}${e.value["status"] ? ` ${e.value["status"]}` : ""}${
              e.value["reason"] ? ` ${e.value["reason"]}` : ""
            }${e.value["energy_kwh"] !== undefined ? ` ${e.value["energy_kwh"]} kWh` : ""}@${
              formatT(e.t)
            }`
          ).join(", ")
      }]; progress after the restart: ${progressOf(stack, CP, restartAt).length}`,
      `ticket: ${
        ticket
          ? `${ticket.value["reason"]} ${energyOf(ticket)} kWh ${ticket.value["cost"]} EUR at ${
            formatT(ticket.t)
          }`
          : "none"
      }`,
      `Central's statuses from the kill: ${statusesFrom(stack, CP, killAt).join(" > ")}`,
      sessionFact(stack, session),
    ];
    return { ...judgeCrash(observation), facts, focusFrom: killAt - 2 };
  },
};

const stopResume: Scenario = {
  name: "stop-resume",
  title: "stop_cp then resume_cp from Central's dashboard during a session",
  run: async (stack) => {
    const failed = await upOrFail(stack);
    if (failed) return failed;
    const start = await requestCharging(stack, USER, CP);
    if (!start.authorized) return notAuthorized(stack, start.answer, start.requestedAt - 1);
    await sleepUntil(stack, start.commandAt + 6);
    const central = await stack.centralWs();
    const stopAt = stack.mark(`central dashboard: stop_cp ${CP}`);
    central.send({ type: "stop_cp", cp_id: CP });
    await sleepUntil(stack, stopAt + 8);
    const resumeAt = stack.mark(`central dashboard: resume_cp ${CP}`);
    central.send({ type: "resume_cp", cp_id: CP });
    await sleepUntil(stack, resumeAt + 12);
    const session = sessionOf(stack, USER, CP, start.commandAt);
    const tickets = ticketsFor(stack, USER, stopAt);
    const observation = {
      sessionStarted: session !== null,
      tickets: tickets.map((t) => ({
        reason: String(t.value["reason"]),
        energyKwh: energyOf(t) ?? 0,
      })),
      statuses: statusesFrom(stack, CP, stopAt),
      sessionState: session?.state ?? null,
      finalStatus: stack.db.status(CP),
      progressAfterStop: progressOf(stack, CP, stopAt + 3).length,
    };
    const facts = [
      `session started ${formatT(start.commandAt)}; stop_cp ${formatT(stopAt)}; resume_cp ${
        formatT(resumeAt)
      }`,
      `engine from the stop: [${
        stack.tap.select("cp-events", (v) => v["cp_id"] === CP, stopAt)
          .filter((e) => !isEvent(e.value, "charging_progress"))
          .map((e) =>
            `${e.value["event_type"]} ${e.value["status"] ?? e.value["reason"] ?? ""}@${
              formatT(e.t)
            }`
          ).join(", ")
      }]; progress after stop+3 s: ${observation.progressAfterStop}`,
      `tickets: ${
        tickets.map((t) => `${t.value["reason"]} ${energyOf(t)} kWh @${formatT(t.t)}`).join(", ") ||
        "none"
      }`,
      `Central's statuses from the stop: ${observation.statuses.join(" > ")}`,
      sessionFact(stack, session),
    ];
    return { ...judgeStopResume(observation), facts, focusFrom: stopAt - 1 };
  },
};

const healthcheckCadence: Scenario = {
  name: "healthcheck-cadence",
  title: "no Monitor, a STATUS? probe every 10 s during a 30 s session",
  run: async (stack) => {
    const up = await bringUp(stack, [CP], { monitors: false });
    const started = up.engineStartedAt.get(CP)!;
    // No Monitor, so no ENGINE_HEALTH_OK: Central keeps the point offline. The dashboard's
    // fix_error is the admin's way to mark it available.
    const registered = await stack.latest("central")!.waitForLine(
      new RegExp(`Auto-reg CP on connect: cp_id=${CP}|${CP} ya registrado`),
      30_000,
      started,
    );
    await sleep(6_000);
    const central = await stack.centralWs();
    const fixAt = stack.mark(`central dashboard: fix_error ${CP} (no Monitor: marks it available)`);
    central.send({ type: "fix_error", cp_id: CP });
    const availableAt = await waitForStatus(stack, CP, "available", fixAt, { timeoutS: 10 });
    if (availableAt === null) return notAvailable(stack, CP, started);
    await sleep(3_000);
    const start = await requestCharging(stack, USER, CP);
    if (!start.authorized) return notAuthorized(stack, start.answer, start.requestedAt - 1);
    const s0 = start.commandAt;
    const port = PORTS.healthBase + cpIndex(CP);
    const answers: string[] = [];
    const probeTimes: string[] = [];
    for (const offset of [1, 11, 21, 31]) {
      await sleepUntil(stack, s0 + offset);
      const at = stack.mark(`probe STATUS? on a new connection to ${port}`);
      const answer = await probeOnce(port);
      stack.mark(`probe answer: ${answer}`);
      answers.push(answer);
      probeTimes.push(`${formatT(at)} ${answer}`);
      if (offset === 21) {
        await sleepUntil(stack, s0 + 30);
        stack.db.poll();
      }
    }
    const sessionAt30 = sessionOf(stack, USER, CP, s0);
    const stateAt30 = sessionAt30 === null
      ? null
      : stack.db.sessionAt(sessionAt30.id, s0 + 30)?.state ?? null;
    const driver = await stack.driver(USER);
    const stopAt = stack.mark(`driver ${USER}: stop_charging`);
    driver.send({ type: "stop_charging", username: USER });
    await stack.tap.waitFor(
      "central-events",
      (v) => isEvent(v, "CHARGING_TICKET") && v["username"] === USER,
      10_000,
      stopAt,
    );
    const progress = progressOf(stack, CP, s0, stopAt);
    const interval = cadence(progress.map((e) => e.sentT ?? e.t)).medianInterval || 1;
    const boundaries = [s0, ...progress.map((e) => e.t), stopAt];
    const maxGap = Math.max(...boundaries.slice(1).map((t, i) => t - boundaries[i]!));
    // The engine ends a session with charging_completed, or (today) just by leaving `charging`.
    const early = stack.tap.select(
      "cp-events",
      (v) =>
        v["cp_id"] === CP && (isEvent(v, "charging_completed") ||
          (isEvent(v, "cp_status_change") && v["status"] !== "charging")),
      s0 + 0.5,
    ).find((e) => e.t < stopAt);
    const observation = {
      sessionStarted: true,
      answers,
      endedEarly: early
        ? `${eventName(early.value)} ${early.value["reason"]}${
          early.value["status"] ? ` (${early.value["status"]})` : ""
        } at +${(early.t - s0).toFixed(1)} s`
        : null,
      maxProgressGap: maxGap,
      progressInterval: interval,
      sessionStateAt30: stateAt30,
    };
    const ticket = ticketsFor(stack, USER, stopAt)[0];
    const facts = [
      `no Monitor; Central registered ${CP} ${
        registered ? formatT(registered.t) : "(no log line)"
      } and kept it ${stack.db.statusAt(CP, fixAt - 0.1)}; fix_error ${
        formatT(fixAt)
      } -> available ${formatT(availableAt)}`,
      `session command ${formatT(s0)}; probes: ${probeTimes.join(", ")}`,
      `progress during the session: ${progress.length} messages, interval ${
        interval.toFixed(2)
      } s, ` +
      `max silence ${maxGap.toFixed(1)} s; engine ended it early: ${
        observation.endedEarly ?? "no"
      }`,
      `session at 30 s: ${stateAt30}; stop ${formatT(stopAt)}; ticket ${
        ticket ? `${ticket.value["reason"]} ${energyOf(ticket)} kWh` : "none"
      }`,
      sessionFact(stack, sessionOf(stack, USER, CP, s0)),
    ];
    return { ...judgeHealthcheck(observation), facts, focusFrom: start.requestedAt - 1 };
  },
};

/**
 * [restart-together] and [restart-together-later]: engine and Monitor killed and restarted
 * together, once the lab is up, after `settle` (3 s; or until 35 s after the point's
 * registration, past Central's 30 s guard against `offline` over `available`, :2490).
 */
function restartTogetherScenario(
  name: string,
  title: string,
  settle: (stack: PeerStack) => Promise<void>,
): Scenario {
  return {
    name,
    title,
    run: (stack) => runRestartTogether(stack, settle),
  };
}

const restartTogether = restartTogetherScenario(
  "restart-together",
  "engine and Monitor killed and restarted together; a request as soon as available",
  () => sleep(3_000),
);

const restartTogetherLater = restartTogetherScenario(
  "restart-together-later",
  "the same, 35 s after the point registered (a lab that has run a while)",
  async (stack) => {
    const registered = stack.tap.select(
      "cp-events",
      (v) => isEvent(v, "CP_REGISTRATION") && v["cp_id"] === CP,
    )[0];
    await sleepUntil(stack, (registered?.t ?? stack.clock.now()) + 35);
  },
);

async function runRestartTogether(
  stack: PeerStack,
  settle: (stack: PeerStack) => Promise<void>,
): Promise<ScenarioOutput> {
  const failed = await upOrFail(stack);
  if (failed) return failed;
  await settle(stack);
  const killAt = stack.mark(`SIGKILL engine ${CP} and monitor ${CP} together`);
  await Promise.all([
    stack.kill("engine", CP, "SIGKILL"),
    stack.kill("monitor", CP, "SIGKILL"),
  ]);
  const restartAt = stack.mark(`restart monitor ${CP} and engine ${CP} together`);
  stack.startMonitor(CP);
  await stack.startEngine(CP);
  const registration = await stack.tap.waitFor(
    "cp-events",
    (v) => isEvent(v, "CP_REGISTRATION") && v["cp_id"] === CP,
    30_000,
    restartAt,
  );
  const since = registration?.t ?? restartAt;
  const availableAt = await pollUntil(
    () => {
      stack.db.poll();
      return stack.db.status(CP) === "available" && stack.clock.now() >= since
        ? stack.clock.now()
        : undefined;
    },
    60_000,
    100,
  ) ?? null;
  let outcome: TogetherOutcome = "not requested";
  let endedAfter: number | null = null;
  let endReason: string | null = null;
  let suppliedAfterClose: { after: number; progress: number } | null = null;
  let start: Awaited<ReturnType<typeof requestCharging>> | null = null;
  if (availableAt !== null) {
    start = await requestCharging(stack, USER, CP);
    if (!start.authorized) {
      outcome = "refused";
    } else {
      const s0 = start.requestedAt;
      await sleepUntil(stack, s0 + 20);
      const session = sessionOf(stack, USER, CP, s0);
      const closedAt = session === null ? null : sessionClosedAt(stack, session.id, s0);
      const ticket = ticketsFor(stack, USER, s0)[0];
      const monitorTimeout = stack.latest("central")!
        .find(/finalizada por timeout de Monitor/, s0)[0];
      if (closedAt === null && session !== null) {
        outcome = "survived";
      } else {
        endedAfter = closedAt === null ? null : closedAt - s0;
        endReason = ticket ? String(ticket.value["reason"]) : session?.state ?? "no session";
        outcome = monitorTimeout || endReason === "monitor_timeout"
          ? "killed by Monitor timeout"
          : "ended otherwise";
        const late = progressOf(stack, CP, closedAt ?? s0, s0 + 20, USER);
        if (late.length > 0) {
          suppliedAfterClose = { after: late[0]!.t - s0, progress: late.length };
        }
      }
    }
  }
  const observation = {
    availableAfter: availableAt === null ? null : availableAt - restartAt,
    outcome,
    endedAfter,
    endReason,
    suppliedAfterClose,
  };
  const health = stack.tap.select(
    "monitor-events",
    (v) => isEvent(v, "ENGINE_HEALTH_OK") && v["cp_id"] === CP,
    restartAt,
  )[0];
  const facts = [
    `killed ${formatT(killAt)}, restarted ${formatT(restartAt)}; new CP_REGISTRATION ${
      registration ? formatT(registration.t) : "never"
    }; new Monitor's ENGINE_HEALTH_OK ${health ? formatT(health.t) : "never"}`,
    `Central showed available ${availableAt === null ? "never" : formatT(availableAt)}` +
    (start ? `; Driver asked ${formatT(start.requestedAt)}: ${start.answer}` : ""),
    `outcome: ${outcome}${endedAfter === null ? "" : ` after ${endedAfter.toFixed(1)} s`}` +
    (endReason ? ` (${endReason})` : ""),
    `Central's statuses from the kill: ${statusesFrom(stack, CP, killAt).join(" > ")}`,
    sessionFact(stack, start ? sessionOf(stack, USER, CP, start.requestedAt) : null),
  ];
  return { ...judgeTogether(observation), facts, focusFrom: killAt - 1 };
}

const centralRestart: Scenario = {
  name: "central-restart",
  title: "Central killed mid-session; the session ends while it is down; Central restarted",
  run: async (stack) => {
    const failed = await upOrFail(stack);
    if (failed) return failed;
    const start = await requestCharging(stack, USER, CP);
    if (!start.authorized) return notAuthorized(stack, start.answer, start.requestedAt - 1);
    await sleepUntil(stack, start.commandAt + 5);
    const killAt = await stack.kill("central", null, "SIGKILL");
    await sleep(3_000);
    const second = await requestCharging(stack, "driver2", CP);
    const secondRequest = second.authorized ? "authorized" : second.answer;
    await sleepUntil(stack, killAt + 17);
    const unplugAt = stack.mark(
      `CP control: unplug ${CP} (cp_control.py shape, on central-events)`,
    );
    await stack.tap.sendControl(CP, "unplug");
    const ended = await stack.tap.waitFor(
      "cp-events",
      (v) => isEvent(v, "charging_completed") && v["cp_id"] === CP,
      10_000,
      unplugAt,
    );
    await sleep(3_000);
    const restartAt = stack.mark("restart central");
    const readyAt = await stack.startCentral();
    const availableAt = await waitForStatus(stack, CP, "available", readyAt, { timeoutS: 20 });
    await sleepUntil(stack, readyAt + 20);
    const progressWhileDown = progressOf(stack, CP, killAt, restartAt).length;
    const observation = {
      sessionStarted: true,
      progressWhileDown,
      secondRequest,
      endedWhileDown: ended
        ? `${ended.value["reason"]} ${energyOf(ended)} kWh at ${formatT(ended.t)}`
        : null,
      availableAfter: availableAt === null ? null : availableAt - readyAt,
      statusesAfterRestart: statusesFrom(stack, CP, restartAt),
    };
    const facts = [
      `session started ${formatT(start.commandAt)}; Central SIGKILL ${formatT(killAt)}; ` +
      `${progressWhileDown} progress messages while Central was down`,
      `driver2 asked for ${CP} ${
        formatT(second.requestedAt)
      } while Central was down: ${secondRequest}`,
      `unplug ${formatT(unplugAt)}: engine charging_completed ${
        observation.endedWhileDown ?? "none"
      }; ` +
      `its status changes [${
        engineEvents(stack, CP, "cp_status_change", unplugAt)
          .map((e) => `${e.value["status"]}@${formatT(e.t)}`).join(", ")
      }]`,
      `Central restarted ${formatT(restartAt)}, reads its topics ${formatT(readyAt)}; ` +
      `statuses since: ${observation.statusesAfterRestart.join(" > ")}; available ${
        availableAt === null ? "never (20 s)" : formatT(availableAt)
      }`,
      `engine messages after the restart: [${
        stack.tap.select("cp-events", (v) => v["cp_id"] === CP, readyAt)
          .map((e) => `${e.value["event_type"]}${e.value["status"] ? ` ${e.value["status"]}` : ""}`)
          .join(", ")
      }]; Monitor: ${
        stack.tap.select("monitor-events", (v) => v["cp_id"] === CP, readyAt)
          .filter((e) => !isEvent(e.value, "MONITOR_HEARTBEAT")).map((e) => e.value["event_type"])
          .join(", ") || "heartbeats only"
      }`,
      sessionFact(stack, sessionOf(stack, USER, CP, start.commandAt)),
    ];
    return { ...judgeCentralRestart(observation), facts, focusFrom: killAt - 1 };
  },
};

/** Every scenario, in the order of the issue. */
export const SCENARIOS: readonly Scenario[] = [
  register,
  driverSession,
  faultRecover,
  monitorKilled,
  restartStaleAuth,
  crashMidSession,
  stopResume,
  healthcheckCadence,
  restartTogether,
  restartTogetherLater,
  centralRestart,
];
