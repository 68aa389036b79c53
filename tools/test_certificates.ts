/**
 * Throwaway TLS certificates for the test broker, made with the JDK's `keytool` (it comes with
 * the Java that runs the broker; no openssl): a certificate authority, and a server key store
 * whose certificate it signed for `127.0.0.1` and `localhost`.
 *
 * ```ts
 * const ca = await createCertificateAuthority(dir, "Test CA");
 * const keyStore = await createServerKeyStore(dir, ca);
 * // broker: ssl.keystore.location=keyStore, ssl.keystore.password=STORE_PASSWORD
 * // client: trust ca.pemFile (kafkajs `ssl: { ca: [pem] }`, the engine's --kafka-ssl-ca-file)
 * ```
 *
 * Each `keytool` run is a JVM start (about 0.3 s); independent steps run in parallel.
 *
 * @module
 */

import { join } from "node:path";
import { KafkaBrokerError, lastLines, runTool } from "./_kafka_jvm.ts";

/** Password of every key store made here, and of the keys in them. Test use only. */
export const STORE_PASSWORD = "test-store-secret";

/** A certificate authority made by {@linkcode createCertificateAuthority}. */
export interface TestCertificateAuthority {
  /** Its distinguished name's common name. */
  readonly name: string;
  /** PKCS12 key store with its key and certificate (alias `ca`), for signing. */
  readonly keyStore: string;
  /** Its certificate as PEM: what clients trust. */
  readonly pemFile: string;
}

// A fast JVM for a job of a fraction of a second (see the broker's JVM flags).
const JVM_FLAGS = ["-J-XX:+UseSerialGC", "-J-XX:TieredStopAtLevel=1", "-J-Xshare:auto"];
// A day back: a clock a little behind the one that signed must not see "not yet valid".
const VALIDITY = ["-startdate", "-1d", "-validity", "3650"];
const KEY = ["-keyalg", "EC", "-groupname", "secp256r1", "-sigalg", "SHA256withECDSA"];

async function keytool(args: string[], what: string): Promise<void> {
  const output = await runTool(
    "keytool",
    [...JVM_FLAGS, ...args],
    `Cannot ${what}: \`keytool\` was not found on PATH (it comes with every Java runtime, ` +
      "e.g. the Debian package openjdk-17-jre-headless; put its bin directory on PATH)",
  );
  if (!output.success) {
    const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    throw new KafkaBrokerError(
      `Cannot ${what}: \`keytool ${args[0]}\` failed (exit code ${output.code}):\n${
        lastLines(text, 10)
      }`,
    );
  }
}

function fileSafe(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "ca";
}

/**
 * Makes a self-signed certificate authority `name` in `dir`: `<name>.p12` (key store) and
 * `<name>.pem` (certificate), file names derived from `name`.
 *
 * @throws {KafkaBrokerError} when `keytool` is missing or fails.
 */
export async function createCertificateAuthority(
  dir: string,
  name: string,
): Promise<TestCertificateAuthority> {
  const base = join(dir, fileSafe(name));
  const ca: TestCertificateAuthority = {
    name,
    keyStore: `${base}.p12`,
    pemFile: `${base}.pem`,
  };
  const store = ["-keystore", ca.keyStore, "-storetype", "PKCS12", "-storepass", STORE_PASSWORD];
  const what = `create the test certificate authority "${name}"`;
  await keytool([
    "-genkeypair",
    "-alias",
    "ca",
    ...KEY,
    "-dname",
    `CN=${name}`,
    "-ext",
    "bc:c",
    "-ext",
    "KeyUsage:critical=keyCertSign,cRLSign",
    ...VALIDITY,
    ...store,
  ], what);
  await keytool(["-exportcert", "-rfc", "-alias", "ca", "-file", ca.pemFile, ...store], what);
  return ca;
}

/**
 * Makes `server.p12` in `dir`: a key and a certificate signed by `ca` for the `hosts` (IP
 * addresses and DNS names, as subject alternative names), with the chain up to `ca`.
 *
 * @param ca the authority that signs, or a promise of it: the server's key is generated while
 * the authority is still being made.
 * @returns the path of the PKCS12 key store (password {@linkcode STORE_PASSWORD}).
 * @throws {KafkaBrokerError} when `keytool` is missing or fails.
 */
export async function createServerKeyStore(
  dir: string,
  ca: TestCertificateAuthority | Promise<TestCertificateAuthority>,
  hosts: readonly string[] = ["127.0.0.1", "localhost"],
): Promise<string> {
  const keyStore = join(dir, "server.p12");
  const request = join(dir, "server.csr");
  const chain = join(dir, "server-chain.pem");
  const store = ["-keystore", keyStore, "-storetype", "PKCS12", "-storepass", STORE_PASSWORD];
  const what = "create the test broker's TLS key store";
  const san = hosts.map((host) => /^[\d.]+$|:/.test(host) ? `ip:${host}` : `dns:${host}`);

  const requested = (async () => {
    await keytool([
      "-genkeypair",
      "-alias",
      "server",
      ...KEY,
      "-dname",
      `CN=${hosts[0] ?? "localhost"}`,
      ...VALIDITY,
      ...store,
    ], what);
    await keytool(["-certreq", "-alias", "server", "-file", request, ...store], what);
  })();
  const [authority] = await Promise.all([ca, requested]);
  await keytool([
    "-gencert",
    "-alias",
    "ca",
    "-keystore",
    authority.keyStore,
    "-storetype",
    "PKCS12",
    "-storepass",
    STORE_PASSWORD,
    "-infile",
    request,
    "-outfile",
    chain,
    "-rfc",
    "-ext",
    `SAN=${san.join(",")}`,
    "-ext",
    "KeyUsage:critical=digitalSignature",
    "-ext",
    "ExtendedKeyUsage=serverAuth",
    ...VALIDITY,
  ], what);
  // The reply holds the whole chain, so keytool needs no trusted copy of the CA to install it.
  await Deno.writeTextFile(chain, await Deno.readTextFile(authority.pemFile), { append: true });
  await keytool(["-importcert", "-noprompt", "-alias", "server", "-file", chain, ...store], what);
  await Deno.remove(request);
  await Deno.remove(chain);
  return keyStore;
}
