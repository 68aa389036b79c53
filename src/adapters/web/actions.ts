/**
 * The web panel's actions, as pure functions: a request body checked and turned into the same
 * commands the console's keys and Central's Kafka messages become, and what happened to each
 * point. No I/O.
 *
 * @module
 */
import type { Command } from "../../domain/charge_point.ts";
import type { DecodedCommand } from "../../protocol/commands.ts";
import type { EngineSnapshot } from "../../app/view.ts";

/** The actions the page offers: the console's keys, with stop and resume apart. */
export const PANEL_ACTIONS = [
  "plug_in",
  "unplug",
  "fault",
  "recover",
  "stop_service",
  "resume_service",
  "start_session",
] as const;

/** One of {@linkcode PANEL_ACTIONS}. */
export type PanelAction = (typeof PANEL_ACTIONS)[number];

/** The longest user name a manual session takes (as the console's prompt). */
export const MAX_USER_NAME = 64;

/** How many points one request may act on (a fleet's largest size). */
export const MAX_POINTS_PER_REQUEST = 10_000;

/** A request to act on points, checked. */
export interface ActionRequest {
  readonly action: PanelAction;
  /** The points, in the order given, without repeats. */
  readonly points: readonly string[];
  /** The user of `start_session`, else null. */
  readonly user: string | null;
}

/** Why a request body was refused: the message says what is expected (HTTP 400). */
export class BadActionRequest extends Error {
  /** `message` names the field and what it must be. */
  constructor(message: string) {
    super(message);
    this.name = "BadActionRequest";
  }
}

/**
 * Checks a request body: `{"action": "...", "points": ["CP_001", ...], "user": "..."}`. When
 * `point` is given (the URL named one), `points` must be absent.
 *
 * @throws {BadActionRequest} naming what is wrong.
 */
export function parseActionRequest(body: unknown, point?: string): ActionRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BadActionRequest('expected a JSON object such as {"action": "fault"}');
  }
  const fields = body as Record<string, unknown>;
  const action = fields["action"];
  if (typeof action !== "string" || !(PANEL_ACTIONS as readonly string[]).includes(action)) {
    throw new BadActionRequest(
      `"action" must be one of ${PANEL_ACTIONS.join(", ")} (got ${describe(action)})`,
    );
  }
  let points: string[];
  if (point !== undefined) {
    if (fields["points"] !== undefined) {
      throw new BadActionRequest('"points" is not taken here: the URL names the point');
    }
    points = [point];
  } else {
    const given = fields["points"];
    if (!Array.isArray(given) || given.length === 0) {
      throw new BadActionRequest('"points" must be a non-empty array of charging point ids');
    }
    if (given.length > MAX_POINTS_PER_REQUEST) {
      throw new BadActionRequest(`"points" may name at most ${MAX_POINTS_PER_REQUEST} points`);
    }
    if (given.some((id) => typeof id !== "string")) {
      throw new BadActionRequest('"points" must hold charging point ids (strings)');
    }
    points = [...new Set(given as string[])];
  }
  let user: string | null = null;
  if (action === "start_session") {
    const raw = fields["user"];
    const name = typeof raw === "string" ? raw.trim() : "";
    if (name === "" || Array.from(name).length > MAX_USER_NAME || /\p{C}/u.test(name)) {
      throw new BadActionRequest(
        `"user" must be a user name of 1 to ${MAX_USER_NAME} characters without control ` +
          `characters (got ${describe(raw)})`,
      );
    }
    user = name;
  }
  return { action: action as PanelAction, points, user };
}

/** What an action does to one point: a command to apply, or why it is not tried. */
export type ActionPlan =
  | { readonly kind: "apply"; readonly command: Command | DecodedCommand }
  | { readonly kind: "refuse"; readonly message: string };

/**
 * The command of `action` for a point now in `snapshot`. A manual session needs an available
 * point without a session (as the console's `M`); every other action goes to the state machine,
 * which decides (a refused command changes nothing and says why in the log).
 */
export function planAction(
  action: PanelAction,
  snapshot: EngineSnapshot,
  user: string | null,
): ActionPlan {
  switch (action) {
    case "plug_in":
      return { kind: "apply", command: { type: "plug_in" } };
    case "unplug":
      return { kind: "apply", command: { type: "unplug" } };
    case "fault":
      return { kind: "apply", command: { type: "fault" } };
    case "recover":
      return { kind: "apply", command: { type: "recover" } };
    case "stop_service":
      return { kind: "apply", command: { type: "stop", reason: "Stopped from the web panel" } };
    case "resume_service":
      return {
        kind: "apply",
        command: { type: "resume", reason: "Resumed from the web panel" },
      };
    case "start_session":
      if (snapshot.session !== null) {
        return {
          kind: "refuse",
          message: `a session for ${snapshot.session.username} is in progress`,
        };
      }
      if (snapshot.status !== "available") {
        return { kind: "refuse", message: `no session while the point is ${snapshot.status}` };
      }
      return {
        kind: "apply",
        command: {
          type: "charging_started",
          driver: { username: user ?? "", userId: null, clientId: null },
        },
      };
  }
}

/** What happened to one point. */
export interface ActionResult {
  readonly point: string;
  /** `changed`: the point's state moved; `unchanged`: the state machine kept it; `refused`. */
  readonly outcome: "changed" | "unchanged" | "refused";
  /** The status after the action. */
  readonly status: string;
  /** Why, for `refused` and `unchanged`. */
  readonly message?: string;
}

/** Whether an operator sees a difference between two snapshots of a point. */
export function visiblyChanged(before: EngineSnapshot, after: EngineSnapshot): boolean {
  return before.status !== after.status || before.health !== after.health ||
    before.vehiclePluggedIn !== after.vehiclePluggedIn ||
    before.session?.id !== after.session?.id ||
    before.session?.supplying !== after.session?.supplying;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
