/**
 * The health port under abuse (protocol.md section 5): the real server survives 500 concurrent
 * idle connections, garbage bytes, a 1 MiB line and clients that send one byte per second,
 * while a normal probe is still answered within 100 ms; afterwards no connection and no file
 * descriptor is left open.
 *
 * The 500 idle connections come from a separate process, as they would in real life (and so
 * that this process holds only the server's side of them, well under a 1024 descriptor limit).
 */
import assert from "node:assert/strict";
import {
  type HealthAnswer,
  HealthServer,
  type HealthSource,
} from "../src/adapters/health/server.ts";
import { probeHealth } from "../src/adapters/health/probe_client.ts";
import { seededRandom } from "../src/domain/random.ts";

const IDLE_CLIENTS = 500;
const PROBE_DEADLINE_MS = 100;
const IDLE_TIMEOUT_MS = 10_000;
const ONE_MIB = 1024 * 1024;

const encoder = new TextEncoder();

class CountingSource implements HealthSource {
  probes = 0;
  healthAnswer(): HealthAnswer {
    return "OK";
  }
  onProbe(): void {
    this.probes++;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Open file descriptors of this process (Linux), or null where /proc is not there. */
function openDescriptors(): number | null {
  try {
    return [...Deno.readDirSync("/proc/self/fd")].length;
  } catch {
    return null;
  }
}

async function eventually(condition: () => boolean, what: string, timeoutMs = 5_000) {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await delay(10);
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** Writes everything, stopping quietly when the server cuts the connection. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<"written" | "cut"> {
  try {
    while (bytes.length > 0) bytes = bytes.subarray(await conn.write(bytes));
    return "written";
  } catch {
    return "cut";
  }
}

/** Reads until the server closes the connection (or `timeoutMs`); returns what came. */
async function readToEnd(conn: Deno.Conn, timeoutMs: number): Promise<string> {
  const timer = setTimeout(() => closeQuietly(conn), timeoutMs);
  const chunk = new Uint8Array(4096);
  let text = "";
  try {
    while (true) {
      const count = await conn.read(chunk);
      if (count === null) break;
      text += new TextDecoder().decode(chunk.subarray(0, count));
    }
  } catch {
    // Reset by the server, or closed by the timer.
  } finally {
    clearTimeout(timer);
  }
  return text;
}

/** Reads up to and including the first newline (or until closed or `timeoutMs`). */
async function readLine(conn: Deno.Conn, timeoutMs: number): Promise<string> {
  const timer = setTimeout(() => closeQuietly(conn), timeoutMs);
  const chunk = new Uint8Array(64);
  let text = "";
  try {
    while (!text.includes("\n")) {
      const count = await conn.read(chunk);
      if (count === null) break;
      text += new TextDecoder().decode(chunk.subarray(0, count));
    }
  } catch {
    // Reset by the server, or closed by the timer.
  } finally {
    clearTimeout(timer);
  }
  return text;
}

/** A child process that opens `count` connections to `port`, says `ready`, and idles. */
async function startIdleClients(port: number, count: number) {
  const script = `
    const conns = [];
    for (let i = 0; i < ${count}; i++) {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port: ${port} }));
    }
    await Deno.stdout.write(new TextEncoder().encode("ready\\n"));
    for await (const _ of Deno.stdin.readable) { /* idle until the test closes stdin */ }
    for (const conn of conns) { try { conn.close(); } catch { /* closed by the server */ } }
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const first = await reader.read();
  reader.releaseLock();
  assert.equal(new TextDecoder().decode(first.value ?? new Uint8Array()).trim(), "ready");
  return {
    async stop() {
      await child.stdin.close().catch(() => {});
      await child.stdout.cancel().catch(() => {});
      const status = await child.status;
      return status.code;
    },
    kill() {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    },
  };
}

Deno.test({
  name:
    "the health port answers a normal probe within 100 ms while 500 idle, garbage, 1 MiB and byte-per-second clients abuse it, and leaks nothing",
  async fn() {
    const descriptorsBefore = openDescriptors();
    const source = new CountingSource();
    const server = HealthServer.listen(
      // The abusers share the probe's address here: allow them all to stay (the per-address
      // limit is specified in health_server_test.ts).
      {
        hostname: "127.0.0.1",
        port: 0,
        idleTimeoutMs: IDLE_TIMEOUT_MS,
        maxConnectionsPerAddress: 1024,
        probeNoticeIntervalMs: 0,
      },
      source,
    );
    const port = server.port;
    const connect = () => Deno.connect({ hostname: "127.0.0.1", port });
    const clients: Deno.Conn[] = [];
    const idle = await startIdleClients(port, IDLE_CLIENTS).catch(async (error) => {
      await server.close();
      throw error;
    });
    let abusing = true;
    const abusers: Promise<unknown>[] = [];
    try {
      await eventually(() => server.openConnections >= IDLE_CLIENTS, "500 connections are open");

      // Garbage: random bytes in bursts (newlines included), answered with ERR or cut off.
      const garbage = await connect();
      clients.push(garbage);
      const random = seededRandom(20261128);
      abusers.push((async () => {
        let replies = "";
        const reading = readToEnd(garbage, 20_000).then((text) => replies = text);
        while (abusing) {
          const burst = Uint8Array.from({ length: 200 }, () => Math.floor(random() * 256));
          if (await writeAll(garbage, burst) === "cut") break;
          await delay(50);
        }
        closeQuietly(garbage);
        await reading;
        return replies;
      })());

      // A 1 MiB line: cut off with ERR and disconnected long before it ends.
      const huge = await connect();
      clients.push(huge);
      const hugeReply = readToEnd(huge, 10_000);
      const hugeWrite = writeAll(huge, new Uint8Array(ONE_MIB).fill(0x41));

      // Byte per second: a STATUS? line at one byte per second is answered when it is complete;
      // a client that trickles garbage forever is closed by the idle timeout.
      const slowProbe = await connect();
      clients.push(slowProbe);
      const slowProbeReply = (async () => {
        for (const byte of encoder.encode("STATUS?\n")) {
          if (await writeAll(slowProbe, Uint8Array.of(byte)) === "cut") break;
          await delay(1_000);
        }
        return await readLine(slowProbe, 2_000);
      })();
      const slowLoris = await connect();
      clients.push(slowLoris);
      const slowLorisStarted = performance.now();
      const slowLorisEnd = (async () => {
        const reading = readToEnd(slowLoris, 20_000);
        while (abusing) {
          if (await writeAll(slowLoris, encoder.encode("x")) === "cut") break;
          await delay(1_000);
        }
        await reading;
        return performance.now() - slowLorisStarted;
      })();

      // Meanwhile the Monitor probes: every answer within 100 ms, connecting included.
      const latencies: number[] = [];
      const openDuringProbes: number[] = [];
      const probeUntil = performance.now() + 12_000;
      while (performance.now() < probeUntil) {
        const result = await probeHealth({ host: "127.0.0.1", port, timeoutMs: 2_000 });
        assert.equal(result.kind, "answer", JSON.stringify(result));
        if (result.kind === "answer") {
          assert.equal(result.answer, "OK");
          latencies.push(result.latencyMs);
          openDuringProbes.push(server.openConnections);
        }
        await delay(100);
      }
      abusing = false;
      const sorted = [...latencies].sort((a, b) => a - b);
      console.log(
        `${latencies.length} probes during the abuse: median ${
          sorted[Math.floor(sorted.length / 2)]!.toFixed(1)
        } ms, max ${sorted[sorted.length - 1]!.toFixed(1)} ms`,
      );
      assert.ok(
        latencies.every((ms) => ms < PROBE_DEADLINE_MS),
        `probes over ${PROBE_DEADLINE_MS} ms: ${latencies.filter((ms) => ms >= PROBE_DEADLINE_MS)}`,
      );

      // Loopback buffers may swallow the whole MiB before the server cuts it off: the write
      // can succeed or fail; what counts is the answer and the hang-up.
      await hugeWrite;
      assert.equal(await hugeReply, "ERR\n", "the 1 MiB line was cut off with ERR");
      assert.equal(await slowProbeReply, "OK\n", "the byte-per-second probe got its answer");
      assert.equal(source.probes, latencies.length + 1, "only real probes count as probes");
      const lorisMs = await slowLorisEnd;
      assert.ok(
        lorisMs >= IDLE_TIMEOUT_MS - 500 && lorisMs < IDLE_TIMEOUT_MS + 3_000,
        `the trickling client was closed after ${lorisMs} ms`,
      );
      const garbageReplies = String(await Promise.all(abusers).then((all) => all[0]));
      assert.match(garbageReplies, /^(ERR\n)*$/, "garbage only ever gets ERR");
      const busy = openDuringProbes.filter((open) => open >= IDLE_CLIENTS).length;
      assert.ok(busy >= 50, `only ${busy} probes ran with the 500 idle connections open`);
      await eventually(
        () => server.openConnections < IDLE_CLIENTS,
        "the server closes the idle connections after its idle timeout",
      );

      assert.equal(await idle.stop(), 0);
      for (const client of clients) closeQuietly(client);
      await eventually(() => server.openConnections === 0, "every connection is closed");
    } finally {
      abusing = false;
      idle.kill();
      await idle.stop().catch(() => 0);
      for (const client of clients) closeQuietly(client);
      await Promise.allSettled(abusers);
      await server.close();
    }
    assert.equal(server.openConnections, 0);
    if (descriptorsBefore !== null) {
      await eventually(
        () => openDescriptors() === descriptorsBefore,
        `the open descriptors are back to ${descriptorsBefore} (now ${openDescriptors()})`,
      );
    }
  },
});
