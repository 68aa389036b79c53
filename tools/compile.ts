/**
 * `deno task compile`: builds one self-contained `ev-cp-engine` executable per platform into
 * `dist/` (`dist/ev-cp-engine-<target>`, `.exe` on Windows) with `deno compile`, permissions
 * baked in (tools/permissions.ts) and the charging Worker's module embedded.
 *
 * `deno compile` downloads the `denort` runtime of each target the first time. When that
 * download is not reachable (an offline build machine), this script says so in one line and
 * exits with code 1. Arguments select targets: `deno task compile x86_64-unknown-linux-gnu`, or
 * `deno task compile native` for the platform the build runs on.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { binaryPermissionFlags, V8_FLAGS, WORKER_MODULE } from "./permissions.ts";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The platforms the binaries are built for. */
export const COMPILE_TARGETS: readonly string[] = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

/** The output path of the binary for `target`, relative to the repository. */
export function binaryPath(target: string): string {
  return `dist/ev-cp-engine-${target}${target.includes("windows") ? ".exe" : ""}`;
}

/** The `deno compile` arguments (without `deno`) that build the binary for `target`. */
export function compileArgs(target: string, output = binaryPath(target)): string[] {
  return [
    "compile",
    V8_FLAGS,
    ...binaryPermissionFlags(),
    "--include",
    WORKER_MODULE,
    "--target",
    target,
    "--output",
    output,
    "main.ts",
  ];
}

/**
 * Whether `deno compile`'s error output says the runtime download failed (no network to the
 * download host), as opposed to a problem in the code.
 */
export function isRuntimeDownloadFailure(stderr: string): boolean {
  return /denort/i.test(stderr) &&
    /error sending request|dns error|failed to lookup|connection refused|timed out|network|unreachable|tcp connect|certificate|failed to download|download.*fail/i
      .test(stderr);
}

/**
 * The one line for a machine that cannot download the runtime: what failed, why, and the
 * single-file engine that needs no download (README.md, "Run the single file").
 */
export function offlineMessage(target: string, host: string): string {
  return `deno compile cannot build ${target}: the Deno runtime (denort) for it must be ` +
    `downloaded from ${host}, which this machine cannot reach. Build the single-file engine ` +
    `instead: \`deno task bundle\`, then \`deno task start-bundle\` runs it with the binary's ` +
    `permissions (README.md, "Run the single file")`;
}

async function compile(target: string): Promise<"built" | "offline" | "failed"> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(target),
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  if (output.success) {
    console.log(`built ${binaryPath(target)}`);
    return "built";
  }
  if (isRuntimeDownloadFailure(stderr)) {
    const host = /https?:\/\/([^/\s"']+)/.exec(stderr)?.[1] ?? "the Deno download host";
    console.error(offlineMessage(target, host));
    return "offline";
  }
  console.error(`deno compile failed for ${target}:\n${stderr.trim()}`);
  return "failed";
}

if (import.meta.main) {
  // `native`: the platform this Deno runs on (the container build uses it).
  const targets = Deno.args.length > 0
    ? Deno.args.map((arg) => arg === "native" ? Deno.build.target : arg)
    : COMPILE_TARGETS;
  const unknown = targets.filter((target) => !COMPILE_TARGETS.includes(target));
  if (unknown.length > 0) {
    console.error(`Unknown target ${unknown.join(", ")}: expected one of ${COMPILE_TARGETS}`);
    Deno.exit(2);
  }
  await Deno.mkdir(`${REPO_ROOT}dist`, { recursive: true });
  for (const target of targets) {
    const outcome = await compile(target);
    // The first offline failure is the same for every target: one line is enough.
    if (outcome !== "built") Deno.exit(1);
  }
}
