/** Unit tests of the operator console's pure parts: the panel, the keys and the prompt. */
import assert from "node:assert/strict";
import {
  formatDuration,
  type PanelLayout,
  type PanelView,
  progressBar,
  renderPanel,
  sanitize,
} from "../src/adapters/console/panel.ts";
import {
  actionForKey,
  editPrompt,
  MAX_USER_NAME,
  splitKeys,
} from "../src/adapters/console/keys.ts";
import type { EngineSnapshot, SessionView } from "../src/app/engine.ts";
import { engineSnapshot } from "./support/snapshot.ts";

const ESC = "\x1b";
const ANY_ESCAPE = new RegExp(`${ESC}\\[[0-9;]*m`);
const NOW = 1_764_350_000_000;

function snapshot(overrides: Partial<EngineSnapshot> = {}): EngineSnapshot {
  return engineSnapshot({ cpId: "CP_042", location: "Lab bench 4", ...overrides });
}

const SESSION: SessionView = {
  id: "s1",
  username: "alice",
  userId: null,
  supplying: true,
  energyKwh: 1.234,
  costEur: 0.37,
  powerKw: 19.8,
  elapsedSeconds: 252,
};

function view(overrides: Partial<PanelView> = {}): PanelView {
  return {
    snapshot: snapshot(),
    kafka: { connected: true, backlog: 0 },
    now: NOW,
    plugInMode: "auto",
    plugInTimeoutSeconds: 60,
    timeScale: 1,
    prompt: null,
    notice: null,
    showHelp: false,
    ...overrides,
  };
}

const WIDE: PanelLayout = { columns: 120, rows: 40, color: false, colors256: true };

Deno.test("the panel shows the point, its status, health, Kafka and the last probe", () => {
  const lines = renderPanel(
    view({ snapshot: snapshot({ lastProbeAt: NOW - 3_400 }) }),
    WIDE,
  );
  const text = lines.join("\n");
  assert.match(lines[0]!, /^── CP_042 · Lab bench 4 ─+$/);
  assert.match(text, /Status AVAILABLE\s+Health OK\s+Kafka connected\s+Monitor probe 3 s ago/);
  assert.match(text, /No session/);
  assert.match(text, /P plug in .* Q quit/);
});

Deno.test("at start-up the panel says why the point is offline, and how long the Monitor wait lasts", async (t) => {
  await t.step("registering", () => {
    const text = renderPanel(
      view({ snapshot: snapshot({ status: "offline", startup: { phase: "registering" } }) }),
      WIDE,
    ).join("\n");
    assert.match(text, /Starting: registering with Central, waiting for commands to flow/);
    assert.doesNotMatch(text, /No session/);
  });
  await t.step("waiting for a Monitor", () => {
    const startup = { phase: "waiting_for_monitor", until: NOW + 13_200, waitSeconds: 20 } as const;
    const text = renderPanel(
      view({ snapshot: snapshot({ status: "offline", startup }) }),
      WIDE,
    ).join("\n");
    assert.match(
      text,
      /Offline until a Monitor watches \(3 probes\) or 14 s pass \(--monitor-wait 20; 0 in a lab without a Monitor\)/,
    );
  });
  await t.step("open: no start-up line", () => {
    const text = renderPanel(view(), WIDE).join("\n");
    assert.doesNotMatch(text, /Monitor watches|registering/);
  });
});

Deno.test("during a session the panel shows the user, a bar and the figures", () => {
  const text = renderPanel(
    view({ snapshot: snapshot({ status: "charging", session: SESSION }) }),
    WIDE,
  ).join("\n");
  assert.match(text, /User alice\s+Elapsed 00:04:12/);
  assert.match(text, /\[█{22}░{2}\] 90 % of 22 kW/);
  assert.match(text, /Energy 1\.234 kWh\s+Cost 0\.37 EUR\s+Power 19\.80 kW/);
});

Deno.test("a session waiting for the vehicle shows the time left to plug it in", () => {
  const waiting = { ...SESSION, supplying: false, energyKwh: 0, powerKw: 0, elapsedSeconds: 45 };
  const text = renderPanel(
    view({
      snapshot: snapshot({ status: "charging", session: waiting }),
      plugInMode: "manual",
      plugInTimeoutSeconds: 60,
    }),
    WIDE,
  ).join("\n");
  assert.match(text, /waiting for the vehicle: press P \(15 s left\)/);
  assert.match(text, /Energy 0\.000 kWh/);
});

Deno.test("Kafka down and a lost Monitor are shown as such", () => {
  const text = renderPanel(
    view({
      snapshot: snapshot({ status: "offline", lastProbeAt: NOW - 12_000, monitorLost: true }),
      kafka: { connected: false, backlog: 3 },
    }),
    WIDE,
  ).join("\n");
  assert.match(text, /Kafka unreachable \(3 queued\)/);
  assert.match(text, /Monitor LOST, last probe 12 s ago/);
});

Deno.test("statuses are coloured like Central's dashboard", async (t) => {
  const cases = [
    ["available", "1;32"],
    ["charging", "1;32"],
    ["out_of_service", "1;38;5;208"],
    ["fault", "1;31"],
    ["offline", "90"],
  ] as const;
  for (const [status, sgr] of cases) {
    await t.step(status, () => {
      const lines = renderPanel(
        view({ snapshot: snapshot({ status }) }),
        { ...WIDE, color: true },
      );
      assert.ok(lines[1]!.includes(`${ESC}[${sgr}m${status.toUpperCase()}${ESC}[0m`), lines[1]);
    });
  }
  await t.step("orange is yellow on a terminal without 256 colours", () => {
    const lines = renderPanel(
      view({ snapshot: snapshot({ status: "out_of_service" }) }),
      { ...WIDE, color: true, colors256: false },
    );
    assert.ok(lines[1]!.includes(`${ESC}[1;33mOUT_OF_SERVICE`));
  });
});

Deno.test("without colour (NO_COLOR) the panel has no escape sequence", () => {
  const lines = renderPanel(
    view({ snapshot: snapshot({ status: "charging", session: SESSION }), showHelp: true }),
    WIDE,
  );
  for (const line of lines) assert.doesNotMatch(line, ANY_ESCAPE);
});

Deno.test("a small terminal gets lines cut to its width and the most important lines", () => {
  const layout: PanelLayout = { columns: 30, rows: 4, color: true, colors256: true };
  const lines = renderPanel(
    view({ snapshot: snapshot({ status: "charging", session: SESSION }), showHelp: true }),
    layout,
  );
  assert.equal(lines.length, 3, "rows - 1 lines, so a redraw always reaches the first");
  for (const line of lines) {
    assert.ok(line.replace(new RegExp(ANY_ESCAPE, "g"), "").length <= 29, line);
  }
  const plain = lines.map((line) => line.replace(new RegExp(ANY_ESCAPE, "g"), ""));
  assert.match(plain[0]!, /^── CP_042/, "title");
  assert.match(plain[1]!, /^ Status CHARGING/, "status");
  assert.match(plain[2]!, /^ Keys/, "the first key line");
});

Deno.test("the prompt line replaces the key hints and survives a tiny terminal", () => {
  const lines = renderPanel(
    view({ prompt: "ali" }),
    { columns: 60, rows: 3, color: false, colors256: false },
  );
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, /User name for the manual session: ali_/);
});

Deno.test("control characters in names cannot reach the terminal", () => {
  assert.equal(sanitize("ev\x1b[2Jil\x07\u009b"), "ev?[2Jil??");
  const text = renderPanel(
    view({
      snapshot: snapshot({ status: "charging", session: { ...SESSION, username: "a\x1b[31mb" } }),
    }),
    WIDE,
  ).join("\n");
  assert.ok(!text.includes(ESC));
  assert.match(text, /User a\?\[31mb/);
});

Deno.test("durations and bars", () => {
  assert.equal(formatDuration(0), "00:00:00");
  assert.equal(formatDuration(3_725.9), "01:02:05");
  assert.equal(progressBar(0, 4), "░░░░");
  assert.equal(progressBar(0.5, 4), "██░░");
  assert.equal(progressBar(7, 4), "████");
  assert.equal(progressBar(Number.NaN, 4), "░░░░");
});

Deno.test("keys map to actions whatever their case; others do nothing", () => {
  const cases: [string, string | null][] = [
    ["p", "plug_in"],
    ["P", "plug_in"],
    ["u", "unplug"],
    ["F", "fault"],
    ["r", "recover"],
    ["M", "manual_session"],
    ["s", "service"],
    ["h", "help"],
    ["?", "help"],
    ["Q", "quit"],
    ["\x03", "quit"],
    ["x", null],
    ["\x1b[A", null],
  ];
  for (const [key, action] of cases) assert.equal(actionForKey(key), action, JSON.stringify(key));
});

Deno.test("raw input splits into keys, escape sequences whole", () => {
  assert.deepEqual(splitKeys("pU"), ["p", "U"]);
  assert.deepEqual(splitKeys("\x1b[Aq"), ["\x1b[A", "q"]);
  assert.deepEqual(splitKeys("\x1bOPf"), ["\x1bOP", "f"]);
  assert.deepEqual(splitKeys("\x1b"), ["\x1b"]);
  assert.deepEqual(splitKeys("\x1b[1;5Cx"), ["\x1b[1;5C", "x"]);
});

Deno.test("the user-name prompt edits, submits, cancels and quits", () => {
  assert.deepEqual(editPrompt("al", "i"), { kind: "edit", text: "ali" });
  assert.deepEqual(editPrompt("ali", "\x7f"), { kind: "edit", text: "al" });
  assert.deepEqual(editPrompt("ali", "\x15"), { kind: "edit", text: "" });
  assert.deepEqual(editPrompt(" alice ", "\r"), { kind: "submit", text: "alice" });
  assert.deepEqual(editPrompt("alice", "\x1b"), { kind: "cancel" });
  assert.deepEqual(editPrompt("alice", "\x03"), { kind: "quit" });
  assert.deepEqual(editPrompt("alice", "\x1b[A"), { kind: "edit", text: "alice" });
  assert.deepEqual(editPrompt("alice", "\x07"), { kind: "edit", text: "alice" });
  const full = "x".repeat(MAX_USER_NAME);
  assert.deepEqual(editPrompt(full, "y"), { kind: "edit", text: full });
});
