/**
 * The web panel of a real engine process (`deno task start`'s permissions), against the real
 * broker, over real HTTP: its actions become the same events on the broker as Central's commands
 * and the console's keys, `/metrics` (read by a real Prometheus text parser) counts what the
 * broker saw, bad requests get a 4xx that says why, and the port opens and closes with the engine.
 */
import assert from "node:assert/strict";
import { brokerAddress, CentralDouble, uniqueTopics } from "./support/kafka.ts";
import { engineArgs, EngineProcess, freePort } from "./support/engine_process.ts";
import { health, waitForHealth } from "./support/health.ts";
import { engineWithPanel, postJson, requestJson, scrapeMetrics, waitUntil } from "./support/web.ts";

Deno.test({
  name:
    "the web panel's actions drive real events on the broker, and /metrics counts what the broker saw",
  async fn(t) {
    const { central, engine, cpId, healthPort, base } = await engineWithPanel("web");
    const point = `${base}/api/points/${cpId}`;
    try {
      await t.step("the panel opens after the health port and /healthz says so", async () => {
        await engine.waitForOutput("Web panel on http://127.0.0.1:");
        const healthOpened = engine.output.indexOf("Health server listening");
        assert.ok(healthOpened !== -1 && healthOpened < engine.output.indexOf("Web panel on"));
        // Generous: the suite runs test files side by side on a 2-core machine.
        await central.waitForStatus("available", 0, 60_000);
        const answer = await waitUntil("Kafka linked in /healthz", async () => {
          const healthz = await requestJson(`${base}/healthz`);
          return healthz.body["status"] === "ok" ? healthz : null;
        });
        assert.equal(answer.status, 200);
        assert.deepEqual(answer.body["points"], {
          total: 1,
          byStatus: { available: 1, charging: 0, offline: 0, fault: 0, out_of_service: 0 },
          healthKo: 0,
        });
      });

      await t.step(
        "fault from the panel: cp_status_change fault on the broker, health KO",
        async () => {
          const before = central.statuses().length;
          const answer = await postJson(`${point}/actions`, { action: "fault" });
          assert.equal(answer.status, 200, JSON.stringify(answer.body));
          assert.deepEqual(answer.body["results"], [
            { point: cpId, outcome: "changed", status: "fault" },
          ]);
          await central.waitForStatus("fault", before);
          assert.equal(await health(healthPort), "KO");
          const row = await requestJson(point);
          assert.equal(row.body["status"], "fault");
          assert.equal(row.body["health"], "KO");
        },
      );

      await t.step(
        "fault again changes nothing and says so; no session while in fault",
        async () => {
          const again = await postJson(`${point}/actions`, { action: "fault" });
          assert.equal((again.body["results"] as { outcome: string }[])[0]!.outcome, "unchanged");
          const session = await postJson(`${point}/actions`, {
            action: "start_session",
            user: "alice",
          });
          assert.deepEqual(session.body["results"], [{
            point: cpId,
            outcome: "refused",
            status: "fault",
            message: "no session while the point is fault",
          }]);
        },
      );

      await t.step("recover from the panel, then Central's own command still works", async () => {
        const before = central.statuses().length;
        await postJson(`${point}/actions`, { action: "recover" });
        await central.waitForStatus("available", before);
        await waitForHealth(healthPort, "OK");
      });

      await t.step(
        "a manual session from the panel: charging, progress for its user, ticket",
        async () => {
          const before = central.statuses().length;
          const answer = await postJson(`${point}/actions`, {
            action: "start_session",
            user: "web-alice",
          });
          assert.equal((answer.body["results"] as { outcome: string }[])[0]!.outcome, "changed");
          await central.waitForStatus("charging", before);
          await central.waitFor(
            "progress with energy for web-alice",
            () =>
              central.seen("charging_progress").some((event) =>
                event["username"] === "web-alice" && Number(event["energy_kwh"]) > 0
              ),
          );
          await postJson(`${point}/actions`, { action: "unplug" });
          await central.waitFor("the ticket", () => central.seen("charging_completed").length > 0);
          const ticket = central.seen("charging_completed")[0]!;
          assert.equal(ticket["username"], "web-alice");
          assert.equal(ticket["reason"], "unplugged_by_user");
        },
      );

      await t.step("stop and resume service from the panel", async () => {
        let before = central.statuses().length;
        await postJson(`${point}/actions`, { action: "stop_service" });
        await central.waitForStatus("out_of_service", before);
        before = central.statuses().length;
        await postJson(`${point}/actions`, { action: "resume_service" });
        await central.waitForStatus("available", before);
      });

      await t.step(
        "/metrics counts exactly the events, tickets and energy the broker saw",
        async () => {
          await central.send({ cp_id: cpId, event_type: "CP_INFO", action: "cp_info" });
          const published = () => {
            const counts: Record<string, number> = {};
            for (const { value } of central.events) {
              const type = String(value["event_type"]);
              counts[type] = (counts[type] ?? 0) + 1;
            }
            return counts;
          };
          // The broker's copy and the engine's counters settle at slightly different moments.
          const scrape = await waitUntil("the metrics to match the broker", async () => {
            const metrics = await scrapeMetrics(base);
            const counted = metrics.byLabel("evcp_events_published_total", "event_type");
            return JSON.stringify(sorted(counted)) === JSON.stringify(sorted(published())) &&
                metrics.value("evcp_commands_handled_total") >= 1
              ? metrics
              : null;
          });
          const tickets = central.seen("charging_completed");
          const energy = tickets.reduce((sum, ticket) => sum + Number(ticket["energy_kwh"]), 0);
          assert.ok(energy > 0);
          assert.ok(Math.abs(scrape.value("evcp_energy_delivered_kwh_total") - energy) < 1e-9);
          assert.deepEqual(scrape.byLabel("evcp_sessions_completed_total", "reason"), {
            unplugged_by_user: 1,
          });
          assert.equal(scrape.value("evcp_outbox_backlog"), 0);
          assert.equal(scrape.value("evcp_kafka_connected"), 1);
          assert.equal(scrape.value("evcp_kafka_reconnects_total"), 0);
          assert.equal(scrape.value("evcp_points", { status: "available" }), 1);
          assert.equal(scrape.value("evcp_sessions_active"), 0);
          // fault x2, start_session x2 (one refused), recover, unplug, stop, resume
          assert.deepEqual(scrape.byLabel("evcp_panel_actions_total", "action"), {
            fault: 2,
            recover: 1,
            resume_service: 1,
            start_session: 2,
            stop_service: 1,
            unplug: 1,
          });
          const latency = scrape.histogram("evcp_command_latency_seconds");
          assert.equal(latency.count, scrape.value("evcp_commands_handled_total"));
          assert.equal(latency.buckets["+Inf"], latency.count);
        },
      );

      await t.step("every health probe answered is counted, by answer", async () => {
        const before = await scrapeMetrics(base);
        for (let i = 0; i < 3; i++) assert.equal(await health(healthPort), "OK");
        const after = await scrapeMetrics(base);
        const answered = (scrape: typeof after, answer: string) =>
          scrape.value("evcp_health_probes_total", { answer });
        assert.equal(answered(after, "OK") - answered(before, "OK"), 3);
        assert.equal(answered(after, "KO"), answered(before, "KO"));
      });

      await t.step("bad requests get a 4xx saying why, and the engine goes on", async () => {
        const cases: [string, string, RequestInit, number, RegExp][] = [
          ["an unknown path", "/nope", {}, 404, /nothing at \/nope/],
          ["an unknown point", "/api/points/CP_NONE", {}, 404, /no charging point CP_NONE/],
          ["POST on /metrics", "/metrics", { method: "POST" }, 405, /only GET/],
          ["GET on an action", `/api/points/${cpId}/actions`, {}, 405, /only POST/],
          [
            "a body that is not JSON",
            `/api/points/${cpId}/actions`,
            { method: "POST", headers: { "content-type": "application/json" }, body: "{" },
            400,
            /not JSON/,
          ],
          [
            "a form post",
            `/api/points/${cpId}/actions`,
            { method: "POST", body: "action=fault" },
            415,
            /application\/json/,
          ],
          [
            "an unknown action",
            "/api/actions",
            {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ action: "explode", points: [cpId] }),
            },
            400,
            /"action" must be one of/,
          ],
          [
            "a selection with an unknown point",
            "/api/actions",
            {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ action: "fault", points: [cpId, "CP_GHOST"] }),
            },
            404,
            /CP_GHOST.*nothing was done/,
          ],
          [
            "another site's page",
            `/api/points/${cpId}/actions`,
            {
              method: "POST",
              headers: { "content-type": "application/json", origin: "http://evil.example" },
              body: JSON.stringify({ action: "fault" }),
            },
            403,
            /evil\.example may not act/,
          ],
          [
            "a body too large",
            "/api/actions",
            {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ action: "fault", points: ["x".repeat(300_000)] }),
            },
            413,
            /at most 262144 bytes/,
          ],
        ];
        for (const [what, path, init, status, message] of cases) {
          const answer = await requestJson(`${base}${path}`, init);
          assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer.body)}`);
          assert.match(String(answer.body["error"]), message, what);
        }
        // DNS rebinding: a name that resolves to loopback but is not a loopback name.
        const rebound = await rawRequest(
          Number(new URL(base).port),
          "GET /healthz HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n",
        );
        assert.match(rebound, /^HTTP\/1\.1 403/);
        assert.match(rebound, /attacker\.example is not served/);
        assert.equal((await requestJson(`${base}/healthz`)).status, 200);
        assert.equal(await health(healthPort), "OK", "the point was not faulted by any of them");
      });

      await t.step("the page and its files are served from the program itself", async () => {
        for (
          const [path, type] of [
            ["/", "text/html"],
            ["/panel.css", "text/css"],
            ["/panel.js", "text/javascript"],
          ]
        ) {
          const response = await fetch(`${base}${path}`);
          assert.equal(response.status, 200);
          assert.match(response.headers.get("content-type") ?? "", new RegExp(type!));
          assert.match(response.headers.get("content-security-policy") ?? "", /default-src/);
          await response.body?.cancel();
        }
      });

      await t.step("SIGTERM: exit code 0 and the panel's port is closed", async () => {
        engine.signal("SIGTERM");
        assert.equal(await engine.exited(), 0, engine.output);
        assert.match(engine.output, /Web panel on port \d+ closed/);
        await assert.rejects(fetch(`${base}/healthz`));
      });
    } finally {
      await engine.dispose();
      await central.close();
    }
  },
});

Deno.test({
  name:
    "a web panel port in use: one line naming it and --http-port, exit code 1, nothing registered or left open",
  async fn() {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (taken.addr as Deno.NetAddr).port;
    const broker = await brokerAddress();
    const healthPort = freePort();
    const engine = await EngineProcess.start([
      ...engineArgs({ cpId: "CP_WEB_BUSY", broker, healthPort, topics: uniqueTopics("busy") }),
      "--no-console",
      "--http-port",
      String(port),
    ]);
    try {
      assert.equal(await engine.exited(20_000), 1, engine.output);
      const lines = engine.output.split("\n").filter((line) => /ERROR/.test(line));
      assert.equal(lines.length, 1, engine.output);
      assert.match(
        lines[0]!,
        new RegExp(
          `Cannot open the web panel's port ${port} on 127\\.0\\.0\\.1: the address is already ` +
            "in use .*--http-port",
        ),
      );
      assert.match(await health(healthPort), /no answer/, "no health port is left open");
      assert.doesNotMatch(engine.output, /Auto-registering/, "nothing registered with Central");
    } finally {
      taken.close();
      await engine.dispose();
    }
  },
});

Deno.test({
  name: "without --http-port there is no web panel (it is off by default)",
  async fn() {
    const broker = await brokerAddress();
    const topics = uniqueTopics("noweb");
    const central = await CentralDouble.start(broker, topics);
    const engine = await EngineProcess.start([
      ...engineArgs({ cpId: "CP_NO_WEB", broker, healthPort: freePort(), topics }),
      "--no-console",
    ]);
    try {
      await engine.waitForOutput("Ready");
      assert.doesNotMatch(engine.output, /Web panel/);
      engine.signal("SIGTERM");
      assert.equal(await engine.exited(), 0, engine.output);
    } finally {
      await engine.dispose();
      await central.close();
    }
  },
});

function sorted(counts: Record<string, number>): [string, number][] {
  return Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
}

/** Sends `request` as it is on a TCP connection and returns the whole answer. */
async function rawRequest(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    let text = "";
    const buffer = new Uint8Array(4096);
    for (;;) {
      const read = await conn.read(buffer);
      if (read === null) return text;
      text += new TextDecoder().decode(buffer.subarray(0, read));
    }
  } finally {
    try {
      conn.close();
    } catch {
      // closed by the server
    }
  }
}
