/** The console's settings: `--console`, `--no-console`, `CONSOLE` and `--local-user`. */
import assert from "node:assert/strict";
import type { CliIo } from "../src/cli/command_line.ts";
import { type CliResult, parseCli } from "../src/cli/engine_command.ts";

function parse(args: string[], env: Record<string, string> = {}) {
  const stderr: string[] = [];
  const io: CliIo = {
    env: (name) => env[name],
    stdout: () => {},
    stderr: (text) => stderr.push(text),
  };
  const result: CliResult = parseCli(args, io);
  return { result, stderr: stderr.join("") };
}

function config(args: string[], env: Record<string, string> = {}) {
  const { result, stderr } = parse(args, env);
  assert.equal(result.kind, "engine", stderr);
  return (result as Extract<CliResult, { kind: "engine" }>).config;
}

Deno.test("the console is on a terminal by default and can be switched off", async (t) => {
  await t.step("default", () => assert.equal(config([]).consoleMode, "auto"));
  await t.step("--no-console", () => assert.equal(config(["--no-console"]).consoleMode, "off"));
  await t.step(
    "--no-console beats CONSOLE=auto",
    () => assert.equal(config(["--no-console"], { CONSOLE: "auto" }).consoleMode, "off"),
  );
  await t.step(
    "--console off",
    () => assert.equal(config(["--console", "off"]).consoleMode, "off"),
  );
  for (const value of ["false", "FALSE", "no", "off"]) {
    await t.step(
      `CONSOLE=${value}`,
      () => assert.equal(config([], { CONSOLE: value }).consoleMode, "off"),
    );
  }
  for (const value of ["true", "on", "auto"]) {
    await t.step(
      `CONSOLE=${value}`,
      () => assert.equal(config([], { CONSOLE: value }).consoleMode, "auto"),
    );
  }
});

Deno.test("--local-user names the user of a manual session; none means the console asks", () => {
  assert.equal(config([]).localUser, null);
  assert.equal(config(["--local-user", " alice "]).localUser, "alice");
  assert.equal(config([], { LOCAL_USER: "bob" }).localUser, "bob");
});

Deno.test("bad console settings give one line naming the setting and exit 2", async (t) => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["--console", "maybe"], {}, /--console.*maybe.*expected one of auto, off/],
    [[], { CONSOLE: "maybe" }, /CONSOLE="maybe" \(for --console\).*expected one of auto, off/],
    [["--local-user", ""], {}, /--local-user.*expected a user name/],
    [[], { LOCAL_USER: "a\u0007b" }, /LOCAL_USER=.*expected a user name/],
  ];
  for (const [args, env, expected] of cases) {
    await t.step(`${args.join(" ")} ${JSON.stringify(env)}`, () => {
      const { result, stderr } = parse(args, env);
      assert.deepEqual(result, { kind: "exit", code: 2 });
      assert.match(stderr, expected);
      assert.equal(stderr.trim().split("\n").length, 1, stderr);
    });
  }
});
