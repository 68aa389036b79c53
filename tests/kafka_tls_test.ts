/**
 * Specification of Kafka over TLS with the real engine process and a real SSL listener (the test
 * broker's, its certificate signed by a throwaway CA made by keytool): an engine that trusts that
 * CA (`--kafka-ssl --kafka-ssl-ca-file`, read from `./secrets`) registers with the Central, and an
 * engine that trusts another CA says once, clearly, that the broker's certificate is not trusted,
 * keeps running and retrying, and never claims to be connected.
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createCertificateAuthority } from "../tools/test_certificates.ts";
import { CentralDouble, uniqueTopics } from "./support/kafka.ts";
import { engineArgs, EngineProcess, freePort } from "./support/engine_process.ts";
import { health } from "./support/health.ts";
import { TcpProxy } from "./support/tcp_proxy.ts";
import { tlsBrokerAddresses } from "./support/tls_broker.ts";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * A fresh `secrets/test-<id>/` in the repository (the engine reads CA files only under ./secrets
 * or /run/secrets), removed with `secrets/` itself when that is then empty.
 */
async function withSecretsDir<T>(body: (dir: { path: string; relative: string }) => Promise<T>) {
  const relative = `secrets/test-${crypto.randomUUID().slice(0, 8)}`;
  const path = join(REPO_ROOT, relative);
  await Deno.mkdir(path, { recursive: true });
  try {
    return await body({ path, relative });
  } finally {
    await Deno.remove(path, { recursive: true });
    await Deno.remove(join(REPO_ROOT, "secrets")).catch(() => {}); // only when empty
  }
}

/** Polls `probe` until it returns true, or fails after `timeoutMs`. */
async function until(what: string, probe: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The engine's log lines at `level` (e.g. ` WARN `), as the text logger writes them. */
function linesAt(output: string, level: "WARN" | "ERROR"): string[] {
  return output.split("\n").filter((line) => line.includes(` ${level} `));
}

Deno.test({
  name: "an engine registers over a real TLS listener when it trusts the broker's CA",
  async fn() {
    const brokers = await tlsBrokerAddresses();
    await withSecretsDir(async (secrets) => {
      await Deno.copyFile(brokers.caFile, join(secrets.path, "ca.pem"));
      const topics = uniqueTopics("tls");
      const cpId = `CP_TLS_${crypto.randomUUID().slice(0, 6)}`;
      const central = await CentralDouble.start(brokers.plaintext, topics);
      const engine = await EngineProcess.start([
        ...engineArgs({ cpId, broker: brokers.ssl, healthPort: freePort(), topics }),
        "--kafka-ssl",
        "--kafka-ssl-ca-file",
        `./${secrets.relative}/ca.pem`,
      ]);
      try {
        await central.waitForStatus("available", 0, 30_000);
        const [registration] = central.seen("CP_REGISTRATION");
        assert.equal(registration?.["cp_id"], cpId);
        assert.match(engine.output, /Kafka connection: TLS/);
        engine.signal("SIGTERM");
        assert.equal(await engine.exited(), 0, engine.output);
        assert.deepEqual(linesAt(engine.output, "ERROR"), [], engine.output);
      } finally {
        await engine.dispose();
        await central.close();
      }
    });
  },
});

Deno.test({
  name:
    "an engine that trusts another CA says once that the broker's certificate is not trusted, keeps retrying and never claims to be connected",
  async fn() {
    const brokers = await tlsBrokerAddresses();
    // The engine reaches the SSL listener through a proxy that counts its connection attempts:
    // it never gets past the handshake, so it never learns the broker's advertised address.
    const proxy = TcpProxy.start({ targetPort: Number(brokers.ssl.split(":").pop()) });
    await withSecretsDir(async (secrets) => {
      const wrongCa = await createCertificateAuthority(secrets.path, "Not the broker's CA");
      const topics = uniqueTopics("tls-wrong-ca");
      const cpId = `CP_WRONG_CA_${crypto.randomUUID().slice(0, 6)}`;
      const healthPort = freePort();
      const central = await CentralDouble.start(brokers.plaintext, topics);
      const engine = await EngineProcess.start([
        ...engineArgs({ cpId, broker: proxy.address, healthPort, topics }),
        "--kafka-ssl",
        "--kafka-ssl-ca-file",
        `./${secrets.relative}/${basename(wrongCa.pemFile)}`,
      ]);
      try {
        await engine.waitForOutput(/ (WARN|ERROR) .*certificate/i, 30_000);
        const attemptsSoFar = proxy.acceptedConnections;
        await until(
          "three more connection attempts",
          () => proxy.acceptedConnections >= attemptsSoFar + 3,
          30_000,
        );
        const problems = [...linesAt(engine.output, "WARN"), ...linesAt(engine.output, "ERROR")];
        const tlsProblems = problems.filter((line) =>
          /certificate|TLS|SSL/i.test(line.slice(line.indexOf("] ")))
        );
        assert.equal(tlsProblems.length, 1, `one line about the certificate:\n${engine.output}`);
        assert.ok(tlsProblems[0]!.includes(proxy.address), "it names the broker");
        assert.match(tlsProblems[0]!, /--kafka-ssl-ca-file/, "it says how to trust the broker");
        assert.doesNotMatch(tlsProblems[0]!, /deno task kafka/, "no local broker would help");
        assert.doesNotMatch(engine.output, /Kafka connected|Kafka is reachable again/);
        assert.equal(central.seen("CP_REGISTRATION").length, 0, "nothing reached the Central");
        assert.doesNotMatch(await health(healthPort), /^no answer/, "the engine still runs");
      } finally {
        await engine.dispose();
        await central.close();
      }
    }).finally(() => proxy.close());
  },
});
