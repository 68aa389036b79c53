/**
 * Unit tests of the operator console adapter with a fake terminal and a fake engine: which
 * command each key applies, the prompt, quitting, and how frames and log lines are drawn.
 * The real engine in a real terminal is tested in console_test.ts.
 */
import assert from "node:assert/strict";
import {
  type ConsoleEngine,
  type ConsoleTerminal,
  OperatorConsole,
} from "../src/adapters/console/console.ts";
import type { Command } from "../src/domain/charge_point.ts";
import type { CommandSource, EngineSnapshot } from "../src/app/engine.ts";
import type { DecodedCommand } from "../src/protocol/commands.ts";
import type { LogRecord } from "../src/adapters/logging.ts";
import { engineSnapshot } from "./support/snapshot.ts";

class FakeTerminal implements ConsoleTerminal {
  output = "";
  rawModes: boolean[] = [];
  #pending: ((n: number | null) => void) | null = null;
  write(text: string): void {
    this.output += text;
  }
  size() {
    return { columns: 100, rows: 30 };
  }
  setRaw(raw: boolean): void {
    this.rawModes.push(raw);
  }
  read(): Promise<number | null> {
    return new Promise((resolve) => this.#pending = resolve);
  }
  onResize(): () => void {
    return () => {};
  }
  end(): void {
    this.#pending?.(null);
  }
}

class FakeEngine implements ConsoleEngine {
  applied: [Command | DecodedCommand, CommandSource][] = [];
  status: EngineSnapshot["status"] = "available";
  snapshot(): EngineSnapshot {
    return engineSnapshot({ cpId: "CP_1", location: "Here", status: this.status });
  }
  apply(command: Command | DecodedCommand, source: CommandSource): void {
    this.applied.push([command, source]);
  }
  subscribe(): () => void {
    return () => {};
  }
}

function setup(localUser: string | null = null) {
  const terminal = new FakeTerminal();
  const engine = new FakeEngine();
  const console = new OperatorConsole(
    {
      cpId: "CP_1",
      logFormat: "text",
      plugInMode: "auto",
      plugInTimeoutSeconds: 60,
      timeScale: 1,
      localUser,
      color: false,
      colors256: false,
    },
    terminal,
    { now: () => 0 },
  );
  console.attach(engine, { connected: true, backlog: 0 });
  return { terminal, engine, console };
}

async function withConsole(
  localUser: string | null,
  body: (parts: ReturnType<typeof setup>) => void | Promise<void>,
) {
  const parts = setup(localUser);
  try {
    await body(parts);
  } finally {
    parts.console.close();
    parts.terminal.end();
  }
}

Deno.test("each key applies the command Kafka would, from the console", async (t) => {
  const cases: [string, Command | DecodedCommand][] = [
    ["p", { type: "plug_in" }],
    ["U", { type: "unplug" }],
    ["f", { type: "fault" }],
    ["R", { type: "recover" }],
    ["S", { type: "stop", reason: "Stopped at the point" }],
  ];
  for (const [key, command] of cases) {
    await t.step(key, () =>
      withConsole(null, ({ console, engine }) => {
        console.handleInput(key);
        assert.deepEqual(engine.applied, [[command, "console"]]);
      }));
  }
  await t.step("S when out of service resumes", () =>
    withConsole(null, ({ console, engine }) => {
      engine.status = "out_of_service";
      console.handleInput("s");
      assert.deepEqual(engine.applied, [[
        { type: "resume", reason: "Resumed at the point" },
        "console",
      ]]);
    }));
});

Deno.test("M asks for a user name and starts a local session with it", async () => {
  await withConsole(null, async ({ console, engine, terminal }) => {
    console.handleInput("M");
    await Promise.resolve();
    assert.match(terminal.output, /User name for the manual session: _/);
    console.handleInput("qpu"); // typed into the prompt, not keys
    console.handleInput("\x7f\x7f\x7fzoe\r");
    assert.deepEqual(engine.applied, [[{
      type: "charging_started",
      driver: { username: "zoe", userId: null, clientId: null },
    }, "console"]]);
  });
});

Deno.test("M with --local-user starts at once; Esc or an empty name cancels", async (t) => {
  await t.step("--local-user", () =>
    withConsole("bob", ({ console, engine }) => {
      console.handleInput("m");
      assert.equal(engine.applied.length, 1);
      assert.equal(
        (engine.applied[0]![0] as { driver: { username: string } }).driver.username,
        "bob",
      );
    }));
  await t.step("Esc", () =>
    withConsole(null, ({ console, engine }) => {
      console.handleInput("Mab\x1b");
      console.handleInput("x");
      assert.deepEqual(engine.applied, []);
    }));
  await t.step("empty name", () =>
    withConsole(null, ({ console, engine }) => {
      console.handleInput("M  \r");
      assert.deepEqual(engine.applied, []);
    }));
  await t.step(
    "not while the point is not available",
    () =>
      withConsole("bob", ({ console, engine }) => {
        engine.status = "fault";
        console.handleInput("M");
        assert.deepEqual(engine.applied, []);
      }),
  );
});

Deno.test("Q and Ctrl+C request the shutdown; keys after it do nothing", async (t) => {
  for (const [key, reason] of [["q", "key Q"], ["\x03", "Ctrl+C"]]) {
    await t.step(reason!, () =>
      withConsole(null, async ({ console, engine }) => {
        console.handleInput(key!);
        assert.equal(await console.quitRequested, reason);
        console.handleInput("F");
        assert.deepEqual(engine.applied, []);
      }));
  }
});

Deno.test("log lines are printed above the panel, which is redrawn in place", async () => {
  await withConsole(null, async ({ console, terminal }) => {
    await Promise.resolve();
    terminal.output = "";
    const record: LogRecord = {
      category: ["ev-cp-engine"],
      level: "info",
      message: ["Hello ", "\x1b[2J"],
      rawMessage: "Hello {x}",
      properties: {},
      timestamp: 0,
    };
    console.logSink(record);
    await Promise.resolve();
    const frame = terminal.output;
    const up = new RegExp(`\r${"\x1b"}\\[(\\d+)A`).exec(frame);
    assert.ok(up !== null, "moves up to the panel's first line");
    assert.ok(!frame.includes("\x1b[2J"), "never clears the whole screen");
    const log = frame.indexOf("Hello ?[2J");
    const panel = frame.indexOf("── CP_1 · Here");
    assert.ok(log > 0 && panel > log, "log line, then the panel");
    const panelLines = frame.slice(panel).split("\r\n").length - 1;
    assert.equal(Number(up[1]), panelLines, "the next frame goes back exactly over the panel");
  });
});

Deno.test("close gives the terminal back: cooked mode, cursor shown, idempotent", () => {
  const { console, terminal } = setup();
  console.close();
  console.close();
  terminal.end();
  assert.deepEqual(terminal.rawModes, [true, false]);
  assert.ok(terminal.output.endsWith("\x1b[?25h"));
});
