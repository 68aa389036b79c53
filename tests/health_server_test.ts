/**
 * Specification of the health TCP server (protocol.md section 5), with real sockets on
 * 127.0.0.1 and a port picked by the operating system. Every step starts its own server and
 * closes it, with its clients, in `finally`, so Deno's resource and op sanitizers stay on.
 */
import assert from "node:assert/strict";
import {
  type HealthAnswer,
  HealthPortInUseError,
  HealthServer,
  type HealthServerOptions,
  type HealthSource,
} from "../src/adapters/health/server.ts";
import { ACK, encodeFrame, ETX, NACK, STX } from "../src/protocol/health_frames.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A health source whose answer a test sets, and that counts probes. */
class FakeSource implements HealthSource {
  answer: HealthAnswer = "OK";
  probes = 0;
  healthAnswer(): HealthAnswer {
    return this.answer;
  }
  onProbe(): void {
    this.probes++;
  }
}

interface Harness {
  server: HealthServer;
  source: FakeSource;
  /** Opens a client connection that is closed when the step ends. */
  connect(): Promise<Deno.TcpConn>;
}

/** Runs `body` against a fresh server; closes the server and every client afterwards. */
async function withServer(
  options: Partial<HealthServerOptions>,
  body: (harness: Harness) => Promise<void>,
): Promise<void> {
  const source = new FakeSource();
  // Every probe is counted here; the rate limit of probe notices has its own case.
  const server = HealthServer.listen(
    { hostname: "127.0.0.1", port: 0, probeNoticeIntervalMs: 0, ...options },
    source,
  );
  const clients: Deno.TcpConn[] = [];
  try {
    await body({
      server,
      source,
      connect: async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
        clients.push(conn);
        return conn;
      },
    });
  } finally {
    for (const client of clients) closeQuietly(client);
    await server.close();
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed by the test.
  }
}

async function send(conn: Deno.Conn, data: string | Uint8Array): Promise<void> {
  let bytes = typeof data === "string" ? encoder.encode(data) : data;
  while (bytes.length > 0) bytes = bytes.subarray(await conn.write(bytes));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What a client received: the bytes, and whether the server closed (or reset) the connection. */
interface Received {
  bytes: Uint8Array;
  text: string;
  closed: boolean;
}

/**
 * Reads until `enough(bytes)` holds or the server closes the connection. Fails the test when
 * neither happens within `timeoutMs`.
 */
async function readUntil(
  conn: Deno.Conn,
  enough: (bytes: Uint8Array) => boolean,
  timeoutMs = 2000,
): Promise<Received> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    closeQuietly(conn);
  }, timeoutMs);
  const chunk = new Uint8Array(4096);
  let bytes = new Uint8Array(0);
  let closed = false;
  try {
    while (!enough(bytes)) {
      let count: number | null;
      try {
        count = await conn.read(chunk);
      } catch (error) {
        if (timedOut) break;
        if (error instanceof Deno.errors.ConnectionReset) count = null;
        else throw error;
      }
      if (count === null) {
        closed = true;
        break;
      }
      const grown = new Uint8Array(bytes.length + count);
      grown.set(bytes);
      grown.set(chunk.subarray(0, count), bytes.length);
      bytes = grown;
    }
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) {
    throw new Error(
      `No reply within ${timeoutMs} ms (received ${JSON.stringify(decoder.decode(bytes))})`,
    );
  }
  return { bytes, text: decoder.decode(bytes), closed };
}

/** Reads one reply line (or whatever came before the server closed). */
function readLine(conn: Deno.Conn, timeoutMs?: number): Promise<Received> {
  return readUntil(conn, (bytes) => bytes.includes(0x0a), timeoutMs);
}

/** Reads `count` bytes (or whatever came before the server closed). */
function readBytes(conn: Deno.Conn, count: number, timeoutMs?: number): Promise<Received> {
  return readUntil(conn, (bytes) => bytes.length >= count, timeoutMs);
}

/** Reads until the server closes the connection. */
function readToEnd(conn: Deno.Conn, timeoutMs?: number): Promise<Received> {
  return readUntil(conn, () => false, timeoutMs);
}

/** Waits until `condition` holds, failing after `timeoutMs`. */
async function eventually(condition: () => boolean, what: string, timeoutMs = 2000) {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await delay(5);
  }
}

/** `<ACK><STX>answer<ETX><LRC>`, built by hand so that the test does not trust the encoder. */
function framedReply(answer: string): Uint8Array {
  const payload = encoder.encode(answer);
  const check = payload.reduce((xor, byte) => xor ^ byte, 0);
  return Uint8Array.of(ACK, STX, ...payload, ETX, check);
}

const STATUS_FRAME = Uint8Array.of(STX, ...encoder.encode("STATUS?"), ETX, 0x2b);

Deno.test("the health server answers STATUS? lines", async (t) => {
  await t.step("STATUS?\\n gets OK\\n and tells the source a probe came", async () => {
    await withServer({}, async ({ source, connect }) => {
      const client = await connect();
      await send(client, "STATUS?\n");
      assert.equal((await readLine(client)).text, "OK\n");
      assert.equal(source.probes, 1);
    });
  });

  await t.step("the answer follows the source: KO while it says KO, OK again after", async () => {
    await withServer({}, async ({ source, connect }) => {
      const client = await connect();
      source.answer = "KO";
      await send(client, "STATUS?\n");
      assert.equal((await readLine(client)).text, "KO\n");
      source.answer = "OK";
      await send(client, "STATUS?\n");
      assert.equal((await readLine(client)).text, "OK\n");

      const another = await connect();
      source.answer = "KO";
      await send(another, "STATUS?\n");
      assert.equal((await readLine(another)).text, "KO\n");
    });
  });

  await t.step("a request split across 3 TCP segments is answered once complete", async () => {
    await withServer({}, async ({ source, connect }) => {
      const client = await connect();
      // The pauses only make the kernel send three segments; nothing is judged after them.
      await send(client, "STA");
      await delay(20);
      await send(client, "TUS");
      await delay(20);
      await send(client, "?\n");
      await client.closeWrite();
      // Everything the server ever sent on this connection: one answer, to the whole line.
      assert.equal((await readToEnd(client)).text, "OK\n");
      assert.equal(source.probes, 1);
    });
  });

  await t.step(
    "STATUS? without a newline is answered when the client half-closes, then closed",
    async () => {
      await withServer({}, async ({ connect }) => {
        const client = await connect();
        await send(client, "STATUS?");
        await client.closeWrite();
        const received = await readToEnd(client);
        assert.equal(received.text, "OK\n");
        assert.ok(received.closed);
      });
    },
  );

  await t.step("a client that half-closes without sending anything is just closed", async () => {
    await withServer({}, async ({ server, connect }) => {
      const client = await connect();
      await client.closeWrite();
      const received = await readToEnd(client);
      assert.equal(received.text, "");
      await eventually(() => server.openConnections === 0, "the connection is forgotten");
    });
  });

  await t.step("STATUS?\\r\\n is answered", async () => {
    await withServer({}, async ({ connect }) => {
      const client = await connect();
      await send(client, "STATUS?\r\n");
      assert.equal((await readLine(client)).text, "OK\n");
    });
  });

  await t.step("leading and trailing spaces and tabs are tolerated", async () => {
    await withServer({}, async ({ connect }) => {
      const client = await connect();
      await send(client, "   STATUS?  \n\t STATUS?\t\r\n");
      assert.equal((await readBytes(client, 6)).text, "OK\nOK\n");
    });
  });

  await t.step("several requests on one connection are answered in order", async () => {
    await withServer({}, async ({ source, connect }) => {
      const client = await connect();
      for (let round = 0; round < 3; round++) {
        await send(client, "STATUS?\n");
        assert.equal((await readLine(client)).text, "OK\n");
      }
      // Pipelined in one write, with an unknown line in the middle.
      await send(client, "STATUS?\nHELLO\nSTATUS?\n");
      assert.equal((await readBytes(client, 10)).text, "OK\nERR\nOK\n");
      assert.equal(source.probes, 5);
    });
  });

  await t.step("an unknown line gets ERR\\n and the connection keeps working", async () => {
    await withServer({}, async ({ source, connect }) => {
      const client = await connect();
      await send(client, "status?\n");
      assert.equal((await readLine(client)).text, "ERR\n");
      await send(client, "\n");
      assert.equal((await readLine(client)).text, "ERR\n");
      assert.equal(source.probes, 0, "an unknown line is not a probe");
      await send(client, "STATUS?\n");
      assert.equal((await readLine(client)).text, "OK\n");
    });
  });

  await t.step("an unknown line without a newline gets ERR\\n on half-close", async () => {
    await withServer({}, async ({ connect }) => {
      const client = await connect();
      await send(client, "PING");
      await client.closeWrite();
      const received = await readToEnd(client);
      assert.equal(received.text, "ERR\n");
      assert.ok(received.closed);
    });
  });

  await t.step("a plain client never sees framing bytes", async () => {
    await withServer({}, async ({ connect }) => {
      const client = await connect();
      await send(client, "STATUS?\n");
      const received = await readLine(client);
      assert.deepEqual([...received.bytes], [...encoder.encode("OK\n")]);
    });
  });
});

Deno.test("the health server serves clients concurrently", async (t) => {
  await t.step("100 concurrent clients are all answered", async () => {
    await withServer({}, async ({ source, connect }) => {
      const clients = await Promise.all(Array.from({ length: 100 }, () => connect()));
      const replies = await Promise.all(clients.map(async (client) => {
        await send(client, "STATUS?\n");
        return (await readLine(client, 5000)).text;
      }));
      assert.deepEqual(replies, Array(100).fill("OK\n"));
      assert.equal(source.probes, 100);
    });
  });

  await t.step("an idle client does not delay another client's answer", async () => {
    await withServer({}, async ({ connect }) => {
      const idle = await connect();
      const client = await connect();
      const started = performance.now();
      await send(client, "STATUS?\n");
      assert.equal((await readLine(client, 1000)).text, "OK\n");
      assert.ok(performance.now() - started < 1000, "answered within 1 s");
      // The idle client is still connected and still served once it speaks.
      await send(idle, "STATUS?\n");
      assert.equal((await readLine(idle)).text, "OK\n");
    });
  });

  await t.step(
    "a client that sent half a line does not delay another client's answer",
    async () => {
      await withServer({}, async ({ connect }) => {
        const halfway = await connect();
        await send(halfway, "STAT");
        const client = await connect();
        await send(client, "STATUS?\n");
        assert.equal((await readLine(client, 1000)).text, "OK\n");
        await send(halfway, "US?\n");
        assert.equal((await readLine(halfway)).text, "OK\n");
      });
    },
  );

  await t.step("a slow reader that never reads does not delay another client", async () => {
    await withServer({}, async ({ connect }) => {
      const hog = await connect();
      // Many requests whose replies the hog never reads.
      await send(hog, "STATUS?\n".repeat(100));
      const client = await connect();
      await send(client, "STATUS?\n");
      assert.equal((await readLine(client, 1000)).text, "OK\n");
    });
  });
});

Deno.test("the health server cuts off bad input and survives bad clients", async (t) => {
  await t.step(
    "a 1 MiB line is cut off with at most one ERR and the server stays healthy",
    async () => {
      await withServer({}, async ({ server, connect }) => {
        const flooder = await connect();
        const flood = send(flooder, new Uint8Array(1024 * 1024).fill(0x41)).catch(() => {
          // The server hangs up mid-flood: a broken pipe or a reset is expected here.
        });
        try {
          const received = await readToEnd(flooder, 5000);
          assert.ok(received.closed, "the server closed the flooding connection");
          assert.ok(
            received.text === "ERR\n" || received.text === "",
            `expected one ERR at most, got ${JSON.stringify(received.text)}`,
          );
        } finally {
          closeQuietly(flooder);
          await flood;
        }
        const client = await connect();
        await send(client, "STATUS?\n");
        assert.equal((await readLine(client)).text, "OK\n");
        await eventually(() => server.openConnections === 1, "only the healthy client is left");
      });
    },
  );

  await t.step("a line longer than maxLineBytes with its newline is cut off too", async () => {
    await withServer({ maxLineBytes: 16 }, async ({ connect }) => {
      const client = await connect();
      await send(client, `${"x".repeat(40)}\nSTATUS?\n`);
      const received = await readToEnd(client);
      assert.equal(received.text, "ERR\n");
    });
  });

  await t.step("garbage bytes get ERR and the connection keeps working", async () => {
    await withServer({}, async ({ source, connect }) => {
      const client = await connect();
      await send(client, Uint8Array.of(0xff, 0xfe, 0x00, 0x03, 0x15, 0x80, 0x0a));
      assert.equal((await readLine(client)).text, "ERR\n");
      await send(client, "STATUS?\n");
      assert.equal((await readLine(client)).text, "OK\n");
      assert.equal(source.probes, 1);
    });
  });

  await t.step("a client that hangs up before reading its answer harms nobody", async () => {
    await withServer({}, async ({ server, connect }) => {
      for (let round = 0; round < 20; round++) {
        const rude = await connect();
        await send(rude, "STATUS?\n".repeat(50));
        rude.close();
      }
      await eventually(() => server.openConnections === 0, "the rude connections are gone");
      const client = await connect();
      await send(client, "STATUS?\n");
      assert.equal((await readLine(client)).text, "OK\n");
    });
  });

  await t.step("a connection with no complete request for idleTimeoutMs is closed", async () => {
    await withServer({ idleTimeoutMs: 100 }, async ({ server, connect }) => {
      const silent = await connect();
      const halfway = await connect();
      await send(halfway, "STAT");
      const chatty = await connect();
      await send(chatty, "STATUS?\n");
      assert.equal((await readLine(chatty)).text, "OK\n");
      for (const client of [silent, halfway, chatty]) {
        const received = await readToEnd(client, 2000);
        assert.ok(received.closed, "the idle connection was closed by the server");
      }
      await eventually(() => server.openConnections === 0, "no connection is left open");
    });
  });

  await t.step("unknown lines do not keep a connection from timing out", async () => {
    await withServer({ idleTimeoutMs: 200 }, async ({ connect }) => {
      const client = await connect();
      const babble = (async () => {
        for (let round = 0; round < 10; round++) {
          try {
            await send(client, "HELLO\n");
          } catch {
            return; // Closed by the server, as expected.
          }
          await delay(50);
        }
      })();
      const received = await readToEnd(client, 2000);
      await babble;
      assert.ok(received.closed);
    });
  });

  await t.step(
    "beyond maxConnections, the quietest connection makes room for the new one",
    async () => {
      await withServer({ maxConnections: 2 }, async ({ server, connect }) => {
        const first = await connect();
        const second = await connect();
        await eventually(() => server.openConnections === 2, "two connections are served");
        await send(second, "STATUS?\n");
        assert.equal((await readLine(second)).text, "OK\n", "second is the more recent");
        const third = await connect();
        await send(third, "STATUS?\n");
        assert.equal((await readLine(third)).text, "OK\n", "the newcomer is served");
        const evicted = await readToEnd(first);
        assert.ok(evicted.closed, "the quietest (first) was closed for it");
        await send(second, "STATUS?\n");
        assert.equal((await readLine(second)).text, "OK\n");
        assert.equal(server.openConnections, 2);
      });
    },
  );

  await t.step(
    "one client holding every slot, re-probing each, cannot lock the Monitor out",
    async () => {
      await withServer({ maxConnections: 16 }, async ({ server, connect }) => {
        const hog: Deno.Conn[] = [];
        for (let i = 0; i < 16; i++) hog.push(await connect());
        await eventually(() => server.openConnections === 16, "the hog holds every slot");
        for (const client of hog) {
          await send(client, "STATUS?\n");
          assert.equal((await readLine(client)).text, "OK\n");
        }
        const monitor = await connect();
        await send(monitor, "STATUS?\n");
        assert.equal((await readLine(monitor)).text, "OK\n", "the Monitor is answered");
        for (const client of hog) client.close();
      });
    },
  );

  await t.step("one address is held to maxConnectionsPerAddress", async () => {
    await withServer({ maxConnectionsPerAddress: 3 }, async ({ server, connect }) => {
      const clients: Deno.Conn[] = [];
      for (let i = 0; i < 5; i++) {
        const client = await connect();
        await send(client, "STATUS?\n");
        assert.equal((await readLine(client)).text, "OK\n");
        clients.push(client);
      }
      assert.equal(server.openConnections, 3);
      for (const client of clients) client.close();
    });
  });

  await t.step(
    "a flood of valid probes is answered every time, but the engine hears of it at most every 200 ms",
    async () => {
      await withServer({ probeNoticeIntervalMs: 200 }, async ({ source, connect }) => {
        const client = await connect();
        const started = performance.now();
        let answers = 0;
        while (performance.now() - started < 300) {
          await send(client, "STATUS?\n");
          assert.equal((await readLine(client)).text, "OK\n");
          answers++;
        }
        assert.ok(answers > 10, `${answers} answers`);
        assert.ok(source.probes >= 1 && source.probes <= 3, `${source.probes} notices`);
      });
    },
  );

  await t.step("a source that throws gives KO instead of crashing", async () => {
    await withServer({}, async ({ source, connect }) => {
      source.healthAnswer = () => {
        throw new Error("state unavailable");
      };
      const client = await connect();
      await send(client, "STATUS?\n");
      assert.equal((await readLine(client)).text, "KO\n");
    });
  });
});

Deno.test("the health server's lifecycle", async (t) => {
  await t.step("a port already in use gives HealthPortInUseError naming the port", async () => {
    await withServer({}, ({ server }) => {
      const source = new FakeSource();
      assert.throws(
        () => HealthServer.listen({ hostname: "127.0.0.1", port: server.port }, source),
        (error: unknown) => {
          assert.ok(error instanceof HealthPortInUseError);
          assert.equal(error.port, server.port);
          assert.equal(
            error.message,
            `Cannot open the health port ${server.port} on 127.0.0.1: the address is already ` +
              `in use (is another engine running? pick another --health-port)`,
          );
          return true;
        },
      );
      return Promise.resolve();
    });
  });

  await t.step("invalid options are refused before the port is opened", () => {
    const source = new FakeSource();
    assert.throws(
      () => HealthServer.listen({ hostname: "127.0.0.1", port: 0, maxLineBytes: 0 }, source),
      RangeError,
    );
  });

  await t.step("the server reports the port the operating system picked", async () => {
    await withServer({}, ({ server }) => {
      assert.ok(server.port > 0);
      assert.equal(server.hostname, "127.0.0.1");
      return Promise.resolve();
    });
  });

  await t.step("close() closes the listener and every open connection", async () => {
    const source = new FakeSource();
    const server = HealthServer.listen({ hostname: "127.0.0.1", port: 0 }, source);
    const clients: Deno.TcpConn[] = [];
    try {
      for (let index = 0; index < 5; index++) {
        clients.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
      }
      await send(clients[0]!, "STAT");
      await send(clients[1]!, Uint8Array.of(STX, 0x53));
      await send(clients[2]!, "STATUS?\n");
      assert.equal((await readLine(clients[2]!)).text, "OK\n");
      await eventually(() => server.openConnections === 5, "five connections are open");

      await server.close();
      assert.equal(server.openConnections, 0);
      for (const client of clients) assert.ok((await readToEnd(client)).closed);
      await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.port }));
      await server.close(); // A second close is harmless.
    } finally {
      for (const client of clients) closeQuietly(client);
      await server.close();
    }
  });
});

Deno.test("the health server's framed mode", async (t) => {
  await t.step("a good STATUS? frame gets ACK then a framed OK", async () => {
    await withServer({}, async ({ source, connect }) => {
      const client = await connect();
      await send(client, STATUS_FRAME);
      const received = await readBytes(client, 6);
      assert.deepEqual([...received.bytes], [...framedReply("OK")]);
      assert.equal(source.probes, 1);
    });
  });

  await t.step("a framed KO carries the LRC of KO", async () => {
    await withServer({}, async ({ source, connect }) => {
      source.answer = "KO";
      const client = await connect();
      await send(client, STATUS_FRAME);
      const received = await readBytes(client, 6);
      assert.deepEqual([...received.bytes], [...framedReply("KO")]);
    });
  });

  await t.step("a bad LRC gets NACK and no probe is counted", async () => {
    await withServer({}, async ({ source, connect }) => {
      const client = await connect();
      await send(client, Uint8Array.of(STX, ...encoder.encode("STATUS?"), ETX, 0x2c));
      const received = await readBytes(client, 1);
      assert.deepEqual([...received.bytes], [NACK]);
      assert.equal(source.probes, 0);
      // The connection stays usable for a good frame.
      await send(client, STATUS_FRAME);
      assert.deepEqual([...(await readBytes(client, 6)).bytes], [...framedReply("OK")]);
    });
  });

  await t.step("a frame split across segments is answered once complete", async () => {
    await withServer({}, async ({ source, connect }) => {
      const client = await connect();
      // The pauses only make the kernel send separate segments; nothing is judged after them.
      await send(client, STATUS_FRAME.subarray(0, 1));
      await delay(20);
      await send(client, STATUS_FRAME.subarray(1, 5));
      await delay(20);
      await send(client, STATUS_FRAME.subarray(5, 9));
      await delay(20);
      await send(client, STATUS_FRAME.subarray(9));
      // The first bytes the server ever sent here are the one answer to the whole frame.
      assert.deepEqual([...(await readBytes(client, 6)).bytes], [...framedReply("OK")]);
      assert.equal(source.probes, 1);
    });
  });

  await t.step("two frames on one connection get two answers", async () => {
    await withServer({}, async ({ source, connect }) => {
      const client = await connect();
      await send(client, Uint8Array.of(...STATUS_FRAME, ...STATUS_FRAME));
      const both = await readBytes(client, 12);
      assert.deepEqual([...both.bytes], [...framedReply("OK"), ...framedReply("OK")]);
      source.answer = "KO";
      await send(client, STATUS_FRAME);
      assert.deepEqual([...(await readBytes(client, 6)).bytes], [...framedReply("KO")]);
      assert.equal(source.probes, 3);
    });
  });

  await t.step("an unknown frame gets a framed ERR", async () => {
    await withServer({}, async ({ connect }) => {
      const client = await connect();
      await send(client, encodeFrame("HELLO"));
      assert.deepEqual([...(await readBytes(client, 7)).bytes], [...framedReply("ERR")]);
    });
  });

  await t.step("an oversized frame gets NACK and the connection is closed", async () => {
    await withServer({ maxLineBytes: 32 }, async ({ connect }) => {
      const client = await connect();
      await send(client, Uint8Array.of(STX, ...new Uint8Array(64).fill(0x41)));
      const received = await readToEnd(client);
      assert.deepEqual([...received.bytes], [NACK]);
      assert.ok(received.closed);
    });
  });
});
