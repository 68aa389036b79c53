/**
 * `deno task dev`: the development entry point, a working lab in one command.
 *
 * 1. When no broker is configured (no `--kafka-broker`, no `KAFKA_BROKER`) and none answers on
 *    localhost:9092, it starts the project's own local Kafka broker there (tools/kafka_broker.ts,
 *    in a session of its own so that Ctrl+C reaches the engine first) and says so.
 * 2. It runs the engine from source with `--watch` and exactly the engine's scoped permissions
 *    (tools/permissions.ts), restarted when a file changes. In the local lab there is no Monitor,
 *    so it passes `--monitor-wait 0` (unless given) and `--local-user lab_driver`: the console's
 *    `M` key starts a session at once; and `--http-port 8080` (any free port when 8080 is taken):
 *    the web panel of docs/web.md beside the console.
 * 3. One Ctrl+C (the console's Q, or SIGTERM / SIGHUP to this process) ends the engine, the
 *    watcher and the broker it started. `deno run --watch` keeps waiting for a file change after
 *    the program ends, so this launcher reads the watcher's "Process finished" line and ends it.
 *
 * Arguments go to the engine: `deno task dev --cp-id CP_007 --max-power 50`. `LAB_KAFKA_PORT`
 * moves the local broker off 9092 (the tests use it).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { KAFKA_JARS_DIR, LOCAL_BROKER_PORT, parentBoundCommand } from "./kafka_broker.ts";
import { devEngineCommand } from "./permissions.ts";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The port of the local broker when nothing else is configured: the engine's default. */
export const LAB_BROKER_PORT = LOCAL_BROKER_PORT;
/** The user of a session started with the console's M key in the local lab. */
export const LAB_USER = "lab_driver";
/** The web panel's port in the local lab, when free (otherwise any free port). */
export const LAB_WEB_PORT = 8080;
/** How long the broker may take to answer; its first start downloads jars with Maven. */
const BROKER_START_TIMEOUT_MS = 240_000;
/**
 * How long the engine may take to shut down gracefully before the watcher is ended anyway: its
 * own deadline is 5 s (after a stop signal a read of the terminal may keep the watcher waiting).
 */
const ENGINE_STOP_TIMEOUT_MS = 6_000;

/** Permissions of the broker process (as `deno task kafka`). */
const BROKER_PERMISSIONS = [
  "--allow-run",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-net",
  "--allow-sys",
];

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** Whether `args` or the environment name a broker (then the lab starts none). */
export function brokerConfigured(args: readonly string[], env: string | undefined): boolean {
  return (env !== undefined && env.trim() !== "") ||
    args.some((arg) => arg === "--kafka-broker" || arg.startsWith("--kafka-broker="));
}

function given(args: readonly string[], flag: string): boolean {
  return args.some((arg) => arg === flag || arg.startsWith(`${flag}=`));
}

/**
 * The engine's flags for the local lab, before the user's own (a later flag wins, and a flag the
 * user gave is not repeated): the broker, no Monitor wait, a user for the M key, and the web
 * panel on `webPort`.
 */
export function labEngineArgs(
  broker: string,
  args: readonly string[],
  env: (name: string) => string | undefined,
  webPort: number,
): string[] {
  const lab = ["--kafka-broker", broker];
  if (!given(args, "--monitor-wait") && !env("MONITOR_WAIT")) lab.push("--monitor-wait", "0");
  if (!given(args, "--local-user") && !env("LOCAL_USER")) lab.push("--local-user", LAB_USER);
  if (!given(args, "--http-port") && !env("HTTP_PORT")) lab.push("--http-port", String(webPort));
  return lab;
}

/**
 * What the watcher's line says about the program: `finished` with its exit code (it ended on its
 * own: Q, Ctrl+C, SIGTERM, a bad flag), `failed` (an uncaught error: fix the file, it restarts),
 * or null for any other line.
 */
export function watcherEvent(
  line: string,
): { kind: "finished"; code: number } | { kind: "failed" } | null {
  const text = line.replace(ANSI, "");
  const finished = /Watcher Process finished(?: with exit code (\d+))?/.exec(text);
  if (finished) return { kind: "finished", code: Number(finished[1] ?? 0) };
  if (/Watcher Process failed/.test(text)) return { kind: "failed" };
  return null;
}

/**
 * Whether a Kafka broker answers on 127.0.0.1:`port`: a TCP connection and an ApiVersions
 * request answered with its correlation id (anything else on the port is not Kafka).
 */
export async function kafkaAnswers(port: number, timeoutMs = 2_000): Promise<boolean> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return false;
  }
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    const clientId = new TextEncoder().encode("ev-cp-engine-dev");
    // ApiVersions v0: size, api key 18, version 0, correlation id, client id; no body.
    const request = new Uint8Array(4 + 10 + clientId.length);
    const view = new DataView(request.buffer);
    view.setInt32(0, request.length - 4);
    view.setInt16(4, 18);
    view.setInt16(6, 0);
    view.setInt32(8, 0x0de7);
    view.setInt16(12, clientId.length);
    request.set(clientId, 14);
    await conn.write(request);
    const header = new Uint8Array(8);
    let read = 0;
    while (read < header.length) {
      const n = await conn.read(header.subarray(read));
      if (n === null) return false;
      read += n;
    }
    return new DataView(header.buffer).getInt32(4) === 0x0de7;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer
    }
  }
}

/** Whether nothing listens on 127.0.0.1:`port`. */
function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

function say(text: string): void {
  console.error(`dev: ${text}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The local broker this launcher started, in a session of its own. */
class LabBroker {
  readonly #child: Deno.ChildProcess;
  #output = "";
  #exited = false;
  readonly status: Promise<Deno.CommandStatus>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.status = child.status.then((status) => {
      this.#exited = true;
      return status;
    });
    for (const stream of [child.stdout, child.stderr]) void this.#collect(stream);
  }

  /** Starts `tools/kafka_broker.ts --port PORT`; Ctrl+C in the terminal does not reach it. */
  static async start(port: number): Promise<LabBroker> {
    const args = [
      "run",
      ...BROKER_PERMISSIONS,
      `${REPO_ROOT}tools/kafka_broker.ts`,
      "--port",
      String(port),
    ];
    // setsid: its own session, outside the terminal's foreground group, so that Ctrl+C stops the
    // engine first (it still has events to deliver) and this launcher stops the broker after.
    // Bound to this process: if the launcher is killed, the broker goes too.
    const setsid = Deno.build.os === "linux" && await commandExists("setsid");
    const command = setsid
      ? await parentBoundCommand("setsid", [Deno.execPath(), ...args], brokerIo())
      : await parentBoundCommand(Deno.execPath(), args, brokerIo());
    return new LabBroker(command.spawn());
  }

  get running(): boolean {
    return !this.#exited;
  }

  get output(): string {
    return this.#output;
  }

  /** Stops it (SIGTERM: it removes its data) and waits, then SIGKILL after 15 s. */
  async stop(): Promise<void> {
    if (this.#exited) return;
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // gone meanwhile
    }
    const stopped = await Promise.race([
      this.status.then(() => true),
      sleep(15_000).then(() => false),
    ]);
    if (!stopped) {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // gone meanwhile
      }
      await this.status;
    }
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) this.#output += decoder.decode(chunk, { stream: true });
  }
}

function brokerIo(): Deno.CommandOptions {
  return { cwd: REPO_ROOT, stdin: "null", stdout: "piped", stderr: "piped" };
}

async function commandExists(name: string): Promise<boolean> {
  try {
    const output = await new Deno.Command(name, {
      args: ["--version"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return output.success;
  } catch {
    return false;
  }
}

async function jarsCached(): Promise<boolean> {
  try {
    await Deno.stat(`${KAFKA_JARS_DIR}/.complete`);
    return true;
  } catch {
    return false;
  }
}

/** Finds or starts the lab's broker; returns its address and the broker to stop, if started. */
async function labBroker(port: number): Promise<{ address: string; started: LabBroker | null }> {
  const address = `127.0.0.1:${port}`;
  if (await kafkaAnswers(port)) {
    say(`using the Kafka broker that answers on ${address}`);
    return { address, started: null };
  }
  if (!portFree(port)) {
    throw new Error(
      `port ${port} is in use by something that is not a Kafka broker: set KAFKA_BROKER to your ` +
        `broker, or LAB_KAFKA_PORT to a free port for the local one`,
    );
  }
  const firstRun = !(await jarsCached());
  say(
    `no Kafka broker configured and none answers on ${address}: starting the project's local ` +
      `broker there${firstRun ? " (first run: Maven downloads its jars)" : ""}`,
  );
  const started = performance.now();
  const broker = await LabBroker.start(port);
  const deadline = Date.now() + BROKER_START_TIMEOUT_MS;
  while (!(await kafkaAnswers(port))) {
    if (!broker.running || Date.now() > deadline) {
      await broker.stop();
      throw new Error(
        `the local Kafka broker did not start${
          broker.running ? " in time" : ""
        }:\n${broker.output.trim()}`,
      );
    }
    await sleep(250);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  say(`local Kafka broker up on ${address} in ${seconds} s (stopped with the engine)`);
  return { address, started: broker };
}

/** Runs the lab; resolves to the exit code. */
async function main(args: string[]): Promise<number> {
  const env = (name: string) => Deno.env.get(name);
  const port = Number(env("LAB_KAFKA_PORT") ?? LAB_BROKER_PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    say(`error: LAB_KAFKA_PORT=${env("LAB_KAFKA_PORT")} is invalid: expected a port, 1 to 65535`);
    return 2;
  }
  let broker: LabBroker | null = null;
  let engineArgs = args;
  if (!brokerConfigured(args, env("KAFKA_BROKER"))) {
    try {
      const lab = await labBroker(port);
      broker = lab.started;
      const webPort = portFree(LAB_WEB_PORT) ? LAB_WEB_PORT : 0;
      const labArgs = labEngineArgs(lab.address, args, env, webPort);
      engineArgs = [...labArgs, ...args];
      if (labArgs.includes("--http-port")) {
        say(
          webPort === 0
            ? `port ${LAB_WEB_PORT} is taken: the web panel listens on a free port (the engine ` +
              "logs its address: Web panel on http://...)"
            : `web panel: http://127.0.0.1:${webPort}/ (once the engine is up)`,
        );
      }
    } catch (error) {
      say(`error: ${(error as Error).message}`);
      return 1;
    }
  }

  const [deno, ...denoArgs] = devEngineCommand();
  say(`${deno} ${denoArgs.slice(0, 2).join(" ")} ... main.ts ${engineArgs.join(" ")}`);
  const watcher = new Deno.Command(Deno.execPath(), {
    args: [...denoArgs, ...engineArgs],
    cwd: REPO_ROOT,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "piped",
  }).spawn();
  let watcherGone = false;
  const watcherStatus = watcher.status.then((status) => {
    watcherGone = true;
    return status;
  });

  let finishedCode: number | null = null;
  let resolveFinished: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => resolveFinished = resolve);
  const relay = (async () => {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of watcher.stderr) {
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const event = watcherEvent(line);
        if (event?.kind === "finished") {
          // "Restarting on file change" would be wrong: the lab ends with the engine.
          say(`the engine exited${event.code === 0 ? "" : ` with code ${event.code}`}`);
          finishedCode = event.code;
          resolveFinished(event.code);
        } else {
          await writeAll(new TextEncoder().encode(`${line}\n`));
        }
      }
    }
    if (pending !== "") await writeAll(new TextEncoder().encode(pending));
  })();

  // Ctrl+C in a terminal without the console reaches the whole foreground group: the engine gets
  // it too and shuts down. SIGTERM and SIGHUP reach only this launcher: pass them on.
  let stopRequested: Deno.Signal | null = null;
  let resolveStop: () => void = () => {};
  const stop = new Promise<void>((resolve) => resolveStop = resolve);
  const onSignal = (signal: Deno.Signal) => () => {
    if (stopRequested !== null) return;
    stopRequested = signal;
    if (signal !== "SIGINT") {
      try {
        watcher.kill("SIGTERM");
      } catch {
        // gone
      }
    }
    resolveStop();
  };
  const signals: [Deno.Signal, () => void][] = [
    ["SIGINT", onSignal("SIGINT")],
    ["SIGTERM", onSignal("SIGTERM")],
    ["SIGHUP", onSignal("SIGHUP")],
  ];
  for (const [signal, handler] of signals) Deno.addSignalListener(signal, handler);

  try {
    await Promise.race([finished, stop, watcherStatus]);
    if (finishedCode === null && !watcherGone) {
      // A stop signal: give the engine its graceful shutdown (session ended, offline published).
      await Promise.race([finished, watcherStatus, sleep(ENGINE_STOP_TIMEOUT_MS)]);
    }
    if (!watcherGone) {
      // The program has ended (or would not): the watcher only waits for a file change.
      try {
        watcher.kill("SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    const status = await watcherStatus;
    await relay.catch(() => {});
    if (broker !== null) {
      say("stopping the local Kafka broker");
      await broker.stop();
    }
    if (finishedCode !== null) return finishedCode;
    return stopRequested !== null ? 0 : status.code;
  } finally {
    for (const [signal, handler] of signals) Deno.removeSignalListener(signal, handler);
  }
}

async function writeAll(data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await Deno.stderr.write(data.subarray(written));
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
