/**
 * Talking to an engine's web panel from the tests and tools: JSON requests, `/metrics` read by a
 * real parser of the Prometheus text format, waiting for a condition, and the headless Chromium
 * the browser tests drive (Debian's package, through `playwright-core`).
 *
 * @module
 */
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { brokerAddress, CentralDouble, uniqueTopics } from "./kafka.ts";
import { engineArgs, EngineProcess, freePort } from "./engine_process.ts";

/** An answer of the panel: its status and its JSON body. */
export interface JsonAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly headers: Headers;
}

/** `fetch` of `url`, answer read as JSON (every answer of the panel's API is JSON). */
export async function requestJson(url: string, init: RequestInit = {}): Promise<JsonAnswer> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(
      `${init.method ?? "GET"} ${url} answered ${response.status} with non-JSON: ${text}`,
    );
  }
  return { status: response.status, body, headers: response.headers };
}

/** POSTs `body` as JSON to `url`. */
export function postJson(url: string, body: unknown): Promise<JsonAnswer> {
  return requestJson(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** One sample of a metric: its labels and value. */
export interface MetricSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** What `/metrics` said, by metric family; histograms as their parsed buckets. */
export class MetricsScrape {
  readonly #families: Map<string, { type: string; metrics: ParsedMetric[] }>;

  constructor(text: string) {
    const parsed = parsePrometheusTextFormat(text) as {
      name: string;
      type: string;
      metrics: ParsedMetric[];
    }[];
    this.#families = new Map(parsed.map((family) => [family.name, family]));
  }

  /** The value of `name` with `labels` (0 when the family has no such sample). */
  value(name: string, labels: Readonly<Record<string, string>> = {}): number {
    const family = this.#families.get(name);
    if (family === undefined) throw new Error(`/metrics has no ${name}`);
    const sample = family.metrics.find((metric) =>
      Object.entries(labels).every(([key, wanted]) => metric.labels?.[key] === wanted)
    );
    return sample?.value === undefined ? 0 : Number(sample.value);
  }

  /** Every sample of `name`, by the value of `label`. */
  byLabel(name: string, label: string): Record<string, number> {
    const family = this.#families.get(name);
    if (family === undefined) throw new Error(`/metrics has no ${name}`);
    return Object.fromEntries(
      family.metrics.map((metric) => [metric.labels?.[label] ?? "", Number(metric.value)]),
    );
  }

  /** The histogram `name`: its count and cumulative buckets by upper bound. */
  histogram(name: string): { count: number; sum: number; buckets: Record<string, number> } {
    const metric = this.#families.get(name)?.metrics[0];
    if (metric?.buckets === undefined) throw new Error(`/metrics has no histogram ${name}`);
    return {
      count: Number(metric.count),
      sum: Number(metric.sum),
      buckets: Object.fromEntries(
        Object.entries(metric.buckets).map(([bound, count]) => [bound, Number(count)]),
      ),
    };
  }
}

interface ParsedMetric {
  readonly value?: string;
  readonly labels?: Record<string, string>;
  readonly buckets?: Record<string, string>;
  readonly count?: string;
  readonly sum?: string;
}

/** Reads `/metrics` of the panel at `base` (e.g. `http://127.0.0.1:8080`). */
export async function scrapeMetrics(base: string): Promise<MetricsScrape> {
  const response = await fetch(`${base}/metrics`);
  const text = await response.text();
  if (!response.ok) throw new Error(`/metrics answered ${response.status}: ${text}`);
  const type = response.headers.get("content-type") ?? "";
  if (!type.startsWith("text/plain; version=0.0.4")) {
    throw new Error(`/metrics has content type ${type}, not the Prometheus text format`);
  }
  return new MetricsScrape(text);
}

/**
 * Checks `condition` every `intervalMs` until it holds (returns its value), or fails after
 * `timeoutMs` naming `what` and the last value or error seen.
 */
export async function waitUntil<T>(
  what: string,
  condition: () => Promise<T | null | false> | T | null | false,
  timeoutMs = 15_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await condition();
      if (value !== null && value !== false) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Where Debian's Chromium is (`apt-get install chromium`; CI installs it). */
export const CHROMIUM = "/usr/bin/chromium";

/** The flags the browser tests run Chromium with: headless, no network of its own. */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A headless Chromium with a fresh profile; `close` removes the profile too. */
export async function launchChromium(
  viewport = { width: 1280, height: 720 },
): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium)`,
    );
  }
  const profile = await Deno.makeTempDir({ prefix: "ev-cp-engine-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS],
    viewport,
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * A state directory under `./state` (where the engine may write) that lives in memory
 * (`/dev/shm`): for fleets whose test or benchmark is about the web panel, not about the disk (a
 * 1,000-point fleet commits 2,000 times a second, which a busy shared disk cannot keep up with).
 * Falls back to a plain directory where there is no `/dev/shm`.
 */
export async function memoryStateDir(
  label: string,
): Promise<{ arg: string; remove(): Promise<void> }> {
  const name = `test-${label}-${crypto.randomUUID().slice(0, 8)}`;
  const link = new URL(`../../state/${name}`, import.meta.url).pathname;
  await Deno.mkdir(new URL("../../state/", import.meta.url), { recursive: true });
  let memory: string | null = null;
  try {
    memory = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "ev-cp-engine-" });
    await Deno.symlink(memory, link);
  } catch {
    memory = null;
  }
  return {
    arg: `./state/${name}`,
    remove: async () => {
      await Deno.remove(link, { recursive: true }).catch(() => {});
      if (memory !== null) await Deno.remove(memory, { recursive: true }).catch(() => {});
    },
  };
}

/** The folder where the browser tests keep their screenshots (gitignored). */
export const ARTEFACTS_DIR = new URL("../../test-artefacts/", import.meta.url);

/** What {@linkcode measurePage} reads from a page. */
export interface PageFigures {
  /** The JS heap in use, MB. */
  readonly heapMb: number;
  readonly domNodes: number;
  /** Share of the wall time the page's main thread was busy, %. */
  readonly busyPercent: number;
  /** Animation frames seen, and their rate. */
  readonly frames: number;
  readonly framesPerSecond: number;
  /** Frame times (the gap between two frames), ms. */
  readonly frameP50: number;
  readonly frameP95: number;
  readonly frameP99: number;
  readonly frameMax: number;
}

/**
 * The page's own measure over `ms`, through the Chrome DevTools Protocol: main-thread time,
 * memory, and frame times from a `requestAnimationFrame` loop (shared by the browser test and
 * `deno task web-bench`).
 */
export async function measurePage(page: Page, ms: number): Promise<PageFigures> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable");
  const read = async () =>
    Object.fromEntries(
      (await cdp.send("Performance.getMetrics")).metrics.map((metric) => [
        metric.name,
        metric.value,
      ]),
    );
  const before = await read();
  // Runs in the page (a string: tests and tools are type-checked without the DOM's types).
  const frames = await page.evaluate<number[]>(`new Promise((resolve) => {
    const gaps = [];
    let last = performance.now();
    const end = last + ${ms};
    const frame = (now) => {
      gaps.push(now - last);
      last = now;
      if (now < end) requestAnimationFrame(frame);
      else resolve(gaps);
    };
    requestAnimationFrame(frame);
  })`);
  const after = await read();
  await cdp.detach();
  const sorted = [...frames].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return {
    heapMb: after["JSHeapUsedSize"]! / 2 ** 20,
    domNodes: after["Nodes"]!,
    busyPercent: (after["TaskDuration"]! - before["TaskDuration"]!) / (ms / 1000) * 100,
    frames: frames.length,
    framesPerSecond: frames.length / (ms / 1000),
    frameP50: at(0.5),
    frameP95: at(0.95),
    frameP99: at(0.99),
    frameMax: sorted[sorted.length - 1]!,
  };
}

/**
 * A test engine (`deno task start`'s permissions, no console, `--time-scale 60`) with its web
 * panel on a free loopback port, and a Central double on its own topics; `extra` adds flags.
 */
export async function engineWithPanel(label: string, extra: string[] = []) {
  const broker = await brokerAddress();
  const topics = uniqueTopics(label);
  const cpId = `CP_WEB_${crypto.randomUUID().slice(0, 6)}`;
  const healthPort = freePort();
  const httpPort = freePort();
  const central = await CentralDouble.start(broker, topics);
  const engine = await EngineProcess.start([
    ...engineArgs({ cpId, broker, healthPort, topics }),
    "--no-console",
    "--http-port",
    String(httpPort),
    "--time-scale",
    "60",
    ...extra,
  ]);
  return { central, engine, cpId, healthPort, httpPort, base: `http://127.0.0.1:${httpPort}` };
}
