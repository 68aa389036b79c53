/**
 * The operator console, end to end: the real engine (started as `deno task start` does) in a
 * real pseudo-terminal (tmux), a real Kafka broker with a Central double, and real health
 * probes. Keys typed in the terminal must produce the same Kafka events as the same action sent
 * by Central, and the screen must show the panel.
 */
import assert from "node:assert/strict";
import { brokerAddress, CentralDouble, type SeenEvent, uniqueTopics } from "./support/kafka.ts";
import { engineArgs, freePort, passThroughEnv, startTaskArgs } from "./support/engine_process.ts";
import { health, waitForHealth } from "./support/health.ts";
import { TerminalEngine } from "./support/terminal.ts";

const ESC = "\x1b";
/** Any SGR (colour, bold) escape sequence. */
const ANY_COLOUR = new RegExp(`${ESC}\\[[0-9;]*m`);

const STATE_DIR = new URL("../state/", import.meta.url);

/** A fresh cp id; its state directory (`./state/<cp-id>`) is removed after the test. */
function cpId(label: string): string {
  return `CON_${label}_${crypto.randomUUID().slice(0, 6)}`;
}

async function removeState(id: string): Promise<void> {
  await Deno.remove(new URL(id, STATE_DIR), { recursive: true }).catch(() => {});
}

/**
 * A console test's parts: a Central double on fresh topics (`console-<topicLabel>`), a fresh cp id
 * and the engine's flags for it, on a free health port. `close` closes the double and removes the
 * engine's state.
 */
async function consoleRig(topicLabel: string, idLabel: string) {
  const broker = await brokerAddress();
  const topics = uniqueTopics(`console-${topicLabel}`);
  const central = await CentralDouble.start(broker, topics);
  const id = cpId(idLabel);
  const port = freePort();
  const args = [
    ...engineArgs({ cpId: id, broker, healthPort: port, topics }),
    "--location",
    "Lab bench 4",
    "--progress-interval",
    "1",
    // The tests probe by hand: a silent Monitor must not end their sessions.
    "--monitor-timeout",
    "3600",
  ];
  return {
    central,
    id,
    port,
    args,
    close: async () => {
      await central.close();
      await removeState(id);
    },
  };
}

/** The engine exited with code 0 and left the terminal as it found it. */
async function assertExitedCleanly(terminal: TerminalEngine): Promise<void> {
  assert.deepEqual(await terminal.exited(), {
    code: 0,
    terminalRestored: true,
    cursorVisible: true,
  });
}

/** The events after the first `from`, by event type. */
function since(central: CentralDouble, from: number): Record<string, unknown>[] {
  return central.events.slice(from).map((event: SeenEvent) => event.value);
}

/** Waits for a `charging_completed` after the first `from` events; returns it. */
async function completedAfter(central: CentralDouble, from: number, timeoutMs = 15_000) {
  const pick = () => since(central, from).find((value) => value["action"] === "charging_completed");
  await central.waitFor("charging_completed", () => pick() !== undefined, timeoutMs);
  return pick()!;
}

/** The screen's lines from the panel's title line on. */
function panelOf(screen: string): string {
  const lines = screen.split("\n");
  const start = lines.findLastIndex((line) => line.startsWith("── "));
  return start < 0 ? "" : lines.slice(start).join("\n");
}

Deno.test({
  name: "in a terminal the panel is live and each key sends what the same Kafka command sends",
  async fn() {
    const rig = await consoleRig("keys", "KEYS");
    const { central, id, port, args } = rig;
    const terminal = await TerminalEngine.start(args);
    try {
      await central.waitForStatus("available", 0, 30_000);
      let screen = panelOf(await terminal.waitForScreen(/Status AVAILABLE/));
      assert.match(screen, new RegExp(`── ${id} · Lab bench 4 ─`));
      assert.match(screen, /Health OK/);
      assert.match(screen, /Kafka connected/);
      assert.match(screen, /Monitor no probe yet/);
      // Coloured like Central's dashboard: available is green.
      assert.ok((await terminal.screen(true)).includes(`${ESC}[32mAVAILABLE`));

      assert.equal(await health(port), "OK");
      await terminal.waitForScreen(/Monitor probe \d+ s ago/);

      await startManualSessionByKeys(terminal, central);

      // U ends the session: a ticket (charging_completed, unplugged_by_user), then available.
      let mark = central.events.length;
      let statuses = central.statuses().length;
      await terminal.press("U");
      const unplugged = await completedAfter(central, mark);
      assert.equal(unplugged["reason"], "unplugged_by_user");
      assert.equal(unplugged["username"], "alice");
      assert.ok(Number(unplugged["energy_kwh"]) > 0, "energy flowed in auto mode");
      await central.waitForStatus("available", statuses);
      await terminal.waitForScreen(/Status AVAILABLE[^\n]*\n No session/);

      // F: status fault, health KO, red on the screen.
      statuses = central.statuses().length;
      await terminal.press("F");
      await central.waitForStatus("fault", statuses);
      await waitForHealth(port, "KO");
      screen = await terminal.waitForScreen(/Status FAULT\s+Health KO/);
      assert.ok((await terminal.screen(true)).includes(`${ESC}[31mFAULT`));

      // R: available again, health OK.
      statuses = central.statuses().length;
      await terminal.press("R");
      await central.waitForStatus("available", statuses);
      await waitForHealth(port, "OK");
      await terminal.waitForScreen(/Status AVAILABLE\s+Health OK/);

      // S stops service like CP_STOP, with the point's own reason; S again resumes.
      statuses = central.statuses().length;
      await terminal.press("S");
      await central.waitForStatus("out_of_service", statuses);
      const stop = central.seen("cp_status_change").at(-1)!;
      assert.equal(stop["reason"], "Stopped at the point");
      await terminal.waitForScreen(/Status OUT_OF_SERVICE/);
      assert.ok((await terminal.screen(true)).includes(`${ESC}[38;5;208mOUT_OF_SERVICE`));
      statuses = central.statuses().length;
      await terminal.press("s");
      await central.waitForStatus("available", statuses);
      await terminal.waitForScreen(/Status AVAILABLE/);

      // H shows the help, ? hides it; an unknown key says so and sends nothing.
      await terminal.press("H");
      await terminal.waitForScreen("show or hide this help");
      await terminal.press("?");
      await terminal.waitForScreen((text) => !text.includes("show or hide this help"));
      mark = central.events.length;
      await terminal.press("x");
      await terminal.waitForScreen("Key x does nothing: press H for help");

      // Q: the graceful shutdown of SIGINT: offline, exit 0, terminal given back.
      statuses = central.statuses().length;
      await terminal.press("Q");
      await central.waitForStatus("offline", statuses);
      const end = await terminal.exited();
      assert.deepEqual(end, { code: 0, terminalRestored: true, cursorVisible: true });
      assert.deepEqual(
        since(central, mark).map((value) => `${value["action"]}:${value["status"] ?? ""}`),
        ["cp_status_change:offline"],
        "the unknown key sent nothing; Q sent only offline",
      );
      screen = await terminal.screen(false, true);
      assert.match(screen, /Received key Q: shutting down/);
      assert.match(panelOf(screen), /Status OFFLINE/);
    } finally {
      await terminal.dispose();
      await rig.close();
    }
  },
});

/** M asks for a user name, then starts a local session exactly like Central's. */
async function startManualSessionByKeys(
  terminal: TerminalEngine,
  central: CentralDouble,
): Promise<void> {
  const statuses = central.statuses().length;
  const mark = central.events.length;
  await terminal.press("M");
  await terminal.waitForScreen("User name for the manual session: _");
  await terminal.type("alx");
  await terminal.press("BSpace", "BSpace");
  await terminal.type("lice");
  await terminal.waitForScreen("User name for the manual session: alice_");
  await terminal.press("Enter");
  await central.waitForStatus("charging", statuses);
  await central.waitFor(
    "progress with energy for alice",
    () =>
      since(central, mark).some((value) =>
        value["action"] === "charging_progress" && value["username"] === "alice" &&
        Number(value["energy_kwh"]) > 0
      ),
    20_000,
  );
  const progress = since(central, mark).find((value) => value["action"] === "charging_progress")!;
  assert.equal(progress["user_id"], null);
  const screen = panelOf(
    await terminal.waitForScreen(/Energy [0-9.]+ kWh\s+Cost [0-9.]+ EUR\s+Power [0-9.]+ kW/),
  );
  assert.match(screen, /Status CHARGING/);
  assert.match(screen, /User alice\s+Elapsed 00:00:\d\d/);
  assert.match(screen, /\[█+░*\] \d+ % of 22 kW/);
}

Deno.test({
  name: "Ctrl+C during a --local-user session ends it with engine_shutdown and exits 0",
  async fn() {
    const rig = await consoleRig("ctrl-c", "CTRLC");
    const { central, args } = rig;
    const terminal = await TerminalEngine.start([...args, "--local-user", "bob"]);
    try {
      await central.waitForStatus("available", 0, 30_000);
      await terminal.waitForScreen(/Status AVAILABLE/);
      await terminal.press("m");
      await central.waitFor(
        "progress for bob",
        () => central.seen("charging_progress").some((value) => value["username"] === "bob"),
      );
      const statuses = central.statuses().length;
      await terminal.press("C-c");
      const completed = central.seen("charging_completed");
      await central.waitFor(
        "charging_completed",
        () => central.seen("charging_completed").length > completed.length,
      );
      assert.equal(central.seen("charging_completed").at(-1)!["reason"], "engine_shutdown");
      assert.equal(central.seen("charging_completed").at(-1)!["username"], "bob");
      await central.waitForStatus("offline", statuses);
      await assertExitedCleanly(terminal);
      assert.match(await terminal.screen(false, true), /Received Ctrl\+C: shutting down/);
    } finally {
      await terminal.dispose();
      await rig.close();
    }
  },
});

Deno.test({
  name: "manual plug-in: the session waits with zero-energy progress, P starts the energy, " +
    "and no plug-in in time ends it with plug_in_timeout",
  async fn() {
    const rig = await consoleRig("plug-in", "PLUG");
    const { central, id, args } = rig;
    const terminal = await TerminalEngine.start([
      ...args,
      "--plug-in",
      "manual",
      "--plug-in-timeout",
      "10",
      "--local-user",
      "carol",
    ], { env: { NO_COLOR: "1" } });
    try {
      await central.waitForStatus("available", 0, 30_000);
      await terminal.waitForScreen(/Status AVAILABLE[^\n]*\n No session · no vehicle/);

      // M authorizes the session: charging, but no energy until the vehicle is plugged in.
      let mark = central.events.length;
      let statuses = central.statuses().length;
      await terminal.press("M");
      await central.waitForStatus("charging", statuses);
      const waiting = () =>
        since(central, mark).filter((value) => value["action"] === "charging_progress");
      await central.waitFor("two zero-energy progress messages", () => waiting().length >= 2);
      for (const progress of waiting()) {
        assert.equal(progress["energy_kwh"], 0);
        assert.equal(progress["power_kw"], 0);
        assert.equal(progress["username"], "carol");
      }
      await terminal.waitForScreen(/waiting for the vehicle: press P \(\d+ s left\)/);

      // P: energy flows.
      await terminal.press("P");
      await central.waitFor(
        "progress with energy",
        () =>
          since(central, mark).some((value) =>
            value["action"] === "charging_progress" && Number(value["energy_kwh"]) > 0
          ),
        20_000,
      );
      await terminal.waitForScreen(/Power [1-9][0-9.]* kW/);

      // U ends it with energy; the vehicle is gone.
      mark = central.events.length;
      statuses = central.statuses().length;
      await terminal.press("U");
      const unplugged = await completedAfter(central, mark);
      assert.equal(unplugged["reason"], "unplugged_by_user");
      assert.ok(Number(unplugged["energy_kwh"]) > 0);
      await central.waitForStatus("available", statuses);

      // Central's charging_started, and no vehicle within --plug-in-timeout: cancelled.
      mark = central.events.length;
      statuses = central.statuses().length;
      await central.send({
        event_type: "charging_started",
        action: "charging_started",
        cp_id: id,
        username: "dave",
        user_id: 7,
        client_id: "driver-7",
      });
      await central.waitForStatus("charging", statuses);
      const timedOut = await completedAfter(central, mark, 20_000);
      assert.equal(timedOut["reason"], "plug_in_timeout");
      assert.equal(timedOut["energy_kwh"], 0);
      assert.equal(timedOut["username"], "dave");
      assert.equal(timedOut["user_id"], 7);
      await central.waitForStatus("available", statuses + 1);
      await terminal.waitForScreen(/Status AVAILABLE[^\n]*\n No session/);
      const progress = since(central, mark).filter((value) =>
        value["action"] === "charging_progress"
      );
      assert.ok(progress.length >= 3, `zero-energy progress while waiting (${progress.length})`);
      assert.ok(progress.every((value) => value["energy_kwh"] === 0));

      // NO_COLOR: not a single colour on the screen.
      assert.doesNotMatch(await terminal.screen(true), ANY_COLOUR);
      await terminal.press("q");
      await assertExitedCleanly(terminal);
    } finally {
      await terminal.dispose();
      await rig.close();
    }
  },
});

Deno.test({
  name: "a small terminal shows the panel cut to its width and height, and keys still work",
  async fn() {
    const rig = await consoleRig("small", "SMALL");
    const { central, port, args } = rig;
    const terminal = await TerminalEngine.start(args, { columns: 34, rows: 5 });
    try {
      await central.waitForStatus("available", 0, 30_000);
      const screen = await terminal.waitForScreen(/Status AVAILABLE/);
      for (const line of screen.split("\n")) {
        if (line.startsWith(" Status") || line.startsWith("──")) assert.ok(line.length <= 33);
      }
      const statuses = central.statuses().length;
      await terminal.press("F");
      await central.waitForStatus("fault", statuses);
      await waitForHealth(port, "KO");
      await terminal.waitForScreen(/Status FAULT/);
      await terminal.press("Q");
      await assertExitedCleanly(terminal);
    } finally {
      await terminal.dispose();
      await rig.close();
    }
  },
});

Deno.test({
  name: "--no-console in a terminal: plain logs, keys do nothing, Ctrl+C still shuts down",
  async fn() {
    const rig = await consoleRig("off", "OFF");
    const { central, port, args } = rig;
    const terminal = await TerminalEngine.start([...args, "--no-console"]);
    try {
      await central.waitForStatus("available", 0, 30_000);
      await terminal.waitForScreen("Status change offline -> available");
      await terminal.press("F");
      // The terminal is left as it was (cooked, echoing): the key is echoed, not read.
      await terminal.waitForScreen(/^F/m);
      assert.equal(await health(port), "OK");
      await terminal.press("C-c");
      await assertExitedCleanly(terminal);
      const screen = await terminal.screen(false, true);
      assert.doesNotMatch(screen, /── |Console key|Status AVAILABLE/);
      assert.match(screen, /Received SIGINT: shutting down/);
      assert.deepEqual(central.statuses(), ["offline", "available", "offline"]);
    } finally {
      await terminal.dispose();
      await rig.close();
    }
  },
});

Deno.test("when stdin is not a terminal the engine never reads it and shuts down normally", async () => {
  const rig = await consoleRig("pipe", "PIPE");
  const { central, port, args } = rig;
  // A FIFO the test holds open for reading and writing: whatever the engine does not read stays
  // in it, and the engine never sees end of input.
  const dir = await Deno.makeTempDir({ prefix: "engine-stdin-" });
  const fifo = `${dir}/stdin`;
  await new Deno.Command("mkfifo", { args: [fifo] }).output();
  const pipe = await Deno.open(fifo, { read: true, write: true });
  const keys = "MPFSQ\x03";
  const child = new Deno.Command("sh", {
    args: ["-c", 'exec "$@" < "$FIFO"', "sh", Deno.execPath(), ...(await startTaskArgs()), ...args],
    env: { ...passThroughEnv(), FIFO: fifo },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  try {
    await pipe.write(new TextEncoder().encode(keys));
    await central.waitForStatus("available", 0, 30_000);
    assert.equal(await health(port), "OK", "F in stdin was not a fault");
    child.kill("SIGTERM");
    const result = await output;
    const text = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, text);
    assert.deepEqual(central.statuses(), ["offline", "available", "offline"]);
    assert.doesNotMatch(text, /── |Console key/);
    assert.ok(!text.includes(`${ESC}[`), "no escape sequences");
    assert.match(text, /Received SIGTERM: shutting down/);
    // Every byte is still in the FIFO: nothing read it. (The marker keeps this read from
    // blocking if the engine had taken the keys.)
    await pipe.write(new TextEncoder().encode("END"));
    const buffer = new Uint8Array(64);
    const read = await pipe.read(buffer);
    assert.equal(new TextDecoder().decode(buffer.subarray(0, read ?? 0)), `${keys}END`);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already ended.
    }
    await output.catch(() => {});
    pipe.close();
    await Deno.remove(dir, { recursive: true });
    await rig.close();
  }
});
