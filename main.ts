/**
 * ev-cp-engine: the charging point engine of an EVCharging network.
 *
 * Wiring only: the first word picks the command (one charging point by default, `probe`,
 * `fleet`, `send`), which parses its command line and runs. The layers are described in
 * `docs/architecture.md`.
 *
 * @module
 */
import { processIo } from "./src/cli/command_line.ts";
import { EXIT_BAD_CONFIG } from "./src/cli/exit_codes.ts";
import { missingPermission, missingPermissionLine } from "./src/cli/permission_check.ts";
import { FLEET_COMMAND, PROBE_COMMAND, SEND_COMMAND } from "./src/cli/command_names.ts";

/**
 * Runs the program with `args` (without the program name); resolves to the exit code. Each
 * command's modules load only when it runs: what a process never runs costs it no memory (the
 * fleet's YAML parser, for one, is about 3 MB of a single point's heap).
 */
export async function main(args: readonly string[]): Promise<number> {
  const missing = missingPermission();
  if (missing !== null) {
    processIo.stderr(missingPermissionLine(missing));
    return EXIT_BAD_CONFIG;
  }
  switch (args[0]) {
    case PROBE_COMMAND: {
      const { runProbeCommand } = await import("./src/cli/probe_command.ts");
      return await runProbeCommand(args.slice(1), processIo);
    }
    case FLEET_COMMAND: {
      const { runFleetCommand } = await import("./src/cli/fleet_command.ts");
      return await runFleetCommand(args.slice(1), processIo);
    }
    case SEND_COMMAND: {
      const { runSendCommand } = await import("./src/cli/send_command.ts");
      return await runSendCommand(args.slice(1), processIo);
    }
    default: {
      const { runEngineCommand } = await import("./src/cli/engine_command.ts");
      return await runEngineCommand(args, processIo);
    }
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    // A permission the check could not foresee (a file outside the granted directories): one
    // line, not a stack trace.
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    processIo.stderr(missingPermissionLine(error.message));
    Deno.exit(EXIT_BAD_CONFIG);
  }
}
