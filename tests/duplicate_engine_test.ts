/**
 * Specification of the detection of two engines running with the same cp id: the pure detector,
 * and two real engine processes on a real broker that each say so.
 */
import assert from "node:assert/strict";
import {
  DUPLICATE_REPORT_INTERVAL_MS,
  DuplicateEngineDetector,
  type GroupMember,
} from "../src/adapters/kafka/duplicate_engine.ts";
import { brokerAddress, CentralDouble, uniqueTopics } from "./support/kafka.ts";
import { engineArgs, EngineProcess, freePort } from "./support/engine_process.ts";

const T0 = Date.UTC(2026, 0, 1);
const OWN = "11111111-1111-4111-8111-111111111111";
const OTHER = "22222222-2222-4222-8222-222222222222";

function member(id: string): GroupMember {
  return { memberId: id, clientId: "ev-cp-engine-CP_001", clientHost: "/10.0.0.7" };
}

Deno.test("the duplicate-engine detector", async (t) => {
  await t.step("its own events and events of other points are no sign", () => {
    const detector = new DuplicateEngineDetector("CP_001", OWN);
    assert.equal(detector.observeEvent({ cp_id: "CP_001", engine_instance: OWN }, T0), null);
    assert.equal(detector.observeEvent({ cp_id: "CP_002", engine_instance: OTHER }, T0), null);
    assert.equal(detector.observeEvent([1, 2], T0), null);
    assert.equal(detector.observeEvent(null, T0), null);
  });

  await t.step("an event from another instance is reported with its id", () => {
    const detector = new DuplicateEngineDetector("CP_001", OWN);
    const report = detector.observeEvent(
      { cp_id: "CP_001", engine_instance: OTHER, event_type: "CP_REGISTRATION" },
      T0,
    );
    assert.equal(
      report,
      `Another engine is running as CP_001 (instance ${OTHER}, seen in its CP_REGISTRATION): ` +
        "two engines with the same cp id confuse Central; stop one of them",
    );
  });

  await t.step("an event without an instance id comes from an older engine", () => {
    const detector = new DuplicateEngineDetector("CP_001", OWN);
    const report = detector.observeEvent({ cp_id: "CP_001", event_type: "cp_status_change" }, T0);
    assert.match(report ?? "", /an engine without an instance id/);
  });

  await t.step("at most one report per minute, then the count of signs held back", () => {
    const detector = new DuplicateEngineDetector("CP_001", OWN);
    const event = { cp_id: "CP_001", engine_instance: OTHER, event_type: "charging_progress" };
    assert.ok(detector.observeEvent(event, T0) !== null);
    for (let second = 1; second < 60; second++) {
      assert.equal(detector.observeEvent(event, T0 + second * 1000), null);
    }
    const next = detector.observeEvent(event, T0 + DUPLICATE_REPORT_INTERVAL_MS);
    assert.match(next ?? "", /stop one of them \(59 more signs since the last report\)$/);
  });

  await t.step("a command group with two members is reported; alone is fine", () => {
    const detector = new DuplicateEngineDetector("CP_001", OWN);
    assert.equal(detector.observeGroup("engine_group_CP_001", [member("a")], T0), null);
    const report = detector.observeGroup("engine_group_CP_001", [member("a"), member("b")], T0);
    assert.match(
      report ?? "",
      /^Another engine is running as CP_001 \(2 consumers share the command group engine_group_CP_001: ev-cp-engine-CP_001 at \/10\.0\.0\.7, ev-cp-engine-CP_001 at \/10\.0\.0\.7\)/,
    );
  });

  await t.step("a hostile instance id is cut and made printable", () => {
    const detector = new DuplicateEngineDetector("CP_001", OWN);
    const report = detector.observeEvent(
      { cp_id: "CP_001", engine_instance: "\u001b[31m" + "x".repeat(1000) },
      T0,
    );
    assert.ok(report !== null && report.length < 400 && !report.includes("\u001b"), report!);
  });
});

Deno.test({
  name: "two engines started with the same cp id both say that another engine runs as it",
  async fn() {
    const broker = await brokerAddress();
    const topics = uniqueTopics("duplicate");
    const cpId = `CP_DUP_${crypto.randomUUID().slice(0, 6)}`;
    const central = await CentralDouble.start(broker, topics);
    const stateDirs: string[] = [];
    const start = () => {
      const stateDir = `./state/test-duplicate-${crypto.randomUUID().slice(0, 8)}`;
      stateDirs.push(stateDir);
      return EngineProcess.start([
        ...engineArgs({ cpId, broker, healthPort: freePort(), topics }),
        "--state-dir",
        stateDir,
      ]);
    };
    const first = await start();
    let second: EngineProcess | undefined;
    try {
      await central.waitForStatus("available", 0, 30_000);
      const firstInstance = /engine instance ([0-9a-f-]{36})/.exec(first.output)?.[1];
      assert.ok(firstInstance, first.output);
      for (const event of central.events) {
        assert.equal(event.value["engine_instance"], firstInstance, "every event carries it");
      }

      second = await start();
      await second.waitForOutput(/engine instance [0-9a-f-]{36}/);
      const secondInstance = /engine instance ([0-9a-f-]{36})/.exec(second.output)?.[1];
      const started = performance.now();
      // The first sees the second's registration; the second sees the first in the group.
      await first.waitForOutput(
        `Another engine is running as ${cpId} (instance ${secondInstance}, seen in its CP_REGISTRATION)`,
        30_000,
      );
      await second.waitForOutput(`Another engine is running as ${cpId}`, 45_000);
      console.log(
        `both engines reported the duplicate within ${
          ((performance.now() - started) / 1000).toFixed(1)
        } s of the second start`,
      );
      for (const engine of [first, second]) {
        const lines = engine.output.split("\n").filter((line) => line.includes("Another engine"));
        assert.equal(lines.length, 1, "once per minute at most");
        assert.match(lines[0]!, / ERROR .*stop one of them/);
        console.log(lines[0]);
      }
    } finally {
      await Promise.all([first.dispose(), second?.dispose()]);
      await central.close();
      for (const dir of stateDirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
