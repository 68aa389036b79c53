/**
 * Runs the engine as a separate process exactly as `deno task start` does: the same `deno run`
 * flags (read from deno.json, so the scoped permissions are the ones under test) and main.ts.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { freeLoopbackPorts } from "../../tools/kafka_broker.ts";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The `deno run` arguments of the `start` task, without the leading `deno`. */
export async function startTaskArgs(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}/deno.json`));
  const entry: string | { command: string } = config.tasks.start;
  const task = typeof entry === "string" ? entry : entry.command;
  const words = task.split(/\s+/).filter((word) => word !== "");
  if (words[0] !== "deno") throw new Error(`The start task does not start with deno: ${task}`);
  return words.slice(1);
}

/** A running engine process with its output collected. */
export class EngineProcess {
  #output = "";
  readonly #child: Deno.ChildProcess;
  readonly #status: Promise<Deno.CommandStatus>;
  readonly #pumps: Promise<void>[];
  readonly #waiters = new Set<() => void>();
  #ownStateDir: string | null = null;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#status = child.status;
    this.#pumps = [this.#pump(child.stdout), this.#pump(child.stderr)];
  }

  /** Starts `deno task start`'s command with `args`; the environment is cleared of engine vars. */
  static async start(args: string[], env: Record<string, string> = {}): Promise<EngineProcess> {
    // Unless the test chooses a state directory, each engine gets a fresh one (removed by
    // dispose), so that no run inherits an outbox or a journaled session from an earlier one.
    // Sub-commands (probe, fleet) keep no state and take their own flags.
    const subcommand = args[0] === "probe" || args[0] === "fleet";
    const ownStateDir = subcommand || args.includes("--state-dir") || "STATE_DIR" in env
      ? null
      : `state/test-${crypto.randomUUID().slice(0, 8)}`;
    const command = new Deno.Command(Deno.execPath(), {
      args: [
        ...(await startTaskArgs()),
        ...(ownStateDir === null ? [] : ["--state-dir", ownStateDir]),
        ...args,
      ],
      cwd: REPO_ROOT,
      env: { ...passThroughEnv(), NO_COLOR: "1", ...env },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    const engine = new EngineProcess(command.spawn());
    engine.#ownStateDir = ownStateDir === null ? null : `${REPO_ROOT}/${ownStateDir}`;
    return engine;
  }

  /**
   * Starts any engine command line (e.g. the single-file bundle); `command` must pipe stdout and
   * stderr.
   */
  static spawn(command: Deno.Command): EngineProcess {
    return new EngineProcess(command.spawn());
  }

  /** Everything the process printed so far (stdout and stderr). */
  get output(): string {
    return this.#output;
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Waits until the output contains `text`, or fails after `timeoutMs`. */
  async waitForOutput(text: string | RegExp, timeoutMs = 20_000): Promise<void> {
    const found = () =>
      typeof text === "string" ? this.#output.includes(text) : text.test(this.#output);
    if (found()) return;
    let wake = () => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        wake = () => {
          if (found()) resolve();
        };
        this.#waiters.add(wake);
        timer = setTimeout(
          () =>
            reject(
              new Error(`Timed out waiting for ${text} in the engine output:\n${this.#output}`),
            ),
          timeoutMs,
        );
      });
    } finally {
      this.#waiters.delete(wake);
      clearTimeout(timer);
    }
  }

  /** Sends a signal. */
  signal(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  /** Waits for the process to end and its output to be read; returns the exit code. */
  async exited(timeoutMs = 15_000): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const status = await Promise.race([
        this.#status,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`The engine did not exit within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
      await Promise.all(this.#pumps);
      return status.code;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the process if it still runs and waits for it (cleanup in `finally`). */
  async dispose(): Promise<void> {
    this.signal("SIGKILL");
    await this.#status;
    await Promise.all(this.#pumps);
    if (this.#ownStateDir !== null) {
      await Deno.remove(this.#ownStateDir, { recursive: true }).catch(() => {});
    }
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      this.#output += decoder.decode(chunk, { stream: true });
      for (const wake of this.#waiters) wake();
    }
  }
}

/** What deno itself needs to find its cache; nothing of the engine's own settings. */
export function passThroughEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/**
 * Picks a free TCP port on loopback, outside the system's ephemeral range: the engine binds it
 * only later, and in the ephemeral range any outgoing connection (the tests run in parallel, each
 * with Kafka clients) may take it meanwhile.
 */
export function freePort(): number {
  return freeLoopbackPorts(1)[0]!;
}

/** Where a test engine connects: its id, the broker, its health port and its topics. */
export interface EngineTarget {
  readonly cpId: string;
  readonly broker: string;
  readonly healthPort: number;
  readonly topics: { readonly cpEvents: string; readonly centralEvents: string };
}

/**
 * The flags every test engine is started with: the id, the broker, the health port on loopback,
 * the test's own topics, and a lab without a Monitor (`--monitor-wait 0`: the point opens for
 * sessions as soon as it is ready, instead of waiting up to 20 s for a Monitor to probe). Tests
 * add their own flags after these, and a later flag wins.
 */
export function engineArgs(target: EngineTarget): string[] {
  return [
    "--monitor-wait",
    "0",
    "--cp-id",
    target.cpId,
    "--kafka-broker",
    target.broker,
    "--health-host",
    "127.0.0.1",
    "--health-port",
    String(target.healthPort),
    "--cp-events-topic",
    target.topics.cpEvents,
    "--central-events-topic",
    target.topics.centralEvents,
  ];
}
