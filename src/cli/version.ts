/** The engine's version, printed by `--version` and sent nowhere else. */
export const VERSION = "0.1.0";

/**
 * What `--version` prints: the version on the first line, then the Deno runtime and the target
 * it was built for, when the runtime tells them (a compiled binary reports its embedded runtime).
 *
 * @example
 * ```ts
 * versionText(); // "0.1.0\ndeno 2.9.6, target x86_64-unknown-linux-gnu"
 * ```
 */
export function versionText(): string {
  const deno = typeof Deno === "undefined" ? undefined : Deno.version?.deno;
  const target = typeof Deno === "undefined" ? undefined : Deno.build?.target;
  const runtime = [deno && `deno ${deno}`, target && `target ${target}`].filter(Boolean);
  return runtime.length === 0 ? VERSION : `${VERSION}\n${runtime.join(", ")}`;
}
