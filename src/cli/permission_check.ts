/**
 * The engine runs in Deno's sandbox. Started without the permissions it needs (the bundle run
 * with a bare `deno run`, say), it would die on the first environment variable it reads with a
 * `NotCapable` stack trace, or stop at an interactive prompt. Instead it asks Deno first, without
 * prompting, and says in one line what is missing and how to start it.
 *
 * @module
 */
import { ENV_VARS } from "./settings.ts";

/** How to start the engine with its permissions, for the one-line error. */
export const HOW_TO_RUN =
  "start it with its permissions: `deno task start` from source, `deno task start-bundle` for " +
  'dist/ev-cp-engine.js, or the deno run line in README.md ("Run the single file")';

/** Deno's permission API, as far as the check uses it (tests pass their own). */
export interface PermissionQuery {
  querySync(descriptor: Deno.PermissionDescriptor): { readonly state: Deno.PermissionState };
}

/**
 * What the engine lacks among the permissions every command needs (reading its environment
 * variables, the network), described for the error line; null when it has them. Asking never
 * prompts: `querySync` only reads the state.
 */
export function missingPermission(permissions: PermissionQuery = Deno.permissions): string | null {
  for (const variable of ENV_VARS) {
    if (permissions.querySync({ name: "env", variable }).state !== "granted") {
      return `env access to ${variable} (--allow-env)`;
    }
  }
  if (permissions.querySync({ name: "net" }).state !== "granted") {
    return "network access (--allow-net)";
  }
  return null;
}

/** The one line printed for a missing permission (`what`, from Deno or from the check). */
export function missingPermissionLine(what: string): string {
  return `error: ev-cp-engine is missing a Deno permission, ${what}; ${HOW_TO_RUN}\n`;
}
