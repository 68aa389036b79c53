/**
 * Specification of the decoding of Central's commands (`decodeCommand`), following the table of
 * protocol.md section 4 and the message shapes listed under it.
 */
import assert from "node:assert/strict";
import {
  decodeCommand,
  type Decoded,
  type DecodedCommand,
  timestampMs,
} from "../src/protocol/commands.ts";

const CP = "CP_001";
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const OPTIONS = { cpId: CP, now: NOW, maxAgeMs: 30_000 };
const FRESH = NOW / 1000 - 1;

function decode(message: unknown): Decoded {
  return decodeCommand(JSON.stringify(message), OPTIONS);
}

/** Decodes `message` and returns its command, failing with the outcome when it is none. */
function commandOf(message: unknown): DecodedCommand {
  const decoded = decode(message);
  assert.equal(decoded.kind, "command", `expected a command, got ${JSON.stringify(decoded)}`);
  return (decoded as Extract<Decoded, { kind: "command" }>).command;
}

function assertIgnored(decoded: Decoded, reason: RegExp) {
  assert.equal(decoded.kind, "ignored", `expected ignored, got ${JSON.stringify(decoded)}`);
  assert.match((decoded as Extract<Decoded, { kind: "ignored" }>).reason, reason);
}

function assertRejected(decoded: Decoded, reason: RegExp) {
  assert.equal(decoded.kind, "rejected", `expected rejected, got ${JSON.stringify(decoded)}`);
  assert.match((decoded as Extract<Decoded, { kind: "rejected" }>).reason, reason);
}

/** One row of protocol.md section 4: how it is named on the wire and what it decodes to. */
interface Row {
  readonly eventType: string;
  /** The lower-case action. */
  readonly action: string;
  readonly fields: Record<string, unknown>;
  readonly command: DecodedCommand;
}

const ROWS: readonly Row[] = [
  {
    eventType: "AUTHORIZATION_RESPONSE",
    action: "authorization_response",
    fields: { authorized: true },
    command: { type: "authorization_response", authorized: true },
  },
  {
    eventType: "charging_started",
    action: "charging_started",
    fields: { username: "alice", user_id: 7, client_id: "client-1" },
    command: {
      type: "charging_started",
      driver: { username: "alice", userId: 7, clientId: "client-1" },
      requestedAt: FRESH * 1000,
    },
  },
  {
    eventType: "CHARGING_TICKET",
    action: "charging_ticket",
    fields: { username: "alice", energy_kwh: 0.2, cost: 0.06, reason: "monitor_timeout" },
    command: {
      type: "ticket_issued",
      username: "alice",
      reason: "monitor_timeout",
      issuedAt: FRESH * 1000,
    },
  },
  {
    eventType: "charging_stopped",
    action: "charging_stopped",
    fields: {},
    command: { type: "charging_stopped" },
  },
  {
    eventType: "CP_ERROR_SIMULATED",
    action: "cp_error_simulated",
    fields: { error_type: "Overheat", new_status: "out_of_service" },
    command: { type: "error_simulated", errorType: "Overheat", newStatus: "out_of_service" },
  },
  {
    eventType: "CP_ERROR_FIXED",
    action: "cp_error_fixed",
    fields: {},
    command: { type: "error_fixed" },
  },
  {
    eventType: "CP_STOP",
    action: "stop",
    fields: { reason: "Maintenance" },
    command: { type: "stop", reason: "Maintenance" },
  },
  {
    eventType: "CP_RESUME",
    action: "resume",
    fields: { reason: "Back" },
    command: { type: "resume", reason: "Back" },
  },
  { eventType: "CP_PLUG_IN", action: "plug_in", fields: {}, command: { type: "plug_in" } },
  { eventType: "CP_UNPLUG", action: "unplug", fields: {}, command: { type: "unplug" } },
  { eventType: "CP_FAULT", action: "fault", fields: {}, command: { type: "fault" } },
  { eventType: "CP_RECOVER", action: "recover", fields: {}, command: { type: "recover" } },
  {
    eventType: "CP_INFO",
    action: "cp_info_update",
    fields: { status: "available" },
    command: { type: "cp_info", status: "available" },
  },
];

Deno.test("every command of protocol.md section 4 matches by event_type OR by action", async (t) => {
  for (const row of ROWS) {
    await t.step(`${row.eventType} / ${row.action}`, async (t) => {
      const base = { message_id: "m-1", cp_id: CP, timestamp: FRESH, ...row.fields };
      await t.step("by event_type alone", () => {
        assert.deepEqual(commandOf({ ...base, event_type: row.eventType }), row.command);
      });
      await t.step("by action alone", () => {
        assert.deepEqual(commandOf({ ...base, action: row.action }), row.command);
      });
      await t.step("by both", () => {
        assert.deepEqual(
          commandOf({ ...base, event_type: row.eventType, action: row.action }),
          row.command,
        );
      });
      await t.step("by action when event_type is something else", () => {
        assert.deepEqual(
          commandOf({ ...base, event_type: "SOMETHING_ELSE", action: row.action }),
          row.command,
        );
      });
      await t.step("the name is the event_type, else the action", () => {
        const byType = decode({ ...base, event_type: row.eventType, action: row.action });
        assert.equal(byType.kind === "command" && byType.name, row.eventType);
        const byAction = decode({ ...base, action: row.action });
        assert.equal(byAction.kind === "command" && byAction.name, row.action);
      });
    });
  }
});

Deno.test("event_type and action are both matched whatever their case", () => {
  assert.deepEqual(commandOf({ event_type: "cp_stop", cp_id: CP }), { type: "stop", reason: "" });
  assert.deepEqual(commandOf({ action: "STOP", cp_id: CP }), { type: "stop", reason: "" });
});

Deno.test("the kinds Central sends that the engine does not act on are ignored", async (t) => {
  for (const name of ["CHARGING_TIMEOUT", "MONITOR_AUTH_RESPONSE"]) {
    await t.step(`${name} as event_type`, () => {
      assertIgnored(decode({ event_type: name, cp_id: CP, timestamp: FRESH }), /not acted on/);
    });
    await t.step(`${name.toLowerCase()} as action`, () => {
      assertIgnored(decode({ action: name.toLowerCase(), cp_id: CP }), /not acted on/);
    });
  }
});

Deno.test("unknown commands are ignored, not rejected", async (t) => {
  await t.step("an unknown event_type", () => {
    assertIgnored(decode({ event_type: "SELF_DESTRUCT", cp_id: CP }), /unknown command/);
  });
  await t.step("an unknown action", () => {
    assertIgnored(decode({ action: "self_destruct", cp_id: CP }), /unknown command/);
  });
  await t.step("neither event_type nor action", () => {
    const decoded = decode({ cp_id: CP, username: "alice" });
    assertIgnored(decoded, /unknown command/);
    assert.equal(decoded.kind === "ignored" && decoded.name, "(unnamed)");
  });
  await t.step("an inherited property name is no command", () => {
    assertIgnored(decode({ action: "constructor", cp_id: CP }), /unknown command/);
    assertIgnored(decode({ action: "__proto__", cp_id: CP }), /unknown command/);
    assertIgnored(decode({ event_type: "TOSTRING", cp_id: CP }), /unknown command/);
  });
});

Deno.test("the exact shapes Central and the control tool send", async (t) => {
  await t.step("charging_started", () => {
    const decoded = decode({
      message_id: "6f1c9a1e-2b7d-4c1e-9a61-0d5b1f6e2a11",
      event_type: "charging_started",
      action: "charging_started",
      cp_id: CP,
      username: "driver1",
      user_id: 3,
      client_id: "driver_3",
      timestamp: FRESH,
    });
    assert.deepEqual(decoded, {
      kind: "command",
      name: "charging_started",
      messageId: "6f1c9a1e-2b7d-4c1e-9a61-0d5b1f6e2a11",
      command: {
        type: "charging_started",
        driver: { username: "driver1", userId: 3, clientId: "driver_3" },
        requestedAt: FRESH * 1000,
      },
    });
  });

  await t.step("CHARGING_TICKET (Central closed a session: its Monitor timeout)", () => {
    const decoded = decode({
      message_id: "0b7e5f0c-8a4e-4a55-9d6e-3b2f1c0d9e88",
      event_type: "CHARGING_TICKET",
      username: "driver1",
      cp_id: CP,
      energy_kwh: 0.07,
      cost: 0.02,
      reason: "monitor_timeout",
      message: "El Monitor del CP dejó de responder (sin heartbeat por 6.1s)",
      timestamp: FRESH,
    });
    assert.deepEqual(decoded, {
      kind: "command",
      name: "CHARGING_TICKET",
      messageId: "0b7e5f0c-8a4e-4a55-9d6e-3b2f1c0d9e88",
      command: {
        type: "ticket_issued",
        username: "driver1",
        reason: "monitor_timeout",
        issuedAt: FRESH * 1000,
      },
    });
  });

  await t.step("a charging_started or ticket without a timestamp has no time", () => {
    const start = commandOf({ event_type: "charging_started", cp_id: CP, username: "a" });
    assert.equal("requestedAt" in start, false);
    const ticket = commandOf({ event_type: "CHARGING_TICKET", cp_id: CP, username: "a" });
    assert.deepEqual(ticket, { type: "ticket_issued", username: "a", reason: "", issuedAt: null });
  });

  await t.step("a ticket without a username is rejected", () => {
    assertRejected(
      decode({ event_type: "CHARGING_TICKET", cp_id: CP, timestamp: FRESH }),
      /CHARGING_TICKET: username/,
    );
  });

  await t.step("CP_STOP", () => {
    assert.deepEqual(
      commandOf({
        message_id: "m-2",
        event_type: "CP_STOP",
        action: "stop",
        cp_id: CP,
        new_status: "out_of_service",
        reason: "Stopped by admin",
        timestamp: FRESH,
      }),
      { type: "stop", reason: "Stopped by admin" },
    );
  });

  await t.step("CP_ERROR_SIMULATED with no action", () => {
    assert.deepEqual(
      commandOf({
        message_id: "m-3",
        event_type: "CP_ERROR_SIMULATED",
        cp_id: CP,
        error_type: "Hardware",
        new_status: "fault",
        timestamp: FRESH,
      }),
      { type: "error_simulated", errorType: "Hardware", newStatus: "fault" },
    );
  });

  await t.step("CP_ERROR_SIMULATED without new_status means fault", () => {
    assert.deepEqual(commandOf({ event_type: "CP_ERROR_SIMULATED", cp_id: CP }), {
      type: "error_simulated",
      errorType: "unspecified",
      newStatus: "fault",
    });
    assert.deepEqual(
      commandOf({ event_type: "CP_ERROR_SIMULATED", cp_id: CP, new_status: null }),
      { type: "error_simulated", errorType: "unspecified", newStatus: "fault" },
    );
  });

  await t.step("CP_ERROR_SIMULATED with each allowed new_status", () => {
    for (const status of ["fault", "out_of_service", "offline"] as const) {
      const command = commandOf({
        event_type: "CP_ERROR_SIMULATED",
        cp_id: CP,
        new_status: status,
      });
      assert.equal(command.type === "error_simulated" && command.newStatus, status);
    }
  });

  const controlTool: [string, string, DecodedCommand][] = [
    ["CP_FAULT", "fault", { type: "fault" }],
    ["CP_RECOVER", "recover", { type: "recover" }],
    ["CP_PLUG_IN", "plug_in", { type: "plug_in" }],
    ["CP_UNPLUG", "unplug", { type: "unplug" }],
  ];
  for (const [eventType, action, command] of controlTool) {
    await t.step(`${eventType} from the control tool`, () => {
      const decoded = decode({
        message_id: `tool-${action}`,
        event_type: eventType,
        action,
        cp_id: CP,
        timestamp: FRESH,
      });
      assert.deepEqual(decoded, {
        kind: "command",
        name: eventType,
        messageId: `tool-${action}`,
        command,
      });
    });
  }

  await t.step("CP_INFO with the Spanish estado", () => {
    assert.deepEqual(commandOf({ event_type: "CP_INFO", cp_id: CP, estado: "offline" }), {
      type: "cp_info",
      status: "offline",
    });
  });

  await t.step("CP_INFO with status and estado prefers status", () => {
    assert.deepEqual(
      commandOf({ action: "cp_info_update", cp_id: CP, status: "charging", estado: "offline" }),
      { type: "cp_info", status: "charging" },
    );
  });

  await t.step("AUTHORIZATION_RESPONSE without authorized", () => {
    assert.deepEqual(commandOf({ event_type: "AUTHORIZATION_RESPONSE", cp_id: CP }), {
      type: "authorization_response",
      authorized: null,
    });
  });

  await t.step("CP_STOP and CP_RESUME without a reason", () => {
    assert.deepEqual(commandOf({ event_type: "CP_STOP", cp_id: CP }), { type: "stop", reason: "" });
    assert.deepEqual(commandOf({ event_type: "CP_RESUME", cp_id: CP }), {
      type: "resume",
      reason: "",
    });
  });
});

Deno.test("charging_started reads the driver's fields", async (t) => {
  const started = (fields: Record<string, unknown>) =>
    commandOf({ action: "charging_started", cp_id: CP, ...fields });

  await t.step("user_id null is kept as null", () => {
    const command = started({ username: "alice", user_id: null, client_id: null });
    assert.deepEqual(command, {
      type: "charging_started",
      driver: { username: "alice", userId: null, clientId: null },
    });
  });

  await t.step("a missing user_id and client_id are null", () => {
    const command = started({ username: "alice" });
    assert.equal(command.type === "charging_started" && command.driver.userId, null);
    assert.equal(command.type === "charging_started" && command.driver.clientId, null);
  });

  await t.step("a numeric client_id becomes a string", () => {
    const command = started({ username: "alice", client_id: 12 });
    assert.equal(command.type === "charging_started" && command.driver.clientId, "12");
  });

  await t.step("a string user_id is kept", () => {
    const command = started({ username: "alice", user_id: "u-9" });
    assert.equal(command.type === "charging_started" && command.driver.userId, "u-9");
  });

  await t.step("the username is trimmed", () => {
    const command = started({ username: "  alice " });
    assert.equal(command.type === "charging_started" && command.driver.username, "alice");
  });
});

Deno.test("the message id is kept as a string, or null when absent", () => {
  const stop = { event_type: "CP_STOP", cp_id: CP };
  const id = (message: unknown) => {
    const decoded = decode(message);
    return decoded.kind === "command" ? decoded.messageId : "not a command";
  };
  assert.equal(id({ ...stop, message_id: "abc" }), "abc");
  assert.equal(id({ ...stop, message_id: 17 }), "17");
  assert.equal(id({ ...stop, message_id: null }), null);
  assert.equal(id(stop), null);
});

Deno.test("commands for another charging point, or for none, are ignored", async (t) => {
  await t.step("another cp_id", () => {
    assertIgnored(decode({ event_type: "CP_STOP", cp_id: "CP_002", reason: "x" }), /CP_002/);
  });
  await t.step("the cp_id is compared exactly", () => {
    assertIgnored(decode({ event_type: "CP_STOP", cp_id: "cp_001" }), /cp_001/);
    assertIgnored(decode({ event_type: "CP_STOP", cp_id: ` ${CP}` }), /for/);
  });
  await t.step("no cp_id", () => {
    assertIgnored(decode({ event_type: "CP_STOP", reason: "x" }), /no cp_id/);
  });
  await t.step("cp_id null", () => {
    assertIgnored(decode({ event_type: "CP_STOP", cp_id: null }), /no cp_id/);
  });
  await t.step("even a malformed command for another point is only ignored", () => {
    assertIgnored(decode({ action: "charging_started", cp_id: "CP_002", username: 5 }), /CP_002/);
  });
});

Deno.test("anything that is not a JSON object is rejected", async (t) => {
  const cases: [string, string | Uint8Array | null, RegExp][] = [
    ["not JSON", "{not json", /not JSON/],
    ["an empty string", "", /not JSON/],
    ["an array", JSON.stringify([{ event_type: "CP_STOP", cp_id: CP }]), /array/],
    ["a number", "42", /number/],
    ["null", "null", /null/],
    ["a string", '"CP_STOP"', /string/],
    ["a boolean", "true", /boolean/],
    ["no value at all", null, /empty/],
    ["bytes that are not UTF-8 JSON", new Uint8Array([0xff, 0xfe, 0x00]), /not JSON/],
  ];
  for (const [name, raw, reason] of cases) {
    await t.step(name, () => assertRejected(decodeCommand(raw, OPTIONS), reason));
  }
});

Deno.test("bytes are decoded as UTF-8", () => {
  const raw = new TextEncoder().encode(
    JSON.stringify({ action: "charging_started", cp_id: CP, username: "José" }),
  );
  const decoded = decodeCommand(raw, OPTIONS);
  assert.equal(decoded.kind, "command");
  assert.equal(
    decoded.kind === "command" && decoded.command.type === "charging_started" &&
      decoded.command.driver.username,
    "José",
  );
});

Deno.test("wrong field types are rejected with a reason naming the field", async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["username 5", { action: "charging_started", username: 5 }, /username/],
    ["username missing", { action: "charging_started" }, /username/],
    ["username blank", { action: "charging_started", username: "   " }, /username/],
    ["user_id an object", { action: "charging_started", username: "a", user_id: {} }, /user_id/],
    ["client_id true", { action: "charging_started", username: "a", client_id: true }, /client_id/],
    [
      'new_status "broken"',
      { event_type: "CP_ERROR_SIMULATED", new_status: "broken" },
      /new_status/,
    ],
    ["error_type 1", { event_type: "CP_ERROR_SIMULATED", error_type: 1 }, /error_type/],
    ["reason 3 (CP_STOP)", { event_type: "CP_STOP", reason: 3 }, /reason/],
    ["reason [] (CP_RESUME)", { event_type: "CP_RESUME", reason: [] }, /reason/],
    ['authorized "yes"', { event_type: "AUTHORIZATION_RESPONSE", authorized: "yes" }, /authorized/],
    ["CP_INFO without status or estado", { event_type: "CP_INFO" }, /status/],
    ["CP_INFO status 5", { event_type: "CP_INFO", status: 5 }, /status/],
    ["event_type 5", { event_type: 5 }, /event_type/],
    ["action false", { action: false }, /action/],
    ["message_id {}", { event_type: "CP_STOP", message_id: {} }, /message_id/],
  ];
  for (const [name, fields, reason] of cases) {
    await t.step(name, () => assertRejected(decode({ cp_id: CP, ...fields }), reason));
  }
  await t.step("cp_id 7", () => {
    assertRejected(decode({ event_type: "CP_STOP", cp_id: 7 }), /cp_id/);
  });
  await t.step("the reason names the command too", () => {
    assertRejected(decode({ cp_id: CP, event_type: "CP_STOP", reason: 3 }), /^CP_STOP: /);
  });
});

Deno.test("command age", async (t) => {
  const stop = { event_type: "CP_STOP", cp_id: CP, reason: "x" };
  const old = NOW - 31_000;

  await t.step("too old in epoch seconds is ignored", () => {
    assertIgnored(decode({ ...stop, timestamp: old / 1000 }), /too old/);
  });
  await t.step("too old in epoch seconds with a fraction is ignored", () => {
    assertIgnored(decode({ ...stop, timestamp: old / 1000 - 0.125 }), /too old/);
  });
  await t.step("too old in epoch milliseconds is ignored", () => {
    assertIgnored(decode({ ...stop, timestamp: old }), /too old/);
  });
  await t.step("too old as an ISO string is ignored", () => {
    assertIgnored(decode({ ...stop, timestamp: new Date(old).toISOString() }), /too old/);
  });
  await t.step("too old as a numeric string is ignored", () => {
    assertIgnored(decode({ ...stop, timestamp: String(old / 1000) }), /too old/);
  });
  await t.step("the log names the age and the limit", () => {
    assertIgnored(decode({ ...stop, timestamp: old / 1000 }), /31 s.*30 s/);
  });
  await t.step("the limit is the option", () => {
    const decoded = decodeCommand(JSON.stringify({ ...stop, timestamp: old / 1000 }), {
      ...OPTIONS,
      maxAgeMs: 60_000,
    });
    assert.equal(decoded.kind, "command");
  });

  const processed: [string, unknown][] = [
    ["fresh, in seconds", NOW / 1000 - 29],
    ["fresh, in milliseconds", NOW - 29_000],
    ["fresh, as an ISO string", new Date(NOW - 29_000).toISOString()],
    ["from the future (clock skew)", NOW / 1000 + 10],
    ["null", null],
    ["an empty string", ""],
    ["text that is no date", "yesterday"],
    ["zero", 0],
    ["negative", -5],
    ["an object", { seconds: 1 }],
    ["a boolean", true],
  ];
  for (const [name, timestamp] of processed) {
    await t.step(`a timestamp ${name} is processed`, () => {
      assert.deepEqual(commandOf({ ...stop, timestamp }), { type: "stop", reason: "x" });
    });
  }
  await t.step("a missing timestamp is processed", () => {
    assert.deepEqual(commandOf(stop), { type: "stop", reason: "x" });
  });
  await t.step("an old message of a kind not acted on is ignored as such", () => {
    assertIgnored(
      decode({ event_type: "CHARGING_TIMEOUT", cp_id: CP, timestamp: 1 }),
      /not acted on/,
    );
  });
});

Deno.test("timestampMs reads seconds, milliseconds and ISO dates", () => {
  assert.equal(timestampMs(1_767_268_800), 1_767_268_800_000);
  assert.equal(timestampMs(1_767_268_800.125), 1_767_268_800_125);
  assert.equal(timestampMs(1_767_268_800_125), 1_767_268_800_125);
  assert.equal(timestampMs("2026-01-01T12:00:00.000Z"), NOW);
  assert.equal(timestampMs("1767268800"), 1_767_268_800_000);
  for (const unusable of [null, undefined, "", "  ", "soon", 0, -1, Number.NaN, {}, true]) {
    assert.equal(timestampMs(unusable), null, `${String(unusable)}`);
  }
});
