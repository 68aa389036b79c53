/**
 * A peer process (Central, a Monitor, the Driver or an engine) started by the harness: its own
 * process group, every output line stamped with the run's clock and written to a log file, and
 * waits on what it prints.
 *
 * Each process runs in a new session (`setsid`), so that a kill reaches everything it started,
 * and with `setpriv --pdeathsig KILL`, so that the kernel kills it if the harness dies. Every
 * process started here is also in {@link LIVE_PROCESSES}, which the harness kills on Ctrl+C.
 *
 * @module
 */
import type { RunClock, RunSeconds } from "./clock.ts";

/** One line a peer printed, stamped when the harness read it. */
export interface LogLine {
  /** Run seconds when the harness read the line. */
  readonly t: RunSeconds;
  /** The line, without its end of line. */
  readonly text: string;
  /** Whether it came from stderr. */
  readonly stderr: boolean;
}

/** How to start a peer process. */
export interface PeerProcessOptions {
  /** Short name used in the evidence, e.g. `central` or `engine CP_001`. */
  readonly name: string;
  /** The executable. */
  readonly program: string;
  /** Its arguments. */
  readonly args: readonly string[];
  /** Its working directory. */
  readonly cwd: string;
  /** Its whole environment (nothing else is passed on). */
  readonly env: Record<string, string>;
  /** The file that receives every line, stamped. */
  readonly logFile: string;
  /** The run's clock. */
  readonly clock: RunClock;
}

/** Every peer process still running, for the harness's Ctrl+C handler. */
export const LIVE_PROCESSES: Set<PeerProcess> = new Set();

let groupSupport: boolean | undefined;

/** Whether `setsid` and `setpriv --pdeathsig` work here (checked once). */
function processGroupsWork(): boolean {
  if (groupSupport !== undefined) return groupSupport;
  try {
    const probe = new Deno.Command("setsid", {
      args: ["setpriv", "--pdeathsig", "KILL", "--", "true"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).outputSync();
    groupSupport = probe.success;
  } catch {
    groupSupport = false;
  }
  return groupSupport;
}

/** A running (or finished) peer process. */
export class PeerProcess {
  readonly name: string;
  readonly logFile: string;
  readonly #child: Deno.ChildProcess;
  readonly #grouped: boolean;
  readonly #clock: RunClock;
  readonly #lines: LogLine[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #log: Deno.FsFile;
  readonly #status: Promise<Deno.CommandStatus>;
  readonly #pumps: Promise<void>;
  #exit: Deno.CommandStatus | undefined;
  /** Run seconds when the process was started. */
  readonly startedAt: RunSeconds;

  private constructor(options: PeerProcessOptions) {
    this.name = options.name;
    this.logFile = options.logFile;
    this.#clock = options.clock;
    this.#grouped = processGroupsWork();
    const wrapped = this.#grouped
      ? ["setsid", ["setpriv", "--pdeathsig", "KILL", "--", options.program, ...options.args]]
      : [options.program, [...options.args]];
    this.#log = Deno.openSync(options.logFile, { create: true, append: true });
    this.#writeLog(
      `# ${options.name}: ${[options.program, ...options.args].join(" ")} (cwd ${options.cwd})`,
    );
    try {
      this.#child = new Deno.Command(wrapped[0] as string, {
        args: wrapped[1] as string[],
        cwd: options.cwd,
        env: options.env,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      this.#log.close();
      throw new Error(
        `Cannot start ${options.name} (${options.program}): ${
          error instanceof Error ? error.message : String(error)
        }`,
      );
    }
    this.startedAt = options.clock.now();
    LIVE_PROCESSES.add(this);
    this.#status = this.#child.status.then((status) => {
      this.#exit = status;
      LIVE_PROCESSES.delete(this);
      for (const wake of this.#waiters) wake();
      return status;
    });
    this.#pumps = Promise.all([
      this.#pump(this.#child.stdout, false),
      this.#pump(this.#child.stderr, true),
    ]).then(() => {});
  }

  /**
   * Starts a peer process.
   *
   * @throws {Error} when the program cannot be started (e.g. not found).
   */
  static start(options: PeerProcessOptions): PeerProcess {
    return new PeerProcess(options);
  }

  /** The process id (also its process group id when groups work here). */
  get pid(): number {
    return this.#child.pid;
  }

  /** Whether the process has not exited yet. */
  get running(): boolean {
    return this.#exit === undefined;
  }

  /** How it exited, once it has. */
  get exitStatus(): Deno.CommandStatus | undefined {
    return this.#exit;
  }

  /** Every line read so far. */
  get lines(): readonly LogLine[] {
    return this.#lines;
  }

  /** The lines read at or after `since` that match `pattern`. */
  find(pattern: RegExp, since: RunSeconds = -Infinity): LogLine[] {
    return this.#lines.filter((line) => line.t >= since && pattern.test(line.text));
  }

  /**
   * Waits until a line read at or after `since` matches `pattern`; resolves to that line, or to
   * `null` after `timeoutMs` or when the process exits without printing one.
   */
  waitForLine(
    pattern: RegExp,
    timeoutMs: number,
    since: RunSeconds = -Infinity,
  ): Promise<LogLine | null> {
    const found = () => this.#lines.find((line) => line.t >= since && pattern.test(line.text));
    const first = found();
    if (first) return Promise.resolve(first);
    return new Promise((resolve) => {
      const done = (line: LogLine | null) => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(line);
      };
      const wake = () => {
        const line = found();
        if (line) done(line);
        else if (!this.running) done(null);
      };
      const timer = setTimeout(() => done(null), timeoutMs);
      this.#waiters.add(wake);
    });
  }

  /** Sends `signal` to the process group (or to the process alone where groups do not work). */
  kill(signal: Deno.Signal): void {
    if (!this.running) return;
    try {
      if (this.#grouped) Deno.kill(-this.pid, signal);
      else this.#child.kill(signal);
    } catch {
      // It exited in the meantime.
    }
  }

  /** Waits for the process to exit (at most `timeoutMs`); resolves to whether it did. */
  async exited(timeoutMs: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.#status.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the process group (SIGKILL), waits for it and its output, and closes the log. */
  async dispose(): Promise<void> {
    this.kill("SIGKILL");
    await this.#status;
    await this.#pumps;
    try {
      this.#log.close();
    } catch {
      // Already closed.
    }
  }

  #writeLog(text: string): void {
    let bytes = new TextEncoder().encode(text + "\n");
    while (bytes.length > 0) bytes = bytes.subarray(this.#log.writeSync(bytes));
  }

  async #pump(stream: ReadableStream<Uint8Array>, stderr: boolean): Promise<void> {
    let pending = "";
    const take = (text: string) => {
      const line: LogLine = { t: this.#clock.now(), text, stderr };
      this.#lines.push(line);
      try {
        this.#writeLog(`${line.t.toFixed(3).padStart(9)} ${stderr ? "E" : "|"} ${text}`);
      } catch {
        // The log is closed: the line stays in memory.
      }
    };
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      for (const part of parts) take(part.replace(/\r$/, ""));
      for (const wake of this.#waiters) wake();
    }
    if (pending !== "") take(pending);
    for (const wake of this.#waiters) wake();
  }
}
