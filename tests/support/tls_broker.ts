/**
 * A broker listener that requires TLS, for the TLS tests: `KAFKA_SSL_BROKER` with the CA that
 * signed its certificate in `KAFKA_SSL_CA_FILE` (both set by `deno task test`, next to
 * `KAFKA_BROKER`: listeners of one broker), or the listeners of a broker started for this test
 * process when they are not set.
 *
 * @module
 */
import { brokerAddress, ownTestBroker } from "./kafka.ts";

/** Two listeners of one broker, PLAINTEXT (for the test's Central) and SSL, and the SSL's CA. */
export interface TlsBrokerAddresses {
  /** `host:port` of the PLAINTEXT listener. */
  readonly plaintext: string;
  /** `host:port` of the SSL listener (no client certificate, no SASL). */
  readonly ssl: string;
  /** PEM file of the CA that signed the SSL listener's certificate. */
  readonly caFile: string;
}

/** The PLAINTEXT and SSL addresses of one broker, and the CA (see the module comment). */
export async function tlsBrokerAddresses(): Promise<TlsBrokerAddresses> {
  const ssl = Deno.env.get("KAFKA_SSL_BROKER");
  const caFile = Deno.env.get("KAFKA_SSL_CA_FILE");
  if (ssl && caFile) return { plaintext: await brokerAddress(), ssl, caFile };
  const broker = await ownTestBroker();
  return { plaintext: broker.bootstrap, ssl: broker.sslBootstrap, caFile: broker.sslCaFile };
}
