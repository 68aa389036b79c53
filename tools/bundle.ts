/**
 * `deno task bundle`: the engine as one JavaScript file, `dist/ev-cp-engine.js`, that runs with
 * `deno run` and nothing else: every npm package is inside, and the charging Worker's module is
 * inlined (started from a Blob URL), so it needs no file of its own and no read permission.
 *
 * This is the single-file path this build machine can prove (`deno compile` needs a runtime
 * download it cannot reach): tests/bundle_smoke_test.ts runs the bundle with exactly the
 * permissions a compiled binary gets, an empty Deno cache and `--cached-only`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { WORKER_MODULE } from "./permissions.ts";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** How the engine starts its Worker (src/adapters/charging/worker.ts); replaced in the bundle. */
const WORKER_URL_EXPRESSION = 'new URL("./worker_main.ts", import.meta.url)';

/** Bundles `entry` (relative to the repository) into one ES module; returns its text. */
async function bundleOne(entry: string, outFile: string): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "deno", "--packages", "bundle", "-o", outFile, entry],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`deno bundle ${entry} failed:\n${stderr}`);
  }
  return await Deno.readTextFile(outFile);
}

/**
 * Builds the single-file engine at `outFile` (default `dist/ev-cp-engine.js`) and returns its
 * path.
 *
 * @throws {Error} when bundling fails, or when the engine no longer starts its Worker the way
 * this script inlines it (then the bundle would silently lack the Worker).
 */
export async function bundleEngine(
  outFile = `${REPO_ROOT}dist/ev-cp-engine.js`,
): Promise<string> {
  const workDir = await Deno.makeTempDir({ prefix: "ev-cp-engine-bundle-" });
  try {
    const worker = await bundleOne(WORKER_MODULE, `${workDir}/worker.js`);
    const main = await bundleOne("main.ts", `${workDir}/main.js`);
    const uses = main.split(WORKER_URL_EXPRESSION).length - 1;
    if (uses !== 1) {
      throw new Error(
        `Cannot inline the charging Worker: expected the bundle to start it once with ` +
          `${WORKER_URL_EXPRESSION}, found ${uses} (src/adapters/charging/worker.ts changed?)`,
      );
    }
    const inlined = main.replace(
      WORKER_URL_EXPRESSION,
      `URL.createObjectURL(new Blob([${
        JSON.stringify(worker)
      }], { type: "application/javascript" }))`,
    );
    const directory = outFile.replace(/[\\/][^\\/]*$/, "");
    if (directory !== outFile) await Deno.mkdir(directory, { recursive: true });
    await Deno.writeTextFile(outFile, inlined);
    return outFile;
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
}

if (import.meta.main) {
  const path = await bundleEngine(Deno.args[0]);
  console.log(`built ${path}`);
}
