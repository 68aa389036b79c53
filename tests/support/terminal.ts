/**
 * Runs the engine in a real pseudo-terminal (tmux, on a private server socket) exactly as
 * `deno task start` does, types keys at it and reads the screen back with `capture-pane`.
 *
 * The engine runs under a small `sh` wrapper that records the terminal mode (`stty -g`) before
 * and after, and prints `engine exited <code>, terminal restored|changed` when it ends, so a test
 * can check both the exit code and that raw mode was given back.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { startTaskArgs } from "./engine_process.ts";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SESSION = "engine";
const POLL_MS = 100;

// `trap` keeps the wrapper alive when Ctrl+C reaches the whole foreground group (console off);
// the engine still gets SIGINT with its default disposition.
const WRAPPER = `trap 'true' INT
before=$(stty -g)
"$@"
code=$?
after=$(stty -g)
if [ "$before" = "$after" ]; then terminal=restored; else terminal=changed; fi
printf '\\nengine exited %s, terminal %s\\n' "$code" "$terminal"
exec sleep 600`;

/** Whether tmux is installed (the terminal tests need it; CI installs it). */
export function tmuxAvailable(): boolean {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Options of {@linkcode TerminalEngine.start}. */
export interface TerminalOptions {
  /** Terminal size (default 100 x 30). */
  readonly columns?: number;
  readonly rows?: number;
  /** Extra environment of the engine (NO_COLOR is not set unless given here). */
  readonly env?: Record<string, string>;
  /**
   * The whole command to run instead of the start task's engine (e.g. `bash tools/bootstrap.sh
   * dev`); `args` are appended to it.
   */
  readonly command?: readonly string[];
}

/** An engine running in its own tmux pane. */
export class TerminalEngine {
  readonly #socket: string;
  readonly #dir: string;

  private constructor(dir: string) {
    this.#dir = dir;
    this.#socket = `${dir}/tmux.sock`;
  }

  /** Starts `deno task start`'s command with `args` in a new tmux pane. */
  static async start(args: string[], options: TerminalOptions = {}): Promise<TerminalEngine> {
    if (!tmuxAvailable()) {
      throw new Error("tmux is not installed (apt-get install tmux): the console tests need it");
    }
    const dir = await Deno.makeTempDir({ prefix: "engine-terminal-" });
    const terminal = new TerminalEngine(dir);
    const env: Record<string, string> = { TERM: "xterm-256color", ...options.env };
    for (const name of ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"]) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    const engine = options.command === undefined
      ? [Deno.execPath(), ...(await startTaskArgs()), ...args]
      : [...options.command, ...args];
    try {
      await terminal.#tmux(["-f", "/dev/null", "new-session", "-d", "-s", "idle"], env);
      await terminal.#tmux([
        "new-session",
        "-d",
        "-s",
        SESSION,
        "-x",
        String(options.columns ?? 100),
        "-y",
        String(options.rows ?? 30),
        "-c",
        REPO_ROOT,
        "--",
        "sh",
        "-c",
        WRAPPER,
        "sh",
        ...engine,
      ], env);
    } catch (error) {
      await terminal.dispose();
      throw error;
    }
    return terminal;
  }

  /** Presses keys, as tmux names them (`P`, `Enter`, `Escape`, `C-c`). */
  async press(...keys: string[]): Promise<void> {
    await this.#tmux(["send-keys", "-t", SESSION, ...keys]);
  }

  /** Types `text` literally. */
  async type(text: string): Promise<void> {
    await this.#tmux(["send-keys", "-t", SESSION, "-l", text]);
  }

  /**
   * The visible screen as text; with `colours`, with the SGR escape sequences; with `history`,
   * the lines scrolled off the top too.
   */
  async screen(colours = false, history = false): Promise<string> {
    const args = ["capture-pane", "-p", "-t", SESSION];
    if (colours) args.push("-e");
    if (history) args.push("-S", "-");
    return await this.#tmux(args);
  }

  /** Waits until the screen matches `what`; returns that screen, or fails after `timeoutMs`. */
  async waitForScreen(
    what: string | RegExp | ((screen: string) => boolean),
    timeoutMs = 15_000,
    colours = false,
  ): Promise<string> {
    const matches = (screen: string) =>
      typeof what === "string"
        ? screen.includes(what)
        : what instanceof RegExp
        ? what.test(screen)
        : what(screen);
    const deadline = Date.now() + timeoutMs;
    let screen = "";
    while (Date.now() < deadline) {
      screen = await this.screen(colours);
      if (matches(screen)) return screen;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    throw new Error(
      `Timed out after ${timeoutMs} ms waiting for ${what} on the screen:\n${screen}`,
    );
  }

  /**
   * Waits for the engine to end; returns its exit code, whether the terminal mode it found was
   * restored, and whether the cursor is visible again.
   */
  async exited(
    timeoutMs = 15_000,
  ): Promise<{ code: number; terminalRestored: boolean; cursorVisible: boolean }> {
    const screen = await this.waitForScreen(/engine exited \d+, terminal \w+/, timeoutMs);
    const match = /engine exited (\d+), terminal (\w+)/.exec(screen)!;
    const cursor = await this.#tmux(["display-message", "-p", "-t", SESSION, "#{cursor_flag}"]);
    return {
      code: Number(match[1]),
      terminalRestored: match[2] === "restored",
      cursorVisible: cursor.trim() === "1",
    };
  }

  /** Stops tmux (and with it the engine, by SIGHUP) and removes the socket directory. */
  async dispose(): Promise<void> {
    try {
      await this.#tmux(["kill-server"]);
    } catch {
      // Not running.
    }
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  async #tmux(args: string[], env?: Record<string, string>): Promise<string> {
    const output = await new Deno.Command("tmux", {
      args: ["-S", this.#socket, ...args],
      ...(env === undefined ? {} : { env, clearEnv: true }),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    if (!output.success) {
      throw new Error(`tmux ${args[0]} failed: ${decoder.decode(output.stderr).trim()}`);
    }
    return decoder.decode(output.stdout);
  }
}
