/**
 * Decoding of the commands Central sends on `central-events` (protocol.md section 4): raw
 * bytes -> a {@linkcode Command} for this charging point, or a reason to ignore or reject it.
 * Pure: the current time is passed in. Validation uses zod schemas, not hand-written checks.
 *
 * @module
 */
import { z } from "zod";
import type { Command, Driver } from "../domain/charge_point.ts";

/** The outcome of decoding one message. */
export type Decoded =
  /** A command for this charging point. `name` is how it was called on the wire. */
  | {
    readonly kind: "command";
    readonly name: string;
    readonly messageId: string | null;
    readonly command: DecodedCommand;
  }
  /**
   * Not for us, too old, or a kind of message the engine does not act on. `stale` marks a command
   * for this point skipped for its age: the operator should hear about that one.
   */
  | {
    readonly kind: "ignored";
    readonly name: string;
    readonly reason: string;
    readonly stale?: true;
  }
  /** Malformed: not JSON, not an object, missing or mistyped fields. */
  | { readonly kind: "rejected"; readonly reason: string };

/** A decoded command; `charging_started` gets its session id from the engine. */
export type DecodedCommand =
  | Exclude<Command, { type: "charging_started" }>
  | {
    readonly type: "charging_started";
    readonly driver: Driver;
    /** The command's `timestamp`, epoch ms, when it has one. */
    readonly requestedAt?: number;
  };

/** Options of {@linkcode decodeCommand}. */
export interface DecodeOptions {
  readonly cpId: string;
  /** Epoch milliseconds now, to judge a command's age. */
  readonly now: number;
  /** Commands older than this (by their `timestamp`) are skipped. */
  readonly maxAgeMs: number;
  /**
   * Epoch milliseconds when this engine process started. A command stamped more than
   * {@linkcode STARTUP_GRACE_MS} before it is skipped, whatever its age: it was sent while the
   * engine was down, and Central may have cancelled it since (as the Python engine does,
   * EV_CP_E.py:521-528). Omitted: no such rule.
   */
  readonly startedAt?: number;
}

/** How much older than the engine's start a command may be and still be applied, ms. */
export const STARTUP_GRACE_MS = 5_000;

const optionalText = z.string().nullish();

/** Longest identifier accepted (a UUID is 36): a hostile one must not fill memory or logs. */
const MAX_IDENTIFIER = 256;
/** Free text (reasons) is cut to this length, not rejected: the command matters more. */
const MAX_FREE_TEXT = 200;

/** An id or a name: bounded, and without control characters (it is logged and published). */
const identifier = z.string()
  .max(MAX_IDENTIFIER, `must be at most ${MAX_IDENTIFIER} characters`)
  .regex(/^\P{Cc}*$/u, "must not contain control characters");

/** Free text that is logged and may be published: control characters become spaces, cut short. */
const freeText = z.string()
  .transform((text) => text.replace(/\p{Cc}/gu, " ").slice(0, MAX_FREE_TEXT))
  .nullish();

const envelopeSchema = z.looseObject({
  message_id: z.union([identifier, z.number()]).nullish(),
  event_type: optionalText,
  action: optionalText,
  cp_id: z.unknown().optional(),
  timestamp: z.unknown().optional(),
});

const chargingStartedSchema = z.looseObject({
  username: z.string().trim().min(1, "must be a non-empty string").pipe(identifier),
  user_id: z.union([z.number(), identifier]).nullish(),
  client_id: z.union([identifier, z.number()]).nullish(),
});

const errorSimulatedSchema = z.looseObject({
  error_type: freeText,
  new_status: z.enum(["fault", "out_of_service", "offline"]).nullish(),
});

const reasonSchema = z.looseObject({ reason: freeText });

const ticketSchema = z.looseObject({
  username: z.string().trim().min(1, "must be a non-empty string").pipe(identifier),
  reason: freeText,
});

const cpInfoSchema = z.looseObject({
  status: identifier.nullish(),
  estado: identifier.nullish(),
}).refine((value) => typeof (value.status ?? value.estado) === "string", {
  message: "needs a status or estado string",
});

const authorizationSchema = z.looseObject({
  authorized: z.boolean().nullish(),
});

/** Builds a command from a message; `sent` is its `timestamp` in epoch ms, or null. */
type Builder = (message: Record<string, unknown>, sent: number | null) => DecodedCommand | string;

function build<T>(
  schema: z.ZodType<T>,
  make: (value: T, sent: number | null) => DecodedCommand,
): Builder {
  return (message, sent) => {
    const parsed = schema.safeParse(message);
    return parsed.success ? make(parsed.data, sent) : describeIssues(parsed.error);
  };
}

const constant = (command: DecodedCommand): Builder => () => command;

/** The commands the engine acts on, by their lower-case action name. */
const COMMANDS: Readonly<Record<string, Builder>> = {
  authorization_response: build(authorizationSchema, (value) => ({
    type: "authorization_response",
    authorized: value.authorized ?? null,
  })),
  charging_started: build(chargingStartedSchema, (value, sent) => ({
    type: "charging_started",
    driver: {
      username: value.username.trim(),
      userId: value.user_id ?? null,
      clientId: value.client_id === null || value.client_id === undefined
        ? null
        : String(value.client_id),
    },
    ...(sent === null ? {} : { requestedAt: sent }),
  })),
  charging_ticket: build(ticketSchema, (value, sent) => ({
    type: "ticket_issued",
    username: value.username.trim(),
    reason: value.reason ?? "",
    issuedAt: sent,
  })),
  charging_stopped: constant({ type: "charging_stopped" }),
  cp_error_simulated: build(errorSimulatedSchema, (value) => ({
    type: "error_simulated",
    errorType: value.error_type ?? "unspecified",
    newStatus: value.new_status ?? "fault",
  })),
  cp_error_fixed: constant({ type: "error_fixed" }),
  stop: build(reasonSchema, (value) => ({ type: "stop", reason: value.reason ?? "" })),
  resume: build(reasonSchema, (value) => ({ type: "resume", reason: value.reason ?? "" })),
  plug_in: constant({ type: "plug_in" }),
  unplug: constant({ type: "unplug" }),
  fault: constant({ type: "fault" }),
  recover: constant({ type: "recover" }),
  cp_info_update: build(cpInfoSchema, (value) => ({
    type: "cp_info",
    status: (value.status ?? value.estado) as string,
  })),
};

/** Upper-case `event_type` names -> the action they mean. */
const EVENT_TYPES: Readonly<Record<string, string>> = {
  AUTHORIZATION_RESPONSE: "authorization_response",
  CHARGING_STARTED: "charging_started",
  CHARGING_STOPPED: "charging_stopped",
  CHARGING_TICKET: "charging_ticket",
  CP_ERROR_SIMULATED: "cp_error_simulated",
  CP_ERROR_FIXED: "cp_error_fixed",
  CP_STOP: "stop",
  CP_RESUME: "resume",
  CP_PLUG_IN: "plug_in",
  CP_UNPLUG: "unplug",
  CP_FAULT: "fault",
  CP_RECOVER: "recover",
  CP_INFO: "cp_info_update",
  CP_INFO_UPDATE: "cp_info_update",
};

/** Kinds Central sends that the engine deliberately does not act on. */
const KNOWN_IGNORED = new Set([
  "CHARGING_TIMEOUT",
  "MONITOR_AUTH_RESPONSE",
  "charging_timeout",
  "monitor_auth_response",
]);

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.join(".") : "message";
    return `${field} ${issue.message}`;
  }).join("; ");
}

/** Reads a `timestamp` as epoch milliseconds: seconds, milliseconds or an ISO date. */
export function timestampMs(value: unknown): number | null {
  if (typeof value === "number" && Number.isFinite(value) && value > 0) {
    return value > 1e12 ? value : value * 1000;
  }
  if (typeof value === "string" && value.trim() !== "") {
    const numeric = Number(value);
    if (Number.isFinite(numeric)) return timestampMs(numeric);
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? null : parsed;
  }
  return null;
}

const MAX_LOGGED_NAME = 60;

/** A name from a message, safe to log: control characters escaped (no forged log lines), cut. */
function printable(name: string): string {
  const cut = name.length > MAX_LOGGED_NAME ? `${name.slice(0, MAX_LOGGED_NAME)}...` : name;
  return cut.replace(
    /\p{Cc}/gu,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Decodes one `central-events` message for the charging point `options.cpId`. */
export function decodeCommand(raw: string | Uint8Array | null, options: DecodeOptions): Decoded {
  if (raw === null) return { kind: "rejected", reason: "empty message (no value)" };
  const text = typeof raw === "string" ? raw : new TextDecoder().decode(raw);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: "rejected", reason: "not JSON" };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { kind: "rejected", reason: `not a JSON object (got ${describeType(json)})` };
  }
  const envelope = envelopeSchema.safeParse(json);
  if (!envelope.success) return { kind: "rejected", reason: describeIssues(envelope.error) };
  const message = envelope.data;
  const eventType = message.event_type ?? "";
  const action = message.action ?? "";
  const name = printable(eventType || action || "(unnamed)");

  if (message.cp_id === undefined || message.cp_id === null) {
    return { kind: "ignored", name, reason: "no cp_id" };
  }
  if (typeof message.cp_id !== "string") {
    return {
      kind: "rejected",
      reason: `cp_id must be a string (got ${describeType(message.cp_id)})`,
    };
  }
  if (message.cp_id !== options.cpId) {
    return { kind: "ignored", name, reason: `for ${printable(message.cp_id)}` };
  }

  const actionName = EVENT_TYPES[eventType.toUpperCase()] ??
    (Object.hasOwn(COMMANDS, action.toLowerCase()) ? action.toLowerCase() : undefined);
  if (actionName === undefined) {
    const known = KNOWN_IGNORED.has(eventType) || KNOWN_IGNORED.has(action);
    return { kind: "ignored", name, reason: known ? "not acted on" : "unknown command" };
  }

  const sent = timestampMs(message.timestamp);
  if (
    sent !== null && options.startedAt !== undefined && sent < options.startedAt - STARTUP_GRACE_MS
  ) {
    const before = Math.round((options.startedAt - sent) / 1000);
    return {
      kind: "ignored",
      name,
      reason: `sent ${before} s before this engine started (while it was down)`,
      stale: true,
    };
  }
  if (sent !== null && options.now - sent > options.maxAgeMs) {
    const age = Math.round((options.now - sent) / 1000);
    return {
      kind: "ignored",
      name,
      reason: `too old (${age} s, the limit is ${options.maxAgeMs / 1000} s)`,
      stale: true,
    };
  }

  const builder = COMMANDS[actionName] as Builder;
  const result = builder(message, sent);
  if (typeof result === "string") return { kind: "rejected", reason: `${name}: ${result}` };
  const messageId = message.message_id === null || message.message_id === undefined
    ? null
    : String(message.message_id);
  return { kind: "command", name, messageId, command: result };
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}
