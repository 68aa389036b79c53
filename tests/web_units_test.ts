/**
 * The web panel's pure parts and its live feed, without a network: the action requests and the
 * commands they become, the metrics counters and their Prometheus text (read back by a real
 * parser of the format), and the feed's batching (one message a second with only the points that
 * changed), on a fake clock.
 */
import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { MetricsCollector } from "../src/app/metrics.ts";
import type { OutboundEvent } from "../src/app/ports.ts";
import type { EngineSnapshot, PointControl } from "../src/app/view.ts";
import type { Command } from "../src/domain/charge_point.ts";
import type { DecodedCommand } from "../src/protocol/commands.ts";
import {
  BadActionRequest,
  parseActionRequest,
  planAction,
  visiblyChanged,
} from "../src/adapters/web/actions.ts";
import { LiveFeed } from "../src/adapters/web/feed.ts";
import { renderMetrics } from "../src/adapters/web/prometheus.ts";
import { pointRow } from "../src/adapters/web/rows.ts";
import { PAGE_SCRIPT } from "../src/adapters/web/assets/page_script.ts";
import { PAGE_HTML } from "../src/adapters/web/assets/page_html.ts";
import { portOf } from "./support/fake_clock.ts";
import { engineSnapshot } from "./support/snapshot.ts";

function snapshot(overrides: Partial<EngineSnapshot> = {}): EngineSnapshot {
  return engineSnapshot(overrides);
}

const SESSION = {
  id: "s1",
  username: "alice",
  userId: null,
  supplying: true,
  energyKwh: 1.23456,
  costEur: 0.370368,
  powerKw: 20.126,
  elapsedSeconds: 61.7,
};

/** A point whose snapshot the test sets, and whose listeners the test calls. */
class FakePoint implements PointControl {
  readonly applied: { command: Command | DecodedCommand; source: string }[] = [];
  readonly #listeners = new Set<() => void>();
  constructor(public current: EngineSnapshot) {}
  snapshot(): EngineSnapshot {
    return this.current;
  }
  apply(command: Command | DecodedCommand, source: "kafka" | "console" | "engine"): void {
    this.applied.push({ command, source });
  }
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  get listeners(): number {
    return this.#listeners.size;
  }
  change(overrides: Partial<EngineSnapshot>): void {
    this.current = { ...this.current, ...overrides };
    for (const listener of this.#listeners) listener();
  }
}

Deno.test("an action request names a known action, its points and, for a session, a user", async (t) => {
  await t.step("one point from the URL", () => {
    assert.deepEqual(parseActionRequest({ action: "fault" }, "CP_1"), {
      action: "fault",
      points: ["CP_1"],
      user: null,
    });
  });
  await t.step("a selection, repeats dropped, with the session's user trimmed", () => {
    assert.deepEqual(
      parseActionRequest({ action: "start_session", points: ["A", "B", "A"], user: " bob " }),
      { action: "start_session", points: ["A", "B"], user: "bob" },
    );
  });
  const bad: [string, unknown, string | undefined, RegExp][] = [
    ["not an object", [1], undefined, /JSON object/],
    ["an unknown action", { action: "explode", points: ["A"] }, undefined, /"action" must be/],
    ["no points", { action: "fault" }, undefined, /"points" must be a non-empty array/],
    ["points that are not ids", { action: "fault", points: [1] }, undefined, /strings/],
    ["points beside a URL's point", { action: "fault", points: ["A"] }, "A", /URL names/],
    ["a session without a user", { action: "start_session", points: ["A"] }, undefined, /"user"/],
    [
      "a user with a control character",
      { action: "start_session", user: "a\u0007b" },
      "A",
      /control/,
    ],
    ["a user too long", { action: "start_session", user: "x".repeat(65) }, "A", /1 to 64/],
  ];
  for (const [what, body, point, message] of bad) {
    await t.step(`refused: ${what}`, () => {
      assert.throws(() => parseActionRequest(body, point), (error: unknown) => {
        assert.ok(error instanceof BadActionRequest);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("each action becomes the console's command; a manual session needs an idle available point", async (t) => {
  const idle = snapshot();
  const cases: [string, Command | DecodedCommand][] = [
    ["plug_in", { type: "plug_in" }],
    ["unplug", { type: "unplug" }],
    ["fault", { type: "fault" }],
    ["recover", { type: "recover" }],
    ["stop_service", { type: "stop", reason: "Stopped from the web panel" }],
    ["resume_service", { type: "resume", reason: "Resumed from the web panel" }],
    [
      "start_session",
      {
        type: "charging_started",
        driver: { username: "alice", userId: null, clientId: null },
      },
    ],
  ];
  for (const [action, command] of cases) {
    await t.step(action, () => {
      assert.deepEqual(
        planAction(action as Parameters<typeof planAction>[0], idle, "alice"),
        { kind: "apply", command },
      );
    });
  }
  await t.step("no session on a point in fault, nor on one already charging", () => {
    assert.deepEqual(planAction("start_session", snapshot({ status: "fault" }), "a"), {
      kind: "refuse",
      message: "no session while the point is fault",
    });
    assert.deepEqual(
      planAction("start_session", snapshot({ status: "charging", session: SESSION }), "a"),
      { kind: "refuse", message: "a session for alice is in progress" },
    );
  });
  await t.step("a change an operator sees: status, health, vehicle, session", () => {
    assert.equal(visiblyChanged(idle, snapshot()), false);
    assert.equal(visiblyChanged(idle, snapshot({ status: "fault", health: "KO" })), true);
    assert.equal(visiblyChanged(idle, snapshot({ vehiclePluggedIn: true })), true);
  });
});

Deno.test("a point's row rounds its figures as charging_progress does and names the Monitor's state", () => {
  const row = pointRow(snapshot({
    status: "charging",
    session: SESSION,
    lastProbeAt: 5,
    monitorWatching: true,
  }));
  assert.deepEqual(row, {
    id: "CP_001",
    location: "Lab",
    maxPowerKw: 22,
    status: "charging",
    health: "OK",
    pluggedIn: false,
    lastProbeAt: 5,
    monitor: "watching",
    centralAwaySince: null,
    user: "alice",
    supplying: true,
    energyKwh: 1.235,
    costEur: 0.37,
    powerKw: 20.13,
    elapsedSeconds: 61,
  });
  assert.equal(pointRow(snapshot({ lastProbeAt: 1 })).monitor, "probed");
  assert.equal(pointRow(snapshot({ monitorLost: true, lastProbeAt: 1 })).monitor, "lost");
  assert.equal(pointRow(snapshot()).monitor, "none");
});

function event(type: string, extra: Record<string, unknown> = {}): OutboundEvent {
  return {
    topic: "cp-events",
    key: "CP_001",
    value: { message_id: crypto.randomUUID(), event_type: type, timestamp: 1, ...extra },
  };
}

Deno.test("the metrics count what the bus delivered and the probes answered, and read as Prometheus text", async (t) => {
  const clock = FakeTimers.createClock(100_000);
  const metrics = new MetricsCollector(portOf(clock));
  metrics.kafkaConnected();
  metrics.kafkaConnected();
  metrics.accepted(event("cp_status_change"));
  metrics.accepted(event("charging_completed"));
  metrics.delivered([
    event("cp_status_change"),
    event("charging_completed", { reason: "fault", energy_kwh: 1.5, cost: 0.45 }),
    event("charging_completed", { reason: "unplugged_by_user", energy_kwh: 2.25, cost: 0.68 }),
  ]);
  metrics.commandHandled(100_000 - 3); // 3 ms
  metrics.commandHandled(100_000 - 700); // 0.7 s
  metrics.commandHandled(Number.NaN); // no timestamp: counted as 0 s
  const probed = metrics.countProbes({ healthAnswer: () => "KO", onProbe: () => {} });
  probed.healthAnswer();
  probed.healthAnswer();
  const points = [
    new FakePoint(snapshot({ status: "charging", session: SESSION })),
    new FakePoint(snapshot({ cpId: "CP_002", status: "fault", health: "KO" })),
  ];
  const reading = metrics.read(points, { connected: true, backlog: 4 });
  const text = renderMetrics(reading, { actions: { fault: 2 }, liveClients: 1, feedSeconds: 0.25 });
  const families = new Map(
    (parsePrometheusTextFormat(text) as {
      name: string;
      type: string;
      metrics: {
        value?: string;
        labels?: Record<string, string>;
        buckets?: Record<string, string>;
      }[];
    }[]).map((family) => [family.name, family]),
  );
  const value = (name: string, labels: Record<string, string> = {}) => {
    const family = families.get(name);
    assert.ok(family, `${name} is exposed`);
    const sample = family.metrics.find((metric) =>
      Object.entries(labels).every(([key, wanted]) => metric.labels?.[key] === wanted)
    );
    assert.ok(sample, `${name} ${JSON.stringify(labels)} has a sample`);
    return Number(sample.value);
  };

  await t.step("points by status and health, sessions in progress", () => {
    assert.equal(value("evcp_points", { status: "charging" }), 1);
    assert.equal(value("evcp_points", { status: "fault" }), 1);
    assert.equal(value("evcp_points", { status: "available" }), 0);
    assert.equal(value("evcp_points_health_ko"), 1);
    assert.equal(value("evcp_sessions_active"), 1);
    assert.equal(value("evcp_energy_in_progress_kwh"), SESSION.energyKwh);
  });
  await t.step("tickets delivered: sessions by reason, their energy and cost", () => {
    assert.equal(value("evcp_sessions_completed_total", { reason: "fault" }), 1);
    assert.equal(value("evcp_sessions_completed_total", { reason: "unplugged_by_user" }), 1);
    assert.equal(value("evcp_energy_delivered_kwh_total"), 3.75);
    assert.ok(Math.abs(value("evcp_revenue_eur_total") - 1.13) < 1e-9);
  });
  await t.step("events queued and published by type, the backlog, Kafka's link", () => {
    assert.equal(value("evcp_events_queued_total", { event_type: "charging_completed" }), 1);
    assert.equal(value("evcp_events_published_total", { event_type: "charging_completed" }), 2);
    assert.equal(value("evcp_events_published_total", { event_type: "cp_status_change" }), 1);
    assert.equal(value("evcp_outbox_backlog"), 4);
    assert.equal(value("evcp_kafka_connected"), 1);
    assert.equal(value("evcp_kafka_reconnects_total"), 1);
  });
  await t.step("probes by answer, the panel's actions and pages", () => {
    assert.equal(value("evcp_health_probes_total", { answer: "KO" }), 2);
    assert.equal(value("evcp_health_probes_total", { answer: "OK" }), 0);
    assert.equal(value("evcp_panel_actions_total", { action: "fault" }), 2);
    assert.equal(value("evcp_panel_live_clients"), 1);
    assert.equal(value("evcp_panel_feed_seconds_total"), 0.25);
  });
  await t.step("the command latency histogram: cumulative buckets, sum and count", () => {
    const family = families.get("evcp_command_latency_seconds")!;
    assert.equal(family.type, "HISTOGRAM");
    const histogram = family.metrics[0]!;
    assert.equal(histogram.buckets?.["0.005"], "2");
    assert.equal(histogram.buckets?.["0.5"], "2");
    assert.equal(histogram.buckets?.["1"], "3");
    assert.equal(histogram.buckets?.["+Inf"], "3");
    assert.equal(value("evcp_commands_handled_total"), 3);
  });
  await t.step("label values are escaped", () => {
    const odd = renderMetrics(reading, {
      actions: { 'a"b\\c\nd': 1 },
      liveClients: 0,
      feedSeconds: 0,
    });
    assert.match(odd, /evcp_panel_actions_total\{action="a\\"b\\\\c\\nd"\} 1/);
    const parsed = parsePrometheusTextFormat(odd) as {
      name: string;
      metrics: { labels?: Record<string, string> }[];
    }[];
    const actions = parsed.find((family) => family.name === "evcp_panel_actions_total");
    assert.equal(actions?.metrics[0]?.labels?.["action"], 'a"b\\c\nd');
  });
});

/** Reads server-sent events from `stream` as `{event, data}`. */
function sseReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    async next(): Promise<{ event: string; data: string } | { comment: string }> {
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(":")) return { comment: block.slice(1).trim() };
          const lines = block.split("\n");
          const event = lines.find((line) => line.startsWith("event: "))?.slice(7) ?? "message";
          const data = lines.find((line) => line.startsWith("data: "))?.slice(6) ?? "";
          return { event, data };
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("the feed ended");
        buffer += value;
      }
    },
    cancel: () => reader.cancel(),
  };
}

Deno.test("the live feed sends every point first, then once a second only the points whose row changed", async (t) => {
  const fake = FakeTimers.createClock(1_000_000);
  const clock = portOf(fake);
  const logger = {
    debug() {},
    info() {},
    warn() {},
    error() {},
    with() {
      return logger;
    },
  };
  const points = [1, 2, 3].map((n) => new FakePoint(snapshot({ cpId: `CP_00${n}` })));
  const link = { connected: true, backlog: 0 };
  const feed = new LiveFeed(points, link, { clock, logger }, {
    keepAliveMs: 5_000,
    meta: { version: "test" },
  });

  await t.step("nothing is watched before a page connects", () => {
    assert.deepEqual(points.map((point) => point.listeners), [0, 0, 0]);
  });

  const page = sseReader(feed.connect()!);
  await t.step("a page gets every point at once", async () => {
    const first = await page.next();
    assert.ok("event" in first && first.event === "snapshot");
    const message = JSON.parse(first.data);
    assert.deepEqual(message.points.map((row: { id: string }) => row.id), [
      "CP_001",
      "CP_002",
      "CP_003",
    ]);
    assert.deepEqual(message.meta, { version: "test" });
    assert.deepEqual(points.map((point) => point.listeners), [1, 1, 1]);
  });

  await t.step("many changes of one point within a second make one row in one update", async () => {
    points[1]!.change({ status: "charging", session: { ...SESSION, energyKwh: 0.1 } });
    points[1]!.change({ session: { ...SESSION, energyKwh: 0.2 } });
    points[1]!.change({ session: { ...SESSION, energyKwh: 0.3 } });
    fake.tick(1_000);
    const update = await page.next();
    assert.ok("event" in update && update.event === "update");
    const rows = JSON.parse(update.data).points;
    assert.equal(rows.length, 1);
    assert.equal(rows[0].id, "CP_002");
    assert.equal(rows[0].energyKwh, 0.3);
  });

  await t.step(
    "a notification that changes nothing visible sends nothing; silence keeps alive",
    async () => {
      points[0]!.change({});
      fake.tick(5_000);
      const next = await page.next();
      assert.deepEqual(next, { comment: "keep-alive" });
    },
  );

  await t.step("the Kafka link's change is sent even when no point changed", async () => {
    link.connected = false;
    fake.tick(1_000);
    const update = await page.next();
    assert.ok("event" in update);
    const message = JSON.parse(update.data);
    assert.deepEqual(message.kafka, { connected: false, backlog: 0 });
    assert.deepEqual(message.points, []);
  });

  await t.step("when the last page leaves, nothing is watched and no timer runs", async () => {
    await page.cancel();
    assert.deepEqual(points.map((point) => point.listeners), [0, 0, 0]);
    assert.equal(fake.countTimers(), 0);
    assert.equal(feed.clients, 0);
  });

  await t.step("a closed feed takes no page", () => {
    feed.close();
    assert.equal(feed.connect(), null);
  });
});

Deno.test("the page's script is plain JavaScript that parses, and the page loads only its own files", () => {
  assert.doesNotThrow(() => new Function(PAGE_SCRIPT));
  assert.doesNotMatch(PAGE_SCRIPT, /\$\{/);
  const sources = [...PAGE_HTML.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
  assert.deepEqual(sources.sort(), [
    "#points",
    "/healthz",
    "/metrics",
    "/panel.css",
    "/panel.js",
    "data:,",
  ]);
});
