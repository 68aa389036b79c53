/**
 * Logging for the engine: one place that knows about the logging library, so that moving to
 * another one (for example `@std/log`) touches only this file.
 *
 * Messages use LogTape's `{placeholder}` syntax; the properties also appear as fields in the
 * JSON format, so that a log pipeline can filter on `cp_id`, `status`, and so on.
 *
 * @module
 */
import {
  configure,
  type ConsoleFormatter,
  getConsoleSink,
  getLogger,
  type Logger,
  type LogLevel,
  type LogRecord,
  reset,
  type Sink,
} from "@logtape/logtape";

export type { Logger, LogLevel, LogRecord, Sink };

/** The log levels a user can pick with `--log-level`. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;
/** The log formats a user can pick with `--log-format`. */
export const LOG_FORMATS = ["text", "json"] as const;

/** A user's choice of log level (`--log-level`). */
export type EngineLogLevel = (typeof LOG_LEVELS)[number];
/** A user's choice of log format (`--log-format`). */
export type EngineLogFormat = (typeof LOG_FORMATS)[number];

/** Root category of every logger of this program. */
export const ROOT_CATEGORY = "ev-cp-engine";

/** Returns the logger for a part of the engine, e.g. `engineLogger("kafka")`. */
export function engineLogger(...category: string[]): Logger {
  return getLogger([ROOT_CATEGORY, ...category]);
}

function renderMessage(record: LogRecord): string {
  return record.message.map((part) => typeof part === "string" ? part : stringify(part)).join("");
}

function stringify(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return value.message;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

const LEVEL_LABEL: Record<LogLevel, string> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO ",
  warning: "WARN ",
  error: "ERROR",
  fatal: "FATAL",
};

/** `2026-11-28T18:19:30.082Z INFO  [CP_001] Kafka connected` */
export function textFormatter(record: LogRecord): string {
  const time = new Date(record.timestamp).toISOString();
  const cpId = record.properties["cp_id"];
  const prefix = typeof cpId === "string" ? `[${cpId}] ` : "";
  return `${time} ${LEVEL_LABEL[record.level]} ${prefix}${renderMessage(record)}`;
}

/** One JSON object per line: time, level, logger, message and the record's properties. */
export function jsonFormatter(record: LogRecord): string {
  const properties: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record.properties)) {
    properties[key] = value instanceof Error ? value.message : value;
  }
  return JSON.stringify({
    time: new Date(record.timestamp).toISOString(),
    level: record.level,
    logger: record.category.join("."),
    message: renderMessage(record),
    ...properties,
  });
}

/** The formatter for a `--log-format` choice. */
export function formatterFor(format: EngineLogFormat): (record: LogRecord) => string {
  return format === "json" ? jsonFormatter : textFormatter;
}

/** Options of {@linkcode setupLogging}. */
export interface LoggingOptions {
  level: EngineLogLevel;
  format: EngineLogFormat;
  /** Where lines go; the console (stderr for warnings and errors) when omitted. */
  sink?: Sink;
}

/**
 * Configures logging for the whole process. Logging is process-wide by nature (one stderr),
 * so this is the one piece of global state: call it once from `main.ts` or a test.
 */
export async function setupLogging(options: LoggingOptions): Promise<void> {
  const formatter: ConsoleFormatter = (record) => [formatterFor(options.format)(record)];
  const sink = options.sink ?? getConsoleSink({ formatter });
  await configure({
    reset: true,
    sinks: { main: sink },
    loggers: [
      { category: [ROOT_CATEGORY], lowestLevel: options.level, sinks: ["main"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
    ],
  });
}

/** Undoes {@linkcode setupLogging} (tests). */
export async function resetLogging(): Promise<void> {
  await reset();
}

/** A sink that keeps records in memory, for tests that assert on what was logged. */
export function memorySink(): Sink & { records: LogRecord[]; messages(): string[] } {
  const records: LogRecord[] = [];
  const sink = (record: LogRecord) => {
    records.push(record);
  };
  return Object.assign(sink, {
    records,
    messages: () => records.map(renderMessage),
  });
}
