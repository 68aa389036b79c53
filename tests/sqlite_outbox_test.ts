import assert from "node:assert/strict";
import { join } from "node:path";
import {
  DATABASE_FILE,
  SqliteOutbox,
  StateDirError,
} from "../src/adapters/storage/sqlite_store.ts";
import type { OutboundEvent } from "../src/app/ports.ts";
import type { JournaledSession } from "../src/app/ports.ts";

const CP = "CP_T1";
const now = 1_800_000_000_000;
const clock = { now: () => now };

function event(
  eventType: string,
  fields: Record<string, unknown> = {},
  at = now,
): OutboundEvent {
  return {
    topic: "cp-events",
    key: CP,
    value: {
      message_id: crypto.randomUUID(),
      event_type: eventType,
      action: eventType,
      cp_id: CP,
      engine_id: CP,
      timestamp: at / 1000,
      ...fields,
    },
  };
}

function progress(energy: number, at: number, username = "ana"): OutboundEvent {
  return event("charging_progress", { username, user_id: 7, energy_kwh: energy }, at);
}

async function withStateDir(body: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sqlite-outbox-test-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function types(outbox: SqliteOutbox): string[] {
  return outbox.peek(1000).map((stored) => String(stored.event.value.event_type));
}

Deno.test("the sqlite outbox returns events in append order and forgets removed ones", async () => {
  await withStateDir((dir) => {
    const outbox = SqliteOutbox.open(dir, CP, { clock });
    try {
      const appended = [event("CP_REGISTRATION"), event("cp_status_change"), progress(0.1, now)];
      for (const item of appended) outbox.append(item);
      assert.equal(outbox.size(), 3);
      const peeked = outbox.peek(10);
      assert.deepEqual(peeked.map((stored) => stored.event), appended);
      assert.ok(peeked[0]!.seq < peeked[1]!.seq && peeked[1]!.seq < peeked[2]!.seq);
      assert.deepEqual(outbox.peek(2).map((stored) => stored.event), appended.slice(0, 2));
      outbox.remove([peeked[0]!.seq, peeked[2]!.seq]);
      assert.deepEqual(outbox.peek(10).map((stored) => stored.event), [appended[1]]);
      assert.equal(outbox.size(), 1);
    } finally {
      outbox.close();
    }
  });
});

Deno.test("a replaced event keeps its position and its message_id", async () => {
  await withStateDir((dir) => {
    const outbox = SqliteOutbox.open(dir, CP, { clock });
    try {
      outbox.append(event("CP_REGISTRATION"));
      outbox.append(event("cp_status_change", { status: "available" }));
      const [first, second] = outbox.peek(2);
      const restamped = {
        ...first!.event,
        value: { ...first!.event.value, timestamp: now / 1000 + 60 },
      };
      outbox.replace(first!.seq, restamped);
      const after = outbox.peek(2);
      assert.deepEqual(after[0], { seq: first!.seq, event: restamped });
      assert.equal(after[0]!.event.value.message_id, first!.event.value.message_id);
      assert.deepEqual(after[1], second);
    } finally {
      outbox.close();
    }
  });
});

Deno.test("events and the journaled session survive closing and reopening the database", async () => {
  await withStateDir((dir) => {
    const appended = [event("CP_REGISTRATION"), progress(0.5, now)];
    const session: JournaledSession = {
      sessionId: "s-1",
      driver: { username: "ana", userId: 7, clientId: "c-1" },
      origin: "central",
      authorizedAt: now - 10_000,
      supplying: true,
      energyKwh: 0.0512,
      costEur: 0.02,
      powerKw: 19.5,
      suppliedSeconds: 10,
      profile: { maxPowerKw: 22, plateauFraction: 0.9, rampSeconds: 30 },
      publishedEnergyKwh: 0.05,
      journaledAt: now,
    };
    const first = SqliteOutbox.open(dir, CP, { clock });
    for (const item of appended) first.append(item);
    first.save(session);
    first.close();

    const second = SqliteOutbox.open(dir, CP, { clock });
    try {
      assert.deepEqual(second.peek(10).map((stored) => stored.event), appended);
      assert.deepEqual(second.load(), session);
      second.append(event("cp_status_change"));
      assert.deepEqual(types(second), ["CP_REGISTRATION", "charging_progress", "cp_status_change"]);
    } finally {
      second.close();
    }
  });
});

Deno.test("the journal keeps one session, replaced on every save and cleared by its id only", async () => {
  await withStateDir((dir) => {
    const outbox = SqliteOutbox.open(dir, CP, { clock });
    try {
      assert.equal(outbox.load(), null);
      const base = {
        driver: { username: "ana", userId: null, clientId: null },
        origin: "local" as const,
        authorizedAt: now,
        supplying: true,
        costEur: 0,
        powerKw: 1,
        suppliedSeconds: 1,
        profile: { maxPowerKw: 22, plateauFraction: 0.8, rampSeconds: 30 },
        publishedEnergyKwh: 0,
        journaledAt: now,
      };
      outbox.save({ ...base, sessionId: "a", energyKwh: 1 });
      outbox.save({ ...base, sessionId: "a", energyKwh: 2 });
      assert.equal(outbox.load()?.energyKwh, 2);
      outbox.clear("other");
      assert.equal(outbox.load()?.sessionId, "a");
      outbox.clear("a");
      assert.equal(outbox.load(), null);
    } finally {
      outbox.close();
    }
  });
});

Deno.test("atomically commits the outbox and the journal together or not at all", async () => {
  await withStateDir((dir) => {
    const outbox = SqliteOutbox.open(dir, CP, { clock });
    try {
      const session = {
        sessionId: "s",
        driver: { username: "ana", userId: 1, clientId: null },
        origin: "central" as const,
        authorizedAt: now,
        supplying: true,
        energyKwh: 1,
        costEur: 0.3,
        powerKw: 1,
        suppliedSeconds: 1,
        profile: { maxPowerKw: 22, plateauFraction: 0.8, rampSeconds: 30 },
        publishedEnergyKwh: 1,
        journaledAt: now,
      };
      outbox.save(session);
      assert.throws(() =>
        outbox.atomically(() => {
          outbox.append(event("charging_completed"));
          outbox.clear("s");
          throw new Error("crash in the middle");
        }), /crash in the middle/);
      assert.equal(outbox.size(), 0);
      assert.equal(outbox.load()?.sessionId, "s");

      outbox.atomically(() => {
        outbox.append(event("charging_completed"));
        outbox.clear("s");
      });
      assert.deepEqual(types(outbox), ["charging_completed"]);
      assert.equal(outbox.load(), null);
    } finally {
      outbox.close();
    }
  });
});

Deno.test("stale progress collapses to the latest per session; status changes and ends never do", async (t) => {
  await t.step("fresh progress samples are all kept", async () => {
    await withStateDir((dir) => {
      const outbox = SqliteOutbox.open(dir, CP, { clock });
      try {
        for (let i = 0; i < 5; i++) outbox.append(progress(i, now - (5 - i) * 1000));
        assert.equal(outbox.size(), 5);
      } finally {
        outbox.close();
      }
    });
  });

  await t.step(
    "progress older than 30 s is replaced by a newer sample of the same session",
    async () => {
      await withStateDir((dir) => {
        {
          const start = now;
          let time = start;
          const outbox2 = SqliteOutbox.open(dir, "CP_T2", { clock: { now: () => time } });
          try {
            outbox2.append(event("CP_REGISTRATION", {}, start));
            outbox2.append(event("cp_status_change", { status: "charging" }, start));
            // Kafka is away for 90 s while a sample is produced every second.
            for (let i = 0; i < 90; i++) {
              time = start + i * 1000;
              outbox2.append(progress(i, time));
            }
            const waiting = outbox2.peek(1000).map((stored) => stored.event.value);
            assert.deepEqual(waiting.slice(0, 2).map((value) => value.event_type), [
              "CP_REGISTRATION",
              "cp_status_change",
            ]);
            // The samples of the last 30 s (59..89) wait; the older ones were collapsed.
            const energies = waiting.slice(2).map((value) => value["energy_kwh"]);
            assert.deepEqual(energies, Array.from({ length: 31 }, (_, i) => 59 + i));
          } finally {
            outbox2.close();
          }
        }
      });
    },
  );

  await t.step("a status change or a session end is a boundary that is never crossed", async () => {
    await withStateDir((dir) => {
      const outbox = SqliteOutbox.open(dir, CP, { clock });
      try {
        const old = now - 120_000;
        outbox.append(progress(1, old));
        outbox.append(progress(2, old + 1000));
        outbox.append(event("charging_completed", { username: "ana" }, old + 2000));
        outbox.append(event("cp_status_change", { status: "available" }, old + 3000));
        outbox.append(progress(3, old + 4000));
        outbox.append(progress(4, old + 5000));
        outbox.append(progress(5, now));
        // 1 was collapsed into 2 (same session, both stale), 3 and 4 into 5; nothing crossed
        // the session end or the status change.
        const waiting = outbox.peek(100).map((stored) => stored.event.value);
        assert.deepEqual(
          waiting.map((value) => `${value.event_type}:${value["energy_kwh"] ?? ""}`),
          [
            "charging_progress:2",
            "charging_completed:",
            "cp_status_change:",
            "charging_progress:5",
          ],
        );
      } finally {
        outbox.close();
      }
    });
  });

  await t.step("another user's stale progress is not collapsed", async () => {
    await withStateDir((dir) => {
      const outbox = SqliteOutbox.open(dir, CP, { clock });
      try {
        outbox.append(progress(1, now - 60_000, "ana"));
        outbox.append(progress(2, now, "bob"));
        assert.equal(outbox.size(), 2);
      } finally {
        outbox.close();
      }
    });
  });
});

Deno.test("the state directory and its cp id directory are created when missing", async () => {
  await withStateDir((dir) => {
    const stateDir = join(dir, "nested", "state");
    const outbox = SqliteOutbox.open(stateDir, CP, { clock });
    try {
      assert.equal(outbox.path, join(stateDir, CP, DATABASE_FILE));
      assert.ok(Deno.statSync(outbox.path).isFile);
    } finally {
      outbox.close();
    }
  });
});

Deno.test("a state directory that cannot be created is one clear StateDirError", async () => {
  await withStateDir((dir) => {
    const file = join(dir, "a-file");
    Deno.writeTextFileSync(file, "not a directory");
    assert.throws(
      () => SqliteOutbox.open(file, CP, { clock }),
      (error: unknown) =>
        error instanceof StateDirError &&
        error.message.startsWith(`Cannot create the state directory "${join(file, CP)}"`) &&
        !error.message.includes("\n"),
    );
  });
});

Deno.test("a state database that cannot be written is one clear StateDirError", async () => {
  await withStateDir((dir) => {
    const cpDir = join(dir, CP);
    Deno.mkdirSync(cpDir);
    // A directory where the database file should be: SQLite cannot open it.
    Deno.mkdirSync(join(cpDir, DATABASE_FILE));
    assert.throws(
      () => SqliteOutbox.open(dir, CP, { clock }),
      (error: unknown) =>
        error instanceof StateDirError &&
        error.message.startsWith(`Cannot write the state database "${join(cpDir, DATABASE_FILE)}"`),
    );
  });
});

Deno.test("a second engine on the same state database is refused with one clear line", async () => {
  await withStateDir((dir) => {
    const first = SqliteOutbox.open(dir, CP, { clock });
    try {
      first.append(event("CP_REGISTRATION"));
      assert.throws(
        () => SqliteOutbox.open(dir, CP, { clock }),
        (error: unknown) =>
          error instanceof StateDirError &&
          error.message.includes("is in use by another engine") &&
          error.message.includes(`"${CP}"`) && !error.message.includes("\n"),
      );
      // The first one is unaffected.
      first.append(event("cp_status_change"));
      assert.equal(first.size(), 2);
    } finally {
      first.close();
    }
    const reopened = SqliteOutbox.open(dir, CP, { clock });
    assert.equal(reopened.size(), 2, "free again once the first one closed");
    reopened.close();
  });
});

Deno.test("durable resolves once the commits made so far are on disk, and after close", async () => {
  const dir = await Deno.makeTempDir();
  const outbox = SqliteOutbox.open(dir, "CP_DURABLE", { clock: { now: () => Date.now() } });
  try {
    await outbox.durable(); // Nothing committed through the log yet.
    for (let n = 0; n < 20; n++) {
      outbox.append({
        topic: "cp-events",
        key: "CP_DURABLE",
        value: { message_id: `m-${n}`, event_type: "cp_status_change", timestamp: n },
      });
    }
    // Many commits, one or two fsyncs: every caller is answered once its commits are covered.
    await Promise.all([outbox.durable(), outbox.durable(), outbox.durable()]);
    assert.equal(outbox.size(), 20);
  } finally {
    outbox.close();
    await outbox.durable();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with only the engine's permissions, a state directory in memory (/dev/shm) still makes commits durable: SQLite syncs them", async (t) => {
  const root = new URL("../", import.meta.url).pathname;
  const script = new URL("./support/durable_append.ts", import.meta.url).pathname;
  const name = `test-durable-${crypto.randomUUID().slice(0, 8)}`;
  const link = `${root}state/${name}`;
  await Deno.mkdir(`${root}state`, { recursive: true });
  /** Runs the script as the engine runs: read and write only under the state directory. */
  const run = async (stateDir: string) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--allow-read=./src,./tests,${stateDir}`,
        `--allow-write=${stateDir}`,
        script,
        stateDir,
      ],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout).trim();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    return text;
  };
  await t.step("on disk: the engine's own fsync, off the event loop", async () => {
    await Deno.mkdir(link);
    try {
      assert.equal(await run(`./state/${name}`), "engine 3");
    } finally {
      await Deno.remove(link, { recursive: true });
    }
  });
  let memory: string | null = null;
  try {
    memory = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "ev-cp-engine-" });
  } catch {
    // No /dev/shm here: nothing more to check.
  }
  if (memory === null) return;
  await t.step("under /dev/shm through a link: SQLite's fsync of each commit", async () => {
    await Deno.symlink(memory!, link);
    try {
      assert.equal(await run(`./state/${name}`), "sqlite 3");
    } finally {
      await Deno.remove(link).catch(() => {});
      await Deno.remove(memory!, { recursive: true }).catch(() => {});
    }
  });
});
