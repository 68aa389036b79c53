/**
 * Tests of the test infrastructure itself: the fault-injecting TCP proxy
 * (tests/support/tcp_proxy.ts), first in front of a TCP echo service, then in front of a real
 * Kafka broker that advertises the proxy's port, with kafkajs producing through it.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { KafkaTestBroker } from "../tools/kafka_broker.ts";
import { TcpProxy } from "./support/tcp_proxy.ts";

/** A TCP service on loopback that sends back what it receives. */
function startEchoService(): { port: number; accepted: () => number; close: () => Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections = new Set<Deno.Conn>();
  let accepted = 0;
  const serving = (async () => {
    const echoes: Promise<void>[] = [];
    try {
      for await (const conn of listener) {
        accepted++;
        connections.add(conn);
        echoes.push((async () => {
          try {
            await conn.readable.pipeTo(conn.writable);
          } catch {
            // closed by the other side
          } finally {
            connections.delete(conn);
          }
        })());
      }
    } catch {
      // the listener was closed
    }
    await Promise.allSettled(echoes);
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    accepted: () => accepted,
    close: async () => {
      listener.close();
      for (const conn of connections) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      await serving;
    },
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Reads from `conn` until `expected` has arrived; fails when the connection ends first or nothing
 * more arrives within 5 s (the connection is then closed).
 */
async function readText(conn: Deno.Conn, expected: string): Promise<void> {
  let text = "";
  const buffer = new Uint8Array(1024);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, 5_000);
  try {
    while (text.length < expected.length) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error(`connection closed after "${text}", expected "${expected}"`);
      text += decoder.decode(buffer.subarray(0, n));
    }
  } catch (error) {
    if (timedOut) throw new Error(`only "${text}" arrived within 5 s, expected "${expected}"`);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  assert.equal(text, expected);
}

/** Resolves when `conn` is closed by the other side (EOF or reset). */
async function closedByPeer(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(1024);
  try {
    while ((await conn.read(buffer)) !== null) {
      // drain
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
  }
}

/** Polls `probe` until it returns true, or fails after `timeoutMs`. */
async function until(what: string, probe: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function connect(port: number): Promise<Deno.Conn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

Deno.test("the TCP proxy in front of an echo service: pass, latency, blackhole, reset, cutAll", async (t) => {
  const echo = startEchoService();
  const proxy = TcpProxy.start({ targetPort: echo.port });
  const open: Deno.Conn[] = [];
  const client = async () => {
    const conn = await connect(proxy.port);
    open.push(conn);
    return conn;
  };
  try {
    await t.step("pass: bytes go through both ways", async () => {
      const conn = await client();
      await conn.write(encoder.encode("ping"));
      await readText(conn, "ping");
      assert.deepEqual(proxy.traffic, { upstream: 4, downstream: 4 });
    });

    await t.step("latency: each direction is delayed", async () => {
      proxy.setMode({ kind: "latency", ms: 150 });
      const conn = await client();
      const started = performance.now();
      await conn.write(encoder.encode("slow"));
      await readText(conn, "slow");
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 295, `a round trip took ${elapsed} ms, expected at least 2 x 150 ms`);
      proxy.setMode({ kind: "pass" });
    });

    await t.step("blackhole: traffic is held, new connections too; pass delivers it", async () => {
      const held = await client();
      await held.write(encoder.encode("up"));
      await readText(held, "up"); // connected through to the target
      const before = proxy.traffic;
      proxy.setMode({ kind: "blackhole" });
      await held.write(encoder.encode("held"));
      const acceptedBefore = proxy.acceptedConnections;
      const echoAcceptedBefore = echo.accepted();
      const late = await client();
      await late.write(encoder.encode("late"));
      await until("the proxy accepts the new connection", () => {
        return proxy.acceptedConnections === acceptedBefore + 1;
      });
      assert.equal(echo.accepted(), echoAcceptedBefore, "not connected to the target yet");
      proxy.setMode({ kind: "pass" });
      await readText(held, "held");
      await readText(late, "late");
      assert.equal(proxy.traffic.upstream, before.upstream + 8);
    });

    await t.step("reset: connections are closed and new ones refused until pass", async () => {
      const conn = await client();
      await conn.write(encoder.encode("x"));
      await readText(conn, "x");
      proxy.setMode({ kind: "reset" });
      await closedByPeer(conn);
      assert.equal(proxy.openConnections, 0);
      await assert.rejects(connect(proxy.port), Deno.errors.ConnectionRefused);
      proxy.setMode({ kind: "pass" });
      const again = await client();
      await again.write(encoder.encode("back"));
      await readText(again, "back");
    });

    await t.step("cutAll: open connections are dropped, the proxy goes on", async () => {
      const conn = await client();
      await conn.write(encoder.encode("y"));
      await readText(conn, "y");
      proxy.cutAll();
      await closedByPeer(conn);
      const fresh = await client();
      await fresh.write(encoder.encode("z"));
      await readText(fresh, "z");
    });

    await t.step(
      "without a target, connections are closed at once; a new target is used",
      async () => {
        proxy.targetPort = undefined;
        await closedByPeer(await client());
        const other = startEchoService();
        try {
          proxy.targetPort = other.port;
          const conn = await client();
          await conn.write(encoder.encode("moved"));
          await readText(conn, "moved");
          assert.equal(other.accepted(), 1);
          conn.close();
          open.splice(open.indexOf(conn), 1);
        } finally {
          await other.close();
        }
      },
    );

    await t.step("a bad latency is refused, naming it", () => {
      assert.throws(() => proxy.setMode({ kind: "latency", ms: -1 }), /Bad proxy latency -1/);
    });
  } finally {
    for (const conn of open) {
      try {
        conn.close();
      } catch {
        // closed by the test
      }
    }
    await proxy.close();
    await echo.close();
  }
});

Deno.test({
  name:
    "kafkajs through the proxy: produces in pass, is held by blackhole, fails fast under reset, resumes after pass",
  async fn(t) {
    const proxy = TcpProxy.start();
    const broker = await KafkaTestBroker.create({ advertisedPlaintextPort: proxy.port });
    proxy.targetPort = broker.plaintextPort;
    try {
      await broker.start();
      assert.equal(broker.bootstrap, proxy.address);
      assert.notEqual(broker.directBootstrap, proxy.address);
      const topic = `tcp-proxy-test-${crypto.randomUUID()}`;
      const direct = new Kafka({
        clientId: "tcp-proxy-test-direct",
        brokers: [broker.directBootstrap],
        logLevel: logLevel.NOTHING,
      });
      const admin = direct.admin();
      await admin.connect();
      try {
        await admin.createTopics({ topics: [{ topic }], waitForLeaders: true });
      } finally {
        await admin.disconnect();
      }

      const requestTimeout = 1_500;
      const kafka = new Kafka({
        clientId: "tcp-proxy-test",
        brokers: [proxy.address],
        logLevel: logLevel.NOTHING,
        connectionTimeout: 1_000,
        requestTimeout,
        retry: { retries: 0 },
      });
      const producer = kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { retries: 0 },
      });
      const send = (value: string) =>
        producer.send({ topic, acks: -1, messages: [{ key: "cp", value }] });
      const timed = async (body: () => Promise<unknown>) => {
        const started = performance.now();
        await body();
        return performance.now() - started;
      };
      await producer.connect();
      try {
        await t.step("pass: the producer's traffic goes through the proxy", async () => {
          const before = proxy.traffic.upstream;
          await send("pass-1");
          assert.ok(proxy.acceptedConnections >= 1);
          assert.ok(proxy.traffic.upstream > before, "the produce request went through");
        });

        await t.step("latency: a send takes at least a round trip of it", async () => {
          proxy.setMode({ kind: "latency", ms: 200 });
          const elapsed = await timed(() => send("latency-1"));
          proxy.setMode({ kind: "pass" });
          assert.ok(elapsed >= 395, `the send took ${elapsed} ms, expected at least 2 x 200 ms`);
        });

        await t.step("blackhole: a send is held until its request times out", async () => {
          proxy.setMode({ kind: "blackhole" });
          const elapsed = await timed(() =>
            assert.rejects(send("blackhole-1"), (error: Error) => {
              assert.match(`${error.name}: ${error.message}`, /timed out|timeout/i);
              return true;
            })
          );
          assert.ok(elapsed >= requestTimeout - 50, `it failed after ${elapsed} ms`);
        });

        await t.step("reset: a send fails fast", async () => {
          proxy.setMode({ kind: "reset" });
          const elapsed = await timed(() => assert.rejects(send("reset-1")));
          assert.ok(elapsed < requestTimeout, `it failed after ${elapsed} ms`);
        });

        await t.step("pass again: the producer resumes", async () => {
          proxy.setMode({ kind: "pass" });
          const deadline = Date.now() + 15_000;
          for (;;) {
            try {
              await send("resumed-1");
              break;
            } catch (error) {
              // The first send may still meet the connection that reset closed.
              if (Date.now() > deadline) throw error;
            }
          }
        });
      } finally {
        await producer.disconnect();
      }

      await t.step(
        "what was acknowledged reached the broker, what was refused did not",
        async () => {
          const consumer = direct.consumer({
            groupId: `tcp-proxy-test-${crypto.randomUUID()}`,
            maxWaitTimeInMs: 100,
          });
          const values: string[] = [];
          const resumed = Promise.withResolvers<void>();
          await consumer.connect();
          try {
            await consumer.subscribe({ topic, fromBeginning: true });
            await consumer.run({
              eachMessage: ({ message }) => {
                const value = message.value?.toString() ?? "";
                values.push(value);
                if (value === "resumed-1") resumed.resolve();
                return Promise.resolve();
              },
            });
            let timer: ReturnType<typeof setTimeout> | undefined;
            await Promise.race([
              resumed.promise,
              new Promise((_, reject) => {
                timer = setTimeout(() => reject(new Error(`only read ${values}`)), 20_000);
              }),
            ]).finally(() => clearTimeout(timer));
          } finally {
            await consumer.disconnect();
          }
          for (const value of ["pass-1", "latency-1", "resumed-1"]) {
            assert.ok(values.includes(value), `${value} in ${values}`);
          }
          assert.ok(!values.includes("reset-1"), `reset-1 was refused: ${values}`);
        },
      );
    } finally {
      await proxy.close();
      await broker.dispose();
    }
  },
});
