/**
 * Specification of the events the engine publishes (protocol.md sections 2 and 3): exact field
 * sets, types and rounding, checked on the JSON that goes on the wire.
 */
import assert from "node:assert/strict";
import {
  completedEvent,
  type EventPayload,
  progressEvent,
  registrationEvent,
  statusChangeEvent,
  toEpochSeconds,
} from "../src/protocol/events.ts";
import { costOf } from "../src/domain/session.ts";
import { STATUSES } from "../src/domain/charge_point.ts";

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0, 125);
const CONTEXT = { cpId: "CP_042", messageId: "3b241101-e2bb-4255-8caf-4136c566a962", now: NOW };
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ENVELOPE = ["message_id", "event_type", "action", "cp_id", "engine_id", "timestamp"];

const alice = { username: "alice", userId: 7, clientId: "client-alice" };

/** The event as a peer receives it: through JSON. */
function onTheWire(event: EventPayload): Record<string, unknown> {
  return JSON.parse(JSON.stringify(event));
}

function typesOf(value: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(value).map(([key, field]) => [key, field === null ? "null" : typeof field]),
  );
}

/** Whether `value` has at most `places` decimals. */
function hasAtMostDecimals(value: number, places: number): boolean {
  const scale = 10 ** places;
  return Math.abs(Math.round(value * scale) / scale - value) < 1e-12;
}

function assertEnvelope(value: Record<string, unknown>, eventType: string, action: string) {
  assert.equal(value["message_id"], CONTEXT.messageId);
  assert.equal(value["event_type"], eventType);
  assert.equal(value["action"], action);
  assert.equal(value["cp_id"], "CP_042");
  assert.equal(value["engine_id"], value["cp_id"], "engine_id is the cp_id");
  assert.equal(value["timestamp"], 1_767_268_800.125, "epoch seconds with the fraction");
}

Deno.test("the envelope of every event", async (t) => {
  const events: [string, EventPayload][] = [
    [
      "CP_REGISTRATION",
      registrationEvent(CONTEXT, { location: "x", maxPowerKw: 22, tariffEurPerKwh: 0.3 }),
    ],
    [
      "cp_status_change",
      statusChangeEvent(CONTEXT, { status: "available", previousStatus: "offline", reason: "r" }),
    ],
    [
      "charging_progress",
      progressEvent(CONTEXT, { driver: alice, energyKwh: 1, powerKw: 2, tariffEurPerKwh: 0.3 }),
    ],
    [
      "charging_completed",
      completedEvent(CONTEXT, {
        driver: alice,
        energyKwh: 1,
        tariffEurPerKwh: 0.3,
        durationSeconds: 10,
        reason: "unplugged_by_user",
      }),
    ],
  ];
  for (const [name, event] of events) {
    await t.step(
      `${name} carries message_id, event_type, action, cp_id, engine_id, timestamp`,
      () => {
        const value = onTheWire(event);
        for (const field of ENVELOPE) assert.ok(field in value, `${field} is present`);
        assert.equal(typeof value["message_id"], "string");
        assert.equal(typeof value["event_type"], "string");
        assert.equal(typeof value["action"], "string");
        assert.equal(typeof value["timestamp"], "number");
        assert.equal(value["engine_id"], value["cp_id"]);
        assert.equal(value["message_id"], CONTEXT.messageId);
      },
    );
  }

  await t.step("the message id is the UUID v4 it is given", () => {
    assert.match(CONTEXT.messageId, UUID_V4);
    const id = crypto.randomUUID();
    const event = statusChangeEvent({ ...CONTEXT, messageId: id }, {
      status: "available",
      previousStatus: "offline",
      reason: "r",
    });
    assert.equal(event.message_id, id);
    assert.match(event.message_id, UUID_V4);
  });

  await t.step("the timestamp is epoch seconds with a fraction, from the creation time", () => {
    assert.equal(toEpochSeconds(NOW), 1_767_268_800.125);
    assert.equal(toEpochSeconds(0), 0);
    const timestamp = onTheWire(events[0]![1])["timestamp"] as number;
    assert.ok(!Number.isInteger(timestamp), "the milliseconds are kept as a fraction");
    assert.ok(timestamp > 1e9 && timestamp < 1e10, "seconds, not milliseconds");
  });
});

Deno.test("CP_REGISTRATION has the English and Spanish keys Centrals read", () => {
  const value = onTheWire(registrationEvent(CONTEXT, {
    location: "Calle Mayor 1",
    maxPowerKw: 22,
    tariffEurPerKwh: 0.3,
  }));
  assertEnvelope(value, "CP_REGISTRATION", "connect");
  assert.deepEqual(Object.keys(value).sort(), [...ENVELOPE, "status", "data"].sort());
  assert.equal(value["status"], "offline");
  const data = value["data"] as Record<string, unknown>;
  assert.deepEqual(data, {
    location: "Calle Mayor 1",
    localizacion: "Calle Mayor 1",
    max_kw: 22,
    max_power_kw: 22,
    tarifa_kwh: 0.3,
    tariff_per_kwh: 0.3,
    price_eur_kwh: 0.3,
    status: "offline",
    estado: "offline",
  });
  assert.deepEqual(typesOf(data), {
    location: "string",
    localizacion: "string",
    max_kw: "number",
    max_power_kw: "number",
    tarifa_kwh: "number",
    tariff_per_kwh: "number",
    price_eur_kwh: "number",
    status: "string",
    estado: "string",
  });
});

Deno.test("cp_status_change has status, previous_status and reason", async (t) => {
  await t.step("the exact fields", () => {
    const value = onTheWire(statusChangeEvent(CONTEXT, {
      status: "charging",
      previousStatus: "available",
      reason: "Charging started for alice",
    }));
    assertEnvelope(value, "cp_status_change", "cp_status_change");
    assert.deepEqual(
      Object.keys(value).sort(),
      [...ENVELOPE, "status", "previous_status", "reason"].sort(),
    );
    assert.equal(value["status"], "charging");
    assert.equal(value["previous_status"], "available");
    assert.equal(value["reason"], "Charging started for alice");
  });

  await t.step("every status goes out lower case, as Central knows it", () => {
    assert.deepEqual([...STATUSES], [
      "available",
      "charging",
      "offline",
      "fault",
      "out_of_service",
    ]);
    for (const status of STATUSES) {
      for (const previousStatus of STATUSES) {
        const value = onTheWire(
          statusChangeEvent(CONTEXT, { status, previousStatus, reason: "r" }),
        );
        assert.equal(value["status"], status);
        assert.equal(value["previous_status"], previousStatus);
      }
    }
  });
});

Deno.test("charging_progress", async (t) => {
  const figures = { driver: alice, energyKwh: 12.345678, powerKw: 19.456789, tariffEurPerKwh: 0.3 };

  await t.step("has exactly username, user_id, energy_kwh, cost, power_kw", () => {
    const value = onTheWire(progressEvent(CONTEXT, figures));
    assertEnvelope(value, "charging_progress", "charging_progress");
    assert.deepEqual(
      Object.keys(value).sort(),
      [...ENVELOPE, "username", "user_id", "energy_kwh", "cost", "power_kw"].sort(),
    );
    assert.deepEqual(typesOf(value), {
      message_id: "string",
      event_type: "string",
      action: "string",
      cp_id: "string",
      engine_id: "string",
      timestamp: "number",
      username: "string",
      user_id: "number",
      energy_kwh: "number",
      cost: "number",
      power_kw: "number",
    });
  });

  await t.step("energy has 3 decimals, cost and power 2", () => {
    const value = onTheWire(progressEvent(CONTEXT, figures));
    assert.equal(value["energy_kwh"], 12.346);
    assert.equal(value["cost"], 3.7, "12.346 kWh x 0.30 EUR = 3.7038 -> 3.70");
    assert.equal(value["power_kw"], 19.46);
  });

  await t.step("rounding holds for many figures", () => {
    for (let i = 1; i < 2_000; i++) {
      const energyKwh = i * 0.0137137;
      const value = onTheWire(progressEvent(CONTEXT, {
        driver: alice,
        energyKwh,
        powerKw: i * 0.011111,
        tariffEurPerKwh: 0.37,
      }));
      assert.ok(
        hasAtMostDecimals(value["energy_kwh"] as number, 3),
        `energy ${value["energy_kwh"]}`,
      );
      assert.ok(hasAtMostDecimals(value["cost"] as number, 2), `cost ${value["cost"]}`);
      assert.ok(hasAtMostDecimals(value["power_kw"] as number, 2), `power ${value["power_kw"]}`);
      assert.equal(value["cost"], costOf(energyKwh, 0.37));
    }
  });

  await t.step("user_id null is kept as null", () => {
    const value = onTheWire(
      progressEvent(CONTEXT, { ...figures, driver: { ...alice, userId: null } }),
    );
    assert.ok("user_id" in value);
    assert.equal(value["user_id"], null);
  });

  await t.step("the username is the driver's", () => {
    const value = onTheWire(progressEvent(CONTEXT, figures));
    assert.equal(value["username"], "alice");
    assert.equal(value["user_id"], 7);
  });
});

Deno.test("charging_completed", async (t) => {
  const figures = {
    driver: alice,
    energyKwh: 20.0004,
    tariffEurPerKwh: 0.3,
    durationSeconds: 3_723.6,
    reason: "stopped_by_central" as const,
  };

  await t.step("has exactly username, user_id, energy_kwh, cost, duration_sec, reason", () => {
    const value = onTheWire(completedEvent(CONTEXT, figures));
    assertEnvelope(value, "charging_completed", "charging_completed");
    assert.deepEqual(
      Object.keys(value).sort(),
      [...ENVELOPE, "username", "user_id", "energy_kwh", "cost", "duration_sec", "reason"].sort(),
    );
    assert.equal(value["username"], "alice");
    assert.equal(value["user_id"], 7);
    assert.equal(value["energy_kwh"], 20);
    assert.equal(value["cost"], 6);
    assert.equal(value["reason"], "stopped_by_central");
  });

  await t.step("duration_sec is an integer", () => {
    const value = onTheWire(completedEvent(CONTEXT, figures));
    assert.equal(value["duration_sec"], 3_724);
    assert.ok(Number.isInteger(value["duration_sec"]));
    for (const durationSeconds of [0, 0.4, 0.5, 59.99, 86_400.2]) {
      const duration =
        onTheWire(completedEvent(CONTEXT, { ...figures, durationSeconds }))["duration_sec"];
      assert.ok(Number.isInteger(duration), `${durationSeconds} -> ${duration}`);
    }
  });

  await t.step("a negative duration (clock step back) is 0", () => {
    const value = onTheWire(completedEvent(CONTEXT, { ...figures, durationSeconds: -3 }));
    assert.equal(value["duration_sec"], 0);
  });

  await t.step("energy has 3 decimals and cost 2, computed like progress", () => {
    const energyKwh = 7.77777;
    const completed = onTheWire(completedEvent(CONTEXT, { ...figures, energyKwh }));
    const progress = onTheWire(progressEvent(CONTEXT, {
      driver: alice,
      energyKwh,
      powerKw: 0,
      tariffEurPerKwh: 0.3,
    }));
    assert.equal(completed["energy_kwh"], 7.778);
    assert.equal(completed["cost"], 2.33);
    assert.equal(completed["energy_kwh"], progress["energy_kwh"]);
    assert.equal(completed["cost"], progress["cost"]);
  });

  await t.step("user_id null is kept as null", () => {
    const value = onTheWire(
      completedEvent(CONTEXT, { ...figures, driver: { ...alice, userId: null } }),
    );
    assert.equal(value["user_id"], null);
  });

  await t.step("every end reason goes out as given", () => {
    const reasons = [
      "unplugged_by_user",
      "stopped_by_central",
      "fault",
      "engine_shutdown",
      "engine_recovered",
      "plug_in_timeout",
    ] as const;
    for (const reason of reasons) {
      assert.equal(onTheWire(completedEvent(CONTEXT, { ...figures, reason }))["reason"], reason);
    }
  });
});

Deno.test("numbers go on the wire as JSON numbers, never strings", () => {
  const text = JSON.stringify(progressEvent(CONTEXT, {
    driver: alice,
    energyKwh: 1.5,
    powerKw: 18.7,
    tariffEurPerKwh: 0.3,
  }));
  assert.match(text, /"energy_kwh":1\.5[,}]/);
  assert.match(text, /"cost":0\.45[,}]/);
  assert.match(text, /"power_kw":18\.7[,}]/);
  assert.match(text, /"timestamp":1767268800\.125[,}]/);
});
