/**
 * The engine's permissions have one source (tools/permissions.ts, fed by the settings table):
 * deno.json's tasks and the compiled binaries must grant exactly those, and no more.
 */
import assert from "node:assert/strict";
import {
  allowedEnvOf,
  allowedOf,
  binaryPermissionFlags,
  CONSOLE_ENV_VARS,
  DEFAULT_STATE_DIR,
  devEngineCommand,
  engineEnvVars,
  engineTaskCommands,
  KAFKAJS_ENV_VARS,
  SECRET_DIRS,
  V8_FLAGS,
  WORKER_MODULE,
} from "../tools/permissions.ts";
import {
  binaryPath,
  COMPILE_TARGETS,
  compileArgs,
  isRuntimeDownloadFailure,
  offlineMessage,
} from "../tools/compile.ts";
import { ENV_VARS } from "../src/cli/settings.ts";

const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
/** The command line of each task (a task is a string, or an object with a `command`). */
const tasks: Record<string, string> = Object.fromEntries(
  Object.entries(config.tasks as Record<string, string | { command: string }>).map((
    [name, task],
  ) => [name, typeof task === "string" ? task : task.command]),
);

const sorted = (names: readonly string[]) => [...names].sort();

Deno.test("the start task and dev's engine grant exactly the settings table's env vars plus kafkajs' and the console's", async (t) => {
  const commands: Record<string, string | undefined> = {
    start: tasks["start"],
    "dev (tools/dev.ts)": devEngineCommand().join(" "),
  };
  for (const [name, command] of Object.entries(commands)) {
    await t.step(name, () => {
      assert.ok(command !== undefined, `deno.json has no ${name} task`);
      assert.deepEqual(sorted(allowedEnvOf(command)), sorted(engineEnvVars()));
      assert.doesNotMatch(command, /(^|\s)(-A|--allow-all)(\s|$)/);
    });
  }
  await t.step("dev runs the engine as start does, with --watch", () => {
    assert.equal(
      devEngineCommand().join(" "),
      tasks["start"]!.replace("deno run", "deno run --watch"),
    );
    assert.match(tasks["dev"]!, /tools\/dev\.ts$/);
  });
});

Deno.test("the start, fleet and start-bundle tasks are generated from the settings table (deno task permissions)", () => {
  for (const [name, command] of Object.entries(engineTaskCommands())) {
    assert.equal(tasks[name], command, `${name}: run \`deno task permissions\``);
  }
});

Deno.test("every task a user reads has a description", () => {
  for (const [name, task] of Object.entries(config.tasks as Record<string, unknown>)) {
    const description = (task as { description?: unknown }).description;
    assert.ok(typeof description === "string" && description.length > 10, name);
  }
});

Deno.test("the start task reads and writes what the binary does, plus the Worker's source", () => {
  const start = tasks["start"]!;
  assert.deepEqual(
    sorted(allowedOf(start, "read")),
    sorted(["./src", DEFAULT_STATE_DIR, ...SECRET_DIRS]),
  );
  assert.deepEqual(allowedOf(start, "write"), [DEFAULT_STATE_DIR]);
});

Deno.test("the engine's env vars are kafkajs', the settings table's and the console's", () => {
  assert.deepEqual(engineEnvVars(), [...KAFKAJS_ENV_VARS, ...ENV_VARS, ...CONSOLE_ENV_VARS]);
  assert.deepEqual(KAFKAJS_ENV_VARS, ["NODE_ENV", "KAFKAJS_*"]);
  assert.equal(new Set(engineEnvVars()).size, engineEnvVars().length, "no duplicates");
});

Deno.test("a compiled binary gets network, the exact env vars, the state directory and no prompt", async (t) => {
  for (const target of COMPILE_TARGETS) {
    await t.step(target, () => {
      const args = compileArgs(target);
      assert.equal(args[0], "compile");
      assert.ok(args.includes(V8_FLAGS), "the same V8 flags as from source");
      assert.ok(args.includes("--no-prompt"));
      assert.ok(args.includes("--allow-net"));
      assert.ok(args.includes(`--allow-env=${engineEnvVars().join(",")}`));
      assert.ok(!args.includes("--allow-env"), "no blanket --allow-env");
      assert.ok(args.includes(`--allow-read=${[DEFAULT_STATE_DIR, ...SECRET_DIRS].join(",")}`));
      assert.ok(args.includes(`--allow-write=${DEFAULT_STATE_DIR}`));
      assert.deepEqual(args.slice(args.indexOf("--include"), args.indexOf("--include") + 2), [
        "--include",
        WORKER_MODULE,
      ]);
      assert.deepEqual(args.slice(args.indexOf("--target"), args.indexOf("--target") + 2), [
        "--target",
        target,
      ]);
      assert.ok(args.includes(binaryPath(target)));
      assert.equal(args.at(-1), "main.ts");
      const granted = args.filter((arg) => arg.startsWith("--allow-"));
      assert.deepEqual(granted, binaryPermissionFlags().filter((flag) => flag !== "--no-prompt"));
      for (const flag of ["--allow-run", "--allow-sys", "--allow-ffi", "--allow-all", "-A"]) {
        assert.ok(!args.some((arg) => arg.startsWith(flag)), `${flag} is not granted`);
      }
    });
  }
  await t.step("the Worker module exists where --include names it", async () => {
    const info = await Deno.stat(new URL(`../${WORKER_MODULE}`, import.meta.url));
    assert.ok(info.isFile);
  });
  await t.step("binaries are named by target, .exe on Windows", () => {
    assert.equal(
      binaryPath("x86_64-unknown-linux-gnu"),
      "dist/ev-cp-engine-x86_64-unknown-linux-gnu",
    );
    assert.equal(
      binaryPath("x86_64-pc-windows-msvc"),
      "dist/ev-cp-engine-x86_64-pc-windows-msvc.exe",
    );
  });
});

Deno.test("the compile task tells an unreachable runtime download from a real compile error", () => {
  const offline = [
    "Compile main.ts to dist/ev-cp-engine-x86_64-unknown-linux-gnu",
    "Download https://example.invalid/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip",
    "error: Writing deno compile executable to temporary file 'dist/x.tmp'",
    "Caused by:",
    "    0: Setting up base binary.",
    "    1: error sending request for url (https://example.invalid/denort-x86_64-unknown-linux-gnu.zip): client error (Connect): dns error: failed to lookup address information",
  ].join("\n");
  assert.equal(isRuntimeDownloadFailure(offline), true);
  const typeError = "error: TS2322 [ERROR]: Type 'string' is not assignable to type 'number'.\n" +
    "    at file:///repo/main.ts:1:7";
  assert.equal(isRuntimeDownloadFailure(typeError), false);
});

Deno.test("compile's offline error names the README section of the single file and offers the bundle", async () => {
  const message = offlineMessage("x86_64-unknown-linux-gnu", "the download host");
  assert.match(message, /^deno compile cannot build x86_64-unknown-linux-gnu: /);
  assert.match(message, /`deno task bundle`/);
  const section = /README\.md, "([^"]+)"/.exec(message)?.[1];
  assert.ok(section !== undefined, message);
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  assert.ok(readme.includes(`\n## ${section}\n`), `README.md has no section "${section}"`);
});
