/**
 * `ev-cp-engine send` plays Central from the command line: every command of the contract is
 * shaped so that the engine's own decoder reads it as meant, bad flags are refused with one line,
 * and against the real broker a running engine reacts to what it sends.
 */
import assert from "node:assert/strict";
import {
  CENTRAL_COMMAND_NAMES,
  centralCommand,
  centralCommandNamed,
} from "../src/protocol/central_commands.ts";
import { decodeCommand } from "../src/protocol/commands.ts";
import { parseSendArgs } from "../src/cli/send_command.ts";
import type { CliIo } from "../src/cli/command_line.ts";
import {
  engineArgs,
  EngineProcess,
  freePort,
  passThroughEnv,
  startTaskArgs,
} from "./support/engine_process.ts";
import { brokerAddress, CentralDouble, uniqueTopics } from "./support/kafka.ts";
import { documented, shellWords } from "./support/documented.ts";
import { waitForHealth } from "./support/health.ts";

const NOW = 1_764_350_000_000;

Deno.test("every command send can publish is read by the engine's decoder as the command meant", async (t) => {
  const expected: Record<string, Record<string, unknown>> = {
    charging_started: {
      type: "charging_started",
      driver: { username: "alice", userId: 7, clientId: "app-1" },
      requestedAt: NOW,
    },
    charging_stopped: { type: "charging_stopped" },
    CP_ERROR_SIMULATED: { type: "error_simulated", errorType: "overheating", newStatus: "offline" },
    CP_ERROR_FIXED: { type: "error_fixed" },
    CP_STOP: { type: "stop", reason: "maintenance" },
    CP_RESUME: { type: "resume", reason: "maintenance" },
    CP_PLUG_IN: { type: "plug_in" },
    CP_UNPLUG: { type: "unplug" },
    CP_FAULT: { type: "fault" },
    CP_RECOVER: { type: "recover" },
  };
  assert.deepEqual(Object.keys(expected).sort(), [...CENTRAL_COMMAND_NAMES].sort());
  for (const name of CENTRAL_COMMAND_NAMES) {
    await t.step(name, () => {
      const message = centralCommand(name, { cpId: "CP_9", messageId: "m-1", now: NOW }, {
        username: "alice",
        userId: 7,
        clientId: "app-1",
        errorType: "overheating",
        newStatus: "offline",
        reason: "maintenance",
      });
      const decoded = decodeCommand(JSON.stringify(message), {
        cpId: "CP_9",
        now: NOW,
        maxAgeMs: 30_000,
      });
      assert.equal(decoded.kind, "command", JSON.stringify(decoded));
      if (decoded.kind !== "command") return;
      assert.deepEqual(decoded.command, expected[name]);
      assert.equal(decoded.messageId, "m-1");
      assert.equal(message["timestamp"], NOW / 1000);
    });
  }
});

Deno.test("send shapes commands as Central does: CP_ERROR_SIMULATED has no action, CP_STOP a new_status", () => {
  const envelope = { cpId: "CP_9", messageId: "m-2", now: NOW };
  assert.equal("action" in centralCommand("CP_ERROR_SIMULATED", envelope), false);
  assert.equal(centralCommand("CP_STOP", envelope)["new_status"], "out_of_service");
  assert.equal(centralCommand("CP_FAULT", envelope)["action"], "fault");
  assert.equal(centralCommandNamed("fault"), "CP_FAULT");
  assert.equal(centralCommandNamed("cp_resume"), "CP_RESUME");
  assert.equal(centralCommandNamed("CHARGING_STARTED"), "charging_started");
  assert.equal(centralCommandNamed("reboot"), undefined);
});

function captureIo(env: Record<string, string> = {}): CliIo & { out: string; err: string } {
  const io = {
    out: "",
    err: "",
    env: (name: string) => env[name],
    stdout: (text: string) => void (io.out += text),
    stderr: (text: string) => void (io.err += text),
  };
  return io;
}

Deno.test("send refuses a bad command line with one line and exit code 2", async (t) => {
  const cases: [string[], RegExp][] = [
    [["charging_started"], /^error: charging_started needs --user <name>/],
    [
      ["reboot"],
      /^error: command-argument value 'reboot' is invalid.*expected one of charging_started/,
    ],
    [
      ["CP_ERROR_SIMULATED", "--new-status", "broken"],
      /expected one of fault, out_of_service, offline/,
    ],
    [["CP_FAULT", "--kafka-broker", "nowhere"], /expected a comma-separated list of host:port/],
    [[], /error: missing required argument 'command'/],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" ") || "(nothing)", () => {
      const io = captureIo();
      const parsed = parseSendArgs(args, io);
      assert.deepEqual(parsed, { kind: "exit", code: 2 });
      assert.match(io.err, message);
      assert.equal(io.err.trim().split("\n").length, 1, io.err);
    });
  }
  await t.step("the broker and topic come from the engine's variables", () => {
    const io = captureIo({
      KAFKA_BROKER: "k1:9093",
      CENTRAL_EVENTS_TOPIC: "commands",
      CP_ID: "CP_7",
    });
    const parsed = parseSendArgs(["CP_FAULT"], io);
    assert.equal(parsed.kind, "send");
    if (parsed.kind !== "send") return;
    assert.deepEqual(parsed.request.config.kafkaBrokers, ["k1:9093"]);
    assert.equal(parsed.request.config.centralEventsTopic, "commands");
    assert.equal(parsed.request.config.cpId, "CP_7");
  });
});

/**
 * Runs a documented `deno task send ...` line (`ev-cp-engine send ...` with the start task's
 * permissions, which the send task has: tests/permissions_test.ts).
 */
async function send(line: string, env: Record<string, string>): Promise<string> {
  const words = shellWords(line);
  assert.deepEqual(words.slice(0, 3), ["deno", "task", "send"], line);
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...(await startTaskArgs()), "send", ...words.slice(3)],
    env: { ...passThroughEnv(), NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `${line}:\n${text}`);
  return text;
}

Deno.test({
  name: "a running engine reacts to what send publishes: a session, a fault, a recovery, a stop",
  async fn() {
    const broker = await brokerAddress();
    const topics = uniqueTopics("send");
    // The documented lines name CP_001; the test's own topics keep it apart from other tests.
    const target = { cpId: "CP_001", broker, healthPort: freePort(), topics };
    const central = await CentralDouble.start(broker, topics);
    const engine = await EngineProcess.start(engineArgs(target));
    const env = { KAFKA_BROKER: broker, CENTRAL_EVENTS_TOPIC: topics.centralEvents };
    try {
      await waitForHealth(target.healthPort, "OK", 30_000);
      await central.waitForStatus("available", 0, 30_000);

      const sent = await send(
        documented("deno task send charging_started --cp-id CP_001 --user alice"),
        env,
      );
      assert.match(sent, /^Sent charging_started to CP_001 on central-events-send-/);
      await central.waitForStatus("charging", 0, 15_000);
      await central.waitFor(
        "two progress samples",
        () => central.seen("charging_progress").length >= 2,
      );
      const [first, second] = central.seen("charging_progress");
      assert.ok(Number(second!["energy_kwh"]) > Number(first!["energy_kwh"]), "kWh rise");
      // The log shows the wire's precision: never `0 EUR`.
      await engine.waitForOutput(/Charging alice: \d+\.\d{3} kWh, \d+\.\d{2} EUR, \d+\.\d{2} kW/);

      await send(documented("deno task send CP_FAULT --cp-id CP_001"), env);
      await central.waitFor(
        "a fault ticket",
        () => central.seen("charging_completed").some((ticket) => ticket["reason"] === "fault"),
      );
      await central.waitForStatus("fault", 0, 15_000);
      await waitForHealth(target.healthPort, "KO", 10_000);

      await send(documented("deno task send CP_RECOVER --cp-id CP_001"), env);
      await waitForHealth(target.healthPort, "OK", 10_000);
      const afterFault = central.statuses().lastIndexOf("fault") + 1;
      await central.waitForStatus("available", afterFault, 15_000);

      await send(
        documented("deno task send CP_STOP --cp-id CP_001 --reason maintenance"),
        env,
      );
      const afterRecovery = central.statuses().length;
      await central.waitForStatus("out_of_service", afterRecovery - 1, 15_000);
    } finally {
      engine.signal("SIGTERM");
      await engine.exited().catch(() => {});
      await engine.dispose();
      await central.close();
    }
  },
});

Deno.test("send says in one line when Kafka cannot be reached, exit code 1", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      ...(await startTaskArgs()),
      "send",
      "CP_FAULT",
      "--kafka-broker",
      `127.0.0.1:${freePort()}`,
    ],
    env: { ...passThroughEnv(), NO_COLOR: "1" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 1, stderr);
  assert.match(stderr, /^error: cannot send to central-events at 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  assert.equal(stderr.trim().split("\n").length, 1, stderr);
});
