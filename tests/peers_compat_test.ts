/**
 * The engine against the original peers' rules (tests/support/peer_rules.ts), end to end: the
 * engine as its own process, a real broker, a Central that reads the events as the original one
 * does, a Driver and a Monitor. Each test is a scenario that went wrong with the real peers
 * (`../shared/peers.md`); the closing note of the issue compares them with the real peers.
 */
import assert from "node:assert/strict";
import { brokerAddress, uniqueTopics, waitForCommitted } from "./support/kafka.ts";
import { engineArgs, EngineProcess, freePort } from "./support/engine_process.ts";
import { PeerCentral, PeerMonitor } from "./support/peer_central.ts";

/** An engine process for `cpId` with its own state directory, and the flags of a test. */
async function startEngine(
  cpId: string,
  broker: string,
  healthPort: number,
  topics: { cpEvents: string; centralEvents: string },
  extra: string[] = [],
): Promise<EngineProcess> {
  return await EngineProcess.start([
    ...engineArgs({ cpId, broker, healthPort, topics }),
    "--seed",
    "3",
    ...extra,
  ]);
}

function progressOf(central: PeerCentral, username: string): Record<string, unknown>[] {
  return central.double.seen("charging_progress").filter((event) => event["username"] === username);
}

/**
 * A point that can be restarted as itself (its own state directory and command group, kept
 * across restarts), with a Central that follows the real one's rules; `extra` adds engine flags.
 */
async function restartablePoint(label: string, prefix: string, extra: string[] = []) {
  const broker = await brokerAddress();
  const topics = uniqueTopics(label);
  const cpId = `${prefix}_${crypto.randomUUID().slice(0, 6)}`;
  const stateDir = `state/test-${crypto.randomUUID().slice(0, 8)}`;
  const healthPort = freePort();
  const central = await PeerCentral.start(broker, topics, cpId);
  const args = ["--state-dir", stateDir, "--group-id", `engine_group_${cpId}`, ...extra];
  return { broker, topics, cpId, stateDir, healthPort, central, args };
}

Deno.test({
  name:
    "fault then recover 1 to 1.5 s apart, 5 times: Central ends on the point's real status every time",
  async fn() {
    const broker = await brokerAddress();
    const topics = uniqueTopics("peers-fault");
    const cpId = `CP_PF_${crypto.randomUUID().slice(0, 6)}`;
    const central = await PeerCentral.start(broker, topics, cpId);
    const engine = await startEngine(cpId, broker, freePort(), topics);
    try {
      await central.waitFor(
        "Central sees the point available",
        () => central.status === "available",
      );
      const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
      for (let pair = 1; pair <= 5; pair++) {
        // Each pair starts with the status window free, so that the fault goes out at once (a
        // pair inside the window is merged into no change at all, which Central never sees).
        await sleep(3_000);
        const sent = central.double.statuses().length;
        await central.send({ event_type: "CP_FAULT", action: "fault" });
        await central.double.waitForStatus("fault", sent);
        await sleep(900 + 100 * pair);
        await central.send({ event_type: "CP_RECOVER", action: "recover" });
        // The engine's last word for this pair is `available`: wait until it reached Central.
        await central.double.waitForStatus("available", sent + 1);
        assert.equal(
          central.status,
          "available",
          `pair ${pair}: Central sees ${central.status}; dropped ${
            JSON.stringify(central.rules.dropped)
          }`,
        );
      }
      const droppedStatuses = central.rules.dropped.filter((drop) =>
        drop.type === "cp_status_change"
      );
      assert.deepEqual(droppedStatuses, [], "no status change fell in Central's 2 s window");
    } finally {
      await engine.dispose();
      await central.close();
    }
  },
});

Deno.test({
  name:
    "the Monitor killed mid-session: the session is closed once (the engine's monitor_lost ticket or Central's own timeout), the supply stops, the point goes offline",
  async fn() {
    const broker = await brokerAddress();
    const topics = uniqueTopics("peers-monitor");
    const cpId = `CP_PM_${crypto.randomUUID().slice(0, 6)}`;
    const healthPort = freePort();
    const central = await PeerCentral.start(broker, topics, cpId);
    // The default --monitor-wait: this lab has a Monitor, and the engine waits for it.
    const engine = await startEngine(cpId, broker, healthPort, topics, ["--monitor-wait", "20"]);
    const monitor = new PeerMonitor(central, healthPort);
    try {
      await central.waitFor(
        "Central sees the point available",
        () => central.status === "available",
      );
      const session = await central.requestCharging("driver1", 1);
      assert.ok(session !== null, "Central authorised the session");
      await central.waitFor("progress reaches Central", () => session.energyKwh > 0);
      await engine.waitForOutput("A Monitor is watching");
      const lastBefore = progressOf(central, "driver1").at(-1)!;
      const killedAt = performance.now();
      await monitor.kill();
      await central.waitFor(
        "the session closed in Central",
        () => session.state !== "active",
        15_000,
      );
      const closedAfter = (performance.now() - killedAt) / 1000;
      // Both sides time the Monitor out after 5 s; whichever is first closes the session.
      const chargingAt = central.double.statuses().lastIndexOf("charging");
      await central.double.waitForStatus("offline", chargingAt + 1, 15_000);
      const events = central.double.events.map((event) => event.value);
      const offlineAt = events.findLastIndex((event) => event["status"] === "offline");
      if (session.state === "completed") {
        // The engine was first: its ticket, with the energy supplied, before its offline.
        assert.equal(session.ticketReason, "monitor_lost");
        const ticketAt = events.findIndex((event) => event["action"] === "charging_completed");
        assert.ok(ticketAt >= 0 && ticketAt < offlineAt, "the ticket goes out before offline");
        assert.ok(Number(events[ticketAt]!["energy_kwh"]) >= Number(lastBefore["energy_kwh"]));
      } else {
        // Central was first (EV_Central_WebSocket.py:1089-1180): it billed the session and sent
        // the Driver a ticket, and the engine stopped on it or on its own timeout.
        assert.equal(session.state, "monitor_timeout");
        await engine.waitForOutput(
          /Central closed the session of driver1|Monitor silent for \d+ s: stopping the supply/,
        );
      }
      const lastProgressAt = events.findLastIndex((event) =>
        event["action"] === "charging_progress" && event["username"] === "driver1"
      );
      assert.ok(lastProgressAt < offlineAt, "no supply after the point went offline");
      assert.ok(central.rules.activeSession(cpId) === undefined, "no session left active");
      assert.ok(closedAfter < 15, `closed ${closedAfter.toFixed(1)} s after the Monitor died`);
    } finally {
      await monitor.kill();
      await engine.dispose();
      await central.close();
    }
  },
});

Deno.test({
  name: "a charging_started authorised while the engine was down is not applied when it restarts",
  async fn() {
    const { broker, topics, cpId, stateDir, healthPort, central, args } = await restartablePoint(
      "peers-stale",
      "CP_PS",
    );
    let engine = await startEngine(cpId, broker, healthPort, topics, args);
    try {
      await central.double.waitForStatus("available");
      // The engine has taken commands before (its group has committed offsets to resume from).
      await central.send({ event_type: "CP_FAULT", action: "fault" });
      await central.double.waitForStatus("fault");
      await waitForCommitted(broker, `engine_group_${cpId}`, topics.centralEvents);
      engine.signal("SIGKILL");
      await engine.exited();
      // Central still thinks the point is available and authorises a driver for it.
      await central.send({
        event_type: "charging_started",
        action: "charging_started",
        username: "ghost",
        user_id: 9,
      });
      // The Driver gives up after 15 s and Central cancels; the engine comes back later than
      // 5 s after the command (the issue saw 21 s; the rule is 5 s).
      await new Promise((resolve) => setTimeout(resolve, 6_500));
      engine = await startEngine(cpId, broker, healthPort, topics, args);
      await engine.waitForOutput(/Skipped charging_started: sent \d+ s before this engine started/);
      await central.double.waitFor(
        "the restarted engine to be available",
        () => central.double.statuses().at(-1) === "available",
      );
      // Barrier: a fresh session; had the stale one been applied, this one would be refused.
      await central.send({
        event_type: "charging_started",
        action: "charging_started",
        username: "bob",
        user_id: 2,
      });
      await central.double.waitFor("bob's progress", () => progressOf(central, "bob").length > 0);
      assert.deepEqual(progressOf(central, "ghost"), [], "no energy for the cancelled session");
      assert.doesNotMatch(engine.output, /Charging started for user ghost/);
    } finally {
      await engine.dispose();
      await central.close();
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "a Driver's session: progress every second from the first, never before charging, and a ticket",
  async fn() {
    const broker = await brokerAddress();
    const topics = uniqueTopics("peers-driver");
    const cpId = `CP_PD_${crypto.randomUUID().slice(0, 6)}`;
    const healthPort = freePort();
    const central = await PeerCentral.start(broker, topics, cpId);
    const engine = await startEngine(cpId, broker, healthPort, topics, ["--monitor-wait", "20"]);
    const monitor = new PeerMonitor(central, healthPort);
    try {
      await central.waitFor(
        "Central sees the point available",
        () => central.status === "available",
      );
      const requestedAt = performance.now();
      const session = await central.requestCharging("driver1", 1);
      assert.ok(session !== null);
      await central.double.waitFor(
        "6 progress messages",
        () => progressOf(central, "driver1").length >= 6,
      );
      const progress = central.double.events.filter((event) =>
        event.value["event_type"] === "charging_progress"
      );
      const firstAfter = (progress[0]!.receivedAt - requestedAt) / 1000;
      assert.ok(firstAfter < 5, `first progress ${firstAfter.toFixed(1)} s after the request`);
      assert.ok(Number(progress[0]!.value["energy_kwh"]) > 0, "energy from the first second");
      const gaps = progress.slice(1, 6).map((event, i) =>
        (event.receivedAt - progress[i]!.receivedAt) / 1000
      );
      assert.ok(gaps.every((gap) => gap > 0.5 && gap < 1.6), `progress every second: ${gaps}`);
      const chargingAt = central.double.events.findIndex((event) =>
        event.value["status"] === "charging"
      );
      const firstProgressAt = central.double.events.indexOf(progress[0]!);
      assert.ok(chargingAt >= 0 && chargingAt < firstProgressAt, "charging before progress");
      await central.send({ event_type: "CP_UNPLUG", action: "unplug" });
      await central.waitFor("the ticket", () => session.state === "completed");
      assert.equal(session.ticketReason, "unplugged_by_user");
      await central.waitFor("available again", () => central.status === "available");
    } finally {
      await monitor.kill();
      await engine.dispose();
      await central.close();
    }
  },
});

Deno.test({
  name:
    "engine and Monitor restarted together: the session Central hands out and then kills is not supplied, and the next one lives",
  async fn() {
    const { broker, topics, cpId, stateDir, healthPort, central, args } = await restartablePoint(
      "peers-together",
      "CP_PT",
      ["--monitor-wait", "20"],
    );
    let engine = await startEngine(cpId, broker, healthPort, topics, args);
    let monitor = new PeerMonitor(central, healthPort);
    try {
      await central.waitFor(
        "Central sees the point available",
        () => central.status === "available",
      );
      await central.double.waitForStatus("available"); // the engine's own, 6 s after registering
      // Central's traffic on central-events (CP_INFO to the Monitors) has been read: the group
      // has committed offsets to resume from, as in any lab that has run for a while.
      await central.send({ event_type: "CP_INFO", action: "cp_info_update", status: "available" });
      await waitForCommitted(broker, `engine_group_${cpId}`, topics.centralEvents);
      // Both die, and both are started again. Central still holds the point as available and
      // ignores the new registration (EV_Central_WebSocket.py:1850-1870).
      engine.signal("SIGKILL");
      await engine.exited();
      await monitor.kill();
      engine = await startEngine(cpId, broker, healthPort, topics, args);
      // A Driver asks at once and Central authorises it; the Monitor comes back a few seconds
      // later (two terminals), silent for its first 15 s, and Central's Monitor timeout closes
      // the session with a ticket before the engine has even read it (its group takes 6 s).
      const doomed = await central.requestCharging("driver1", 1);
      assert.ok(doomed !== null, "Central authorises: it still sees the point available");
      await engine.waitForOutput(/INFO .* Ready$/m);
      monitor = new PeerMonitor(central, healthPort, 15_000);
      await central.waitFor("Central's Monitor timeout", () => doomed.state === "monitor_timeout");
      await engine.waitForOutput(/Central closed the session of driver1 \(monitor_timeout\)/);
      await central.waitFor(
        "Central sees the point available again (the Monitor's first OK)",
        () => central.status === "available",
        40_000,
      );
      const statuses = central.double.seen("cp_status_change").map((event) => event["status"]);
      await central.double.waitFor(
        "the engine's own available after the ticket",
        () => central.double.statuses().slice(statuses.length).includes("available"),
      );
      // On the wire (one partition, in order): no progress for driver1 after the engine's offline
      // that followed the ticket, and no charging_completed Central could not match.
      const events = central.double.events.map((event) => event.value);
      const offlineAt = events.findLastIndex((event) =>
        event["action"] === "cp_status_change" && event["status"] === "offline"
      );
      const lastProgressAt = events.findLastIndex((event) =>
        event["action"] === "charging_progress" && event["username"] === "driver1"
      );
      assert.ok(lastProgressAt < offlineAt, `driver1 supplied after the ticket:\n${engine.output}`);
      assert.deepEqual(central.double.seen("charging_completed"), []);

      // The next Driver's session lives on.
      const session = await central.requestCharging("driver2", 2);
      assert.ok(session !== null);
      await central.double.waitFor(
        "20 progress messages of driver2 (Central's checker ran 10 times meanwhile)",
        () => progressOf(central, "driver2").length >= 20,
        40_000,
      );
      assert.equal(
        session.state,
        "active",
        `the session was closed: ${JSON.stringify(session)}; engine:\n${engine.output}`,
      );
    } finally {
      await monitor.kill();
      await engine.dispose();
      await central.close();
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "engine and Monitor restarted together a while after registering: the engine's explicit offline keeps Central from handing out a session before the Monitor is back",
  async fn() {
    const { broker, topics, cpId, stateDir, healthPort, central, args } = await restartablePoint(
      "peers-later",
      "CP_PL",
      ["--monitor-wait", "20"],
    );
    let engine = await startEngine(cpId, broker, healthPort, topics, args);
    let monitor = new PeerMonitor(central, healthPort);
    try {
      await central.waitFor(
        "Central sees the point available",
        () => central.status === "available",
      );
      await central.double.waitForStatus("available");
      // Central ignores an offline over available within 30 s of the registration it took
      // (EV_Central_WebSocket.py:2490): this lab has run for longer than that.
      const registeredAt = central.rules.point(cpId).registeredAt!;
      await central.waitFor(
        "30 s since the registration",
        () => Date.now() / 1000 - registeredAt > 30,
        40_000,
      );
      engine.signal("SIGKILL");
      await engine.exited();
      await monitor.kill();
      const statusesBefore = central.double.statuses().length;
      engine = await startEngine(cpId, broker, healthPort, topics, args);
      monitor = new PeerMonitor(central, healthPort, 15_000);
      await central.double.waitForStatus("offline", statusesBefore);
      await central.waitFor("Central takes the offline", () => central.status === "offline");
      assert.equal(central.rules.point(cpId).registeredAt, registeredAt, "registration ignored");
      assert.equal(await central.requestCharging("driver1", 1), null, "no session handed out");
      await central.waitFor(
        "the Monitor's first OK",
        () => central.status === "available",
        40_000,
      );
      const session = await central.requestCharging("driver1", 1);
      assert.ok(session !== null);
      await central.double.waitFor(
        "20 progress messages (Central's checker ran 10 times meanwhile)",
        () => progressOf(central, "driver1").length >= 20,
        40_000,
      );
      assert.equal(session.state, "active", `closed: ${JSON.stringify(session)}`);
    } finally {
      await monitor.kill();
      await engine.dispose();
      await central.close();
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
