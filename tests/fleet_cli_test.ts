/**
 * Unit tests of the fleet's command line and fleet files (JSON and YAML).
 */
import assert from "node:assert/strict";
import type { CliIo } from "../src/cli/command_line.ts";
import {
  defaultFleetGroupId,
  FLEET_EXAMPLES,
  type FleetCliResult,
  parseFleetCli,
} from "../src/cli/fleet_command.ts";
import { FleetFileError, generateMembers, parseFleetFile } from "../src/fleet/members_file.ts";

const DEFAULTS = { location: "Lab", maxPowerKw: 22, tariffEurPerKwh: 0.3, healthPortBase: 6000 };

function io(env: Record<string, string> = {}): CliIo & { out: string; err: string } {
  const captured = {
    out: "",
    err: "",
    env: (name: string) => env[name],
    stdout: (text: string) => void (captured.out += text),
    stderr: (text: string) => void (captured.err += text),
  };
  return captured;
}

function fleetOf(result: FleetCliResult) {
  assert.equal(result.kind, "fleet");
  if (result.kind !== "fleet") throw new Error("unreachable");
  return result;
}

Deno.test("--count generates CP_0001... with consecutive health ports from --health-port-base", async () => {
  const result = fleetOf(
    await parseFleetCli(["--count", "3", "--health-port-base", "7000", "--tariff", "0.4"], io()),
  );
  assert.deepEqual(result.members.map((m) => [m.cpId, m.healthPort, m.tariffEurPerKwh]), [
    ["CP_0001", 7000, 0.4],
    ["CP_0002", 7001, 0.4],
    ["CP_0003", 7002, 0.4],
  ]);
  assert.equal(result.config.groupId, "fleet_group_CP_0001-CP_0003");
});

Deno.test("fleet --help ends with examples, and every example with --count is a valid command line", async (t) => {
  const help = io();
  assert.deepEqual(await parseFleetCli(["--help"], help), { kind: "exit", code: 0 });
  assert.match(help.out, /\nExamples:\n {2}ev-cp-engine fleet /);
  for (const example of FLEET_EXAMPLES.filter((line) => line.includes("--count"))) {
    await t.step(example, async () => {
      const args = example.split(" ").slice(2);
      const captured = io();
      fleetOf(await parseFleetCli(args, captured));
      assert.equal(captured.err, "");
    });
  }
});

Deno.test("--group-id or KAFKA_GROUP_ID replaces the fleet's default group", async () => {
  const byFlag = fleetOf(await parseFleetCli(["--count", "2", "--group-id", "mine"], io()));
  assert.equal(byFlag.config.groupId, "mine");
  const byEnv = fleetOf(await parseFleetCli(["--count", "2"], io({ KAFKA_GROUP_ID: "env_group" })));
  assert.equal(byEnv.config.groupId, "env_group");
});

Deno.test("auto sessions and chaos settings are read from flags and environment", async () => {
  const result = fleetOf(
    await parseFleetCli(
      ["--count", "2", "--auto-sessions", "12", "--session-minutes", "5-10"],
      io({ CHAOS: "0.5", FAULT_SECONDS: "10-20" }),
    ),
  );
  assert.equal(result.config.fleet.autoSessions, 12);
  assert.deepEqual(result.config.fleet.sessionMinutes, { min: 5, max: 10 });
  assert.equal(result.config.fleet.chaos, 0.5);
  assert.deepEqual(result.config.fleet.faultSeconds, { min: 10, max: 20 });
});

Deno.test("bad fleet flags give one line naming the flag and exit code 2", async (t) => {
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ["count zero", ["--count", "0"], {}, /--count.*'0'.*whole number/],
    ["count and file", ["--count", "2", "--file", "x.json"], {}, /exactly one of --count/],
    ["neither count nor file", [], {}, /exactly one of --count/],
    ["reversed session minutes", ["--count", "1", "--session-minutes", "9-3"], {}, /min-max/],
    ["negative chaos in env", ["--count", "1"], { CHAOS: "-1" }, /CHAOS="-1".*--chaos/],
    [
      "ports past 65535",
      ["--count", "10", "--health-port-base", "65530"],
      {},
      /--health-port-base 65530 with --count 10.*65539/,
    ],
  ];
  for (const [name, args, env, message] of cases) {
    await t.step(name, async () => {
      const captured = io(env);
      const result = await parseFleetCli(args, captured);
      assert.deepEqual(result, { kind: "exit", code: 2 });
      assert.match(captured.err, message);
      assert.equal(captured.err.trim().split("\n").length, 1, captured.err);
    });
  }
});

Deno.test("a YAML fleet file lists each point's id, location, power, tariff and health port", async () => {
  const yaml = `
charging_points:
  - id: CP_MAD_01
    location: Madrid Centro
    max_power: 50
    tariff: 0.35
    health_port: 5201
  - id: CP_MAD_02
`;
  const result = fleetOf(
    await parseFleetCli(["--file", "fleet.yaml"], io(), (path) => {
      assert.equal(path, "fleet.yaml");
      return Promise.resolve(yaml);
    }),
  );
  assert.deepEqual(result.members, [
    {
      cpId: "CP_MAD_01",
      location: "Madrid Centro",
      maxPowerKw: 50,
      tariffEurPerKwh: 0.35,
      healthPort: 5201,
    },
    {
      cpId: "CP_MAD_02",
      location: "Unknown Location",
      maxPowerKw: 22,
      tariffEurPerKwh: 0.3,
      healthPort: 5101,
    },
  ]);
});

Deno.test("a JSON fleet file may be a plain list", () => {
  const members = parseFleetFile(
    "fleet.json",
    JSON.stringify([{ cp_id: "A", max_kw: 11 }, { id: "B", health_port: 0 }]),
    DEFAULTS,
  );
  assert.deepEqual(members.map((m) => [m.cpId, m.maxPowerKw, m.healthPort]), [
    ["A", 11, 6000],
    ["B", 22, 0],
  ]);
});

Deno.test("a bad fleet file is refused with the entry, field and expectation", async (t) => {
  const cases: [string, string, string, RegExp][] = [
    ["not JSON", "fleet.json", "{", /fleet\.json: cannot parse it as JSON/],
    ["empty list", "fleet.json", "[]", /non-empty list/],
    ["missing id", "fleet.yaml", "- location: x", /entry 1: id undefined: expected a non-empty id/],
    [
      "power as text",
      "fleet.json",
      '[{"id":"A","max_power":"fast"}]',
      /entry 1 \(A\): max_power "fast": expected a positive number/,
    ],
    ["duplicate id", "fleet.json", '[{"id":"A"},{"id":"A"}]', /entry 2: id "A" appears twice/],
    [
      "duplicate port",
      "fleet.json",
      '[{"id":"A","health_port":7000},{"id":"B","health_port":7000}]',
      /entry 2 \(B\): health_port 7000 is used twice/,
    ],
  ];
  for (const [name, file, text, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => parseFleetFile(file, text, DEFAULTS), (error: unknown) => {
        assert.ok(error instanceof FleetFileError);
        assert.match(error.message, message);
        assert.ok(!error.message.includes("\n"), error.message);
        return true;
      });
    });
  }
  await t.step("an unreadable file exits 2 naming it", async () => {
    const captured = io();
    const result = await parseFleetCli(
      ["--file", "missing.yaml"],
      captured,
      () => Promise.reject(new Deno.errors.NotFound("No such file or directory")),
    );
    assert.deepEqual(result, { kind: "exit", code: 2 });
    assert.match(captured.err, /--file missing\.yaml: cannot read it: No such file/);
  });
});

Deno.test("generated ids keep their order and at least four digits", () => {
  const members = generateMembers(12, { ...DEFAULTS, healthPortBase: 0 });
  assert.equal(members[11]!.cpId, "CP_0012");
  assert.ok(members.every((member) => member.healthPort === 0));
  assert.equal(defaultFleetGroupId(members), "fleet_group_CP_0001-CP_0012");
});
