/**
 * The short soak (tools/soak.ts) as CI runs it: kill -9 at every moment of a session's life, a
 * broker outage during a session, and a fleet killed mid-sessions; then exactly one ticket per
 * session, nothing acknowledged lost, everything in order, an empty state after the last stop.
 * The long run (`deno task soak`) is run by hand; its table is in the reliability notes.
 */
import assert from "node:assert/strict";
import { runSoak, soakPassed, soakTable } from "../tools/soak.ts";

Deno.test("the short soak: every promise holds under kill -9 and broker outages", async () => {
  const results = await runSoak({
    seed: 20261130,
    kills: 5,
    brokerRestarts: 1,
    fleetPoints: 10,
    log: (line) => console.log(line),
  });
  const table = soakTable(results);
  console.log(table);
  assert.ok(soakPassed(results), table);
  assert.ok(results.every((result) => result.report.sessions > 0), "sessions were soaked");
});
