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
    "the Monitor killed mid-session: the engine closes the session with a monitor_lost ticket and Central has no session left open",
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
      await central.double.waitFor(
        "the engine's ticket",
        () => central.double.seen("charging_completed").length > 0,
        15_000,
      );
      const [ticket] = central.double.seen("charging_completed");
      assert.equal(ticket?.["reason"], "monitor_lost");
      assert.ok(Number(ticket?.["energy_kwh"]) >= Number(lastBefore["energy_kwh"]));
      await central.double.waitForStatus("offline", 0, 10_000);
      const types = central.double.events.map((event) =>
        `${event.value["event_type"]}:${event.value["status"] ?? ""}`
      );
      assert.ok(
        types.indexOf("charging_completed:") < types.indexOf("cp_status_change:offline"),
        `the ticket goes out before offline: ${types}`,
      );
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
    const broker = await brokerAddress();
    const topics = uniqueTopics("peers-stale");
    const cpId = `CP_PS_${crypto.randomUUID().slice(0, 6)}`;
    const stateDir = `state/test-${crypto.randomUUID().slice(0, 8)}`;
    const healthPort = freePort();
    const central = await PeerCentral.start(broker, topics, cpId);
    const args = ["--state-dir", stateDir, "--group-id", `engine_group_${cpId}`];
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
    "engine and Monitor restarted together: Central hands out no session that its Monitor timeout then kills",
  async fn() {
    const broker = await brokerAddress();
    const topics = uniqueTopics("peers-together");
    const cpId = `CP_PT_${crypto.randomUUID().slice(0, 6)}`;
    const stateDir = `state/test-${crypto.randomUUID().slice(0, 8)}`;
    const healthPort = freePort();
    const central = await PeerCentral.start(broker, topics, cpId);
    const args = [
      "--state-dir",
      stateDir,
      "--group-id",
      `engine_group_${cpId}`,
      "--monitor-wait",
      "20",
    ];
    let engine = await startEngine(cpId, broker, healthPort, topics, args);
    let monitor = new PeerMonitor(central, healthPort);
    try {
      await central.waitFor(
        "Central sees the point available",
        () => central.status === "available",
      );
      await central.double.waitForStatus("available"); // the engine's own, 6 s after registering
      // Both die, and both are started again.
      engine.signal("SIGKILL");
      await engine.exited();
      await monitor.kill();
      const firstRegistration = central.rules.point(cpId).registeredAt;
      engine = await startEngine(cpId, broker, healthPort, topics, args);
      await central.waitFor(
        "the registration of the restarted engine",
        () => central.rules.point(cpId).registeredAt !== firstRegistration,
      );
      // The Monitor comes back a few seconds after the engine (two terminals), as the engine
      // takes commands again; it is silent for its first 15 s.
      await engine.waitForOutput(/INFO .* Ready$/m);
      monitor = new PeerMonitor(central, healthPort, 15_000);
      await central.waitFor(
        "Central sees the point available again",
        () => central.status === "available",
        40_000,
      );
      // A Driver asks at once; the session must live on.
      const session = await central.requestCharging("driver1", 1);
      assert.ok(session !== null);
      await new Promise((resolve) => setTimeout(resolve, 20_000));
      assert.equal(
        session.state,
        "active",
        `the session was closed: ${JSON.stringify(session)}; engine:\n${engine.output}`,
      );
      assert.ok(progressOf(central, "driver1").length > 10);
    } finally {
      await monitor.kill();
      await engine.dispose();
      await central.close();
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
