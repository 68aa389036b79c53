/**
 * The web panel: one HTTP server (`Deno.serve`) in the engine's process, on `--http-port`, for
 * one point or a whole fleet. It serves the page (its HTML, CSS and script are string modules
 * in `assets/`, inside the program, its bundle and its binaries: no file is read at run time),
 * the live feed (`/events`, see `feed.ts`), the console's actions (`POST .../actions`), the
 * metrics (`/metrics`, Prometheus text) and a health summary (`/healthz`, JSON).
 *
 * Bad requests get a 4xx answer with a JSON `{"error": "..."}` saying what is expected; a failure
 * while answering is a 500 for that request, never the end of the server.
 *
 * Requests that act (POST) must be JSON (`Content-Type: application/json`), which a form on
 * another site cannot send without the browser asking first, and a browser's `Origin`, when
 * given, must be this server's. Bound to loopback (the default), the server also refuses `Host`
 * names that are not loopback, so a web page cannot reach it through DNS rebinding.
 *
 * @module
 */
import type { MetricsCollector } from "../../app/metrics.ts";
import {
  type BusStatus,
  type Clock,
  type Logger,
  type PanelListener,
  PortInUseError,
} from "../../app/ports.ts";
import type { PointControl } from "../../app/view.ts";
import { type Status, STATUSES } from "../../domain/charge_point.ts";
import {
  type ActionRequest,
  type ActionResult,
  BadActionRequest,
  parseActionRequest,
  planAction,
  visiblyChanged,
} from "./actions.ts";
import { PAGE_HTML } from "./assets/page_html.ts";
import { PAGE_CSS } from "./assets/page_css.ts";
import { PAGE_SCRIPT } from "./assets/page_script.ts";
import { LiveFeed, type LiveFeedOptions } from "./feed.ts";
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "./prometheus.ts";
import { kafkaLink, pointRow } from "./rows.ts";
import { ensurePortFree, portOpenError } from "../port_check.ts";

/** The web panel's port could not be opened because something already uses it. */
export class WebPortInUseError extends PortInUseError {
  /** Builds the error for `hostname:port`; `cause` is the operating system's error. */
  constructor(hostname: string, port: number, options?: ErrorOptions) {
    super(
      `Cannot open the web panel's port ${port} on ${hostname}: the address is already in use ` +
        `(is another engine running? pick another --http-port)`,
      hostname,
      port,
      options,
    );
    this.name = "WebPortInUseError";
  }
}

/** Where and how the panel serves. */
export interface WebPanelOptions {
  /** `--http-host`: `127.0.0.1` by default. */
  readonly hostname: string;
  /** `--http-port`; 0 lets the operating system pick one. */
  readonly port: number;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The process's counters, for `/metrics` (none: `/metrics` answers 404). */
  readonly metrics: MetricsCollector | null;
  /** The engine's version, in `/healthz`. */
  readonly version: string;
  /** The user a manual session is proposed for (`--local-user`), or null. */
  readonly localUser: string | null;
  /** Pacing of the live feed (tests shorten it). */
  readonly feed?: LiveFeedOptions;
}

/** Longest request body taken (an action on 10,000 points fits). */
const MAX_BODY_BYTES = 256 * 1024;

/** Headers of every answer: nothing from elsewhere, no framing, no sniffing. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; " +
    "frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

/** A request refused with a status and a message. */
class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: HeadersInit = {}) {
    super(message);
  }
}

/** The panel's server; create it with {@linkcode WebPanel.listen}. */
export class WebPanel implements PanelListener {
  /** The address listened on. */
  readonly hostname: string;
  /** The port actually listened on. */
  readonly port: number;

  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #options: WebPanelOptions;
  readonly #points: readonly PointControl[];
  readonly #byId: ReadonlyMap<string, PointControl>;
  readonly #bus: BusStatus;
  readonly #feed: LiveFeed;
  readonly #log: Logger;
  readonly #startedAt: number;
  readonly #loopbackOnly: boolean;
  readonly #actions: Record<string, number> = {};
  #closed: Promise<void> | null = null;

  private constructor(
    options: WebPanelOptions,
    points: readonly PointControl[],
    bus: BusStatus,
  ) {
    this.#options = options;
    this.#points = points;
    this.#byId = new Map(points.map((point) => [point.snapshot().cpId, point]));
    this.#bus = bus;
    this.#log = options.logger;
    this.#startedAt = options.clock.now();
    this.#loopbackOnly = isLoopback(options.hostname);
    this.#feed = new LiveFeed(points, bus, options, {
      ...options.feed,
      meta: {
        localUser: options.localUser,
        version: options.version,
        statuses: STATUSES,
      },
    });
    try {
      this.#server = Deno.serve({
        hostname: options.hostname,
        port: options.port,
        onListen: () => {},
        onError: (error) => this.#failed(error),
      }, (request) => this.#handle(request));
    } catch (error) {
      throw portOpenError(
        error,
        "the web panel's port",
        options,
        (cause) => new WebPortInUseError(options.hostname, options.port, { cause }),
      );
    }
    this.hostname = this.#server.addr.hostname;
    this.port = this.#server.addr.port;
  }

  /**
   * Opens the panel for `points` and starts serving.
   *
   * @throws {WebPortInUseError} when the port is already in use.
   */
  static listen(
    options: WebPanelOptions,
    points: readonly PointControl[],
    bus: BusStatus,
  ): WebPanel {
    const panel = new WebPanel(options, points, bus);
    const host = panel.hostname.includes(":") ? `[${panel.hostname}]` : panel.hostname;
    panel.#log.info("Web panel on http://{host}:{port}/ (metrics /metrics, health /healthz)", {
      host,
      port: panel.port,
    });
    if (!panel.#loopbackOnly) {
      panel.#log.warn(
        "The web panel listens on {host}, not loopback: whoever reaches port {port} can act on " +
          "the points",
        { host: panel.hostname, port: panel.port },
      );
    }
    return panel;
  }

  /**
   * Checks that the panel's port can be opened, before start-up registers anything (port 0 is
   * always free); the port is opened for good later, by {@linkcode WebPanel.listen}.
   *
   * @throws {WebPortInUseError} when something already listens there.
   */
  static ensureFree(address: { readonly hostname: string; readonly port: number }): void {
    ensurePortFree(
      address,
      (cause) => new WebPortInUseError(address.hostname, address.port, { cause }),
    );
  }

  /** Ends the live feeds, stops listening and waits for requests in flight. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#feed.close();
      await this.#server.shutdown();
      this.#log.info("Web panel on port {port} closed", { port: this.port });
    })();
    return this.#closed;
  }

  async #handle(request: Request): Promise<Response> {
    try {
      return await this.#route(request);
    } catch (error) {
      if (error instanceof HttpError) {
        return json({ error: error.message }, error.status, error.headers);
      }
      if (error instanceof BadActionRequest) return json({ error: error.message }, 400);
      return this.#failed(error);
    }
  }

  #failed(error: unknown): Response {
    this.#log.error("The web panel failed to answer a request: {error}", { error });
    return json({ error: "internal error: see the engine's log" }, 500);
  }

  async #route(request: Request): Promise<Response> {
    const url = new URL(request.url);
    this.#checkHost(request, url);
    const path = url.pathname;
    const method = request.method;
    const get = method === "GET" || method === "HEAD";
    switch (path) {
      case "/":
      case "/index.html":
        requireGet(get);
        return asset(PAGE_HTML, "text/html; charset=utf-8");
      case "/panel.css":
        requireGet(get);
        return asset(PAGE_CSS, "text/css; charset=utf-8");
      case "/panel.js":
        requireGet(get);
        return asset(PAGE_SCRIPT, "text/javascript; charset=utf-8");
      case "/events":
        requireGet(get);
        return this.#events();
      case "/metrics":
        requireGet(get);
        return this.#metrics();
      case "/healthz":
        requireGet(get);
        return this.#health();
      case "/api/points":
        requireGet(get);
        return json({
          now: this.#options.clock.now(),
          kafka: kafkaLink(this.#bus),
          points: this.#points.map((point) => pointRow(point.snapshot())),
        });
      case "/api/actions":
        requirePost(method);
        return this.#act(parseActionRequest(await this.#readJson(request, url)));
    }
    const match = /^\/api\/points\/([^/]+)(\/actions)?$/.exec(path);
    if (match !== null) {
      const id = decodeSegment(match[1]!);
      if (match[2] === undefined) {
        requireGet(get);
        const point = this.#byId.get(id);
        if (point === undefined) throw new HttpError(404, `no charging point ${id} here`);
        return json(pointRow(point.snapshot()));
      }
      requirePost(method);
      if (!this.#byId.has(id)) throw new HttpError(404, `no charging point ${id} here`);
      return this.#act(parseActionRequest(await this.#readJson(request, url), id));
    }
    throw new HttpError(404, `nothing at ${path.slice(0, 100)}: see / for the panel`);
  }

  /** Loopback servers answer loopback names only (no DNS rebinding). */
  #checkHost(request: Request, url: URL): void {
    if (!this.#loopbackOnly) return;
    const host = request.headers.get("host");
    if (host === null) return;
    const name = url.hostname.replace(/^\[|\]$/g, "");
    if (!isLoopback(name) && name !== "localhost") {
      throw new HttpError(
        403,
        `host ${name.slice(0, 100)} is not served: the panel listens on loopback only ` +
          `(--http-host)`,
      );
    }
  }

  async #readJson(request: Request, url: URL): Promise<unknown> {
    const type = request.headers.get("content-type") ?? "";
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      throw new HttpError(415, "send the body as JSON (Content-Type: application/json)");
    }
    const origin = request.headers.get("origin");
    if (origin !== null && origin !== url.origin) {
      throw new HttpError(403, `requests from ${origin.slice(0, 100)} may not act on the points`);
    }
    const declared = Number(request.headers.get("content-length") ?? "0");
    if (declared > MAX_BODY_BYTES) {
      throw new HttpError(413, `the body may be at most ${MAX_BODY_BYTES} bytes`);
    }
    const text = await readLimited(request, MAX_BODY_BYTES);
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new HttpError(400, `the body is not JSON: ${(error as Error).message}`);
    }
  }

  #act(request: ActionRequest): Response {
    const unknown = request.points.filter((id) => !this.#byId.has(id));
    if (unknown.length > 0) {
      const shown = unknown.slice(0, 5).join(", ") + (unknown.length > 5 ? ", ..." : "");
      throw new HttpError(404, `no charging point ${shown} here (nothing was done)`);
    }
    const results: ActionResult[] = request.points.map((id) => {
      const point = this.#byId.get(id)!;
      const before = point.snapshot();
      const plan = planAction(request.action, before, request.user);
      if (plan.kind === "refuse") {
        return { point: id, outcome: "refused", status: before.status, message: plan.message };
      }
      point.apply(plan.command, "console");
      const after = point.snapshot();
      if (visiblyChanged(before, after)) {
        return { point: id, outcome: "changed", status: after.status };
      }
      return {
        point: id,
        outcome: "unchanged",
        status: after.status,
        message: `nothing changed: the point is ${after.status}`,
      };
    });
    this.#actions[request.action] = (this.#actions[request.action] ?? 0) + results.length;
    const changed = results.filter((result) => result.outcome === "changed").length;
    this.#log.info("Web panel: {action} on {count} point(s), {changed} changed", {
      action: request.action,
      count: results.length,
      changed,
      ...(results.length === 1 ? { cp_id: results[0]!.point } : {}),
    });
    return json({ action: request.action, results });
  }

  #events(): Response {
    const stream = this.#feed.connect();
    if (stream === null) {
      throw new HttpError(503, "too many pages follow the live feed; try again later", {
        "retry-after": "10",
      });
    }
    return new Response(stream, {
      headers: {
        ...SECURITY_HEADERS,
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
      },
    });
  }

  #metrics(): Response {
    const metrics = this.#options.metrics;
    if (metrics === null) throw new HttpError(404, "metrics are not collected by this process");
    const text = renderMetrics(metrics.read(this.#points, this.#bus), {
      actions: this.#actions,
      liveClients: this.#feed.clients,
      feedSeconds: this.#feed.busySeconds,
    });
    return new Response(text, {
      headers: {
        ...SECURITY_HEADERS,
        "content-type": PROMETHEUS_CONTENT_TYPE,
        "cache-control": "no-store",
      },
    });
  }

  #health(): Response {
    const byStatus = Object.fromEntries(STATUSES.map((status) => [status, 0])) as Record<
      Status,
      number
    >;
    let healthKo = 0;
    for (const point of this.#points) {
      const snapshot = point.snapshot();
      byStatus[snapshot.status]++;
      if (snapshot.health === "KO") healthKo++;
    }
    const kafka = kafkaLink(this.#bus);
    return json({
      // The process serves; without Kafka it is degraded but keeps its events (offline-first):
      // restarting it would not bring Kafka back, so the answer stays 200.
      status: kafka.connected ? "ok" : "degraded",
      version: this.#options.version,
      uptimeSeconds: Math.round((this.#options.clock.now() - this.#startedAt) / 1000),
      kafka,
      points: { total: this.#points.length, byStatus, healthKo },
    });
  }
}

function requireGet(get: boolean): void {
  if (!get) throw new HttpError(405, "only GET is allowed here", { allow: "GET, HEAD" });
}

function requirePost(method: string): void {
  if (method !== "POST") {
    throw new HttpError(405, "only POST is allowed here, with a JSON body", { allow: "POST" });
  }
}

function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      ...SECURITY_HEADERS,
      ...Object.fromEntries(new Headers(headers)),
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}

function asset(text: string, type: string): Response {
  return new Response(text, {
    headers: { ...SECURITY_HEADERS, "content-type": type, "cache-control": "no-cache" },
  });
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, "the point id in the URL is not valid percent-encoding");
  }
}

async function readLimited(request: Request, limit: number): Promise<string> {
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > limit) {
      await reader.cancel().catch(() => {});
      throw new HttpError(413, `the body may be at most ${limit} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, "the body is not UTF-8 text");
  }
}

/** Whether `hostname` is a loopback address (or `localhost`). */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
