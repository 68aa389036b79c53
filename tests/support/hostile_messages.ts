/**
 * A seeded generator of hostile `central-events` messages for the fuzz test: not JSON, JSON
 * that is not an object, wrong types, huge strings, unknown actions, other cp ids, missing
 * fields, stale commands, and valid commands that change nothing in an idle, available point.
 * The same seed gives the same messages, so a failure can be replayed.
 *
 * @module
 */
import { seededRandom } from "../../src/domain/random.ts";

/** The kinds of message generated (each message is one of them, after optional mutation). */
export const HOSTILE_KINDS = [
  "not_json",
  "not_an_object",
  "wrong_types",
  "huge_strings",
  "unknown_action",
  "other_cp",
  "missing_fields",
  "stale_command",
  "impossible_state",
  "mutated_command",
  "forged_log_line",
] as const;

/** One of {@linkcode HOSTILE_KINDS}. */
export type HostileKind = (typeof HOSTILE_KINDS)[number];

/** A generated message: its bytes as text and the kind it was generated as. */
export interface HostileMessage {
  readonly kind: HostileKind;
  readonly value: string;
}

/** Size of the huge strings (100 KB). */
export const HUGE_STRING_LENGTH = 100 * 1024;

/** Valid command names, upper-case event types and lower-case actions. */
const COMMAND_NAMES: readonly [string, string | undefined][] = [
  ["CP_FAULT", "fault"],
  ["CP_RECOVER", "recover"],
  ["CP_STOP", "stop"],
  ["CP_RESUME", "resume"],
  ["CP_PLUG_IN", "plug_in"],
  ["CP_UNPLUG", "unplug"],
  ["CP_ERROR_SIMULATED", undefined],
  ["CP_ERROR_FIXED", "cp_error_fixed"],
  ["charging_started", "charging_started"],
  ["charging_stopped", "charging_stopped"],
  ["CP_INFO", "cp_info_update"],
  ["AUTHORIZATION_RESPONSE", "authorization_response"],
];

/**
 * Commands that are valid but change nothing observable in an idle `available` point with a
 * healthy flag and no vehicle: no status change, no session, health stays `OK`.
 */
const IMPOSSIBLE_IN_AVAILABLE: readonly Record<string, unknown>[] = [
  { event_type: "charging_stopped", action: "charging_stopped" },
  { event_type: "CP_RESUME", action: "resume", reason: "fuzz" },
  { action: "resume" },
  { event_type: "CP_UNPLUG", action: "unplug" },
  { action: "unplug" },
  { event_type: "CP_ERROR_FIXED", action: "cp_error_fixed" },
  { event_type: "CP_ERROR_FIXED" },
  { event_type: "CP_RECOVER", action: "recover" },
  { event_type: "CP_INFO", action: "cp_info_update", status: "available" },
  { event_type: "CP_INFO", estado: "available" },
  { event_type: "AUTHORIZATION_RESPONSE", authorized: true },
  { event_type: "AUTHORIZATION_RESPONSE", authorized: false },
];

/** Wrong values for fields that expect something else. */
const WRONG_VALUES: readonly unknown[] = [
  42,
  -1,
  0,
  1e308,
  true,
  false,
  [],
  [1, 2],
  {},
  { nested: { deeper: [null] } },
  "",
  "   ",
  "\u0000",
  "💥",
  "NaN",
];

/** Makes the generator for `seed`. */
export function hostileMessages(seed: number, cpId: string): () => HostileMessage {
  const random = seededRandom(seed);
  const int = (below: number) => Math.floor(random() * below);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const chance = (p: number) => random() < p;
  const uuid = () =>
    "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (c) => {
      const digit = int(16);
      return (c === "x" ? digit : (digit & 0x3) | 0x8).toString(16);
    });
  const now = () => Date.now() / 1000;
  const junk = (length: number) => {
    let text = "";
    for (let index = 0; index < length; index++) text += String.fromCharCode(int(0x3000));
    return text;
  };
  const envelope = (): Record<string, unknown> => ({
    message_id: uuid(),
    timestamp: now(),
    cp_id: cpId,
  });
  const named = (): Record<string, unknown> => {
    const [eventType, action] = pick(COMMAND_NAMES);
    const fields: Record<string, unknown> = { event_type: eventType };
    if (action !== undefined) fields["action"] = action;
    return fields;
  };
  const aCommand = (): Record<string, unknown> => ({
    ...envelope(),
    ...named(),
    username: "mallory",
    user_id: int(100),
    client_id: "driver-x",
    reason: "fuzz",
    new_status: pick(["fault", "out_of_service", "offline"]),
    error_type: "fuzz",
    status: pick(["available", "charging", "fault"]),
    authorized: chance(0.5),
  });

  const generators: Record<HostileKind, () => string> = {
    not_json: () =>
      pick([
        () => junk(1 + int(200)),
        () => JSON.stringify(aCommand()).slice(0, 1 + int(40)),
        () => "{" + junk(int(20)),
        () => "",
        () => "undefined",
        () => "{'cp_id': 'single quotes'}",
        () => `{"cp_id": "${cpId}", "event_type": "CP_FAULT",}`,
        () => "\u0000\u0001\u0002\uFFFD",
        () => "[".repeat(1 + int(5000)),
      ])(),
    not_an_object: () =>
      JSON.stringify(pick<unknown>([
        [aCommand()],
        [],
        42,
        "CP_FAULT",
        null,
        true,
        [cpId, "CP_FAULT"],
        junk(10),
      ])),
    wrong_types: () => {
      const command = aCommand();
      const field = pick(["cp_id", "event_type", "action", "username", "new_status", "message_id"]);
      command[field] = pick(WRONG_VALUES);
      if (field === "username") {
        command["event_type"] = "charging_started";
        command["action"] = "charging_started";
      }
      if (field === "new_status") command["event_type"] = "CP_ERROR_SIMULATED";
      return JSON.stringify(command);
    },
    huge_strings: () => {
      const command = aCommand();
      const field = pick(["cp_id", "event_type", "action", "username", "reason", "padding"]);
      command[field] = "A".repeat(HUGE_STRING_LENGTH);
      return JSON.stringify(command);
    },
    unknown_action: () =>
      JSON.stringify({
        ...envelope(),
        event_type: pick([
          "CP_EXPLODE",
          "DROP_TABLE",
          junk(8),
          "cp_fault",
          "charging_started ",
          "",
        ]),
        action: pick([
          "explode",
          "FAULT",
          "Fault",
          "__proto__",
          "constructor",
          "toString",
          junk(5),
        ]),
      }),
    other_cp: () =>
      JSON.stringify({
        ...aCommand(),
        cp_id: pick([`${cpId}_OTHER`, cpId.toLowerCase(), ` ${cpId}`, "CP_999", junk(6)]),
      }),
    missing_fields: () => {
      const command = aCommand();
      const missing = pick(["cp_id", "username", "event_type+action", "status+estado"]);
      for (const field of missing.split("+")) delete command[field];
      if (missing === "username") {
        command["event_type"] = "charging_started";
        command["action"] = "charging_started";
      }
      if (missing === "status+estado") {
        command["event_type"] = "CP_INFO";
        command["action"] = "cp_info_update";
      }
      return JSON.stringify(command);
    },
    stale_command: () =>
      // Two days old: stale whatever --command-max-age the test picks (up to a day).
      JSON.stringify({ ...aCommand(), timestamp: now() - 2 * 86_400 - int(1000) }),
    impossible_state: () => JSON.stringify({ ...envelope(), ...pick(IMPOSSIBLE_IN_AVAILABLE) }),
    mutated_command: () => mutate(JSON.stringify(aCommand())),
    forged_log_line: () => {
      // Newlines and escape sequences in every text that may reach a log line.
      const forged = pick([
        "\n2026-01-01T00:00:00.000Z ERROR [CP_001] forged line",
        "\r\u001b[2K\u001b[1A",
        "\u001b]0;title\u0007",
        "\u0000\u0085\u2028",
      ]);
      return JSON.stringify({
        ...envelope(),
        ...pick<Record<string, unknown>>([
          { event_type: `x${forged}`, action: "resume" },
          { event_type: "CP_INFO", status: forged },
          { event_type: "charging_started", username: `eve${forged}` },
          { event_type: `CP_FAULT${forged}` },
          { event_type: "CP_FAULT", cp_id: `CP${forged}` },
          { event_type: "CP_RESUME", reason: forged },
        ]),
      });
    },
  };

  function mutate(text: string): string {
    const at = int(text.length);
    switch (int(6)) {
      case 0:
        return text.slice(0, at) + text.slice(at + 1 + int(10)); // delete bytes
      case 1:
        return text.slice(0, at) + junk(1 + int(5)) + text.slice(at); // insert junk
      case 2:
        return text.slice(0, at); // truncate
      case 3:
        return text.replace(/"[a-z_]+":/, `"${junk(3)}":`); // rename a field
      case 4:
        return text.replace(/:\s*"[^"]*"/, `:${JSON.stringify(pick(WRONG_VALUES))}`); // retype
      default:
        return text.replaceAll('"', pick(["'", "", '\\"'])); // break the quoting
    }
  }

  return () => {
    const kind = pick(HOSTILE_KINDS);
    return { kind, value: generators[kind]() };
  };
}
