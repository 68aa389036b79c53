/**
 * The published message contract (docs/asyncapi.yaml) as a checker: it validates the document
 * against the official AsyncAPI 3.0.0 JSON Schema and checks events the engine publishes against
 * their message's payload schema. CentralDouble runs every event it receives through
 * {@linkcode contractViolations}, so a renamed or retyped field fails the integration tests.
 *
 * @module
 */
import specs from "@asyncapi/specs";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { parse } from "yaml";

const DOCUMENT_URL = new URL("../../docs/asyncapi.yaml", import.meta.url);
const DOCUMENT_ID = "ev-cp-engine-asyncapi";

/** The AsyncAPI document, parsed. */
export type AsyncApiDocument = Record<string, unknown>;

/** Reads and parses docs/asyncapi.yaml. */
export function loadContract(): AsyncApiDocument {
  const parsed: unknown = parse(Deno.readTextFileSync(DOCUMENT_URL));
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error("docs/asyncapi.yaml is not a YAML mapping");
  }
  return parsed as AsyncApiDocument;
}

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((error) =>
    `${error.instancePath || "/"} ${error.message ?? "is invalid"}${
      error.params && Object.keys(error.params).length > 0 ? ` ${JSON.stringify(error.params)}` : ""
    }`
  );
}

/**
 * Validates `document` against the official AsyncAPI 3.0.0 JSON Schema (npm `@asyncapi/specs`);
 * returns the problems found (none when it is valid).
 */
export function asyncApiDocumentProblems(document: AsyncApiDocument): string[] {
  // The variant without `$id`s: the one with ids embeds draft-07's meta-schema, which ajv
  // already knows, under the same id.
  const schemas = (specs as unknown as { schemasWithoutId: Record<string, object> })
    .schemasWithoutId;
  const schema = schemas["3.0.0"];
  if (schema === undefined) return ["@asyncapi/specs has no AsyncAPI 3.0.0 schema"];
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  const validate = ajv.compile(schema);
  return validate(document) ? [] : describe(validate.errors);
}

/** A checker of published events, built once from the document. */
export interface ContractChecker {
  /** The `event_type`s of the messages the engine publishes on `cp-events`. */
  readonly publishedEventTypes: readonly string[];
  /** The violations of one published event (none when it conforms). */
  check(value: unknown): string[];
}

/**
 * Builds a checker of the events published on the `cp-events` channel: each event is matched to
 * its message by `event_type` and validated against that message's payload schema, in ajv's
 * strict mode (a typo in a schema keyword is an error, not an ignored key).
 */
export function publishedEventChecker(
  document: AsyncApiDocument = loadContract(),
): ContractChecker {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  // The container of the payload schemas, reached by $ref only: not a validation keyword.
  ajv.addKeyword("components");
  ajv.addSchema(stripNonSchemaKeys(document), DOCUMENT_ID);
  const channels = document["channels"] as Record<string, { messages?: Record<string, unknown> }>;
  const messages = (document["components"] as { messages: Record<string, { name: string }> })
    .messages;
  const byEventType = new Map<string, ValidateFunction>();
  for (const reference of Object.values(channels["cpEvents"]?.messages ?? {})) {
    const ref = (reference as { $ref?: string }).$ref ?? "";
    const key = ref.replace("#/components/messages/", "");
    const message = messages[key];
    if (message === undefined) throw new Error(`docs/asyncapi.yaml: unresolved message ${ref}`);
    byEventType.set(
      message.name,
      ajv.compile({ $ref: `${DOCUMENT_ID}#/components/messages/${key}/payload` }),
    );
  }
  return {
    publishedEventTypes: [...byEventType.keys()],
    check(value: unknown): string[] {
      const eventType = typeof value === "object" && value !== null && !Array.isArray(value)
        ? (value as Record<string, unknown>)["event_type"]
        : undefined;
      const validate = typeof eventType === "string" ? byEventType.get(eventType) : undefined;
      if (validate === undefined) {
        return [
          `event_type ${JSON.stringify(eventType)} is not a message of the cp-events channel ` +
          `(expected one of ${[...byEventType.keys()].join(", ")})`,
        ];
      }
      return validate(value) ? [] : describe(validate.errors);
    },
  };
}

/**
 * The document with what ajv must not read as schema keywords removed: only `components` is
 * kept (message objects keep just their `payload`), which is where every payload schema lives.
 */
function stripNonSchemaKeys(document: AsyncApiDocument): object {
  const components = document["components"] as {
    messages: Record<string, { payload: unknown }>;
    schemas: Record<string, unknown>;
  };
  const messages: Record<string, { payload: unknown }> = {};
  for (const [key, message] of Object.entries(components.messages)) {
    messages[key] = { payload: message.payload };
  }
  return {
    $id: DOCUMENT_ID,
    components: { messages, schemas: components.schemas },
  };
}

let shared: ContractChecker | undefined;

/**
 * The violations of `value`, an event the engine published, against docs/asyncapi.yaml (the
 * document is loaded once per test process).
 */
export function contractViolations(value: unknown): string[] {
  shared ??= publishedEventChecker();
  return shared.check(value);
}
