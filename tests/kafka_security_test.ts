/**
 * Specification of TLS and SASL for Kafka: the settings (flag and environment, secrets never
 * shown), the kafkajs options built from them, and, against a real broker listener that requires
 * SASL, an engine that registers with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 and one that stops
 * with one clear error when the password is wrong.
 */
import assert from "node:assert/strict";
import type { CliIo } from "../src/cli/command_line.ts";
import { parseCli } from "../src/cli/engine_command.ts";
import { EXIT_BAD_CONFIG } from "../src/cli/exit_codes.ts";
import type { EngineConfig } from "../src/cli/settings.ts";
import {
  isAuthenticationFailure,
  isUntrustedCertificate,
  KafkaAuthenticationError,
  kafkaSecurityOptions,
  Secret,
} from "../src/adapters/kafka/security.ts";
import { CentralDouble, uniqueTopics } from "./support/kafka.ts";
import { engineArgs, EngineProcess, freePort } from "./support/engine_process.ts";
import { SASL_PASSWORD, SASL_USERNAME, saslBrokerAddresses } from "./support/sasl_broker.ts";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

function parse(args: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    env: (name) => env[name],
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
  };
  const result = parseCli(args, io);
  return { result, stdout: out.join(""), stderr: err.join("") };
}

function config(args: string[], env: Record<string, string> = {}): EngineConfig {
  const { result, stderr } = parse(args, env);
  assert.equal(result.kind, "engine", stderr);
  return (result as { config: EngineConfig }).config;
}

function refused(args: string[], env: Record<string, string> = {}): string {
  const { result, stderr } = parse(args, env);
  assert.deepEqual(result, { kind: "exit", code: EXIT_BAD_CONFIG });
  assert.equal(stderr.trim().split("\n").length, 1, `one line: ${stderr}`);
  return stderr;
}

async function withTempFile<T>(content: string, body: (path: string) => T | Promise<T>) {
  const path = await Deno.makeTempFile({ prefix: "ev-cp-engine-test-" });
  try {
    await Deno.writeTextFile(path, content);
    return await body(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("a secret never shows itself", () => {
  const secret = new Secret("hunter2");
  assert.equal(secret.reveal(), "hunter2");
  assert.equal(String(secret), "[redacted]");
  assert.equal(`${secret}`, "[redacted]");
  assert.equal(JSON.stringify({ password: secret }), '{"password":"[redacted]"}');
  assert.equal(Deno.inspect(secret), "[redacted]");
  assert.ok(!Deno.inspect({ nested: { secret } }).includes("hunter2"));
});

Deno.test("the Kafka security settings", async (t) => {
  await t.step("by default: plaintext, no SASL", () => {
    const defaults = config([]);
    assert.equal(defaults.kafkaSsl, false);
    assert.equal(defaults.kafkaSaslMechanism, null);
    assert.deepEqual(kafkaSecurityOptions(defaults), {});
  });

  await t.step("--kafka-ssl alone turns TLS on; KAFKA_SSL=off and =on are read", () => {
    assert.equal(config(["--kafka-ssl"]).kafkaSsl, true);
    assert.equal(config([], { KAFKA_SSL: "on" }).kafkaSsl, true);
    assert.equal(config([], { KAFKA_SSL: "false" }).kafkaSsl, false);
    assert.deepEqual(kafkaSecurityOptions(config(["--kafka-ssl"])), { ssl: true });
  });

  await t.step("a bad switch value is refused in one line naming it", () => {
    assert.match(refused(["--kafka-ssl", "maybe"]), /--kafka-ssl.*maybe.*expected on or off/);
    assert.match(refused([], { KAFKA_SSL: "maybe" }), /KAFKA_SSL="maybe".*expected on or off/);
  });

  await t.step("each SASL mechanism with the password from KAFKA_SASL_PASSWORD", () => {
    for (const mechanism of ["plain", "scram-sha-256", "scram-sha-512"] as const) {
      const parsed = config(
        ["--kafka-sasl-mechanism", mechanism.toUpperCase(), "--kafka-sasl-username", "engine"],
        { KAFKA_SASL_PASSWORD: "s3cret" },
      );
      assert.deepEqual(kafkaSecurityOptions(parsed), {
        sasl: { mechanism, username: "engine", password: "s3cret" },
      });
    }
  });

  await t.step("flags beat the environment; the environment alone is enough", () => {
    const env = {
      KAFKA_SASL_MECHANISM: "plain",
      KAFKA_SASL_USERNAME: "env-user",
      KAFKA_SASL_PASSWORD: "pw",
    };
    assert.deepEqual(kafkaSecurityOptions(config([], env)).sasl, {
      mechanism: "plain",
      username: "env-user",
      password: "pw",
    });
    const parsed = config(
      ["--kafka-sasl-mechanism", "scram-sha-256", "--kafka-sasl-username", "flag-user"],
      env,
    );
    assert.deepEqual(kafkaSecurityOptions(parsed).sasl, {
      mechanism: "scram-sha-256",
      username: "flag-user",
      password: "pw",
    });
  });

  await t.step("the configuration never shows the password, in JSON or inspected", () => {
    const parsed = config(
      ["--kafka-sasl-mechanism", "plain", "--kafka-sasl-username", "engine"],
      { KAFKA_SASL_PASSWORD: "s3cret-value" },
    );
    assert.ok(!JSON.stringify(parsed).includes("s3cret-value"));
    assert.ok(!Deno.inspect(parsed, { depth: 10 }).includes("s3cret-value"));
  });

  await t.step("the password is never a flag (it would show in ps)", () => {
    const stderr = refused([
      "--kafka-sasl-mechanism",
      "plain",
      "--kafka-sasl-username",
      "engine",
      "--kafka-sasl-password",
      "s3cret-value",
    ]);
    assert.match(stderr, /unknown option '--kafka-sasl-password'/);
    assert.ok(!stderr.includes("s3cret-value"));
    const help = parse(["--help"]);
    assert.ok(!help.stdout.includes("--kafka-sasl-password <"), "no password flag in the help");
    assert.match(help.stdout, /--kafka-sasl-password-file <path>/);
  });

  await t.step(
    "a password file wins over the environment; its final newline is dropped",
    async () => {
      await withTempFile("from-file\n", (path) => {
        const parsed = config(
          [
            "--kafka-sasl-mechanism",
            "scram-sha-512",
            "--kafka-sasl-username",
            "engine",
            "--kafka-sasl-password-file",
            path,
          ],
          { KAFKA_SASL_PASSWORD: "from-env" },
        );
        assert.deepEqual(kafkaSecurityOptions(parsed).sasl, {
          mechanism: "scram-sha-512",
          username: "engine",
          password: "from-file",
        });
      });
    },
  );

  await t.step("a missing or empty password file is refused in one line", async () => {
    const missing = refused(["--kafka-sasl-password-file", "./secrets/does-not-exist"]);
    assert.match(missing, /--kafka-sasl-password-file.*no such file/);
    await withTempFile("\n", (path) => {
      assert.match(refused(["--kafka-sasl-password-file", path]), /not empty/);
    });
  });

  await t.step("SASL settings that do not fit together are refused in one line", () => {
    assert.match(
      refused(["--kafka-sasl-mechanism", "plain", "--kafka-sasl-username", "engine"]),
      /--kafka-sasl-mechanism plain needs --kafka-sasl-username and a password/,
    );
    assert.match(
      refused(["--kafka-sasl-mechanism", "plain"], { KAFKA_SASL_PASSWORD: "x" }),
      /needs --kafka-sasl-username/,
    );
    assert.match(
      refused(["--kafka-sasl-username", "engine"], { KAFKA_SASL_PASSWORD: "x" }),
      /no --kafka-sasl-mechanism/,
    );
    assert.match(refused(["--kafka-sasl-mechanism", "gssapi"]), /expected one of plain/);
  });

  await t.step("a CA file gives TLS options with it; a non-PEM file is refused", async () => {
    await withTempFile(PEM, (path) => {
      const parsed = config(["--kafka-ssl", "--kafka-ssl-ca-file", path]);
      assert.deepEqual(kafkaSecurityOptions(parsed), { ssl: { ca: [PEM] } });
      assert.match(refused(["--kafka-ssl-ca-file", path]), /--kafka-ssl is off/);
    });
    await withTempFile("not a certificate", (path) => {
      assert.match(refused(["--kafka-ssl", "--kafka-ssl-ca-file", path]), /PEM/);
    });
  });
});

Deno.test("kafkajs' SASL failure is recognized, also when wrapped", () => {
  const failure = Object.assign(new Error("SASL PLAIN authentication failed"), {
    name: "KafkaJSSASLAuthenticationError",
  });
  assert.ok(isAuthenticationFailure(failure));
  assert.ok(isAuthenticationFailure(new Error("wrapped", { cause: failure })));
  assert.ok(!isAuthenticationFailure(new Error("Connection timeout")));
  assert.ok(!isAuthenticationFailure("text"));
  assert.equal(
    new KafkaAuthenticationError("engine", "scram-sha-256").message,
    "Kafka rejected the SASL credentials of user engine (SCRAM-SHA-256): check " +
      "--kafka-sasl-username and the password (KAFKA_SASL_PASSWORD or --kafka-sasl-password-file)",
  );
});

Deno.test("an untrusted broker certificate is recognized, also when wrapped; other failures are not", () => {
  // Deno's TLS error for a certificate signed by a CA it does not trust (rustls).
  const untrusted = new Error("invalid peer certificate: UnknownIssuer");
  assert.ok(isUntrustedCertificate(untrusted));
  assert.ok(isUntrustedCertificate(Object.assign(new Error("Connection error"), {
    originalError: untrusted,
  })));
  assert.ok(isUntrustedCertificate(new Error("self-signed certificate in certificate chain")));
  assert.ok(!isUntrustedCertificate(new Error("Connection timeout")));
  assert.ok(!isUntrustedCertificate(new Error("connect ECONNREFUSED 127.0.0.1:9092")));
  assert.ok(!isUntrustedCertificate("certificate"));
});

/** Starts an engine on the SASL listener; `extra` adds flags, `env` the password. */
async function startSaslEngine(
  sasl: string,
  topics: { cpEvents: string; centralEvents: string },
  cpId: string,
  stateDir: string,
  extra: string[],
  env: Record<string, string>,
): Promise<EngineProcess> {
  return await EngineProcess.start([
    ...engineArgs({ cpId, broker: sasl, healthPort: freePort(), topics }),
    "--state-dir",
    stateDir,
    // Debug level: not even the most verbose log may show the password.
    "--log-level",
    "debug",
    ...extra,
  ], env);
}

Deno.test({
  name:
    "an engine registers through a real SASL listener, and a wrong password stops it with one clear error",
  async fn(t) {
    const brokers = await saslBrokerAddresses();
    const stateDirs: string[] = [];
    const run = async (
      label: string,
      extra: string[],
      env: Record<string, string>,
      body: (engine: EngineProcess, central: CentralDouble, cpId: string) => Promise<void>,
    ) => {
      const topics = uniqueTopics(`sasl-${label}`);
      const cpId = `CP_SASL_${crypto.randomUUID().slice(0, 6)}`;
      const central = await CentralDouble.start(brokers.plaintext, topics);
      const stateDir = `./state/test-sasl-${crypto.randomUUID().slice(0, 8)}`;
      stateDirs.push(stateDir);
      const engine = await startSaslEngine(brokers.sasl, topics, cpId, stateDir, extra, env);
      try {
        await body(engine, central, cpId);
      } finally {
        await engine.dispose();
        await central.close();
      }
    };
    const registers = async (engine: EngineProcess, central: CentralDouble, cpId: string) => {
      await central.waitForStatus("available", 0, 30_000);
      const [registration] = central.seen("CP_REGISTRATION");
      assert.equal(registration?.["cp_id"], cpId);
      engine.signal("SIGTERM");
      assert.equal(await engine.exited(), 0, engine.output);
      assert.match(engine.output, /Kafka connection: plaintext, SASL /);
      assert.ok(!engine.output.includes(SASL_PASSWORD), "the password never appears in the log");
    };
    const saslFlags = (mechanism: string) => [
      "--kafka-sasl-mechanism",
      mechanism,
      "--kafka-sasl-username",
      SASL_USERNAME,
    ];

    try {
      await t.step("PLAIN, password from KAFKA_SASL_PASSWORD", async () => {
        await run("plain", saslFlags("plain"), { KAFKA_SASL_PASSWORD: SASL_PASSWORD }, registers);
      });

      await t.step("SCRAM-SHA-256, password from a file under ./secrets", async () => {
        await Deno.mkdir("secrets", { recursive: true });
        const file = `secrets/test-${crypto.randomUUID().slice(0, 8)}.txt`;
        await Deno.writeTextFile(file, `${SASL_PASSWORD}\n`);
        try {
          await run(
            "scram256",
            [...saslFlags("scram-sha-256"), "--kafka-sasl-password-file", `./${file}`],
            {},
            registers,
          );
        } finally {
          await Deno.remove(file);
          await Deno.remove("secrets").catch(() => {}); // only when empty: nobody else's
        }
      });

      await t.step("SCRAM-SHA-512, password from KAFKA_SASL_PASSWORD", async () => {
        await run(
          "scram512",
          saslFlags("scram-sha-512"),
          { KAFKA_SASL_PASSWORD: SASL_PASSWORD },
          registers,
        );
      });

      await t.step("a wrong password: one clear error line, exit code 3, no password", async () => {
        const wrong = "wrong-password-4711";
        await run(
          "wrong",
          saslFlags("scram-sha-256"),
          { KAFKA_SASL_PASSWORD: wrong },
          async (engine, central) => {
            const code = await engine.exited(30_000);
            assert.equal(code, 3, engine.output);
            const errors = engine.output.split("\n").filter((line) => line.includes(" ERROR "));
            assert.equal(errors.length, 1, engine.output);
            assert.match(
              errors[0]!,
              /Kafka rejected the SASL credentials of user engine \(SCRAM-SHA-256\): check --kafka-sasl-username and the password/,
            );
            assert.ok(!engine.output.includes(wrong), "the wrong password is not shown either");
            assert.equal(central.seen("CP_REGISTRATION").length, 0);
          },
        );
      });

      await t.step("a password file outside ./secrets and /run/secrets is refused", async () => {
        await withTempFile(SASL_PASSWORD, async (path) => {
          const engine = await EngineProcess.start([
            ...saslFlags("plain"),
            "--kafka-sasl-password-file",
            path,
          ]);
          try {
            assert.equal(await engine.exited(), EXIT_BAD_CONFIG);
            assert.match(engine.output, /under \.\/secrets or \/run\/secrets/);
            assert.equal(engine.output.trim().split("\n").length, 1, engine.output);
            assert.ok(!engine.output.includes(SASL_PASSWORD));
          } finally {
            await engine.dispose();
          }
        });
      });
    } finally {
      for (const dir of stateDirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
