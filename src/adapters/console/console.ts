/**
 * The operator console: the charging point's own screen and keypad, on the terminal the engine
 * runs in. A live panel (status, health, Kafka, Monitor, the session's figures) stays at the
 * bottom and is redrawn in place every second; log lines scroll above it. Single key presses
 * act through the same commands Central's Kafka messages become, so Central sees exactly the
 * events it would see for the same action coming from Kafka.
 *
 * The console exists only when stdin and stdout are both terminals and it is not switched off
 * (`--console off`, `--no-console`, `CONSOLE=false`); otherwise {@linkcode OperatorConsole.create}
 * returns null and nothing ever reads stdin.
 *
 * @module
 */
import type { Command, PlugInMode } from "../../domain/charge_point.ts";
import type { BusStatus, Clock, OperatorView } from "../../app/ports.ts";
import { systemClock } from "../clock.ts";
import type { PointControl } from "../../app/view.ts";
import type { DecodedCommand } from "../../protocol/commands.ts";
import { actionForKey, type ConsoleAction, editPrompt, splitKeys } from "./keys.ts";
import { type PanelLayout, renderPanel, sanitize } from "./panel.ts";
import {
  type EngineLogFormat,
  engineLogger,
  formatterFor,
  type Logger,
  type LogRecord,
  type Sink,
} from "../logging.ts";

/** What the console needs of the engine. */
export type ConsoleEngine = PointControl;

/** What the console shows of the Kafka connection. */
export type ConsoleKafkaStatus = BusStatus;

/** The terminal the console draws on and reads keys from. */
export interface ConsoleTerminal {
  write(text: string): void;
  size(): { columns: number; rows: number };
  setRaw(raw: boolean): void;
  /** Reads raw input; null at end of input. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Calls `listener` when the terminal is resized; returns the unsubscribe. */
  onResize(listener: () => void): () => void;
}

/** How the console is configured. */
export interface OperatorConsoleOptions {
  readonly cpId: string;
  readonly logFormat: EngineLogFormat;
  readonly plugInMode: PlugInMode;
  readonly plugInTimeoutSeconds: number;
  readonly timeScale: number;
  /** User of a manual session (`--local-user`); null: the console asks for one. */
  readonly localUser: string | null;
  /** Whether to use colours (false when `NO_COLOR` is set). */
  readonly color: boolean;
  readonly colors256: boolean;
}

/** The subset of the configuration that decides whether there is a console. */
export interface ConsoleConfig {
  readonly consoleMode: "auto" | "off";
  readonly cpId: string;
  readonly logFormat: EngineLogFormat;
  readonly plugIn: PlugInMode;
  readonly plugInTimeoutSeconds: number;
  readonly timeScale: number;
  readonly localUser: string | null;
}

const REFRESH_MS = 1_000;
const FALLBACK_SIZE = { columns: 80, rows: 24 };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ANSI control sequences used to draw in place without clearing the screen.
const HIDE_CURSOR = "\x1b[?25l";
const SHOW_CURSOR = "\x1b[?25h";
const ERASE_LINE_END = "\x1b[K";
const ERASE_SCREEN_END = "\x1b[J";
/** Synchronized output (terminals that do not know it ignore it): no half-drawn frames. */
const BEGIN_FRAME = "\x1b[?2026h";
const END_FRAME = "\x1b[?2026l";

/** The process's own terminal (stdin for keys, stdout for the panel). */
export const processTerminal: ConsoleTerminal = {
  write(text) {
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
  },
  size() {
    try {
      return Deno.consoleSize();
    } catch {
      return FALLBACK_SIZE;
    }
  },
  setRaw(raw) {
    Deno.stdin.setRaw(raw);
  },
  read(buffer) {
    return Deno.stdin.read(buffer);
  },
  onResize(listener) {
    if (Deno.build.os === "windows") return () => {};
    Deno.addSignalListener("SIGWINCH", listener);
    return () => Deno.removeSignalListener("SIGWINCH", listener);
  },
};

function envFlag(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** The console, with its panel at the bottom of the terminal and its keys. */
export class OperatorConsole implements OperatorView {
  readonly #options: OperatorConsoleOptions;
  readonly #terminal: ConsoleTerminal;
  readonly #clock: Pick<Clock, "now">;
  readonly #log: Logger;
  readonly #format: (record: LogRecord) => string;
  #engine: ConsoleEngine | null = null;
  #kafka: ConsoleKafkaStatus = { connected: false, backlog: 0 };
  #active = false;
  #closed = false;
  #drawnLines = 0;
  #pendingLogs: string[] = [];
  #frameQueued = false;
  #prompt: string | null = null;
  #notice: string | null = null;
  #showHelp = false;
  #quitting = false;
  #resolveQuit: (reason: string) => void = () => {};
  #cleanups: (() => void)[] = [];

  /** Resolves (with what asked for it) when the operator presses `Q` or Ctrl+C. */
  readonly quitRequested: Promise<string>;

  /** Log lines go through here: printed above the panel while it is shown. */
  readonly logSink: Sink = (record) => this.#printLog(this.#format(record));

  constructor(
    options: OperatorConsoleOptions,
    terminal: ConsoleTerminal = processTerminal,
    clock: Pick<Clock, "now"> = systemClock,
  ) {
    this.#options = options;
    this.#terminal = terminal;
    this.#clock = clock;
    this.#format = formatterFor(options.logFormat);
    this.#log = engineLogger("console").with({ cp_id: options.cpId });
    this.quitRequested = new Promise((resolve) => this.#resolveQuit = resolve);
  }

  /**
   * The console for `config`, or null when there must be none: switched off, or stdin or
   * stdout not a terminal (CI, systemd, `docker run` without `-it`). Reads `NO_COLOR`, `TERM`
   * and `COLORTERM` for the colours.
   */
  static create(config: ConsoleConfig): OperatorConsole | null {
    if (config.consoleMode === "off") return null;
    if (!Deno.stdin.isTerminal() || !Deno.stdout.isTerminal()) return null;
    const noColor = envFlag("NO_COLOR");
    const term = `${envFlag("TERM") ?? ""} ${envFlag("COLORTERM") ?? ""}`;
    return new OperatorConsole({
      cpId: config.cpId,
      logFormat: config.logFormat,
      plugInMode: config.plugIn,
      plugInTimeoutSeconds: config.plugInTimeoutSeconds,
      timeScale: config.timeScale,
      localUser: config.localUser,
      color: noColor === undefined || noColor === "",
      colors256: /256|truecolor|24bit/i.test(term),
    });
  }

  /**
   * Shows the panel for `engine` and starts reading keys (raw mode, restored by
   * {@linkcode close}, and also on exit, on an uncaught error and on an unhandled rejection).
   */
  attach(engine: ConsoleEngine, kafka: ConsoleKafkaStatus): void {
    if (this.#active || this.#closed) return;
    this.#engine = engine;
    this.#kafka = kafka;
    this.#active = true;
    try {
      this.#terminal.setRaw(true);
    } catch (error) {
      this.#notice = `Keys unavailable: ${error instanceof Error ? error.message : error}`;
    }
    const restore = () => this.close();
    for (const event of ["unload", "error", "unhandledrejection"]) {
      globalThis.addEventListener(event, restore);
      this.#cleanups.push(() => globalThis.removeEventListener(event, restore));
    }
    this.#cleanups.push(engine.subscribe(() => this.#queueFrame()));
    this.#cleanups.push(this.#terminal.onResize(() => this.#queueFrame()));
    const timer = setInterval(() => this.#draw(), REFRESH_MS);
    this.#cleanups.push(() => clearInterval(timer));
    this.#terminal.write(HIDE_CURSOR);
    this.#draw();
    void this.#readKeys();
  }

  /**
   * Draws the last frame, shows the cursor again and gives the terminal back (cooked mode).
   * Idempotent; log lines after it are printed plainly.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#active) return;
    this.#prompt = null;
    this.#draw();
    this.#active = false;
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
    this.#terminal.write(SHOW_CURSOR);
    try {
      this.#terminal.setRaw(false);
    } catch {
      // stdin is gone: nothing to restore.
    }
  }

  /** Handles raw terminal input (exposed for unit tests; the key loop calls it). */
  handleInput(input: string): void {
    for (const key of splitKeys(input)) this.#handleKey(key);
    this.#queueFrame();
  }

  async #readKeys(): Promise<void> {
    const buffer = new Uint8Array(256);
    // No read after the quit key: a read still waiting for a key when the program ends keeps
    // `deno run --watch` (deno task dev) from seeing that it ended.
    while (this.#active && !this.#quitting) {
      let read: number | null;
      try {
        read = await this.#terminal.read(buffer);
      } catch {
        return;
      }
      if (read === null || !this.#active) return;
      this.handleInput(decoder.decode(buffer.subarray(0, read)));
    }
  }

  #handleKey(key: string): void {
    if (this.#quitting) return;
    if (this.#prompt !== null) {
      this.#editPrompt(key);
      return;
    }
    const action = actionForKey(key);
    if (action === null) {
      if (key.length === 1 && !/\p{C}/u.test(key)) {
        this.#notice = `Key ${key} does nothing: press H for help`;
      }
      return;
    }
    this.#act(action, key);
  }

  #act(action: ConsoleAction, key: string): void {
    const engine = this.#engine;
    if (engine === null) return;
    switch (action) {
      case "plug_in":
        return this.#command({ type: "plug_in" }, "P: vehicle plugged in");
      case "unplug":
        return this.#command({ type: "unplug" }, "U: vehicle unplugged");
      case "fault":
        return this.#command({ type: "fault" }, "F: hardware fault reported");
      case "recover":
        return this.#command({ type: "recover" }, "R: recovered");
      case "service":
        if (engine.snapshot().status === "out_of_service") {
          return this.#command(
            { type: "resume", reason: "Resumed at the point" },
            "S: service resumed",
          );
        }
        return this.#command(
          { type: "stop", reason: "Stopped at the point" },
          "S: service stopped",
        );
      case "manual_session":
        return this.#manualSession(engine);
      case "help":
        this.#showHelp = !this.#showHelp;
        return;
      case "quit":
        return this.#quit(key === "\x03" ? "Ctrl+C" : "key Q");
    }
  }

  #manualSession(engine: ConsoleEngine): void {
    const snapshot = engine.snapshot();
    if (snapshot.session !== null) {
      this.#notice = `M: a session for ${snapshot.session.username} is in progress`;
      return;
    }
    if (snapshot.status !== "available") {
      this.#notice = `M: no session while the point is ${snapshot.status}`;
      return;
    }
    if (this.#options.localUser !== null) {
      this.#startSession(this.#options.localUser);
      return;
    }
    this.#prompt = "";
    this.#notice = null;
  }

  #editPrompt(key: string): void {
    const step = editPrompt(this.#prompt ?? "", key);
    switch (step.kind) {
      case "edit":
        this.#prompt = step.text;
        return;
      case "cancel":
        this.#prompt = null;
        this.#notice = "M: manual session cancelled";
        return;
      case "quit":
        this.#prompt = null;
        return this.#quit("Ctrl+C");
      case "submit":
        this.#prompt = null;
        if (step.text === "") {
          this.#notice = "M: no user name given, no session started";
          return;
        }
        this.#startSession(step.text);
    }
  }

  #startSession(username: string): void {
    this.#command(
      { type: "charging_started", driver: { username, userId: null, clientId: null } },
      `M: manual session for ${username}`,
    );
  }

  #command(command: Command | DecodedCommand, what: string): void {
    this.#notice = what;
    this.#log.info("Console key {what}", { what });
    this.#engine?.apply(command, "console");
  }

  #quit(reason: string): void {
    this.#quitting = true;
    this.#notice = "Shutting down...";
    this.#resolveQuit(reason);
  }

  #printLog(line: string): void {
    const clean = sanitize(line);
    if (!this.#active) {
      this.#terminal.write(`${clean}\n`);
      return;
    }
    this.#pendingLogs.push(clean);
    this.#queueFrame();
  }

  #queueFrame(): void {
    if (this.#frameQueued || !this.#active) return;
    this.#frameQueued = true;
    queueMicrotask(() => {
      this.#frameQueued = false;
      this.#draw();
    });
  }

  /** One frame: back to the panel's first line, new log lines, then the panel again. */
  #draw(): void {
    if (!this.#active || this.#engine === null) return;
    const size = this.#terminal.size();
    const layout: PanelLayout = {
      columns: size.columns,
      rows: size.rows,
      color: this.#options.color,
      colors256: this.#options.colors256,
    };
    const lines = renderPanel({
      snapshot: this.#engine.snapshot(),
      kafka: { connected: this.#kafka.connected, backlog: this.#kafka.backlog },
      now: this.#clock.now(),
      plugInMode: this.#options.plugInMode,
      plugInTimeoutSeconds: this.#options.plugInTimeoutSeconds,
      timeScale: this.#options.timeScale,
      prompt: this.#prompt,
      notice: this.#notice,
      showHelp: this.#showHelp,
    }, layout);
    let frame = BEGIN_FRAME + "\r";
    if (this.#drawnLines > 0) frame += `\x1b[${this.#drawnLines}A`;
    const logs = this.#pendingLogs.splice(0);
    if (logs.length > 0) {
      frame += ERASE_SCREEN_END;
      for (const log of logs) frame += `${log}\r\n`;
    }
    for (const line of lines) frame += `${line}${ERASE_LINE_END}\r\n`;
    frame += ERASE_SCREEN_END + END_FRAME;
    this.#drawnLines = lines.length;
    this.#terminal.write(frame);
  }
}
