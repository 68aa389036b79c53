/**
 * Command 1 of README.md, as a newcomer runs it: `bash tools/bootstrap.sh dev` in a real terminal
 * with no broker configured. It must start the project's own local Kafka broker and say so, the
 * engine must register and show the point available on its console, the M key must start a
 * session whose kWh rise every second, and one Ctrl+C must end the engine, the watcher and the
 * broker. The broker's port (`LAB_KAFKA_PORT`) and the health port are free ones, so that the test
 * runs beside anything on 9092 and 5100.
 */
import assert from "node:assert/strict";
import { kafkaAnswers, LAB_USER, watcherEvent } from "../tools/dev.ts";
import { brokerConfigured, labEngineArgs } from "../tools/dev.ts";
import { freePort } from "./support/engine_process.ts";
import { health } from "./support/health.ts";
import { CentralDouble } from "./support/kafka.ts";
import { documented, shellWords } from "./support/documented.ts";
import { TerminalEngine, tmuxAvailable } from "./support/terminal.ts";

Deno.test("dev starts a broker only when none is configured, and passes the lab's flags unless given", () => {
  assert.equal(brokerConfigured([], undefined), false);
  assert.equal(brokerConfigured([], ""), false);
  assert.equal(brokerConfigured([], "kafka:9092"), true);
  assert.equal(brokerConfigured(["--kafka-broker", "k:1"], undefined), true);
  assert.equal(brokerConfigured(["--kafka-broker=k:1"], undefined), true);
  const none = () => undefined;
  assert.deepEqual(labEngineArgs("127.0.0.1:9092", [], none, 8080), [
    "--kafka-broker",
    "127.0.0.1:9092",
    "--monitor-wait",
    "0",
    "--local-user",
    LAB_USER,
    "--http-port",
    "8080",
  ]);
  assert.deepEqual(
    labEngineArgs(
      "127.0.0.1:9092",
      ["--monitor-wait", "20", "--http-port=9000"],
      (name) => name === "LOCAL_USER" ? "bob" : undefined,
      8080,
    ),
    ["--kafka-broker", "127.0.0.1:9092"],
  );
  assert.deepEqual(
    labEngineArgs("127.0.0.1:9092", [], (name) => name === "HTTP_PORT" ? "9000" : undefined, 0)
      .slice(-2),
    ["--local-user", LAB_USER],
  );
});

Deno.test("dev reads the watcher's lines: finished (with its exit code) ends the lab, failed does not", () => {
  assert.deepEqual(
    watcherEvent(
      "\x1b[0m\x1b[38;5;12mWatcher\x1b[0m Process finished. Restarting on file change...",
    ),
    { kind: "finished", code: 0 },
  );
  assert.deepEqual(
    watcherEvent("Watcher Process finished with exit code 2. Restarting on file change..."),
    { kind: "finished", code: 2 },
  );
  assert.deepEqual(watcherEvent("Watcher Process failed. Restarting on file change..."), {
    kind: "failed",
  });
  assert.equal(watcherEvent("Watcher Process started."), null);
});

/** The energy the panel shows, or null. */
function energyOn(screen: string): number | null {
  const match = /Energy (\d+\.\d{3}) kWh/.exec(screen);
  return match ? Number(match[1]) : null;
}

for (
  const command of [documented("bash tools/bootstrap.sh dev"), documented("deno task dev")]
) {
  Deno.test({
    name: `${command}: starts the local broker, the point goes available, its web panel answers, ` +
      "M charges with rising kWh, one Ctrl+C ends engine, watcher and broker",
    ignore: !tmuxAvailable(),
    fn: () => labSession(command),
  });
}

/** Runs `command` (the lab) in a terminal as a newcomer would, then ends it with one Ctrl+C. */
async function labSession(command: string): Promise<void> {
  const labPort = freePort();
  const healthPort = freePort();
  const stateDir = `./state/test-dev-${crypto.randomUUID().slice(0, 8)}`;
  const started = performance.now();
  const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
  const terminal = await TerminalEngine.start([], {
    command: shellWords(command),
    columns: 120,
    rows: 40,
    env: {
      LAB_KAFKA_PORT: String(labPort),
      HEALTH_PORT: String(healthPort),
      STATE_DIR: stateDir,
    },
  });
  let central: CentralDouble | null = null;
  try {
    await terminal.waitForScreen(
      `starting the project's local broker there`,
      60_000,
    );
    const up = `dev: local Kafka broker up on 127.0.0.1:${labPort}`;
    const starting = await terminal.waitForScreen(
      (text) => text.includes(up) || text.includes("dev: error"),
      240_000,
    );
    assert.ok(starting.includes(up), starting);
    const brokerUp = seconds();
    assert.ok(await kafkaAnswers(labPort), "the local broker answers");
    await terminal.waitForScreen(/Status AVAILABLE/, 60_000);
    const available = seconds();
    // The web panel beside the console: on 8080, or a free port the engine logs when 8080 is taken.
    const history = await terminal.screen(false, true);
    const webPort = /dev: web panel: http:\/\/127\.0\.0\.1:(\d+)\//.exec(history)?.[1] ??
      /Web panel on http:\/\/127\.0\.0\.1:(\d+)\//.exec(history)?.[1];
    assert.ok(webPort !== undefined, `the lab says where its web panel is:\n${history}`);
    const healthz = await fetch(`http://127.0.0.1:${webPort}/healthz`);
    assert.equal(healthz.status, 200, "the lab's web panel answers");
    await healthz.body?.cancel();

    central = await CentralDouble.start(`127.0.0.1:${labPort}`, {
      cpEvents: "cp-events",
      centralEvents: "central-events",
    });
    await central.waitFor("the registration", () => central!.seen("CP_REGISTRATION").length > 0);

    await terminal.press("M");
    await terminal.waitForScreen(
      (screen) => /Status CHARGING/.test(screen) && screen.includes(`User ${LAB_USER}`),
      15_000,
    );
    const charged = seconds();
    // kWh rise every second, on the panel and on the wire.
    const first = energyOn(await terminal.waitForScreen((screen) => (energyOn(screen) ?? 0) > 0));
    await terminal.waitForScreen((screen) => (energyOn(screen) ?? 0) > first!, 5_000);
    await central.waitFor(
      "two progress samples",
      () => central!.seen("charging_progress").length >= 2,
    );
    await central.close();
    central = null;
    console.log(
      `[figures] ${command}: broker up ${brokerUp} s, available ${available} s, ` +
        `charging ${charged} s after the command`,
    );

    await terminal.press("C-c");
    const { code } = await terminal.exited(40_000);
    const screen = await terminal.screen(false, true);
    assert.equal(code, 0, screen);
    assert.match(screen, /dev: the engine exited/);
    assert.match(screen, /dev: stopping the local Kafka broker/);
    assert.equal(await kafkaAnswers(labPort), false, "the broker is gone");
    // The launcher exits only after the watcher has: nothing answers on its health port.
    assert.match(await health(healthPort), /^no answer: /);
  } finally {
    await central?.close().catch(() => {});
    await terminal.dispose();
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
}
