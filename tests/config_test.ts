/**
 * Specification of the command line (`parseCli`): defaults, flag over environment over default,
 * one clear line and exit code 2 for a bad value, help and version. Runs on a fake io: no real
 * environment and no real output.
 */
import assert from "node:assert/strict";
import type { CliIo } from "../src/cli/command_line.ts";
import { ENGINE_EXAMPLES, parseCli } from "../src/cli/engine_command.ts";
import { type EngineConfig, SETTINGS, shownDefault } from "../src/cli/settings.ts";
import { VERSION } from "../src/cli/version.ts";

/** A fake io with the given environment, capturing what is written. */
function fakeIo(env: Record<string, string> = {}) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io: CliIo = {
    env: (name) => env[name],
    stdout: (text) => stdout.push(text),
    stderr: (text) => stderr.push(text),
  };
  return { io, out: () => stdout.join(""), err: () => stderr.join("") };
}

function configOf(args: string[], env: Record<string, string> = {}): EngineConfig {
  const { io, out, err } = fakeIo(env);
  const result = parseCli(args, io);
  assert.equal(result.kind, "engine", `expected a config, got exit; stderr: ${err()}`);
  assert.equal(out(), "", "nothing on stdout");
  assert.equal(err(), "", "nothing on stderr");
  return (result as Extract<typeof result, { kind: "engine" }>).config;
}

/** Parses and expects a failure; returns the stderr lines. */
function errorOf(args: string[], env: Record<string, string> = {}): string[] {
  const { io, out, err } = fakeIo(env);
  const result = parseCli(args, io);
  assert.deepEqual(result, { kind: "exit", code: 2 }, `stderr: ${err()}`);
  assert.equal(out(), "", "nothing on stdout");
  return err().split("\n").filter((line) => line !== "");
}

const DEFAULTS: EngineConfig = {
  cpId: "CP_001",
  location: "Unknown Location",
  maxPowerKw: 22.0,
  tariffEurPerKwh: 0.30,
  healthPort: 5100,
  healthHost: "0.0.0.0",
  kafkaBrokers: ["localhost:9092"],
  kafkaGroupId: "engine_group_CP_001",
  progressIntervalSeconds: 1,
  cpEventsTopic: "cp-events",
  centralEventsTopic: "central-events",
  timeScale: 1,
  seed: null,
  logLevel: "info",
  logFormat: "text",
  powerRampSeconds: 0,
  monitorWaitSeconds: 20,
  monitorTimeoutSeconds: 5,
  commandMaxAgeSeconds: 30,
  plugIn: "auto",
  plugInTimeoutSeconds: 60,
  stateDir: "./state",
  outboxDrainRate: 100,
  stateMaxMb: null,
  centralGroupPrefix: "ev_central_ws_group_",
  httpPort: null,
  httpHost: "127.0.0.1",
  consoleMode: "auto",
  localUser: null,
  kafkaSsl: false,
  kafkaSslCa: null,
  kafkaSaslMechanism: null,
  kafkaSaslUsername: null,
  kafkaSaslPassword: null,
  kafkaSaslPasswordFile: null,
};

Deno.test("with no flags and no environment, every setting has its documented default", () => {
  assert.deepEqual(configOf([]), DEFAULTS);
});

/**
 * Settings that only make sense together (SASL) or name real files: their flag/env/default
 * precedence is specified in tests/kafka_security_test.ts.
 */
const TESTED_ELSEWHERE = [
  "kafkaSslCa",
  "kafkaSaslMechanism",
  "kafkaSaslUsername",
  "kafkaSaslPassword",
  "kafkaSaslPasswordFile",
] as const;

/** For each setting: a flag value, an environment value and what each parses to. */
const EXAMPLES: Record<
  Exclude<keyof EngineConfig, (typeof TESTED_ELSEWHERE)[number]>,
  { flag: [string, unknown]; env: [string, unknown] }
> = {
  cpId: { flag: ["CP_FLAG", "CP_FLAG"], env: ["CP_ENV", "CP_ENV"] },
  location: { flag: ["Flag Street 1", "Flag Street 1"], env: ["Env Street 2", "Env Street 2"] },
  maxPowerKw: { flag: ["11", 11], env: ["50.5", 50.5] },
  tariffEurPerKwh: { flag: ["0.5", 0.5], env: ["0.25", 0.25] },
  healthPort: { flag: ["6000", 6000], env: ["7000", 7000] },
  healthHost: { flag: ["127.0.0.1", "127.0.0.1"], env: ["localhost", "localhost"] },
  kafkaBrokers: { flag: ["a:1,b:2", ["a:1", "b:2"]], env: ["kafka:29092", ["kafka:29092"]] },
  kafkaGroupId: { flag: ["group_flag", "group_flag"], env: ["group_env", "group_env"] },
  progressIntervalSeconds: { flag: ["1", 1], env: ["2", 2] },
  cpEventsTopic: { flag: ["events.flag", "events.flag"], env: ["events.env", "events.env"] },
  centralEventsTopic: {
    flag: ["central.flag", "central.flag"],
    env: ["central.env", "central.env"],
  },
  timeScale: { flag: ["60", 60], env: ["10", 10] },
  seed: { flag: ["42", 42], env: ["-7", -7] },
  logLevel: { flag: ["debug", "debug"], env: ["warning", "warning"] },
  logFormat: { flag: ["text", "text"], env: ["json", "json"] },
  powerRampSeconds: { flag: ["30", 30], env: ["0", 0] },
  monitorWaitSeconds: { flag: ["0", 0], env: ["15", 15] },
  monitorTimeoutSeconds: { flag: ["3", 3], env: ["4", 4] },
  commandMaxAgeSeconds: { flag: ["10", 10], env: ["20", 20] },
  plugIn: { flag: ["auto", "auto"], env: ["manual", "manual"] },
  plugInTimeoutSeconds: { flag: ["30", 30], env: ["90", 90] },
  stateDir: { flag: ["./state/flag", "./state/flag"], env: ["./state/env", "./state/env"] },
  outboxDrainRate: { flag: ["20", 20], env: ["500", 500] },
  stateMaxMb: { flag: ["5", 5], env: ["64", 64] },
  centralGroupPrefix: { flag: ["central_", "central_"], env: ["my_central_", "my_central_"] },
  httpPort: { flag: ["8080", 8080], env: ["0", 0] },
  httpHost: { flag: ["0.0.0.0", "0.0.0.0"], env: ["localhost", "localhost"] },
  consoleMode: { flag: ["off", "off"], env: ["false", "off"] },
  localUser: { flag: ["alice", "alice"], env: ["bob", "bob"] },
  kafkaSsl: { flag: ["on", true], env: ["off", false] },
};

Deno.test("a flag beats its environment variable, which beats the default", async (t) => {
  for (
    const [key, setting] of Object.entries(SETTINGS) as [
      keyof EngineConfig,
      typeof SETTINGS[keyof EngineConfig],
    ][]
  ) {
    if ((TESTED_ELSEWHERE as readonly string[]).includes(key)) continue;
    const flag = setting.flag.split(" ")[0]!;
    const example = EXAMPLES[key as keyof typeof EXAMPLES];
    await t.step(`${flag} / ${setting.env}`, () => {
      const [flagRaw, flagValue] = example.flag;
      const [envRaw, envValue] = example.env;
      const env = { [setting.env]: envRaw };
      assert.deepEqual(configOf([flag, flagRaw], env)[key], flagValue, "flag over env");
      assert.deepEqual(configOf([`${flag}=${flagRaw}`], env)[key], flagValue, "--flag=value form");
      assert.deepEqual(configOf([], env)[key], envValue, "env over default");
      assert.deepEqual(configOf([flag, flagRaw])[key], flagValue, "flag over default");
    });
  }
});

Deno.test("the consumer group defaults to engine_group_<cp_id>", async (t) => {
  await t.step("from the flag", () => {
    assert.equal(configOf(["--cp-id", "CP_042"]).kafkaGroupId, "engine_group_CP_042");
  });
  await t.step("from the environment", () => {
    assert.equal(configOf([], { CP_ID: "CP_007" }).kafkaGroupId, "engine_group_CP_007");
  });
  await t.step("an explicit group id wins", () => {
    assert.equal(configOf(["--cp-id", "CP_042", "--group-id", "mine"]).kafkaGroupId, "mine");
    assert.equal(
      configOf(["--cp-id", "CP_042"], { KAFKA_GROUP_ID: "env_group" }).kafkaGroupId,
      "env_group",
    );
  });
});

Deno.test("values are read leniently where that is safe", async (t) => {
  await t.step("log level warn means warning, in any case", () => {
    assert.equal(configOf(["--log-level", "warn"]).logLevel, "warning");
    assert.equal(configOf(["--log-level", "DEBUG"]).logLevel, "debug");
  });
  await t.step("surrounding spaces are trimmed", () => {
    assert.equal(configOf(["--cp-id", " CP_9 "]).cpId, "CP_9");
    assert.deepEqual(configOf(["--kafka-broker", "a:1, b:2"]).kafkaBrokers, ["a:1", "b:2"]);
  });
  await t.step("an empty environment variable counts as unset", () => {
    assert.equal(configOf([], { MAX_POWER: "" }).maxPowerKw, 22);
  });
  await t.step("health port 0 picks a free port", () => {
    assert.equal(configOf(["--health-port", "0"]).healthPort, 0);
  });
  await t.step("an IPv6 broker in brackets", () => {
    assert.deepEqual(configOf(["--kafka-broker", "[::1]:9092"]).kafkaBrokers, ["[::1]:9092"]);
  });
});

Deno.test("a bad value gives exit code 2 and one line naming the flag, the value and what is expected", async (t) => {
  const cases: [string, string[], Record<string, string>, RegExp[]][] = [
    ["negative power", ["--max-power", "-1"], {}, [/--max-power/, /-1/, /expected/]],
    ["negative power, --flag=value", ["--max-power=-1"], {}, [/--max-power/, /-1/, /expected/]],
    ["zero power", ["--max-power", "0"], {}, [/--max-power/, /'0'/, /expected/]],
    ["power abc", ["--max-power", "abc"], {}, [/--max-power/, /abc/, /expected a positive number/]],
    ["port 70000", ["--health-port", "70000"], {}, [/--health-port/, /70000/, /expected .*65535/]],
    ["port 1.5", ["--health-port", "1.5"], {}, [/--health-port/, /1\.5/, /expected/]],
    ["empty cp id", ["--cp-id", ""], {}, [/--cp-id/, /''/, /expected a non-empty id/]],
    ["cp id with a space", ["--cp-id", "CP 1"], {}, [/--cp-id/, /CP 1/, /expected/]],
    ["broker without a port", ["--kafka-broker", "localhost"], {}, [
      /--kafka-broker/,
      /localhost/,
      /host:port/,
    ]],
    ["broker port 0", ["--kafka-broker", "kafka:0"], {}, [
      /--kafka-broker/,
      /kafka:0/,
      /1 to 65535/,
    ]],
    ["empty broker in the list", ["--kafka-broker", "a:1,"], {}, [
      /--kafka-broker/,
      /a:1,/,
      /host:port/,
    ]],
    ["negative tariff", ["--tariff=-0.1"], {}, [/--tariff/, /-0\.1/, /expected/]],
    ["progress interval 0", ["--progress-interval", "0"], {}, [
      /--progress-interval/,
      /'0'/,
      /expected/,
    ]],
    ["seed 1.5", ["--seed", "1.5"], {}, [/--seed/, /1\.5/, /expected an integer/]],
    ["log level loud", ["--log-level", "loud"], {}, [
      /--log-level/,
      /loud/,
      /expected one of debug, info, warning, error/,
    ]],
    ["log format xml", ["--log-format", "xml"], {}, [
      /--log-format/,
      /xml/,
      /expected one of text, json/,
    ]],
    ["plug-in sometimes", ["--plug-in", "sometimes"], {}, [
      /--plug-in/,
      /sometimes/,
      /expected one of auto, manual/,
    ]],
    ["MAX_POWER=-1", [], { MAX_POWER: "-1" }, [/MAX_POWER/, /-1/, /--max-power/, /expected/]],
    ["HEALTH_PORT=70000", [], { HEALTH_PORT: "70000" }, [/HEALTH_PORT/, /70000/, /expected/]],
    ["KAFKA_BROKER=localhost", [], { KAFKA_BROKER: "localhost" }, [
      /KAFKA_BROKER/,
      /localhost/,
      /host:port/,
    ]],
    ["LOG_LEVEL=loud", [], { LOG_LEVEL: "loud" }, [/LOG_LEVEL/, /loud/, /expected one of/]],
    ["CP_ID with a slash", [], { CP_ID: "CP/1" }, [/CP_ID/, /CP\/1/, /expected/]],
  ];
  for (const [name, args, env, patterns] of cases) {
    await t.step(name, () => {
      const lines = errorOf(args, env);
      assert.equal(lines.length, 1, `exactly one line, got ${JSON.stringify(lines)}`);
      for (const pattern of patterns) assert.match(lines[0]!, pattern);
    });
  }

  await t.step("an unknown flag", () => {
    const lines = errorOf(["--bogus"]);
    assert.equal(lines.length, 1, `exactly one line, got ${JSON.stringify(lines)}`);
    assert.match(lines[0]!, /unknown option '--bogus'/);
  });

  await t.step("a misspelt flag (one line, the suggestion on it)", () => {
    const lines = errorOf(["--max-powr", "11"]);
    assert.equal(lines.length, 1, `exactly one line, got ${JSON.stringify(lines)}`);
    assert.match(lines[0]!, /unknown option '--max-powr'.*--max-power/);
  });

  await t.step("a flag without its value", () => {
    const lines = errorOf(["--max-power"]);
    assert.equal(lines.length, 1, `exactly one line, got ${JSON.stringify(lines)}`);
    assert.match(lines[0]!, /--max-power/);
  });

  await t.step("an extra argument", () => {
    assert.equal(errorOf(["CP_001"]).length, 1);
  });

  await t.step("a flag's good value does not hide a bad environment value of another", () => {
    const lines = errorOf(["--max-power", "11"], { TARIFF: "free" });
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /TARIFF="free"/);
  });

  await t.step("a bad environment value is not read when the flag is given", () => {
    assert.equal(configOf(["--max-power", "11"], { MAX_POWER: "-1" }).maxPowerKw, 11);
  });
});

Deno.test("--help exits 0 and lists every flag with its environment variable", async (t) => {
  for (const args of [["--help"], ["-h"]]) {
    await t.step(args[0]!, () => {
      const { io, out, err } = fakeIo();
      assert.deepEqual(parseCli(args, io), { kind: "exit", code: 0 });
      assert.equal(err(), "");
      // Help is wrapped to the terminal width: compare with the whitespace collapsed.
      const help = out().replace(/\s+/g, " ");
      assert.match(help, /ev-cp-engine/);
      for (const setting of Object.values(SETTINGS)) {
        const flag = setting.flag.split(" ")[0]!;
        assert.ok(help.includes(flag), `${flag} is listed`);
        assert.ok(help.includes(`[env: ${setting.env}`), `${setting.env} is listed`);
        const shown = shownDefault(setting);
        if (shown !== undefined) assert.ok(help.includes(`default: ${shown}`), `${flag}: ${shown}`);
      }
      assert.ok(help.includes("--version"));
      // A newcomer learns by example: the help ends with some, and names every sub-command.
      assert.match(out(), /\nExamples:\n {2}ev-cp-engine /);
      for (const example of ENGINE_EXAMPLES) assert.ok(out().includes(example), example);
      assert.ok(help.includes("`ev-cp-engine <command> --help`"));
      for (const command of ["probe", "fleet", "send"]) {
        assert.match(out(), new RegExp(`\\n  ${command} +\\S`), command);
      }
    });
  }
});

Deno.test("--version exits 0 and prints the version", async (t) => {
  for (const flag of ["--version", "-V"]) {
    await t.step(flag, () => {
      const { io, out, err } = fakeIo();
      assert.deepEqual(parseCli([flag], io), { kind: "exit", code: 0 });
      assert.equal(out().split("\n")[0], VERSION);
      assert.equal(err(), "");
    });
  }
});

Deno.test("parsing is hermetic: only the given io's environment is read", () => {
  const read: string[] = [];
  const io: CliIo = {
    env: (name) => (read.push(name), undefined),
    stdout: () => {},
    stderr: () => {},
  };
  const result = parseCli([], io);
  assert.equal(result.kind, "engine");
  assert.deepEqual(
    [...new Set(read)].sort(),
    Object.values(SETTINGS).map((setting) => setting.env).sort(),
  );
});
