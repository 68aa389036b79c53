/**
 * A broker listener that requires SASL, for the security tests: `KAFKA_SASL_BROKER` (set by
 * `deno task test` next to `KAFKA_BROKER`, both listeners of one broker), or the listeners of the
 * broker started for this test process when the variable is not set.
 *
 * @module
 */
import { SASL_PASSWORD, SASL_USERNAME } from "../../tools/kafka_broker.ts";
import { brokerAddress, ownTestBroker } from "./kafka.ts";

export { SASL_PASSWORD, SASL_USERNAME };

/** Two listeners of one broker: PLAINTEXT (for the test's Central) and SASL_PLAINTEXT. */
export interface SaslBrokerAddresses {
  readonly plaintext: string;
  readonly sasl: string;
}

/** The PLAINTEXT and SASL_PLAINTEXT addresses of one broker (see the module comment). */
export async function saslBrokerAddresses(): Promise<SaslBrokerAddresses> {
  const sasl = Deno.env.get("KAFKA_SASL_BROKER");
  if (sasl) return { plaintext: await brokerAddress(), sasl };
  const broker = await ownTestBroker();
  return { plaintext: broker.bootstrap, sasl: broker.saslBootstrap };
}
