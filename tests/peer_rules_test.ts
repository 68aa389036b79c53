/**
 * Specification of the model of the original peers (tests/support/peer_rules.ts): the rules it
 * holds, each as the original Central applies them (line numbers in `../shared/peers.md`).
 */
import assert from "node:assert/strict";
import { CentralRules } from "./support/peer_rules.ts";

const CP = "CP_001";
const T = 1_800_000_000;
let ids = 0;

function event(action: string, at: number, fields: Record<string, unknown> = {}) {
  return {
    message_id: `m-${++ids}`,
    event_type: action === "connect" ? "CP_REGISTRATION" : action,
    action,
    cp_id: CP,
    timestamp: at,
    ...fields,
  };
}

const status = (value: string, at: number) => event("cp_status_change", at, { status: value });

Deno.test("Central drops a second status change for a point within 2.0 s of processing, never later", () => {
  const central = new CentralRules();
  central.receive(status("fault", T), T);
  central.receive(status("available", T + 1.999), T + 1.999);
  assert.equal(central.point(CP).status, "fault");
  assert.match(central.dropped[0]!.why, /same type/);
  central.receive(status("available", T + 2.0), T + 2.0);
  assert.equal(central.point(CP).status, "available");
});

Deno.test("a registration resets the point to offline; available is ignored for 5 s after it", () => {
  const central = new CentralRules();
  central.receive(event("connect", T), T);
  central.receive(status("available", T + 4.9), T + 4.9);
  assert.equal(central.point(CP).status, "offline");
  central.receive(status("available", T + 7.5), T + 7.5);
  assert.equal(central.point(CP).status, "available");
});

Deno.test("a registration of a point already available, or within 10 s of the last, is ignored", async (t) => {
  await t.step("already available (an engine restarted while Central runs)", () => {
    const central = new CentralRules();
    central.receive(event("connect", T), T);
    central.receive(status("available", T + 7), T + 7);
    central.receive(event("connect", T + 60), T + 60);
    assert.equal(central.point(CP).status, "available");
    assert.equal(central.point(CP).registeredAt, T);
    assert.match(central.dropped.at(-1)!.why, /already available/);
  });
  await t.step("within 10 s of the last; a later one of an offline point resets it", () => {
    const central = new CentralRules();
    central.receive(event("connect", T), T);
    central.receive(status("fault", T + 3), T + 3);
    central.receive(event("connect", T + 9.9), T + 9.9);
    assert.equal(central.point(CP).status, "fault");
    central.receive(event("connect", T + 12), T + 12);
    assert.equal(central.point(CP).status, "offline");
    assert.equal(central.point(CP).registeredAt, T + 12);
  });
});

Deno.test("events older than 30 s and repeated message ids are dropped", () => {
  const central = new CentralRules();
  central.receive(status("fault", T - 31), T);
  assert.equal(central.point(CP).status, "offline");
  const once = status("fault", T + 10);
  central.receive(once, T + 10);
  central.receive({ ...once, status: "available" }, T + 20);
  assert.equal(central.point(CP).status, "fault");
});

Deno.test("a ticket closes the user's active session and frees the point", () => {
  const central = new CentralRules();
  central.monitorOk(CP, T, true);
  const session = central.authorize(CP, "driver1", T)!;
  central.receive(
    event("charging_progress", T + 1, { username: "driver1", energy_kwh: 0.01 }),
    T + 1,
  );
  central.receive(
    event("charging_completed", T + 5, { username: "driver1", energy_kwh: 0.05, reason: "x" }),
    T + 5,
  );
  assert.equal(session.state, "completed");
  assert.equal(session.energyKwh, 0.05);
  assert.equal(central.point(CP).status, "available");
});

Deno.test("the Monitor timeout closes the session only of a point not already offline", async (t) => {
  await t.step("point charging: offline and the session closed", () => {
    const central = new CentralRules();
    central.monitorOk(CP, T, true);
    const session = central.authorize(CP, "driver1", T)!;
    central.advance(T + 6);
    assert.equal(central.point(CP).status, "offline");
    assert.equal(session.state, "monitor_timeout");
    assert.deepEqual(central.tickets, [{
      event_type: "CHARGING_TICKET",
      cp_id: CP,
      username: "driver1",
      energy_kwh: 0,
      cost: 0,
      reason: "monitor_timeout",
      timestamp: T + 6,
    }]);
  });

  await t.step("point already offline: the session stays active, with no ticket", () => {
    const central = new CentralRules();
    central.monitorOk(CP, T, true);
    const session = central.authorize(CP, "driver1", T)!;
    central.receive(
      event("charging_progress", T + 1, { username: "driver1", energy_kwh: 1 }),
      T + 1,
    );
    central.receive(status("offline", T + 3), T + 3);
    central.advance(T + 6);
    assert.equal(session.state, "active");
  });

  await t.step("a Monitor silent since it connected times out the same way", () => {
    const central = new CentralRules();
    central.monitorOk(CP, T - 100, true);
    central.monitorConnected(CP, T);
    const session = central.authorize(CP, "driver1", T + 3)!;
    central.receive(
      event("charging_progress", T + 4, { username: "driver1", energy_kwh: 1 }),
      T + 4,
    );
    central.advance(T + 6);
    assert.equal(session.state, "monitor_timeout");
  });
});

Deno.test("the Driver cancels a session with no progress for 15 s", () => {
  const central = new CentralRules();
  central.monitorOk(CP, T, true);
  const session = central.authorize(CP, "driver1", T)!;
  central.monitorOk(CP, T + 14, false);
  central.advance(T + 14);
  assert.equal(session.state, "active");
  central.advance(T + 15.5);
  assert.equal(session.state, "cancelled");
  assert.equal(central.point(CP).status, "available");
});
