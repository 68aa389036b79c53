/**
 * The web panel's live feed (Server-Sent Events): a page that connects gets every point at once
 * (`event: snapshot`), then, once a second, one `event: update` carrying only the points whose
 * row changed since, and the Kafka link. However often a point changes, the page hears about it
 * at most once a second, and a fleet of thousands costs one message a second, not one per change.
 *
 * Nothing is watched while no page is connected: the points' listeners and the timer exist only
 * between the first page's arrival and the last one's departure.
 *
 * @module
 */
import type { BusStatus, Clock, Logger } from "../../app/ports.ts";
import type { PointControl } from "../../app/view.ts";
import { kafkaLink, pointRow } from "./rows.ts";

/** How the feed paces itself. */
export interface LiveFeedOptions {
  /** Milliseconds between two updates (default 1000). */
  readonly intervalMs?: number;
  /** A comment line keeps idle connections open through proxies (default every 15 s). */
  readonly keepAliveMs?: number;
  /** Pages followed at once; beyond it a page is told to come back later (default 64). */
  readonly maxClients?: number;
  /** A page that lets this many bytes pile up unread is dropped (default 8 MiB). */
  readonly maxQueuedBytes?: number;
  /** Sent once to every page with the points (`"meta"` of the snapshot message). */
  readonly meta?: Readonly<Record<string, unknown>>;
}

/** One connected page. */
interface Client {
  readonly controller: ReadableStreamDefaultController<Uint8Array>;
  closed: boolean;
}

const encoder = new TextEncoder();

/** The live feed of `points`. */
export class LiveFeed {
  readonly #points: readonly PointControl[];
  readonly #bus: BusStatus;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #keepAliveTicks: number;
  readonly #maxClients: number;
  readonly #maxQueuedBytes: number;
  readonly #meta: string;
  readonly #clients = new Set<Client>();
  /** Indexes of the points that notified a change since the last update. */
  readonly #dirty = new Set<number>();
  /** The JSON of each point's row as last sent (null: not sent since the feed started). */
  #sent: (string | null)[] = [];
  #unsubscribes: (() => void)[] = [];
  #timer: unknown = null;
  #ticksSinceMessage = 0;
  #lastLink = "";
  #closed = false;
  /** Milliseconds spent building and sending messages (the panel's own cost). */
  #busyMs = 0;

  constructor(
    points: readonly PointControl[],
    bus: BusStatus,
    deps: { readonly clock: Clock; readonly logger: Logger },
    options: LiveFeedOptions = {},
  ) {
    this.#points = points;
    this.#bus = bus;
    this.#clock = deps.clock;
    this.#log = deps.logger;
    this.#intervalMs = options.intervalMs ?? 1_000;
    this.#keepAliveTicks = Math.max(
      1,
      Math.round((options.keepAliveMs ?? 15_000) / this.#intervalMs),
    );
    this.#maxClients = options.maxClients ?? 64;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? 8 * 1024 * 1024;
    this.#meta = JSON.stringify(options.meta ?? {});
  }

  /** Pages connected now. */
  get clients(): number {
    return this.#clients.size;
  }

  /** Seconds the feed has spent building and sending its messages, since it was created. */
  get busySeconds(): number {
    return this.#busyMs / 1000;
  }

  /**
   * A new page's stream: it starts with every point, then gets the updates. Null when the feed
   * is full or closed (the server answers 503).
   */
  connect(): ReadableStream<Uint8Array> | null {
    if (this.#closed || this.#clients.size >= this.#maxClients) return null;
    let client: Client | null = null;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        client = { controller, closed: false };
        if (this.#clients.size === 0) this.#watch();
        this.#clients.add(client);
        // The page reconnects by itself after 2 s if the connection drops.
        this.#send(client, `retry: 2000\nevent: snapshot\ndata: ${this.#snapshotJson()}\n\n`);
      },
      cancel: () => {
        if (client !== null) this.#drop(client);
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 }));
  }

  /** Ends every page's stream and stops watching. */
  close(): void {
    this.#closed = true;
    for (const client of [...this.#clients]) {
      this.#drop(client);
      try {
        client.controller.close();
      } catch {
        // Already closed by the page.
      }
    }
  }

  /** Every point's row, as the snapshot message sends them, remembered as sent. */
  #snapshotJson(): string {
    const started = performance.now();
    const rows = this.#points.map((point, index) => {
      const json = JSON.stringify(pointRow(point.snapshot()));
      this.#sent[index] = json;
      return json;
    });
    this.#dirty.clear();
    const link = JSON.stringify(kafkaLink(this.#bus));
    this.#lastLink = link;
    const json = `{"now":${this.#clock.now()},"meta":${this.#meta},"kafka":${link},` +
      `"points":[${rows.join(",")}]}`;
    this.#busyMs += performance.now() - started;
    return json;
  }

  #watch(): void {
    this.#sent = new Array(this.#points.length).fill(null);
    this.#unsubscribes = this.#points.map((point, index) =>
      point.subscribe(() => this.#dirty.add(index))
    );
    this.#timer = this.#clock.setInterval(() => this.#tick(), this.#intervalMs);
  }

  #unwatch(): void {
    for (const unsubscribe of this.#unsubscribes) unsubscribe();
    this.#unsubscribes = [];
    if (this.#timer !== null) this.#clock.clearInterval(this.#timer);
    this.#timer = null;
    this.#dirty.clear();
  }

  #tick(): void {
    const started = performance.now();
    try {
      this.#update();
    } finally {
      this.#busyMs += performance.now() - started;
    }
  }

  #update(): void {
    const changed: string[] = [];
    for (const index of this.#dirty) {
      const json = JSON.stringify(pointRow(this.#points[index]!.snapshot()));
      if (json === this.#sent[index]) continue;
      this.#sent[index] = json;
      changed.push(json);
    }
    this.#dirty.clear();
    const link = JSON.stringify(kafkaLink(this.#bus));
    let message: string;
    if (changed.length > 0 || link !== this.#lastLink) {
      this.#lastLink = link;
      message = `event: update\ndata: {"now":${this.#clock.now()},"kafka":${link},` +
        `"points":[${changed.join(",")}]}\n\n`;
    } else if (++this.#ticksSinceMessage >= this.#keepAliveTicks) {
      message = ": keep-alive\n\n";
    } else {
      return;
    }
    this.#ticksSinceMessage = 0;
    const bytes = encoder.encode(message);
    for (const client of [...this.#clients]) this.#sendBytes(client, bytes);
  }

  #send(client: Client, text: string): void {
    this.#sendBytes(client, encoder.encode(text));
  }

  #sendBytes(client: Client, bytes: Uint8Array): void {
    if (client.closed) return;
    const queued = -(client.controller.desiredSize ?? 0);
    if (queued > this.#maxQueuedBytes) {
      this.#log.warn("A page of the web panel reads too slowly: its live feed is closed");
      this.#drop(client);
      try {
        client.controller.error(new Error("too slow"));
      } catch {
        // Already gone.
      }
      return;
    }
    try {
      client.controller.enqueue(bytes);
    } catch {
      this.#drop(client);
    }
  }

  #drop(client: Client): void {
    if (client.closed) return;
    client.closed = true;
    this.#clients.delete(client);
    if (this.#clients.size === 0) this.#unwatch();
  }
}
