/**
 * One health probe as a container HEALTHCHECK or a person would send it: a new TCP connection,
 * `STATUS?\n`, the answer line, close.
 *
 * @module
 */

/**
 * Asks the engine on `127.0.0.1:port`; resolves to its trimmed answer (`OK`, `KO`, ...) or to
 * `no answer: <why>` when it cannot connect, times out or the connection closes silently.
 */
export async function probeOnce(port: number, timeoutMs = 2_000): Promise<string> {
  let conn: Deno.TcpConn | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer: timeout after ${timeoutMs} ms`), timeoutMs);
  });
  const ask = async (): Promise<string> => {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("STATUS?\n"));
    const buffer = new Uint8Array(64);
    let text = "";
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
      if (text.includes("\n")) break;
    }
    const answer = text.split("\n")[0]?.trim() ?? "";
    return answer === "" ? "no answer: closed" : answer;
  };
  try {
    return await Promise.race([
      ask().catch((error) => `no answer: ${error instanceof Error ? error.message : error}`),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
  }
}
