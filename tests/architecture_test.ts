/**
 * The layers hold: every import points inward (docs/architecture.md). Read from the real import
 * graph (`deno info --json`) of the program and of the charging Worker's module, so a new file
 * or a new import is checked without anyone listing it here.
 *
 *   domain  <-  protocol  <-  app  <-  fleet
 *                              ^
 *                              +--  adapters  <-  cli  <-  main.ts
 */
import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

const ROOT = fromFileUrl(new URL("..", import.meta.url));

/** What each layer (a folder of src/, or main.ts) may import, besides itself. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  "domain": [],
  "protocol": ["domain"],
  "app": ["domain", "protocol"],
  "fleet": ["domain", "protocol", "app"],
  "adapters": ["domain", "protocol", "app"],
  "cli": ["domain", "protocol", "app", "fleet", "adapters"],
  "main.ts": ["cli"],
};

/**
 * Packages (npm) a layer may use: the inner layers use none but the decoders of what comes in
 * (zod for commands, yaml for fleet files).
 */
const MAY_USE_PACKAGES: Record<string, boolean> = {
  "domain": false,
  "protocol": true,
  "app": false,
  "fleet": true,
  "adapters": true,
  "cli": true,
  "main.ts": false,
};

interface Module {
  readonly specifier: string;
  readonly dependencies?: readonly {
    readonly code?: { readonly specifier: string };
    /** A type-only import (`import type`): it counts as much as any other. */
    readonly type?: { readonly specifier: string };
  }[];
}

async function importGraph(...roots: string[]): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const root of roots) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", root],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(output.success, new TextDecoder().decode(output.stderr));
    const info = JSON.parse(new TextDecoder().decode(output.stdout)) as { modules: Module[] };
    for (const module of info.modules) {
      if (!module.specifier.startsWith("file:")) continue;
      const from = relative(ROOT, fromFileUrl(module.specifier));
      const targets = (module.dependencies ?? [])
        .flatMap((dependency) => [dependency.code?.specifier, dependency.type?.specifier])
        .filter((target): target is string => target !== undefined)
        .map((target) => target.startsWith("file:") ? relative(ROOT, fromFileUrl(target)) : target);
      graph.set(from, targets);
    }
  }
  return graph;
}

/** The layer of a file of the program: a folder of `src/`, or `main.ts`. */
function layerOf(path: string): string | null {
  if (path === "main.ts") return "main.ts";
  const match = /^src\/([^/]+)\//.exec(path);
  return match ? match[1]! : null;
}

const graph = await importGraph("main.ts", "src/adapters/charging/worker_main.ts");

Deno.test("every file of the program belongs to a layer", () => {
  const strays = [...graph.keys()].filter((path) => layerOf(path) === null);
  assert.deepEqual(strays, [], "files outside src/<layer>/ (or main.ts)");
  assert.ok(graph.size > 40, `the graph was read (${graph.size} files)`);
});

/** The imports of `graph` that point outward, as `from -> to`. */
function outwardImports(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const outward: string[] = [];
  for (const [from, targets] of graph) {
    const layer = layerOf(from)!;
    for (const target of targets) {
      if (!target.startsWith("src/") && target !== "main.ts") {
        if (!MAY_USE_PACKAGES[layer]) outward.push(`${from} -> ${target} (a package)`);
        continue;
      }
      const targetLayer = layerOf(target)!;
      if (targetLayer !== layer && !MAY_IMPORT[layer]!.includes(targetLayer)) {
        outward.push(`${from} -> ${target}`);
      }
    }
  }
  return outward;
}

Deno.test("every import points inward: domain <- protocol <- app <- fleet, adapters <- cli <- main.ts", () => {
  assert.deepEqual(outwardImports(graph), []);
});

Deno.test("the check can fail: an import that points outward is reported", () => {
  const bad = new Map([
    ["src/app/engine.ts", ["src/domain/charge_point.ts", "src/adapters/kafka/bus.ts"]],
    ["src/domain/charge_point.ts", ["npm:zod@4"]],
    ["src/adapters/logging.ts", ["src/cli/settings.ts"]],
  ]);
  assert.deepEqual(outwardImports(bad), [
    "src/app/engine.ts -> src/adapters/kafka/bus.ts",
    "src/domain/charge_point.ts -> npm:zod@4 (a package)",
    "src/adapters/logging.ts -> src/cli/settings.ts",
  ]);
});

Deno.test("domain, protocol and app read no clock, randomness or runtime of their own", async () => {
  const forbidden = [
    /\bDate\.now\(/,
    /\bMath\.random\(/,
    /\bperformance\.now\(/,
    /\bcrypto\./,
    /\bDeno\./,
    /(^|[^.\w])set(Timeout|Interval)\(/m,
  ];
  const found: string[] = [];
  for (const path of graph.keys()) {
    if (!["domain", "protocol", "app", "fleet"].includes(layerOf(path)!)) continue;
    // The ports only declare the timers the clock adapter provides.
    if (path === "src/app/ports.ts") continue;
    const code = (await Deno.readTextFile(`${ROOT}/${path}`))
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/\/\/.*$/gm, "");
    for (const pattern of forbidden) {
      if (pattern.test(code)) found.push(`${path}: ${pattern.source}`);
    }
  }
  assert.deepEqual(found, []);
});

Deno.test("no module of src/ holds mutable state at module level", async () => {
  const found: string[] = [];
  for (const path of graph.keys()) {
    if (layerOf(path) === "main.ts") continue;
    const code = await Deno.readTextFile(`${ROOT}/${path}`);
    for (const [index, line] of code.split("\n").entries()) {
      if (/^(export )?let /.test(line)) found.push(`${path}:${index + 1}: ${line.trim()}`);
    }
  }
  // The Worker's module is its own isolate: its few variables are the Worker's state.
  assert.deepEqual(
    found.filter((line) => !line.startsWith("src/adapters/charging/worker_main.ts")),
    [],
  );
});
