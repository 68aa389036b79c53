/**
 * A broker listener that requires SASL, for the security tests: `KAFKA_SASL_BROKER` (set by
 * `deno task test` next to `KAFKA_BROKER`, both listeners of one broker), or a throwaway broker
 * started for this test process when the variable is not set.
 *
 * @module
 */
import { KafkaTestBroker, SASL_PASSWORD, SASL_USERNAME } from "../../tools/kafka_broker.ts";
import { brokerAddress } from "./kafka.ts";

export { SASL_PASSWORD, SASL_USERNAME };

/** Two listeners of one broker: PLAINTEXT (for the test's Central) and SASL_PLAINTEXT. */
export interface SaslBrokerAddresses {
  readonly plaintext: string;
  readonly sasl: string;
}

let ownBroker: Promise<KafkaTestBroker> | null = null;

/** The PLAINTEXT and SASL_PLAINTEXT addresses of one broker (see the module comment). */
export async function saslBrokerAddresses(): Promise<SaslBrokerAddresses> {
  const sasl = Deno.env.get("KAFKA_SASL_BROKER");
  if (sasl) return { plaintext: await brokerAddress(), sasl };
  ownBroker ??= (async () => {
    const broker = await KafkaTestBroker.create();
    await broker.start();
    globalThis.addEventListener("unload", () => void broker.kill());
    return broker;
  })();
  const broker = await ownBroker;
  return { plaintext: broker.bootstrap, sasl: broker.saslBootstrap };
}
