/**
 * End to end: the engine as a separate process (exactly as `deno task start` runs it), a real
 * Kafka broker, this test playing Central (commands in, events out) and the Monitor (TCP probes).
 */
import assert from "node:assert/strict";
import { brokerAddress, CentralDouble, uniqueTopics } from "./support/kafka.ts";
import { engineArgs, EngineProcess, freePort } from "./support/engine_process.ts";
import { health, waitForHealth } from "./support/health.ts";

const TARIFF = 0.42;

function close(a: number, b: number, epsilon: number): boolean {
  return Math.abs(a - b) <= epsilon;
}

Deno.test({
  name: "the engine walks Central's and the Monitor's whole conversation over real Kafka and TCP",
  async fn(t) {
    const broker = await brokerAddress();
    const topics = uniqueTopics("e2e");
    const cpId = `CP_E2E_${crypto.randomUUID().slice(0, 6)}`;
    const healthPort = freePort();
    const central = await CentralDouble.start(broker, topics);
    const engine = await EngineProcess.start([
      ...engineArgs({ cpId, broker, healthPort, topics }),
      "--location",
      "Lab 1",
      "--max-power",
      "50",
      "--tariff",
      String(TARIFF),
      "--progress-interval",
      "1",
      "--time-scale",
      "60",
      "--seed",
      "7",
    ]);
    const send = (command: Record<string, unknown>) => central.send({ cp_id: cpId, ...command });
    try {
      await t.step("registers with every data key, then goes offline -> available", async () => {
        await central.waitForStatus("available");
        const [registration] = central.seen("CP_REGISTRATION");
        assert.ok(registration, "a CP_REGISTRATION was published");
        assert.equal(registration["action"], "connect");
        assert.equal(registration["status"], "offline");
        assert.equal(registration["cp_id"], cpId);
        assert.equal(registration["engine_id"], cpId);
        assert.deepEqual(registration["data"], {
          location: "Lab 1",
          localizacion: "Lab 1",
          max_kw: 50,
          max_power_kw: 50,
          tarifa_kwh: TARIFF,
          tariff_per_kwh: TARIFF,
          price_eur_kwh: TARIFF,
          status: "offline",
          estado: "offline",
        });
        const registrationIndex = central.events.findIndex((event) =>
          event.value["event_type"] === "CP_REGISTRATION"
        );
        const firstStatus = central.events.findIndex((event) =>
          event.value["event_type"] === "cp_status_change"
        );
        assert.ok(registrationIndex < firstStatus, "registration comes before any status");
        const [ready] = central.seen("cp_status_change");
        assert.equal(ready?.["previous_status"], "offline");
        assert.equal(await health(healthPort), "OK");
        for (const event of central.events) assert.equal(event.key, cpId, "keyed by cp_id");
      });

      await t.step(
        "charging_started -> charging, rising progress priced at the tariff",
        async () => {
          const before = central.statuses().length;
          await send({
            event_type: "charging_started",
            action: "charging_started",
            username: "alice",
            user_id: 7,
            client_id: "driver-7",
          });
          await central.waitForStatus("charging", before);
          await central.waitFor(
            "two progress messages",
            () => central.seen("charging_progress").length >= 2,
          );
          const progress = central.seen("charging_progress");
          const [first, second] = progress;
          assert.ok(first && second);
          assert.equal(first["username"], "alice");
          assert.equal(first["user_id"], 7);
          assert.ok((second["energy_kwh"] as number) > (first["energy_kwh"] as number));
          for (const sample of progress) {
            const energy = sample["energy_kwh"] as number;
            assert.ok(
              close(sample["cost"] as number, energy * TARIFF, 0.006),
              "cost = energy x tariff",
            );
            const power = sample["power_kw"] as number;
            assert.ok(power >= 0 && power <= 50 * 0.95 + 0.01, `power ${power} within the maximum`);
          }
        },
      );

      /** Where the events after the end of alice's session start (checked one step later). */
      let afterStop = 0;
      await t.step("charging_stopped -> available, and no ticket from the engine", async () => {
        const before = central.statuses().length;
        await send({ event_type: "charging_stopped", action: "charging_stopped" });
        await central.waitForStatus("available", before);
        assert.equal(central.seen("charging_completed").length, 0);
        afterStop = central.events.length;
      });

      await t.step(
        "CP_ERROR_SIMULATED fault -> KO; CP_ERROR_FIXED -> OK and available",
        async () => {
          const before = central.statuses().length;
          await send({
            event_type: "CP_ERROR_SIMULATED",
            error_type: "overheat",
            new_status: "fault",
          });
          await waitForHealth(healthPort, "KO");
          await central.waitForStatus("fault", before);
          // The engine publishes in order: what it sent between the end of the last session and
          // this fault has arrived by now, and none of it may be that session's progress.
          assert.deepEqual(
            central.events.slice(afterStop).filter((event) =>
              event.value["event_type"] === "charging_progress"
            ),
            [],
            "no progress after the end",
          );
          await send({ event_type: "CP_ERROR_FIXED", action: "cp_error_fixed" });
          await waitForHealth(healthPort, "OK");
          await central.waitForStatus("available", before + 1);
        },
      );

      await t.step(
        "CP_STOP during a session -> ticket (stopped_by_central), then out_of_service",
        async () => {
          const before = central.statuses().length;
          await send({
            event_type: "charging_started",
            action: "charging_started",
            username: "bob",
            user_id: null,
          });
          await central.waitForStatus("charging", before);
          await central.waitFor(
            "progress for bob",
            () => central.seen("charging_progress").some((event) => event["username"] === "bob"),
          );
          await send({
            event_type: "CP_STOP",
            action: "stop",
            new_status: "out_of_service",
            reason: "maintenance",
          });
          await central.waitForStatus("out_of_service", before + 1);
          const [ticket] = central.seen("charging_completed");
          assert.ok(ticket, "a charging_completed was published");
          assert.equal(ticket["reason"], "stopped_by_central");
          assert.equal(ticket["username"], "bob");
          assert.equal(ticket["user_id"], null);
          assert.ok(Number.isInteger(ticket["duration_sec"]));
          const bobProgress = central.seen("charging_progress").filter((event) =>
            event["username"] === "bob"
          );
          const lastEnergy = bobProgress.at(-1)?.["energy_kwh"] as number;
          assert.ok(
            (ticket["energy_kwh"] as number) >= lastEnergy,
            "ticket energy >= last progress",
          );
          const ticketIndex = central.events.findIndex((event) =>
            event.value["event_type"] === "charging_completed"
          );
          const outIndex = central.events.findIndex((event) =>
            event.value["status"] === "out_of_service"
          );
          assert.ok(ticketIndex < outIndex, "the ticket comes before out_of_service");
        },
      );

      await t.step(
        "charging_started while out_of_service is refused and the status re-sent",
        async () => {
          const before = central.statuses().length;
          await send({
            event_type: "charging_started",
            action: "charging_started",
            username: "carol",
            user_id: 3,
          });
          await central.waitFor("the re-sent status", () => central.statuses().length > before);
          assert.equal(central.statuses().at(-1), "out_of_service");
        },
      );

      await t.step("CP_RESUME -> available", async () => {
        const before = central.statuses().length;
        await send({ event_type: "CP_RESUME", action: "resume", reason: "done" });
        await central.waitForStatus("available", before);
        assert.equal(await health(healthPort), "OK");
      });

      await t.step(
        "CP_UNPLUG during a session -> ticket (unplugged_by_user) and available",
        async () => {
          const before = central.statuses().length;
          await send({
            event_type: "charging_started",
            action: "charging_started",
            username: "dave",
            user_id: 4,
          });
          await central.waitForStatus("charging", before);
          await send({ event_type: "CP_UNPLUG", action: "unplug" });
          await central.waitFor(
            "dave's ticket",
            () => central.seen("charging_completed").some((event) => event["username"] === "dave"),
          );
          const ticket = central.seen("charging_completed").find((event) =>
            event["username"] === "dave"
          );
          assert.equal(ticket?.["reason"], "unplugged_by_user");
          await central.waitForStatus("available", before + 1);
        },
      );

      /** Where the events after the malformed messages start (checked one step later). */
      let afterMalformed = 0;
      await t.step(
        "a command for another cp id and malformed messages change nothing",
        async () => {
          const count = central.events.length;
          afterMalformed = count;
          await central.send({ cp_id: "SOMEONE_ELSE", event_type: "CP_FAULT", action: "fault" });
          await central.sendRaw("this is not json");
          await central.sendRaw("[1, 2, 3]");
          await send({ event_type: "CP_STOP", action: "stop", reason: 12 });
          await send({ event_type: "charging_started", action: "charging_started", username: 5 });
          await engine.waitForOutput("username");
          assert.equal(await health(healthPort), "OK");
          assert.match(engine.output, /Rejected a message on the command topic: not JSON/);
          assert.match(engine.output, /reason/);
        },
      );

      await t.step(
        "SIGTERM mid-session -> ticket (engine_shutdown), offline, exit code 0",
        async () => {
          const before = central.statuses().length;
          await send({
            event_type: "charging_started",
            action: "charging_started",
            username: "erin",
            user_id: 5,
          });
          await central.waitForStatus("charging", before);
          // Barrier for the step before: erin's `charging` is the first event after the
          // malformed messages, so they published nothing.
          const next = central.events[afterMalformed]?.value;
          assert.equal(next?.["event_type"], "cp_status_change", "nothing was published");
          assert.equal(next?.["status"], "charging", "nothing was published");
          await central.waitFor(
            "progress for erin",
            () => central.seen("charging_progress").some((event) => event["username"] === "erin"),
          );
          const signalledAt = performance.now();
          engine.signal("SIGTERM");
          assert.equal(await engine.exited(10_000), 0, engine.output);
          assert.ok(performance.now() - signalledAt < 5_500, "shut down within 5 s");
          await central.waitFor(
            "erin's ticket",
            () => central.seen("charging_completed").some((event) => event["username"] === "erin"),
          );
          const ticket = central.seen("charging_completed").find((event) =>
            event["username"] === "erin"
          );
          assert.equal(ticket?.["reason"], "engine_shutdown");
          await central.waitForStatus("offline", before + 1);
          const ids = central.events.map((event) => event.value["message_id"]);
          assert.equal(new Set(ids).size, ids.length, "every message_id is unique");
        },
      );
    } finally {
      await engine.dispose();
      await central.close();
    }
  },
});

Deno.test({
  name: "a health port already in use gives one clear line and exit code 1",
  async fn() {
    const broker = await brokerAddress();
    const topics = uniqueTopics("port");
    const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (blocker.addr as Deno.NetAddr).port;
    const engine = await EngineProcess.start([
      ...engineArgs({ cpId: "CP_PORT", broker, healthPort: port, topics }),
    ]);
    try {
      assert.equal(await engine.exited(30_000), 1, engine.output);
      assert.match(engine.output, new RegExp(`health port ${port}.*already in use`));
    } finally {
      blocker.close();
      await engine.dispose();
    }
  },
});

Deno.test({
  name: "a bad flag gives one line naming flag, value and expectation, and exit code 2",
  async fn() {
    const engine = await EngineProcess.start(["--max-power", "abc"]);
    try {
      assert.equal(await engine.exited(), 2);
      const lines = engine.output.trim().split("\n");
      assert.equal(lines.length, 1, engine.output);
      assert.match(lines[0]!, /--max-power/);
      assert.match(lines[0]!, /abc/);
      assert.match(lines[0]!, /positive number of kW/);
    } finally {
      await engine.dispose();
    }
  },
});
