/**
 * ev-cp-engine: the charging point engine of an EVCharging network.
 *
 * Wiring only: the first word picks the command (one charging point by default, `probe`,
 * `fleet`), which parses its command line and runs. The layers are described in
 * `docs/architecture.md`.
 *
 * @module
 */
import { processIo } from "./src/cli/command_line.ts";
import { FLEET_COMMAND, PROBE_COMMAND } from "./src/cli/command_names.ts";

/**
 * Runs the program with `args` (without the program name); resolves to the exit code. Each
 * command's modules load only when it runs: what a process never runs costs it no memory (the
 * fleet's YAML parser, for one, is about 3 MB of a single point's heap).
 */
export async function main(args: readonly string[]): Promise<number> {
  switch (args[0]) {
    case PROBE_COMMAND: {
      const { runProbeCommand } = await import("./src/cli/probe_command.ts");
      return await runProbeCommand(args.slice(1), processIo);
    }
    case FLEET_COMMAND: {
      const { runFleetCommand } = await import("./src/cli/fleet_command.ts");
      return await runFleetCommand(args.slice(1), processIo);
    }
    default: {
      const { runEngineCommand } = await import("./src/cli/engine_command.ts");
      return await runEngineCommand(args, processIo);
    }
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
