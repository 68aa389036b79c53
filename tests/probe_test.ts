/**
 * Specification of the health probe client, against a real HealthServer and against servers
 * that misbehave, all on 127.0.0.1 with ports picked by the operating system.
 */
import assert from "node:assert/strict";
import { type HealthAnswer, HealthServer } from "../src/adapters/health/server.ts";
import { probeHealth, type ProbeResult } from "../src/adapters/health/probe_client.ts";

/** The answer of a probe, or its reason for having none (so that a failure shows why). */
function answerOf(result: ProbeResult): string {
  return result.kind === "answer" ? result.answer : `no_answer: ${result.reason}`;
}

/** A health source whose answer the test sets. */
function sourceAnswering(answer: () => HealthAnswer) {
  return { healthAnswer: answer, onProbe: () => {} };
}

/**
 * A raw TCP server that accepts connections and hands each to `handle`; closed with its
 * connections afterwards.
 */
async function withRawServer(
  handle: (conn: Deno.TcpConn) => Promise<void>,
  body: (port: number) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.TcpConn[] = [];
  const handlers: Promise<void>[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.push(conn);
        handlers.push(handle(conn).catch(() => {}));
      }
    } catch {
      // The listener was closed.
    }
  })();
  try {
    await body(listener.addr.port);
  } finally {
    listener.close();
    await accepting;
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // Already closed by the handler.
      }
    }
    await Promise.all(handlers);
  }
}

/** Reads until the peer closes or the connection is closed locally. */
async function drain(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(256);
  try {
    while (await conn.read(buffer) !== null) {
      // Swallow the request: this server never answers.
    }
  } catch {
    // Closed by the test's cleanup.
  }
}

/** Reads the first chunk of a request, replies `reply`, and closes. */
function replyWith(reply: Uint8Array | string) {
  return async (conn: Deno.TcpConn) => {
    await conn.read(new Uint8Array(64));
    await conn.write(typeof reply === "string" ? new TextEncoder().encode(reply) : reply);
    conn.close();
  };
}

Deno.test("probeHealth against a real health server", async (t) => {
  let answer: HealthAnswer = "OK";
  const server = HealthServer.listen(
    { hostname: "127.0.0.1", port: 0 },
    sourceAnswering(() => answer),
  );
  try {
    await t.step("gets OK with its latency", async () => {
      const result = await probeHealth({ host: "127.0.0.1", port: server.port });
      assert.equal(answerOf(result), "OK");
      if (result.kind !== "answer") return;
      assert.ok(result.latencyMs >= 0 && result.latencyMs < 2000);
    });

    await t.step("gets KO while the engine says KO", async () => {
      answer = "KO";
      const result = await probeHealth({ host: "127.0.0.1", port: server.port });
      assert.equal(answerOf(result), "KO");
      answer = "OK";
    });

    await t.step("framed, gets OK and KO too", async () => {
      const ok = await probeHealth({ host: "127.0.0.1", port: server.port, framed: true });
      assert.equal(answerOf(ok), "OK");
      answer = "KO";
      const ko = await probeHealth({ host: "127.0.0.1", port: server.port, framed: true });
      assert.equal(answerOf(ko), "KO");
      answer = "OK";
    });

    await t.step("leaves no connection open on the server", async () => {
      await probeHealth({ host: "127.0.0.1", port: server.port });
      const deadline = performance.now() + 2000;
      while (server.openConnections > 0 && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.equal(server.openConnections, 0);
    });
  } finally {
    await server.close();
  }
});

Deno.test("probeHealth reports no_answer instead of throwing", async (t) => {
  await t.step("when nothing listens on the port", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    listener.close();
    const result = await probeHealth({ host: "127.0.0.1", port });
    assert.equal(result.kind, "no_answer");
    if (result.kind === "no_answer") assert.match(result.reason, /refused/);
  });

  await t.step("when the server never answers, within the timeout", async () => {
    await withRawServer(drain, async (port) => {
      const started = performance.now();
      const result = await probeHealth({ host: "127.0.0.1", port, timeoutMs: 200 });
      const elapsed = performance.now() - started;
      assert.equal(result.kind, "no_answer");
      if (result.kind === "no_answer") assert.match(result.reason, /within 200 ms/);
      assert.ok(elapsed < 1500, `gave up after ${elapsed.toFixed(0)} ms`);
    });
  });

  await t.step("when a framed probe is never answered, within the timeout", async () => {
    await withRawServer(drain, async (port) => {
      const result = await probeHealth({ host: "127.0.0.1", port, framed: true, timeoutMs: 200 });
      assert.equal(result.kind, "no_answer");
    });
  });

  await t.step("when the reply is garbage", async () => {
    await withRawServer(replyWith("BANANA\n"), async (port) => {
      const result = await probeHealth({ host: "127.0.0.1", port });
      assert.equal(result.kind, "no_answer");
      if (result.kind === "no_answer") assert.match(result.reason, /BANANA/);
    });
  });

  await t.step("when the server closes without a whole line", async () => {
    await withRawServer(replyWith("O"), async (port) => {
      const result = await probeHealth({ host: "127.0.0.1", port });
      assert.equal(result.kind, "no_answer");
      if (result.kind === "no_answer") assert.match(result.reason, /closed the connection/);
    });
  });

  await t.step("when a framed reply is a NACK", async () => {
    await withRawServer(replyWith(Uint8Array.of(0x15)), async (port) => {
      const result = await probeHealth({ host: "127.0.0.1", port, framed: true });
      assert.equal(result.kind, "no_answer");
      if (result.kind === "no_answer") assert.match(result.reason, /NACK/);
    });
  });

  await t.step("when a framed probe gets a plain reply", async () => {
    await withRawServer(replyWith("OK\n"), async (port) => {
      const result = await probeHealth({ host: "127.0.0.1", port, framed: true });
      assert.equal(result.kind, "no_answer");
    });
  });
});
