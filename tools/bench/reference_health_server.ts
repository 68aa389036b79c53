/**
 * The reference for the health figures: the most trivial health server Deno can run. It accepts
 * a connection, reads one line, answers `OK\n` and closes; no state machine, no logging, no
 * limits. Usage: `deno run --allow-net tools/bench/reference_health_server.ts --port <port>`.
 * Prints `listening <port>` once it listens.
 *
 * @module
 */
import { parseArgs } from "node:util";

const ANSWER = new TextEncoder().encode("OK\n");
const LINE_FEED = 0x0a;

async function answer(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(256);
  let received = 0;
  try {
    while (received < buffer.length) {
      const count = await conn.read(buffer.subarray(received));
      if (count === null) return;
      received += count;
      if (buffer.subarray(received - count, received).includes(LINE_FEED)) break;
    }
    await conn.write(ANSWER);
  } catch {
    // The client went away; nothing to answer.
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

if (import.meta.main) {
  // `--warm-up`: load the modules (filling Deno's caches) and exit, uncounted.
  if (Deno.args.includes("--warm-up")) Deno.exit(0);
  const { values } = parseArgs({ args: Deno.args, options: { port: { type: "string" } } });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: Number(values.port ?? 0) });
  console.log(`listening ${(listener.addr as Deno.NetAddr).port}`);
  for await (const conn of listener) void answer(conn);
}
