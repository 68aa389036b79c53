/**
 * The processes a benchmark measures, started as their users start them: the engine with the
 * `deno run` flags of the `start` task and the fleet with those of the `fleet` task (read from
 * deno.json, so the permissions and flags are the ones shipped), the reference programs of
 * `tools/bench/`, and the original Python engine.
 *
 * Every process's output is read as it comes (the engine logs at `info`, and a log line costs
 * what it costs only when someone reads it) and thrown away, except its last few kilobytes for
 * error messages and a count of the bytes.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** The repository's root directory, with a trailing slash. */
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

const KEPT_OUTPUT_CHARS = 16_384;

/** The `deno run` arguments of a task of deno.json (without the leading `deno`). */
export async function taskArgs(task: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}deno.json`));
  const entry: unknown = config.tasks?.[task];
  const line = typeof entry === "object" && entry !== null
    ? (entry as { command?: unknown }).command
    : entry;
  if (typeof line !== "string") throw new Error(`deno.json has no task "${task}"`);
  const words = line.split(/\s+/).filter((word) => word !== "");
  if (words[0] !== "deno") throw new Error(`The ${task} task does not start with deno: ${line}`);
  return words.slice(1);
}

/** How to start a process. */
export interface ProcessSpec {
  /** A short name for messages, e.g. `engine` or `python`. */
  readonly label: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env?: Record<string, string>;
  /** Pipe standard input (for programs driven by lines on stdin). */
  readonly stdin?: boolean;
}

/** A running process whose output is drained as it comes. */
export class BenchProcess {
  /** `performance.now()` just before the process was spawned. */
  readonly startedAt: number;
  readonly label: string;
  #tail = "";
  #outputBytes = 0;
  #exited: Deno.CommandStatus | null = null;
  readonly #child: Deno.ChildProcess;
  readonly #status: Promise<Deno.CommandStatus>;
  readonly #pumps: Promise<void>[];
  readonly #lineWaiters = new Set<(line: string) => void>();
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array> | null;
  readonly #cleanups: (() => Promise<void>)[] = [];

  private constructor(spec: ProcessSpec) {
    this.label = spec.label;
    this.startedAt = performance.now();
    this.#child = new Deno.Command(spec.command, {
      args: [...spec.args],
      cwd: spec.cwd ?? REPO_ROOT,
      env: { ...passThroughEnv(), NO_COLOR: "1", ...spec.env },
      clearEnv: true,
      stdin: spec.stdin === true ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = spec.stdin === true ? this.#child.stdin.getWriter() : null;
    this.#status = this.#child.status.then((status) => this.#exited = status);
    this.#pumps = [this.#pump(this.#child.stdout), this.#pump(this.#child.stderr)];
  }

  /** Spawns a process. */
  static spawn(spec: ProcessSpec): BenchProcess {
    return new BenchProcess(spec);
  }

  /** The process id (of the program itself: no shell in between). */
  get pid(): number {
    return this.#child.pid;
  }

  /** Bytes the process wrote to stdout and stderr so far. */
  get outputBytes(): number {
    return this.#outputBytes;
  }

  /** The last few kilobytes of its output. */
  get tail(): string {
    return this.#tail;
  }

  /** Whether it has exited. */
  get exited(): boolean {
    return this.#exited !== null;
  }

  /** Runs `cleanup` after the process has ended (e.g. removes its state directory). */
  onDispose(cleanup: () => Promise<void>): void {
    this.#cleanups.push(cleanup);
  }

  /** Writes a line to its standard input (spawned with `stdin: true`). */
  async writeLine(line: string): Promise<void> {
    if (this.#stdin === null) throw new Error(`${this.label} was started without stdin`);
    await this.#stdin.write(new TextEncoder().encode(`${line}\n`));
  }

  /** Waits for an output line that `match` accepts; fails after `timeoutMs` or at exit. */
  async waitForLine(match: (line: string) => boolean, timeoutMs: number): Promise<string> {
    let found: (line: string) => void = () => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await new Promise<string>((resolve, reject) => {
        found = (line) => {
          if (match(line)) resolve(line);
        };
        this.#lineWaiters.add(found);
        timer = setTimeout(
          () => reject(this.#failure(`no such line within ${timeoutMs} ms`)),
          timeoutMs,
        );
        this.#status.then(() => reject(this.#failure("it exited")));
      });
    } finally {
      this.#lineWaiters.delete(found);
      clearTimeout(timer);
    }
  }

  /** An error about this process, with the end of its output. */
  #failure(what: string): Error {
    const code = this.#exited === null ? "" : ` (exit code ${this.#exited.code})`;
    return new Error(`${this.label}: ${what}${code}; its output ended with:\n${this.#tail}`);
  }

  /** Fails with the end of the output when the process has exited (call while waiting). */
  checkAlive(): void {
    if (this.#exited !== null) throw this.#failure("it exited");
  }

  /** Stops the process (SIGTERM, then SIGKILL after `graceMs`; 0: SIGKILL) and cleans up. */
  async dispose(graceMs = 2_000): Promise<void> {
    if (this.#exited === null) {
      this.#signal(graceMs === 0 ? "SIGKILL" : "SIGTERM");
      const timer = setTimeout(() => this.#signal("SIGKILL"), graceMs);
      await this.#status;
      clearTimeout(timer);
    }
    await this.#stdin?.close().catch(() => {});
    await Promise.all(this.#pumps);
    for (const cleanup of this.#cleanups) await cleanup().catch(() => {});
  }

  #signal(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of stream) {
      this.#outputBytes += chunk.length;
      const text = decoder.decode(chunk, { stream: true });
      this.#tail = (this.#tail + text).slice(-KEPT_OUTPUT_CHARS);
      if (this.#lineWaiters.size === 0) {
        partial = "";
        continue;
      }
      const lines = (partial + text).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        for (const waiter of this.#lineWaiters) waiter(line);
      }
    }
  }
}

/** What deno and python need to find their caches; nothing of the engine's own settings. */
export function passThroughEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "LANG"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Ports handed out so far: never hand out one twice, even when the kernel offers it again. */
const handedOut = new Set<number>();

/** Picks a free TCP port on loopback that no earlier call returned. */
export function freePort(): number {
  for (;;) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** Waits `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Starts a single engine as `deno task start` does, with a fresh state directory of its own. */
export async function startEngine(label: string, args: readonly string[]): Promise<BenchProcess> {
  const stateDir = `state/bench-${crypto.randomUUID().slice(0, 8)}`;
  const process = BenchProcess.spawn({
    label,
    command: Deno.execPath(),
    args: [...(await taskArgs("start")), "--state-dir", stateDir, ...args],
  });
  process.onDispose(() => Deno.remove(`${REPO_ROOT}${stateDir}`, { recursive: true }));
  return process;
}

/**
 * Starts a fleet as `deno task fleet` does (`args` after `fleet`), in a consumer group of its own:
 * the default group is named after the first and last point, so two fleets of the same size
 * would share one (and a killed one's membership would hold up the next one's join).
 */
export async function startFleet(label: string, args: readonly string[]): Promise<BenchProcess> {
  return BenchProcess.spawn({
    label,
    command: Deno.execPath(),
    args: [
      ...(await taskArgs("fleet")),
      "--group-id",
      `bench-fleet-${crypto.randomUUID()}`,
      ...args,
    ],
  });
}

/** Starts one of the reference programs of `tools/bench/` (`script` is its file name there). */
export function startReference(
  label: string,
  script: string,
  args: readonly string[],
  options: { stdin?: boolean } = {},
): BenchProcess {
  return BenchProcess.spawn({
    label,
    command: Deno.execPath(),
    args: [
      "run",
      "--no-prompt",
      "--allow-net",
      "--allow-env",
      `${REPO_ROOT}tools/bench/${script}`,
      ...args,
    ],
    ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
  });
}
