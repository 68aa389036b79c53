/**
 * The commands Central sends on `central-events`, encoded as Central (or a CP control tool)
 * shapes them (protocol.md section 4): what `ev-cp-engine send` publishes when a lab has no
 * Central. Pure: the message id and the time are passed in.
 *
 * @module
 */
import { toEpochSeconds } from "./events.ts";

/** Statuses a `CP_ERROR_SIMULATED` may set. */
export const ERROR_STATUSES = ["fault", "out_of_service", "offline"] as const;

/** A status a `CP_ERROR_SIMULATED` may set. */
export type ErrorStatus = (typeof ERROR_STATUSES)[number];

/**
 * Every command a lab may send, as its name on the wire, with the lower-case `action` Central
 * sets beside it (null: Central sends `CP_ERROR_SIMULATED` without one) and what it does.
 */
export const CENTRAL_COMMANDS = {
  charging_started: {
    action: "charging_started",
    summary: "start a session for --user (from available)",
  },
  charging_stopped: { action: "charging_stopped", summary: "end the session (no ticket)" },
  CP_ERROR_SIMULATED: {
    action: null,
    summary: "end any session, status --new-status (fault by default)",
  },
  CP_ERROR_FIXED: { action: "cp_error_fixed", summary: "health OK, status available" },
  CP_STOP: { action: "stop", summary: "end any session (ticket), status out_of_service" },
  CP_RESUME: { action: "resume", summary: "back to available after a stop or a fault" },
  CP_PLUG_IN: { action: "plug_in", summary: "the vehicle is plugged in (--plug-in manual)" },
  CP_UNPLUG: { action: "unplug", summary: "the vehicle is unplugged: end the session (ticket)" },
  CP_FAULT: { action: "fault", summary: "hardware fault: end any session (ticket), health KO" },
  CP_RECOVER: { action: "recover", summary: "recovered from a fault: health OK, available" },
} as const satisfies Record<string, { action: string | null; summary: string }>;

/** The name of a command a lab may send. */
export type CentralCommandName = keyof typeof CENTRAL_COMMANDS;

/** The names, in the order the help lists them. */
export const CENTRAL_COMMAND_NAMES = Object.keys(CENTRAL_COMMANDS) as CentralCommandName[];

/**
 * The command `name` means, whatever its case, or its `action` (`fault`, `stop`); undefined
 * when there is none.
 */
export function centralCommandNamed(name: string): CentralCommandName | undefined {
  const wanted = name.trim().toLowerCase();
  return CENTRAL_COMMAND_NAMES.find((known) =>
    known.toLowerCase() === wanted || CENTRAL_COMMANDS[known].action === wanted
  );
}

/** The fields of a command besides its envelope; each command reads only its own. */
export interface CentralCommandFields {
  /** `charging_started`: the driver's user name (required). */
  readonly username?: string;
  /** `charging_started`: the driver's numeric id in Central, or null. */
  readonly userId?: number | null;
  /** `charging_started`: the Driver app's client id, or null. */
  readonly clientId?: string | null;
  /** `CP_ERROR_SIMULATED`: what went wrong. */
  readonly errorType?: string;
  /** `CP_ERROR_SIMULATED`: the status it sets. */
  readonly newStatus?: ErrorStatus;
  /** `CP_STOP`, `CP_RESUME`: why. */
  readonly reason?: string;
}

/** The message id and the time of the command being encoded. */
export interface CommandEnvelope {
  readonly cpId: string;
  readonly messageId: string;
  /** Epoch milliseconds. */
  readonly now: number;
}

/** Raised when a command lacks a field it needs (the `charging_started` user). */
export class MissingCommandFieldError extends Error {
  /** `message` names the command and the field. */
  constructor(message: string) {
    super(message);
    this.name = "MissingCommandFieldError";
  }
}

/**
 * The JSON object Central would send for command `name` to the point of `envelope.cpId`.
 *
 * @throws {MissingCommandFieldError} for a `charging_started` without a user name.
 */
export function centralCommand(
  name: CentralCommandName,
  envelope: CommandEnvelope,
  fields: CentralCommandFields = {},
): Record<string, unknown> {
  const { action } = CENTRAL_COMMANDS[name];
  const message: Record<string, unknown> = {
    message_id: envelope.messageId,
    event_type: name,
    ...(action === null ? {} : { action }),
    cp_id: envelope.cpId,
  };
  switch (name) {
    case "charging_started": {
      const username = fields.username?.trim() ?? "";
      if (username === "") {
        throw new MissingCommandFieldError("charging_started needs the driver's user name");
      }
      Object.assign(message, {
        username,
        user_id: fields.userId ?? null,
        client_id: fields.clientId ?? null,
      });
      break;
    }
    case "CP_ERROR_SIMULATED":
      Object.assign(message, {
        error_type: fields.errorType ?? "simulated",
        new_status: fields.newStatus ?? "fault",
      });
      break;
    case "CP_STOP":
      Object.assign(message, { new_status: "out_of_service", reason: fields.reason ?? "" });
      break;
    case "CP_RESUME":
      Object.assign(message, { reason: fields.reason ?? "" });
      break;
  }
  message.timestamp = toEpochSeconds(envelope.now);
  return message;
}
