/**
 * The single-file engine (tools/bundle.ts: `deno bundle`, Worker inlined) run the way a compiled
 * binary runs: exactly the binary's permissions (tools/permissions.ts), an EMPTY Deno cache
 * (`DENO_DIR` a fresh directory), `--cached-only` (any download is an error), no config file and
 * no lock file, from a directory that holds nothing but the bundle. It must register, answer the
 * health check, serve the web panel's page, run one session and shut down cleanly, and leave the
 * cache free of packages.
 */
import assert from "node:assert/strict";
import { bundleEngine } from "../tools/bundle.ts";
import { binaryPermissionFlags } from "../tools/permissions.ts";
import { probeHealth } from "../src/adapters/health/probe_client.ts";
import { brokerAddress, CentralDouble, uniqueTopics } from "./support/kafka.ts";
import { engineArgs, EngineProcess, freePort } from "./support/engine_process.ts";
import { documented, shellWords } from "./support/documented.ts";

/** Every file under `directory`, as paths relative to it. */
async function filesUnder(directory: string, prefix = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${directory}/${prefix}`)) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory) files.push(...await filesUnder(directory, `${path}/`));
    else files.push(path);
  }
  return files;
}

/** `deno run` of the bundle in `runDir` with the binary's permissions and an empty cache. */
function bundleCommand(runDir: string, denoDir: string, args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--cached-only",
      "--no-config",
      "--no-lock",
      ...binaryPermissionFlags(),
      "ev-cp-engine.js",
      ...args,
    ],
    cwd: runDir,
    env: { DENO_DIR: denoDir, NO_COLOR: "1" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

Deno.test({
  name:
    "the bundled single-file engine, with the binary's permissions and an empty Deno cache, registers, answers the health check and runs a session without downloading anything",
  async fn(t) {
    const workDir = await Deno.makeTempDir({ prefix: "ev-cp-engine-smoke-" });
    const runDir = `${workDir}/run`;
    const denoDir = `${workDir}/deno-dir`;
    await Deno.mkdir(runDir);
    await Deno.mkdir(denoDir);
    await bundleEngine(`${runDir}/ev-cp-engine.js`);

    const broker = await brokerAddress();
    const topics = uniqueTopics("bundle");
    const cpId = `CP_BUNDLE_${crypto.randomUUID().slice(0, 6)}`;
    const healthPort = freePort();
    const httpPort = freePort();
    const central = await CentralDouble.start(broker, topics);
    const engine = EngineProcess.spawn(bundleCommand(runDir, denoDir, [
      ...engineArgs({ cpId, broker, healthPort, topics }),
      "--progress-interval",
      "1",
      "--time-scale",
      "60",
      "--http-port",
      String(httpPort),
    ]));
    try {
      await t.step(
        "without permissions: one line saying how to run it, no stack trace",
        async () => {
          const output = await new Deno.Command(Deno.execPath(), {
            args: ["run", "--cached-only", "--no-config", "--no-lock", "ev-cp-engine.js"],
            cwd: runDir,
            env: { DENO_DIR: denoDir, NO_COLOR: "1" },
            clearEnv: true,
            stdin: "null",
            stdout: "piped",
            stderr: "piped",
          }).output();
          const stderr = new TextDecoder().decode(output.stderr);
          assert.equal(output.code, 2, stderr);
          assert.match(
            stderr,
            /^error: ev-cp-engine is missing a Deno permission, env access to CP_ID \(--allow-env\); start it with its permissions: .*deno task start-bundle/,
          );
          assert.equal(stderr.trim().split("\n").length, 1, stderr);
          assert.doesNotMatch(stderr, /NotCapable|\bat /);
        },
      );

      await t.step("registers, then goes available", async () => {
        await central.waitFor("the registration", () => central.seen("CP_REGISTRATION").length > 0);
        await central.waitForStatus("available");
        assert.equal(central.seen("CP_REGISTRATION")[0]?.["cp_id"], cpId);
      });

      await t.step("answers the health check, plainly and framed", async () => {
        for (const framed of [false, true]) {
          const result = await probeHealth({ host: "127.0.0.1", port: healthPort, framed });
          assert.deepEqual(result.kind === "answer" ? result.answer : result.reason, "OK");
        }
      });

      await t.step("serves the web panel's page and files from inside the bundle", async () => {
        for (
          const [path, marker] of [
            ["/", "<!doctype html>"],
            ["/panel.css", "prefers-color-scheme"],
            ["/panel.js", "EventSource"],
          ]
        ) {
          const response = await fetch(`http://127.0.0.1:${httpPort}${path}`);
          assert.equal(response.status, 200, path);
          assert.ok((await response.text()).includes(marker!), path);
        }
      });

      await t.step("its own probe sub-command answers OK with exit code 0", async () => {
        const output = await bundleCommand(runDir, denoDir, [
          "probe",
          "--port",
          String(healthPort),
        ]).output();
        assert.equal(new TextDecoder().decode(output.stdout), "OK\n");
        assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
      });

      await t.step("runs one session in its inlined Worker", async () => {
        await central.send({
          cp_id: cpId,
          event_type: "charging_started",
          action: "charging_started",
          username: "smoke",
          user_id: 7,
          client_id: "driver-smoke",
        });
        await central.waitForStatus("charging");
        await central.waitFor(
          "progress with energy",
          () => central.seen("charging_progress").some((event) => Number(event["energy_kwh"]) > 0),
        );
        await central.send({ cp_id: cpId, event_type: "CP_UNPLUG", action: "unplug" });
        await central.waitFor("the ticket", () => central.seen("charging_completed").length > 0);
        const ticket = central.seen("charging_completed")[0]!;
        assert.equal(ticket["reason"], "unplugged_by_user");
        assert.ok(Number(ticket["energy_kwh"]) > 0);
      });

      await t.step("stops on SIGTERM with exit code 0", async () => {
        engine.signal("SIGTERM");
        assert.equal(await engine.exited(), 0, engine.output);
      });

      await t.step(
        "downloaded nothing: the Deno cache holds no package or remote module",
        async () => {
          const files = await filesUnder(denoDir);
          const downloads = files.filter((file) => /^(npm|remote|deps|jsr)\//.test(file));
          assert.deepEqual(downloads, []);
          assert.doesNotMatch(engine.output, /Download/);
        },
      );
    } finally {
      await engine.dispose();
      try {
        await central.close();
      } finally {
        await Deno.remove(workDir, { recursive: true });
      }
    }
  },
});

/** Runs a documented `deno task ...` line in the repository. */
async function task(line: string): Promise<Deno.CommandOutput> {
  return await new Deno.Command(Deno.execPath(), {
    args: shellWords(line).slice(1),
    cwd: new URL("..", import.meta.url),
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
}

Deno.test("deno task bundle builds dist/ev-cp-engine.js", async () => {
  const output = await task(documented("deno task bundle"));
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  assert.match(new TextDecoder().decode(output.stdout), /^built .*dist\/ev-cp-engine\.js\n$/);
  assert.ok((await Deno.stat(new URL("../dist/ev-cp-engine.js", import.meta.url))).size > 100_000);
});

Deno.test("deno task start-bundle builds the bundle and runs it with the binary's permissions", async () => {
  const args = shellWords(documented("deno task start-bundle --version"));
  const output = await new Deno.Command(Deno.execPath(), {
    args: args.slice(1),
    cwd: new URL("..", import.meta.url),
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  assert.match(stdout, /^built .*dist\/ev-cp-engine\.js\n\d+\.\d+\.\d+\n/);
});
