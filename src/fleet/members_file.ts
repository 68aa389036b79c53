/**
 * The members of a fleet: generated (`--count N`: `CP_0001`... with consecutive health ports)
 * or read from a JSON or YAML file. Pure: the caller reads the file; every problem is reported
 * as one line naming the entry, the field, the value and what is expected.
 *
 * A fleet file is a list of points, or an object with the list under `charging_points`:
 *
 * ```yaml
 * charging_points:
 *   - id: CP_MAD_01
 *     location: Madrid Centro
 *     max_power: 50
 *     tariff: 0.35
 *     health_port: 5201
 * ```
 *
 * `id` (or `cp_id`) is required; `location`, `max_power` (or `max_kw`), `tariff` and
 * `health_port` default to the fleet's flags (`--location`, `--max-power`, `--tariff`, and
 * `--health-port-base` plus the entry's position).
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import type { FleetMember } from "./fleet.ts";

/** The values a member takes when the file or the generator does not say. */
export interface MemberDefaults {
  readonly location: string;
  readonly maxPowerKw: number;
  readonly tariffEurPerKwh: number;
  /** Health port of the first point; the next ones count up from it (0: any free port). */
  readonly healthPortBase: number;
}

/** A fleet file or count that cannot be used; the message is one line for the operator. */
export class FleetFileError extends Error {
  /** Builds the error with its one-line `message`. */
  constructor(message: string) {
    super(message);
    this.name = "FleetFileError";
  }
}

const CP_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Port of the member at `index` (0-based), or 0 when the base is 0. */
function portAt(base: number, index: number): number {
  return base === 0 ? 0 : base + index;
}

/**
 * `count` points `CP_0001`... (at least 4 digits) with the default location, power, tariff
 * and consecutive health ports.
 *
 * @throws {FleetFileError} when the health ports would run past 65535.
 */
export function generateMembers(count: number, defaults: MemberDefaults): FleetMember[] {
  if (defaults.healthPortBase !== 0 && defaults.healthPortBase + count - 1 > 65535) {
    throw new FleetFileError(
      `--health-port-base ${defaults.healthPortBase} with --count ${count}: the last port would be ${
        defaults.healthPortBase + count - 1
      }, expected at most 65535`,
    );
  }
  const digits = Math.max(4, String(count).length);
  return Array.from({ length: count }, (_, index) => ({
    cpId: `CP_${String(index + 1).padStart(digits, "0")}`,
    location: defaults.location,
    maxPowerKw: defaults.maxPowerKw,
    tariffEurPerKwh: defaults.tariffEurPerKwh,
    healthPort: portAt(defaults.healthPortBase, index),
  }));
}

/**
 * Reads the members from the text of a fleet file (`name` picks YAML for `.yaml`/`.yml`,
 * JSON otherwise).
 *
 * @throws {FleetFileError} naming the file, the entry and the field for anything unusable.
 */
export function parseFleetFile(
  name: string,
  text: string,
  defaults: MemberDefaults,
): FleetMember[] {
  const yaml = /\.ya?ml$/i.test(name);
  let document: unknown;
  try {
    document = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).split("\n")[0];
    throw new FleetFileError(
      `--file ${name}: cannot parse it as ${yaml ? "YAML" : "JSON"}: ${reason}`,
    );
  }
  const list = Array.isArray(document)
    ? document
    : isRecord(document) && Array.isArray(document["charging_points"])
    ? document["charging_points"]
    : null;
  if (list === null || list.length === 0) {
    throw new FleetFileError(
      `--file ${name}: expected a non-empty list of charging points (or one under charging_points)`,
    );
  }
  const members = list.map((entry: unknown, index: number) =>
    readMember(name, entry, index, defaults)
  );
  const ids = new Set<string>();
  const ports = new Set<number>();
  members.forEach((member, index) => {
    if (ids.has(member.cpId)) {
      throw new FleetFileError(
        `--file ${name}: entry ${index + 1}: id "${member.cpId}" appears twice`,
      );
    }
    ids.add(member.cpId);
    if (member.healthPort !== 0 && ports.has(member.healthPort)) {
      throw new FleetFileError(
        `--file ${name}: entry ${
          index + 1
        } (${member.cpId}): health_port ${member.healthPort} is used twice`,
      );
    }
    ports.add(member.healthPort);
  });
  return members;
}

function readMember(
  name: string,
  entry: unknown,
  index: number,
  defaults: MemberDefaults,
): FleetMember {
  const where = `--file ${name}: entry ${index + 1}`;
  if (!isRecord(entry)) throw new FleetFileError(`${where}: expected an object with an id`);
  const id = entry["id"] ?? entry["cp_id"];
  if (typeof id !== "string" || !CP_ID.test(id)) {
    throw new FleetFileError(
      `${where}: id ${
        JSON.stringify(id)
      }: expected a non-empty id of letters, digits, '.', '_' or '-' (at most 64)`,
    );
  }
  const at = `${where} (${id})`;
  const location = entry["location"] ?? defaults.location;
  if (typeof location !== "string" || location.trim() === "" || location.length > 200) {
    throw new FleetFileError(
      `${at}: location ${JSON.stringify(location)}: expected a non-empty text`,
    );
  }
  const numberField = (
    keys: readonly string[],
    fallback: number,
    what: string,
    ok: (n: number) => boolean,
  ): number => {
    const key = keys.find((candidate) => entry[candidate] !== undefined);
    const value = key === undefined ? fallback : entry[key];
    if (typeof value !== "number" || !Number.isFinite(value) || !ok(value)) {
      throw new FleetFileError(
        `${at}: ${key ?? keys[0]} ${JSON.stringify(value)}: expected ${what}`,
      );
    }
    return value;
  };
  return {
    cpId: id,
    location: location.trim(),
    maxPowerKw: numberField(
      ["max_power", "max_kw"],
      defaults.maxPowerKw,
      "a positive number of kW up to 1000",
      (n) => n > 0 && n <= 1000,
    ),
    tariffEurPerKwh: numberField(
      ["tariff"],
      defaults.tariffEurPerKwh,
      "a price in EUR per kWh from 0 to 100",
      (n) => n >= 0 && n <= 100,
    ),
    healthPort: numberField(
      ["health_port"],
      portAt(defaults.healthPortBase, index),
      "a TCP port from 0 to 65535",
      (n) => Number.isInteger(n) && n >= 0 && n <= 65535,
    ),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
