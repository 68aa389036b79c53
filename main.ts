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
import { runEngineCommand } from "./src/cli/engine_command.ts";
import { FLEET_COMMAND, runFleetCommand } from "./src/cli/fleet_command.ts";
import { PROBE_COMMAND, runProbeCommand } from "./src/cli/probe_command.ts";
import { runSendCommand, SEND_COMMAND } from "./src/cli/send_command.ts";

/** Runs the program with `args` (without the program name); resolves to the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  switch (args[0]) {
    case PROBE_COMMAND:
      return await runProbeCommand(args.slice(1), processIo);
    case FLEET_COMMAND:
      return await runFleetCommand(args.slice(1), processIo);
    case SEND_COMMAND:
      return await runSendCommand(args.slice(1), processIo);
    default:
      return await runEngineCommand(args, processIo);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
