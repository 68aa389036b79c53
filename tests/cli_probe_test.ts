/**
 * Specification of `ev-cp-engine probe` and of the framed health mode, against the REAL engine
 * process (started exactly as `deno task start` starts it) and a real Kafka broker: the probe
 * prints the answer and exits 0 on OK, 1 on KO, 2 on no answer or a bad flag; a framed client
 * gets ACK + frame, a bad LRC gets NACK, a frame split across segments is answered, and a plain
 * client never sees a framing byte.
 */
import assert from "node:assert/strict";
import { parseProbeArgs, type ProbeIo } from "../src/cli/probe_command.ts";
import { ACK, encodeFrame, ETX, NACK, STX } from "../src/protocol/health_frames.ts";
import { brokerAddress, CentralDouble, uniqueTopics } from "./support/kafka.ts";
import { engineArgs, EngineProcess, freePort, startTaskArgs } from "./support/engine_process.ts";

const decoder = new TextDecoder();

/** A fake io for the pure parsing part. */
function fakeIo(env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: ProbeIo = {
    env: (name) => env[name],
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
  };
  return { io, out, err };
}

Deno.test("probe flags: defaults, HEALTH_PORT, and one line with exit code 2 for a bad value", async (t) => {
  await t.step("defaults are 127.0.0.1:5100, plain, 2 s", () => {
    const parsed = parseProbeArgs([], fakeIo().io);
    assert.deepEqual(parsed, {
      kind: "probe",
      settings: { host: "127.0.0.1", port: 5100, framed: false, timeoutSeconds: 2 },
    });
  });
  await t.step("the port defaults to HEALTH_PORT; --port beats it", () => {
    const { io } = fakeIo({ HEALTH_PORT: "5103" });
    const fromEnv = parseProbeArgs([], io);
    assert.equal(fromEnv.kind === "probe" && fromEnv.settings.port, 5103);
    const fromFlag = parseProbeArgs(["--port", "5101"], io);
    assert.equal(fromFlag.kind === "probe" && fromFlag.settings.port, 5101);
  });
  await t.step("--host, --framed and --timeout are read", () => {
    const parsed = parseProbeArgs(
      ["--host", "[::1]", "--framed", "--timeout", "0.5"],
      fakeIo().io,
    );
    assert.deepEqual(parsed.kind === "probe" && parsed.settings, {
      host: "::1",
      port: 5100,
      framed: true,
      timeoutSeconds: 0.5,
    });
  });
  const bad: [string, string[], Record<string, string>, RegExp][] = [
    ["port 0", ["--port", "0"], {}, /--port.*'0'.*expected a TCP port/],
    ["port 70000", ["--port", "70000"], {}, /70000.*expected a TCP port/],
    ["a timeout of zero", ["--timeout", "0"], {}, /--timeout.*expected a number of seconds/],
    ["a host with a space", ["--host", "a b"], {}, /--host.*expected a host name/],
    ["HEALTH_PORT=abc", [], { HEALTH_PORT: "abc" }, /HEALTH_PORT="abc".*--port.*expected/],
    ["an unknown flag", ["--bogus"], {}, /unknown option '--bogus'/],
    ["an extra argument", ["5100"], {}, /too many arguments|unknown command|excess/],
  ];
  for (const [name, args, env, pattern] of bad) {
    await t.step(name, () => {
      const { io, out, err } = fakeIo(env);
      assert.deepEqual(parseProbeArgs(args, io), { kind: "exit", code: 2 });
      const lines = err.join("").trimEnd().split("\n");
      assert.equal(lines.length, 1, `one line, got ${JSON.stringify(lines)}`);
      assert.match(lines[0]!, pattern);
      assert.deepEqual(out, []);
    });
  }
});

/** Runs `ev-cp-engine probe ...` exactly as `deno task start probe ...` would. */
async function runProbe(args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...(await startTaskArgs()), "probe", ...args],
    cwd: new URL("..", import.meta.url),
    env: { NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  while (bytes.length > 0) bytes = bytes.subarray(await conn.write(bytes));
}

/** Reads until `count` bytes came (or the peer closed), failing after 3 s. */
async function readBytes(conn: Deno.Conn, count: number): Promise<Uint8Array> {
  const received: number[] = [];
  const chunk = new Uint8Array(64);
  const timer = setTimeout(() => conn.close(), 3000);
  try {
    while (received.length < count) {
      const n = await conn.read(chunk);
      if (n === null) break;
      received.push(...chunk.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
  return Uint8Array.from(received);
}

/** The engine's whole reply to a good request frame. */
function replyFrame(answer: "OK" | "KO"): number[] {
  return [ACK, ...encodeFrame(answer)];
}

Deno.test({
  name: "probe and the framed health mode against the real engine process",
  async fn(t) {
    const broker = await brokerAddress();
    const topics = uniqueTopics("probe");
    const cpId = `CP_PROBE_${crypto.randomUUID().slice(0, 6)}`;
    const healthPort = freePort();
    const central = await CentralDouble.start(broker, topics);
    const engine = await EngineProcess.start([
      ...engineArgs({ cpId, broker, healthPort, topics }),
    ]);
    const port = String(healthPort);
    try {
      await central.waitForStatus("available");

      await t.step("probe prints OK and exits 0", async () => {
        const result = await runProbe(["--port", port]);
        assert.deepEqual([result.stdout, result.code], ["OK\n", 0], result.stderr);
      });

      await t.step("probe takes the port from HEALTH_PORT", async () => {
        const result = await runProbe([], { HEALTH_PORT: port });
        assert.deepEqual([result.stdout, result.code], ["OK\n", 0], result.stderr);
      });

      await t.step("probe --framed prints OK and exits 0", async () => {
        const result = await runProbe(["--port", port, "--framed"]);
        assert.deepEqual([result.stdout, result.code], ["OK\n", 0], result.stderr);
      });

      await t.step("a framed request gets ACK and the OK frame", async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: healthPort });
        try {
          await writeAll(conn, encodeFrame("STATUS?"));
          assert.deepEqual([...await readBytes(conn, 6)], replyFrame("OK"));
        } finally {
          conn.close();
        }
      });

      await t.step(
        "a frame with a bad LRC gets NACK, and a good one after it is answered",
        async () => {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: healthPort });
          try {
            const frame = encodeFrame("STATUS?");
            frame[frame.length - 1] = frame[frame.length - 1]! ^ 0xff;
            await writeAll(conn, frame);
            assert.deepEqual([...await readBytes(conn, 1)], [NACK]);
            await writeAll(conn, encodeFrame("STATUS?"));
            assert.deepEqual([...await readBytes(conn, 6)], replyFrame("OK"));
          } finally {
            conn.close();
          }
        },
      );

      await t.step("a frame split across TCP segments is answered once whole", async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: healthPort });
        conn.setNoDelay(true);
        try {
          const frame = encodeFrame("STATUS?");
          for (const part of [frame.subarray(0, 1), frame.subarray(1, 5), frame.subarray(5)]) {
            await writeAll(conn, part);
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          assert.deepEqual([...await readBytes(conn, 6)], replyFrame("OK"));
        } finally {
          conn.close();
        }
      });

      await t.step("a plain client never sees a framing byte", async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: healthPort });
        try {
          await writeAll(conn, new TextEncoder().encode("STATUS?\nSTATUS?\n"));
          const reply = await readBytes(conn, 6);
          assert.equal(decoder.decode(reply), "OK\nOK\n");
          for (const byte of [STX, ETX, ACK, NACK]) assert.ok(!reply.includes(byte));
        } finally {
          conn.close();
        }
      });

      await t.step("in fault, probe prints KO and exits 1 (plain and framed)", async () => {
        await central.send({ cp_id: cpId, event_type: "CP_FAULT", action: "fault" });
        const deadline = Date.now() + 10_000;
        let result = await runProbe(["--port", port]);
        while (result.code !== 1 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          result = await runProbe(["--port", port]);
        }
        assert.deepEqual([result.stdout, result.code], ["KO\n", 1], result.stderr);
        const framed = await runProbe(["--port", port, "--framed"]);
        assert.deepEqual([framed.stdout, framed.code], ["KO\n", 1], framed.stderr);
      });

      await t.step(
        "once the engine has stopped, probe says why on stderr and exits 2",
        async () => {
          engine.signal("SIGTERM");
          assert.equal(await engine.exited(), 0);
          const result = await runProbe(["--port", port, "--timeout", "1"]);
          assert.equal(result.code, 2);
          assert.equal(result.stdout, "");
          assert.match(result.stderr, /^no answer: .*refused/);
        },
      );
    } finally {
      await engine.dispose();
      await central.close();
    }
  },
});
