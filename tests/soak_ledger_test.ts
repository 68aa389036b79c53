/** Specification of the soak's judge (tools/soak/ledger.ts): what counts as a broken promise. */
import assert from "node:assert/strict";
import { clean, judge } from "../tools/soak/ledger.ts";

let ids = 0;
const progress = (user: string, energy: number, id = `p${++ids}`) => ({
  message_id: id,
  event_type: "charging_progress",
  cp_id: "CP",
  username: user,
  energy_kwh: energy,
});
const ticket = (user: string, energy: number, reason = "unplugged_by_user", id = `t${++ids}`) => ({
  message_id: id,
  event_type: "charging_completed",
  cp_id: "CP",
  username: user,
  energy_kwh: energy,
  reason,
});

Deno.test("one ticket per session, at least the last progress: clean", () => {
  const report = judge([progress("a", 0.1), progress("a", 0.2), ticket("a", 0.21)]);
  assert.ok(clean(report), JSON.stringify(report));
  assert.equal(report.sessions, 1);
  assert.equal(report.ticketsSeen, 1);
});

Deno.test("a redelivered ticket (same message id) is dropped, not a duplicate", () => {
  const once = ticket("a", 0.3, "engine_recovered", "same");
  const report = judge([progress("a", 0.2), once, once]);
  assert.ok(clean(report));
  assert.equal(report.duplicateDeliveries, 1);
});

Deno.test("two tickets for one session, a missing one, less energy than shown, a lost event", () => {
  const report = judge(
    [progress("a", 0.2), ticket("a", 0.2), ticket("a", 0.2, "engine_recovered")],
    [],
  );
  assert.equal(report.duplicateTickets.length, 1);
  assert.equal(judge([progress("b", 0.1)]).missingTickets.length, 1);
  assert.equal(judge([progress("c", 0.5), ticket("c", 0.4)]).energyBelowProgress.length, 1);
  assert.deepEqual(judge([progress("d", 0.1, "x")], ["x", "y"]).lost, ["y"]);
  assert.deepEqual(judge([], [], ["CP/e"]).missingTickets, ["CP/e"], "a started session counts");
  assert.ok(!clean(report));
});
