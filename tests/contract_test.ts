/**
 * The published message contract, docs/asyncapi.yaml: a valid AsyncAPI 3.0 document (checked
 * against the official JSON Schema of npm `@asyncapi/specs`), whose payload schemas accept every
 * event the engine's builders produce and reject a renamed or retyped field. The integration
 * tests check every event the real engine publishes against it too (CentralDouble).
 */
import assert from "node:assert/strict";
import {
  asyncApiDocumentProblems,
  loadContract,
  publishedEventChecker,
} from "./support/contract.ts";
import {
  completedEvent,
  progressEvent,
  registrationEvent,
  statusChangeEvent,
} from "../src/protocol/events.ts";
import { type EndReason, STATUSES } from "../src/domain/charge_point.ts";
import { SETTINGS } from "../src/cli/settings.ts";

const document = loadContract();
const checker = publishedEventChecker(document);
const context = () => ({ cpId: "CP_007", messageId: crypto.randomUUID(), now: 1_764_350_000_125 });
const driver = { username: "ana", userId: 42, clientId: "driver-1" };
const END_REASONS: EndReason[] = [
  "unplugged_by_user",
  "stopped_by_central",
  "fault",
  "engine_shutdown",
  "engine_recovered",
  "plug_in_timeout",
];

Deno.test("docs/asyncapi.yaml is a valid AsyncAPI 3.0 document", () => {
  assert.equal(document["asyncapi"], "3.0.0");
  assert.deepEqual(asyncApiDocumentProblems(document), []);
});

Deno.test("the validation of the document can fail: a misspelt key is reported", () => {
  const broken = structuredClone(document) as Record<string, Record<string, unknown>>;
  broken["operations"]!["publishCpEvents"] = { action: "publish", channel: {} };
  assert.notDeepEqual(asyncApiDocumentProblems(broken), []);
});

Deno.test("the channels' addresses are the engine's default topics", () => {
  const channels = document["channels"] as Record<string, { address: string }>;
  assert.equal(channels["cpEvents"]?.address, SETTINGS.cpEventsTopic.default);
  assert.equal(channels["centralEvents"]?.address, SETTINGS.centralEventsTopic.default);
  assert.deepEqual(checker.publishedEventTypes, [
    "CP_REGISTRATION",
    "cp_status_change",
    "charging_progress",
    "charging_completed",
  ]);
});

Deno.test("every event the engine's builders produce conforms to the contract", async (t) => {
  const check = (event: unknown) => assert.deepEqual(checker.check(event), []);
  await t.step("CP_REGISTRATION", () =>
    check(
      registrationEvent(context(), { location: "Lab", maxPowerKw: 22, tariffEurPerKwh: 0.3 }),
    ));
  for (const status of STATUSES) {
    await t.step(`cp_status_change to ${status}`, () =>
      check(
        statusChangeEvent(context(), { status, previousStatus: "offline", reason: "test" }),
      ));
  }
  await t.step("charging_progress, with a null user_id too", () => {
    const figures = { driver, energyKwh: 1.2345, powerKw: 20.123, tariffEurPerKwh: 0.3 };
    check(progressEvent(context(), figures));
    check(progressEvent(context(), { ...figures, driver: { ...driver, userId: null } }));
  });
  for (const reason of END_REASONS) {
    await t.step(`charging_completed (${reason})`, () =>
      check(
        completedEvent(context(), {
          driver,
          energyKwh: 3.5,
          tariffEurPerKwh: 0.3,
          durationSeconds: 600.4,
          reason,
        }),
      ));
  }
  await t.step("any event with the optional engine_instance", () =>
    check({
      ...statusChangeEvent(context(), {
        status: "available",
        previousStatus: "offline",
        reason: "Engine ready",
      }),
      engine_instance: crypto.randomUUID(),
    }));
});

Deno.test("a renamed, retyped, missing or unknown field breaks the contract", async (t) => {
  const good = statusChangeEvent(context(), {
    status: "available",
    previousStatus: "offline",
    reason: "Engine ready",
  }) as Record<string, unknown>;
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["status renamed to state", { ...without(good, "status"), state: "available" }, /status/],
    ["a status outside the enum", { ...good, status: "AVAILABLE" }, /allowed values/],
    ["timestamp as a string", { ...good, timestamp: "1764350000.125" }, /timestamp/],
    ["no message_id", without(good, "message_id"), /message_id/],
    ["an unknown event_type", { ...good, event_type: "cp_status" }, /not a message/],
    ["a non-object", [] as unknown as Record<string, unknown>, /not a message/],
  ];
  for (const [name, event, pattern] of cases) {
    await t.step(name, () => {
      const violations = checker.check(event);
      assert.notDeepEqual(violations, []);
      assert.match(violations.join("\n"), pattern);
    });
  }
  await t.step("a charging_completed with an unknown reason", () => {
    const event = completedEvent(
      context(),
      {
        driver,
        energyKwh: 1,
        tariffEurPerKwh: 0.3,
        durationSeconds: 1,
        reason: "unplugged",
      } as unknown as Parameters<typeof completedEvent>[1],
    );
    assert.match(checker.check(event).join("\n"), /reason/);
  });
});

function without(value: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = { ...value };
  delete copy[key];
  return copy;
}
