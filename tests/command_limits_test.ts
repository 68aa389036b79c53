/**
 * Specification of the limits the command decoder puts on hostile values: identifiers are
 * bounded and free of control characters, free text is cleaned and cut rather than rejected, and
 * names that end up in log lines cannot forge a line.
 */
import assert from "node:assert/strict";
import { decodeCommand, type Decoded } from "../src/protocol/commands.ts";

const CP = "CP_001";
const NOW = Date.UTC(2026, 0, 1);

function decode(message: Record<string, unknown>): Decoded {
  return decodeCommand(
    JSON.stringify({ cp_id: CP, timestamp: NOW / 1000, ...message }),
    { cpId: CP, now: NOW, maxAgeMs: 30_000 },
  );
}

function rejectedReason(message: Record<string, unknown>): string {
  const decoded = decode(message);
  assert.equal(decoded.kind, "rejected", JSON.stringify(decoded));
  return (decoded as { reason: string }).reason;
}

const START = { event_type: "charging_started", action: "charging_started", user_id: 1 };

Deno.test("identifiers are bounded and free of control characters", async (t) => {
  await t.step("a 100 KB username is rejected, and the reason does not repeat it", () => {
    const reason = rejectedReason({ ...START, username: "A".repeat(100 * 1024) });
    assert.match(reason, /username must be at most 256 characters/);
    assert.ok(reason.length < 200);
  });

  await t.step("a username with a newline or an escape sequence is rejected", () => {
    assert.match(
      rejectedReason({ ...START, username: "eve\n2026-01-01T00:00:00Z ERROR forged" }),
      /username must not contain control characters/,
    );
    assert.match(rejectedReason({ ...START, username: "\u001b[2Jeve" }), /control characters/);
  });

  await t.step("a 256-character username with accents and emoji is fine", () => {
    const username = "é".repeat(250) + "🚗";
    const decoded = decode({ ...START, username });
    assert.equal(decoded.kind, "command");
  });

  await t.step("a huge message_id is rejected: it would be remembered for de-duplication", () => {
    const reason = rejectedReason({ event_type: "CP_FAULT", message_id: "x".repeat(10_000) });
    assert.match(reason, /message_id/);
  });

  await t.step("a huge client_id or string user_id is rejected", () => {
    assert.match(
      rejectedReason({ ...START, username: "eve", client_id: "c".repeat(300) }),
      /client_id/,
    );
    assert.match(
      rejectedReason({ ...START, username: "eve", user_id: "u".repeat(300) }),
      /user_id/,
    );
  });

  await t.step("a CP_INFO status with control characters is rejected", () => {
    assert.match(
      rejectedReason({ event_type: "CP_INFO", status: "available\nforged" }),
      /status must not contain control characters/,
    );
  });
});

Deno.test("free text is cleaned and cut, and the command still applies", async (t) => {
  await t.step(
    "a CP_STOP with a 100 KB multi-line reason stops, with a short one-line reason",
    () => {
      const decoded = decode({
        event_type: "CP_STOP",
        reason: "line one\nline two " + "r".repeat(1e5),
      });
      assert.equal(decoded.kind, "command");
      const command = (decoded as Extract<Decoded, { kind: "command" }>).command;
      assert.equal(command.type, "stop");
      const reason = (command as { reason: string }).reason;
      assert.equal(reason.length, 200);
      assert.ok(reason.startsWith("line one line two "));
    },
  );

  await t.step("an error_type with an escape sequence is cleaned", () => {
    const decoded = decode({ event_type: "CP_ERROR_SIMULATED", error_type: "\u001b[31mboom" });
    const command = (decoded as Extract<Decoded, { kind: "command" }>).command;
    assert.deepEqual(command, {
      type: "error_simulated",
      errorType: " [31mboom",
      newStatus: "fault",
    });
  });
});

Deno.test("names that are logged cannot forge a log line", async (t) => {
  await t.step("a valid action with a forged event_type is named with its controls escaped", () => {
    const decoded = decode({ event_type: "x\n2026-01-01 ERROR forged", action: "resume" });
    assert.equal(decoded.kind, "command");
    const name = (decoded as { name: string }).name;
    assert.ok(!name.includes("\n"), name);
    assert.equal(name, "x\\u000a2026-01-01 ERROR forged");
  });

  await t.step("another cp id with controls is escaped in the ignore reason", () => {
    const decoded = decode({ event_type: "CP_FAULT", cp_id: "CP\r\n002" });
    assert.equal(decoded.kind, "ignored");
    assert.equal((decoded as { reason: string }).reason, "for CP\\u000d\\u000a002");
  });
});
