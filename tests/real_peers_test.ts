/**
 * Specification of the real-peers harness's pure parts (tools/peers/, tools/real_peers.ts): how
 * scenarios are judged, how Central's database rows are read, how the evidence timeline and the
 * table are written, and the command line. None of it needs the peers, a broker or Python.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { formatT, RunClock } from "../tools/peers/clock.ts";
import {
  CentralDb,
  DbWatcher,
  describeSession,
  toChargingPoint,
  toSession,
} from "../tools/peers/central_db.ts";
import {
  dbEntries,
  describeEvent,
  eventEntries,
  keyLines,
  LINE_FILTERS,
  renderTimeline,
  withoutTimestamp,
} from "../tools/peers/evidence.ts";
import { controlMessage, eventName, isEvent, type TapEvent } from "../tools/peers/kafka_tap.ts";
import { cellText, formatCell, formatTable, type ScenarioResult } from "../tools/peers/report.ts";
import {
  cadence,
  type DriverSessionObservation,
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
  median,
  valueAt,
} from "../tools/peers/verdicts.ts";
import { parsePeersArgs, readPristineDb, UsageError } from "../tools/real_peers.ts";

/** A run that began at epoch 1000 s. */
const clock = new RunClock(0, 1000);

function tap(t: number, topic: string, value: Record<string, unknown>): TapEvent {
  return { t, topic, value, sentT: null };
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

Deno.test("cadence gives the count, the median interval and the longest gap", () => {
  assert.deepEqual(cadence([3, 1, 2, 7]), { count: 4, medianInterval: 1, maxGap: 4 });
  assert.deepEqual(cadence([5]), { count: 1, medianInterval: 0, maxGap: 0 });
  assert.deepEqual(cadence([]), { count: 0, medianInterval: 0, maxGap: 0 });
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

Deno.test("valueAt is the last sample at or before the time, null before the first", () => {
  const samples = [{ t: 1, value: 0.005 }, { t: 4.9, value: 0.024 }, { t: 6, value: 0.03 }];
  assert.equal(valueAt(samples, 5), 0.024);
  assert.equal(valueAt(samples, 0.5), null);
  assert.equal(valueAt(samples, 99), 0.03);
});

// ---------------------------------------------------------------------------------------------
// Verdicts
// ---------------------------------------------------------------------------------------------

Deno.test("register passes when every point shows available and stays so", async (t) => {
  await t.step("both available", () => {
    const judgement = judgeRegister([
      { cpId: "CP_001", availableAfter: 16.5, later: [], finalStatus: "available" },
      { cpId: "CP_002", availableAfter: 16.6, later: [], finalStatus: "available" },
    ], 45);
    assert.equal(judgement.verdict, "PASS");
    assert.equal(
      judgement.summary,
      "CP_001 available 16.5 s after start; CP_002 available 16.6 s after start",
    );
  });
  await t.step("one never available", () => {
    const judgement = judgeRegister([
      { cpId: "CP_001", availableAfter: 16.5, later: [], finalStatus: "available" },
      { cpId: "CP_002", availableAfter: null, later: [], finalStatus: "offline" },
    ], 45);
    assert.equal(judgement.verdict, "FAIL");
    assert.match(judgement.summary, /^CP_002 not available within 45 s \(offline\)/);
  });
  await t.step("available, then a flap through offline (Central's Monitor timeout)", () => {
    const judgement = judgeRegister([
      {
        cpId: "CP_001",
        availableAfter: 16.8,
        later: [{ status: "offline", after: 17.4 }, { status: "available", after: 17.7 }],
        finalStatus: "available",
      },
    ], 45);
    assert.equal(judgement.verdict, "FAIL");
    assert.equal(
      judgement.summary,
      "CP_001 available at 16.8 s, then offline at 17.4 s, available at 17.7 s",
    );
  });
});

const goodSession: DriverSessionObservation = {
  authorized: true,
  engineProgress: { count: 13, medianInterval: 1, maxGap: 1.01 },
  firstProgressAfter: 1,
  kwhAt5: 0.02,
  kwhAt13: 0.06,
  centralUpdates: { count: 13, medianInterval: 1.01, maxGap: 1.2 },
  driverUpdates: { count: 13, medianInterval: 1, maxGap: 1.1 },
  ticket: { energyKwh: 0.065, cost: 0.02, reason: "manual_stop", after: 0.05 },
  sessionState: "completed",
  finalStatus: "available",
  progressAfterStop: 0,
};

Deno.test("driver-session passes with progress every second, a ticket and the point available", () => {
  const judgement = judgeDriverSession(goodSession);
  assert.equal(judgement.verdict, "PASS");
  assert.equal(
    judgement.summary,
    "progress every 1.0 s; 0.020 kWh at 5 s, 0.060 kWh at 13 s; ticket 0.065 kWh 0.02 EUR 0.1 s after stop",
  );
});

Deno.test("driver-session fails on progress every 5 s, and says where it was seen", () => {
  const judgement = judgeDriverSession({
    ...goodSession,
    engineProgress: { count: 3, medianInterval: 5, maxGap: 5 },
    centralUpdates: { count: 2, medianInterval: 5.03, maxGap: 5.03 },
    driverUpdates: { count: 3, medianInterval: 5, maxGap: 5 },
    kwhAt5: 0,
  });
  assert.equal(judgement.verdict, "FAIL");
  assert.match(judgement.summary, /^progress every 5\.0 s; Central's kWh updated 2x every 5\.0 s;/);
  assert.match(judgement.summary, /Driver updated 3x every 5\.0 s/);
});

Deno.test("driver-session fails without a ticket or with the session left open", () => {
  const judgement = judgeDriverSession({ ...goodSession, ticket: null, sessionState: "active" });
  assert.equal(judgement.verdict, "FAIL");
  assert.match(judgement.summary, /no ticket; session active/);
  assert.equal(judgeDriverSession({ ...goodSession, authorized: false }).verdict, "FAIL");
});

Deno.test("fault-recover counts the pairs that settled available", () => {
  const available = { statuses: ["available", "fault", "available"], settledStatus: "available" };
  const stuck = { statuses: ["available", "fault"], settledStatus: "fault" };
  assert.deepEqual(judgeFaultRecover([available, available, available, available, available]), {
    verdict: "PASS",
    summary: "5/5 pairs ended available",
  });
  assert.deepEqual(judgeFaultRecover([available, stuck, available, stuck, available]), {
    verdict: "FAIL",
    summary: "3/5 pairs ended available (#2 fault, #4 fault)",
  });
  assert.equal(judgeFaultRecover([]).verdict, "FAIL");
});

Deno.test("monitor-killed needs the session closed with a ticket within 15 s", async (t) => {
  const closed = {
    sessionStarted: true,
    closedAfter: 5.9,
    closedState: "completed",
    ticketAfter: 5.9,
    ticketReason: "monitor_timeout",
    ticketEnergy: 0.051,
    finalStatus: "offline",
    engineStatus: "charging",
    progressAfter15: 5,
  };
  await t.step("closed by Central's Monitor timeout, engine still charging", () => {
    const judgement = judgeMonitorKilled(closed);
    assert.equal(judgement.verdict, "PASS");
    assert.match(judgement.summary, /session completed 5\.9 s after kill/);
    assert.match(judgement.summary, /point offline while the engine says charging/);
    assert.match(judgement.summary, /engine still charging \(5 progress\)/);
  });
  await t.step("left active", () => {
    const judgement = judgeMonitorKilled({
      ...closed,
      closedAfter: null,
      closedState: null,
      ticketAfter: null,
      ticketReason: null,
      ticketEnergy: null,
      progressAfter15: 0,
    });
    assert.equal(judgement.verdict, "FAIL");
    assert.match(judgement.summary, /^session still active in Central; no ticket/);
  });
  await t.step("closed too late", () => {
    const judgement = judgeMonitorKilled({ ...closed, closedAfter: 16, ticketAfter: 16 });
    assert.equal(judgement.verdict, "FAIL");
  });
});

Deno.test("restart-stale-auth fails on any phantom session after the restart", async (t) => {
  const clean = {
    statusAtRequest: "available",
    authorized: true,
    driverTimeoutAfter: 15.5,
    centralClosedAfter: 7,
    restartAfter: 21,
    phantomProgress: 0,
    phantomCharging: 0,
    activeSessionAfterRestart: false,
    finalStatus: "available",
  };
  await t.step("nothing started", () => {
    assert.equal(judgeStaleAuth(clean).verdict, "PASS");
  });
  await t.step("progress and a charging status", () => {
    const judgement = judgeStaleAuth({ ...clean, phantomProgress: 5, phantomCharging: 2 });
    assert.equal(judgement.verdict, "FAIL");
    assert.match(judgement.summary, /^phantom session: 5 progress, 2 charging status/);
  });
  await t.step("an unauthorised request is a harness error, not the engine's", () => {
    assert.equal(
      judgeStaleAuth({ ...clean, authorized: false, statusAtRequest: "offline" }).verdict,
      "ERROR",
    );
  });
});

Deno.test("crash-mid-session: a ticket, the session closed, available; ours reports recovery", async (t) => {
  const recovered = {
    sessionStarted: true,
    completed: { reason: "engine_recovered", energyKwh: 0.005 },
    lastProgressKwh: 0.003,
    ticket: { reason: "engine_recovered", energyKwh: 0.005, after: 0.3 },
    sessionState: "completed",
    finalStatus: "available",
    requireRecovered: true,
  };
  await t.step("recovered", () => assert.equal(judgeCrash(recovered).verdict, "PASS"));
  await t.step("lost session (the original engine)", () => {
    const judgement = judgeCrash({
      ...recovered,
      completed: null,
      ticket: null,
      sessionState: "active",
      requireRecovered: false,
    });
    assert.equal(judgement.verdict, "FAIL");
    assert.match(judgement.summary, /^no ticket; session active in Central/);
  });
  await t.step("recovered with less energy than already reported", () => {
    const judgement = judgeCrash({
      ...recovered,
      completed: { reason: "engine_recovered", energyKwh: 0.002 },
    });
    assert.equal(judgement.verdict, "FAIL");
    assert.match(judgement.summary, /recovered 0\.002 kWh < last progress 0\.003 kWh/);
  });
  await t.step("ours with another reason", () => {
    const judgement = judgeCrash({
      ...recovered,
      completed: { reason: "unplugged_by_user", energyKwh: 0.005 },
    });
    assert.equal(judgement.verdict, "FAIL");
  });
});

Deno.test("stop-resume needs a ticket, the session closed, no supply after the stop, available", () => {
  const good = {
    sessionStarted: true,
    tickets: [{ reason: "stopped_by_central", energyKwh: 0.003 }],
    statuses: ["charging", "out_of_service", "available"],
    sessionState: "completed",
    finalStatus: "available",
    progressAfterStop: 0,
  };
  assert.equal(judgeStopResume(good).verdict, "PASS");
  const original = judgeStopResume({ ...good, tickets: [], sessionState: "active" });
  assert.equal(original.verdict, "FAIL");
  assert.match(original.summary, /^no ticket; session active in Central/);
  assert.equal(judgeStopResume({ ...good, progressAfterStop: 3 }).verdict, "FAIL");
});

Deno.test("healthcheck-cadence fails when the session stops while probes answer OK", () => {
  const good = {
    sessionStarted: true,
    answers: ["OK", "OK", "OK", "OK"],
    endedEarly: null,
    maxProgressGap: 1,
    progressInterval: 1,
    sessionStateAt30: "active",
  };
  assert.equal(judgeHealthcheck(good).verdict, "PASS");
  const judgement = judgeHealthcheck({
    ...good,
    endedEarly: "cp_status_change Monitor lost (offline) at +6.4 s",
    maxProgressGap: 25.2,
    progressInterval: 5,
  });
  assert.equal(judgement.verdict, "FAIL");
  assert.match(judgement.summary, /^session ended by the engine: .*; progress silent 25\.2 s/);
  // A 5 s interval allows silences up to 11 s.
  assert.equal(
    judgeHealthcheck({ ...good, maxProgressGap: 10, progressInterval: 5 }).verdict,
    "PASS",
  );
  assert.equal(judgeHealthcheck({ ...good, answers: ["OK", "KO"] }).verdict, "FAIL");
});

Deno.test("restart-together passes only when the request is refused or survives 20 s", () => {
  const quiet = { endedAfter: null, endReason: null, suppliedAfterClose: null };
  assert.deepEqual(
    judgeTogether({
      availableAfter: 0.1,
      outcome: "killed by Monitor timeout",
      endedAfter: 5.5,
      endReason: "monitor_timeout",
      suppliedAfterClose: { after: 9, progress: 11 },
    }),
    {
      verdict: "FAIL",
      summary: "available 0.1 s after restart; session killed by Monitor timeout 5.5 s after " +
        "request (monitor_timeout); the engine then supplied it anyway from 9.0 s (11 progress)",
    },
  );
  assert.match(
    judgeTogether({
      ...quiet,
      availableAfter: 0.3,
      outcome: "killed by Monitor timeout",
      endedAfter: 5.5,
      endReason: "monitor_timeout",
    }).summary,
    /; the engine did not supply it after Central closed it$/,
  );
  assert.equal(
    judgeTogether({ ...quiet, availableAfter: 16, outcome: "survived" })
      .verdict,
    "PASS",
  );
  assert.equal(
    judgeTogether({ ...quiet, availableAfter: 2, outcome: "refused" })
      .verdict,
    "PASS",
  );
  assert.equal(
    judgeTogether({ ...quiet, availableAfter: null, outcome: "not requested" }).summary,
    "never available",
  );
});

Deno.test("central-restart passes when the restarted Central shows available within 15 s", () => {
  const observation = {
    sessionStarted: true,
    progressWhileDown: 18,
    secondRequest: "no answer in 10 s",
    endedWhileDown: "unplugged_by_user 0.105 kWh at t+44.6",
    availableAfter: null,
    statusesAfterRestart: ["charging", "offline"],
  };
  const failed = judgeCentralRestart(observation);
  assert.equal(failed.verdict, "FAIL");
  assert.match(failed.summary, /^not available after restart \(charging>offline\)/);
  const passed = judgeCentralRestart({ ...observation, availableAfter: 3.2 });
  assert.equal(passed.verdict, "PASS");
  assert.match(passed.summary, /^available 3\.2 s after restart/);
  assert.equal(judgeCentralRestart({ ...observation, availableAfter: 16 }).verdict, "FAIL");
});

// ---------------------------------------------------------------------------------------------
// Central's database
// ---------------------------------------------------------------------------------------------

Deno.test("Central's rows are read by their Spanish column names", () => {
  assert.deepEqual(
    toChargingPoint({ cp_id: "CP_001", estado: "available", localizacion: "Lab 1", max_kw: 22 }),
    { cpId: "CP_001", status: "available", location: "Lab 1" },
  );
  assert.deepEqual(
    toSession({
      id: 103n,
      user_id: 1,
      username: "driver1",
      cp_id: "CP_001",
      start_time: 1012.5,
      end_time: null,
      energia_kwh: 0.034,
      coste: 0,
      estado: "active",
    }),
    {
      id: 103,
      userId: 1,
      username: "driver1",
      cpId: "CP_001",
      startTime: 1012.5,
      endTime: null,
      energyKwh: 0.034,
      cost: 0,
      state: "active",
    },
  );
  assert.throws(
    () => toChargingPoint({ cp_id: "CP_001", status: "available" }),
    /Central's charging_points row has no column "estado"/,
  );
  assert.throws(
    () =>
      toSession({
        id: "x",
        user_id: 1,
        cp_id: "CP_001",
        start_time: 1,
        end_time: null,
        energia_kwh: 0,
        coste: 0,
        estado: "active",
      }),
    /charging_sesiones\.id is not a number/,
  );
});

Deno.test("a session is described with run times", () => {
  const session = toSession({
    id: 103,
    user_id: 1,
    username: "driver1",
    cp_id: "CP_001",
    start_time: 1022.2,
    end_time: 1036.2,
    energia_kwh: 0.065,
    coste: 0.02275,
    estado: "completed",
  });
  assert.equal(
    describeSession(session, clock),
    "session 103 driver1@CP_001 completed, 0.065 kWh, 0.02 EUR, t+22.2 -> t+36.2",
  );
});

Deno.test("the watcher records status changes and session state changes of the run only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "central-db-test-" });
  try {
    const path = join(dir, "ev_charging.db");
    const central = new DatabaseSync(path);
    central.exec(`
      PRAGMA journal_mode=WAL;
      CREATE TABLE usuarios (id INTEGER PRIMARY KEY, nombre TEXT);
      CREATE TABLE charging_points (cp_id TEXT, localizacion TEXT, estado TEXT);
      CREATE TABLE charging_sesiones (id INTEGER PRIMARY KEY, user_id INTEGER, cp_id TEXT,
        start_time REAL, end_time REAL, energia_kwh REAL, coste REAL, estado TEXT);
      INSERT INTO usuarios VALUES (1, 'driver1');
      INSERT INTO charging_points VALUES ('CP_001', 'Lab 1', 'offline');
      INSERT INTO charging_sesiones VALUES (102, 1, 'CP_001', 1, 2, 0.7, 0.2, 'completed');
    `);
    const db = new CentralDb(path);
    const watcher = new DbWatcher(db, clock, ["CP_001", "CP_009"]);
    central.exec("UPDATE charging_points SET estado = 'available'");
    watcher.poll();
    central.exec(
      "INSERT INTO charging_sesiones VALUES (103, 1, 'CP_001', 1020, NULL, 0, 0, 'active')",
    );
    watcher.poll();
    central.exec("UPDATE charging_sesiones SET energia_kwh = 0.01 WHERE id = 103");
    watcher.poll();
    central.exec(
      "UPDATE charging_sesiones SET estado = 'completed', end_time = 1030 WHERE id = 103",
    );
    assert.equal(watcher.status("CP_001"), "available");
    assert.deepEqual(
      watcher.statusChanges.map((c) => `${c.cpId}:${c.from}->${c.to}`),
      ["CP_001:null->offline", "CP_009:null->(no row)", "CP_001:offline->available"],
    );
    assert.deepEqual(
      watcher.sessions().map((s) => `${s.id} ${s.state} ${s.energyKwh}`),
      ["103 completed 0.01"],
    );
    assert.deepEqual(watcher.sessionChanges.map((c) => c.session.state), [
      "active",
      "active",
      "completed",
    ]);
    // Energy-only updates are left out of the timeline.
    assert.deepEqual(
      dbEntries(watcher.statusChanges, watcher.sessionChanges, clock).map((e) => e.text)
        .filter((text) => text.startsWith("session")),
      [
        "session 103 driver1@CP_001 active, 0.000 kWh, 0.00 EUR, t+20.0 -> open",
        "session 103 driver1@CP_001 completed, 0.010 kWh, 0.00 EUR, t+20.0 -> t+30.0",
      ],
    );
    assert.equal(watcher.readErrors.length, 0);
    db.close();
    central.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Evidence
// ---------------------------------------------------------------------------------------------

Deno.test("key log lines are kept, repetitive ones collapsed into runs, probes skipped", () => {
  const lines = [
    { t: 1, text: "[KAFKA] 📨 Received HARNESS_PROBE_CP_EVENTS from Central", stderr: false },
    { t: 2, text: "[DRIVER] ✅ Central autorizó carga en CP_001", stderr: false },
    { t: 3, text: "[DRIVER] 📊 Actualización de CP_E: driver1 → 0.01 kWh, €0.00", stderr: false },
    { t: 4, text: "[DRIVER] 📊 Actualización de CP_E: driver1 → 0.02 kWh, €0.01", stderr: false },
    { t: 5, text: "[DRIVER] 🎫 Ticket recibido para driver1: 0.02 kWh, €0.01", stderr: false },
    { t: 6, text: "[KAFKA] 📨 Received CP_INFO from Central", stderr: false },
  ];
  assert.deepEqual(keyLines("driver", LINE_FILTERS["driver"]!, lines), [
    { t: 2, source: "driver", text: "[DRIVER] ✅ Central autorizó carga en CP_001" },
    {
      t: 3,
      source: "driver",
      text: "×2 t+3.0..t+4.0, last: [DRIVER] 📊 Actualización de CP_E: driver1 → 0.02 kWh, €0.01",
    },
    { t: 5, source: "driver", text: "[DRIVER] 🎫 Ticket recibido para driver1: 0.02 kWh, €0.01" },
  ]);
  assert.equal(
    withoutTimestamp("2026-11-30T11:02:18.227Z INFO  [CP_001] Ready"),
    "INFO  [CP_001] Ready",
  );
});

Deno.test("Kafka traffic: progress and heartbeats collapsed, probes and CP_INFO dropped", () => {
  const progress = (t: number, energy: number) =>
    tap(t, "cp-events", {
      event_type: "charging_progress",
      action: "charging_progress",
      cp_id: "CP_001",
      username: "driver1",
      energy_kwh: energy,
    });
  const events = [
    tap(0.5, "cp-events", { event_type: "HARNESS_PROBE" }),
    tap(1, "central-events", {
      event_type: "charging_started",
      action: "charging_started",
      cp_id: "CP_001",
      username: "driver1",
    }),
    progress(2, 0.005),
    tap(2.1, "central-events", { event_type: "CP_INFO", cp_id: "CP_001" }),
    progress(3, 0.01),
    progress(4, 0.015),
    tap(4.5, "cp-events", {
      event_type: "charging_completed",
      cp_id: "CP_001",
      username: "driver1",
      energy_kwh: 0.016,
      cost: 0.005,
      duration_sec: 3,
      reason: "unplugged_by_user",
    }),
    progress(12, 0.02),
  ];
  assert.deepEqual(eventEntries(events).map((e) => `${formatT(e.t)} ${e.text}`), [
    "t+1.0 central-events charging_started CP_001: driver1",
    "t+2.0 cp-events charging_progress CP_001 ×3 t+2.0..t+4.0, median gap 1.0 s, 0.005 -> 0.015 kWh",
    "t+4.5 cp-events charging_completed CP_001: driver1, 0.016 kWh, 0.01 EUR, 3 s, reason unplugged_by_user",
    "t+12.0 cp-events charging_progress CP_001",
  ]);
});

Deno.test("messages are described by the fields that matter", () => {
  assert.equal(
    describeEvent(tap(1, "cp-events", {
      event_type: "cp_status_change",
      action: "cp_status_change",
      cp_id: "CP_001",
      status: "available",
      previous_status: "fault",
      reason: "Error fixed",
    })),
    "cp-events cp_status_change CP_001: fault -> available (Error fixed)",
  );
  assert.equal(
    describeEvent(tap(1, "monitor-events", {
      event_type: "ENGINE_FAILURE",
      cp_id: "CP_001",
      failure_type: "ko",
      consecutive_failures: 3,
    })),
    "monitor-events ENGINE_FAILURE CP_001: ko after 3 failures",
  );
  assert.equal(
    describeEvent(tap(1, "central-events", {
      event_type: "AUTHORIZATION_RESPONSE",
      cp_id: "CP_001",
      authorized: false,
      reason: "CP no disponible (estado: offline)",
    })),
    "central-events AUTHORIZATION_RESPONSE CP_001: authorized=false (CP no disponible (estado: offline))",
  );
});

Deno.test("the timeline is sorted, windowed and capped", () => {
  const entries = [
    { t: 5, source: "db", text: "CP_001 offline -> available" },
    { t: 1, source: "harness", text: "started central (pid 1)" },
    { t: 3, source: "central", text: "[CENTRAL] Salud confirmada" },
    { t: 9, source: "harness", text: "late" },
  ];
  assert.deepEqual(renderTimeline(entries, 2, 8), [
    "   t+3.0 central | [CENTRAL] Salud confirmada",
    "   t+5.0 db      | CP_001 offline -> available",
  ]);
  assert.deepEqual(renderTimeline(entries, -Infinity, Infinity, 2).slice(-1), ["... 2 more lines"]);
});

Deno.test("a CP control message has the shape cp_control.py sends", () => {
  const message = controlMessage("CP_001", "unplug", 1764350000.125);
  assert.deepEqual({ ...message, message_id: "id" }, {
    message_id: "id",
    event_type: "CP_UNPLUG",
    action: "unplug",
    cp_id: "CP_001",
    timestamp: 1764350000.125,
  });
  assert.match(String(message["message_id"]), /^[0-9a-f-]{36}$/);
  assert.equal(controlMessage("CP_001", "plug_in", 1)["event_type"], "CP_PLUG_IN");
  assert.equal(eventName({ action: "charging_stopped" }), "charging_stopped");
  assert.equal(eventName({}), "?");
  assert.ok(isEvent({ event_type: "CP_STOP", action: "stop" }, "stop"));
});

// ---------------------------------------------------------------------------------------------
// The table and the command line
// ---------------------------------------------------------------------------------------------

Deno.test("the table has one row per scenario and one column per engine", () => {
  const result = (engine: "original" | "ours", verdict: "PASS" | "FAIL", summary: string) =>
    ({
      scenario: "driver-session",
      engine,
      verdict,
      summary,
      evidence: [],
      seconds: 42,
    }) satisfies ScenarioResult;
  assert.equal(
    formatTable(["driver-session", "register"], [
      result("original", "PASS", "ticket 0.068 kWh at 13 s"),
      result("ours", "FAIL", "progress every 5.0 s | Driver\nupdated 3x"),
    ]),
    [
      "| scenario | original engine | ev-cp-engine |",
      "|---|---|---|",
      "| driver-session | PASS: ticket 0.068 kWh at 13 s | FAIL: progress every 5.0 s \\| Driver updated 3x |",
      "| register | not run | not run |",
    ].join("\n"),
  );
  assert.equal(cellText(" a|b\r\nc "), "a\\|b c");
  assert.equal(formatCell(undefined), "not run");
});

Deno.test("the command line: defaults, repeated scenarios, and clear errors", () => {
  const options = parsePeersArgs(["--peers", "../peers"]);
  assert.ok(options !== "help");
  assert.deepEqual(options.engines, ["original", "ours"]);
  assert.equal(options.scenarios.length, 11);
  assert.equal(options.python, "python3");
  assert.equal(options.keepLogs, null);
  const some = parsePeersArgs([
    "--peers",
    "../peers",
    "--engine",
    "ours",
    "--scenario",
    "register",
    "--scenario",
    "driver-session",
  ]);
  assert.ok(some !== "help");
  assert.deepEqual(some.engines, ["ours"]);
  assert.deepEqual(some.scenarios.map((s) => s.name), ["register", "driver-session"]);
  assert.equal(parsePeersArgs(["--help"]), "help");
  assert.throws(() => parsePeersArgs([]), UsageError);
  assert.throws(
    () => parsePeersArgs(["--peers", "x", "--scenario", "nope"]),
    /Unknown --scenario "nope": expected one of register, driver-session/,
  );
  assert.throws(() => parsePeersArgs(["--peers", "x", "--engine", "python"]), /Unknown --engine/);
  assert.throws(() => parsePeersArgs(["--peers", "x", "stray"]), UsageError);
});

Deno.test("the shipped database must exist and must not have been used in place", async () => {
  const dir = await Deno.makeTempDir({ prefix: "peers-dir-test-" });
  try {
    await assert.rejects(
      () => readPristineDb(dir),
      /--peers must be the directory that contains SD/,
    );
    await Deno.mkdir(join(dir, "SD"));
    await Deno.writeFile(join(dir, "SD", "ev_charging.db"), new Uint8Array([1, 2, 3]));
    assert.deepEqual(await readPristineDb(dir), new Uint8Array([1, 2, 3]));
    await Deno.writeFile(join(dir, "SD", "ev_charging.db-wal"), new Uint8Array(0));
    assert.deepEqual(await readPristineDb(dir), new Uint8Array([1, 2, 3]));
    await Deno.writeFile(join(dir, "SD", "ev_charging.db-wal"), new Uint8Array([9]));
    await assert.rejects(
      () => readPristineDb(dir),
      /is not empty: the shipped database was opened/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
