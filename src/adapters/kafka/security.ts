/**
 * TLS and SASL for a Kafka connection outside the lab: the settings' validators (used by the
 * settings table in `src/cli/settings.ts`), the kafkajs options built from them, and the one clear
 * error for credentials the broker rejects.
 *
 * Secrets are held in a {@linkcode Secret}, which prints as `[redacted]` in logs, JSON, string
 * templates and `Deno.inspect`, so that a configuration dump can never show the password.
 *
 * Secret and CA files are read only from the directories the engine's `--allow-read` grants
 * ({@linkcode SECRET_DIRECTORIES}): a typo in a path cannot make the engine read another file.
 *
 * @module
 */
import type { KafkaConfig, SASLOptions } from "kafkajs";

/** The SASL mechanisms the engine offers (`--kafka-sasl-mechanism`). */
export const SASL_MECHANISMS = ["plain", "scram-sha-256", "scram-sha-512"] as const;

/** One of {@linkcode SASL_MECHANISMS}. */
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/**
 * Where password and CA files may be: relative to the working directory, or the standard
 * mount point of Docker and Kubernetes secrets. The `start` and `dev` tasks grant read access
 * to exactly these (besides `./src`).
 */
export const SECRET_DIRECTORIES = ["./secrets", "/run/secrets"] as const;

const REDACTED = "[redacted]";

/** A secret value that never shows itself unless asked with {@linkcode Secret.reveal}. */
export class Secret {
  readonly #value: string;

  /** Wraps `value`. */
  constructor(value: string) {
    this.#value = value;
  }

  /** The secret itself, for the one place that must hand it on (the Kafka client). */
  reveal(): string {
    return this.#value;
  }

  /** `[redacted]`. */
  toString(): string {
    return REDACTED;
  }

  /** `"[redacted]"` in JSON (log lines in `--log-format json`, config dumps). */
  toJSON(): string {
    return REDACTED;
  }

  /** `[redacted]` in `Deno.inspect` and `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    return REDACTED;
  }

  /** `[redacted]` in `node:util` inspection. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return REDACTED;
  }
}

/** Thrown by a validator with what is expected; the settings table names the flag and value. */
export class SecuritySettingError extends Error {
  /** Creates the error with the expectation, e.g. `expected a readable file ...`. */
  constructor(message: string) {
    super(message);
    this.name = "SecuritySettingError";
  }
}

/** Reads `on`/`off`-like words as a boolean (`--kafka-ssl`, `KAFKA_SSL`). */
export function parseSwitch(raw: string): boolean {
  const value = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(value)) return true;
  if (["0", "false", "no", "off"].includes(value)) return false;
  throw new SecuritySettingError("expected on or off (true/false, yes/no, 1/0)");
}

function readGrantedFile(path: string, what: string): string {
  const where = SECRET_DIRECTORIES.join(" or ");
  try {
    return Deno.readTextFileSync(path.trim());
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      throw new SecuritySettingError(
        `expected ${what} under ${where} (the only places the engine may read it from)`,
      );
    }
    if (error instanceof Deno.errors.NotFound) {
      throw new SecuritySettingError(`expected ${what} under ${where}, but there is no such file`);
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new SecuritySettingError(`expected ${what}, not a directory`);
    }
    throw new SecuritySettingError(`expected a readable ${what} (${(error as Error).message})`);
  }
}

/**
 * Reads a password file (`--kafka-sasl-password-file`): its content without the trailing
 * newline that editors and `echo` add.
 */
export function readPasswordFile(path: string): Secret {
  const content = readGrantedFile(path, "a password file").replace(/\r?\n$/, "");
  if (content === "") throw new SecuritySettingError("expected a password file that is not empty");
  return new Secret(content);
}

/** Reads a PEM bundle of CA certificates (`--kafka-ssl-ca-file`). */
export function readCaFile(path: string): string {
  const content = readGrantedFile(path, "a PEM file of CA certificates");
  if (!content.includes("-----BEGIN CERTIFICATE-----")) {
    throw new SecuritySettingError("expected a PEM file of CA certificates (BEGIN CERTIFICATE)");
  }
  return content;
}

/** The security part of the engine's configuration. */
export interface KafkaSecuritySettings {
  /** Kafka over TLS. */
  readonly kafkaSsl: boolean;
  /** PEM of extra CA certificates, or null for the runtime's default roots. */
  readonly kafkaSslCa: string | null;
  /** The SASL mechanism, or null for no authentication. */
  readonly kafkaSaslMechanism: SaslMechanism | null;
  /** The SASL user. */
  readonly kafkaSaslUsername: string | null;
  /** From `KAFKA_SASL_PASSWORD`. */
  readonly kafkaSaslPassword: Secret | null;
  /** The content of `--kafka-sasl-password-file`; wins over `KAFKA_SASL_PASSWORD`. */
  readonly kafkaSaslPasswordFile: Secret | null;
}

/** What is wrong with a combination of security settings, or null when it is consistent. */
export function securityProblem(settings: KafkaSecuritySettings): string | null {
  const password = settings.kafkaSaslPasswordFile ?? settings.kafkaSaslPassword;
  if (settings.kafkaSaslMechanism === null) {
    if (settings.kafkaSaslUsername !== null || password !== null) {
      return "a SASL user name or password is set but no --kafka-sasl-mechanism " +
        `(expected one of ${SASL_MECHANISMS.join(", ")})`;
    }
  } else if (settings.kafkaSaslUsername === null || password === null) {
    return `--kafka-sasl-mechanism ${settings.kafkaSaslMechanism} needs --kafka-sasl-username ` +
      "and a password (KAFKA_SASL_PASSWORD or --kafka-sasl-password-file)";
  }
  if (settings.kafkaSslCa !== null && !settings.kafkaSsl) {
    return "--kafka-ssl-ca-file is set but --kafka-ssl is off";
  }
  return null;
}

/** The kafkajs options for TLS and SASL; absent ones are left out. */
export interface KafkaSecurityOptions {
  /** `true` for TLS with the default roots, or the CA certificates to trust. */
  ssl?: KafkaConfig["ssl"];
  /** Mechanism, user and password. */
  sasl?: SASLOptions;
}

/** The kafkajs `ssl` and `sasl` options of consistent settings (see {@linkcode securityProblem}). */
export function kafkaSecurityOptions(settings: KafkaSecuritySettings): KafkaSecurityOptions {
  const options: KafkaSecurityOptions = {};
  if (settings.kafkaSsl) {
    options.ssl = settings.kafkaSslCa === null ? true : { ca: [settings.kafkaSslCa] };
  }
  const password = settings.kafkaSaslPasswordFile ?? settings.kafkaSaslPassword;
  if (settings.kafkaSaslMechanism !== null && settings.kafkaSaslUsername !== null && password) {
    const credentials = { username: settings.kafkaSaslUsername, password: password.reveal() };
    switch (settings.kafkaSaslMechanism) {
      case "plain":
        options.sasl = { mechanism: "plain", ...credentials };
        break;
      case "scram-sha-256":
        options.sasl = { mechanism: "scram-sha-256", ...credentials };
        break;
      case "scram-sha-512":
        options.sasl = { mechanism: "scram-sha-512", ...credentials };
        break;
    }
  }
  return options;
}

/** How the connection authenticates, for log lines: never the password. */
export function describeSecurity(settings: KafkaSecuritySettings): string {
  const transport = settings.kafkaSsl ? "TLS" : "plaintext";
  if (settings.kafkaSaslMechanism === null) return transport;
  return `${transport}, SASL ${settings.kafkaSaslMechanism.toUpperCase()} as ${settings.kafkaSaslUsername}`;
}

/**
 * The broker rejected the SASL credentials. Not transient: retrying with the same credentials
 * cannot succeed and may lock the account, so the engine stops with this message.
 */
export class KafkaAuthenticationError extends Error {
  /** Builds the one-line message for `username` and `mechanism`; `cause` is kafkajs' error. */
  constructor(username: string, mechanism: SaslMechanism, options?: ErrorOptions) {
    super(
      `Kafka rejected the SASL credentials of user ${username} (${mechanism.toUpperCase()}): ` +
        "check --kafka-sasl-username and the password (KAFKA_SASL_PASSWORD or " +
        "--kafka-sasl-password-file)",
      options,
    );
    this.name = "KafkaAuthenticationError";
  }
}

/** True when `error` (or an error it wraps) is kafkajs' SASL authentication failure. */
export function isAuthenticationFailure(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    if (current.name === "KafkaJSSASLAuthenticationError") return true;
    const next = current as { cause?: unknown; originalError?: unknown };
    current = next.cause ?? next.originalError;
  }
  return false;
}

/**
 * What the "Kafka is unreachable" warning says when the broker's TLS certificate is not trusted
 * (instead of suggesting a local broker, which would not help).
 */
export const UNTRUSTED_CERTIFICATE_HINT =
  "The broker's TLS certificate is not trusted by this engine: give the CA that signed it with " +
  "--kafka-ssl-ca-file (KAFKA_SSL_CA_FILE), a PEM file under ./secrets or /run/secrets.";

/**
 * True when `error` (or an error it wraps) is a TLS handshake that failed because the broker's
 * certificate could not be verified against the trusted CAs (unknown issuer, self-signed, or a
 * name that does not match).
 */
export function isUntrustedCertificate(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    if (/certificate|UnknownIssuer|self[- ]signed|unable to verify/i.test(current.message)) {
      return true;
    }
    const next = current as { cause?: unknown; originalError?: unknown };
    current = next.cause ?? next.originalError;
  }
  return false;
}
