/**
 * Tests of the test infrastructure itself: the disk faults of tests/support/disk_faults.ts under a
 * SQLite database that stays open, as the engine's outbox does (WAL, synchronous=FULL). Where this
 * machine cannot make a fault (not root, no mount allowed, a file system without enforcement), its
 * test is ignored and the reason printed.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { DiskFaultUnsupported, mountSmallDisk, refuseWrites } from "./support/disk_faults.ts";

/** Null when `attempt` works here, else why not (a DiskFaultUnsupported's message). */
async function unsupported(attempt: () => Promise<void>): Promise<string | null> {
  try {
    await attempt();
    return null;
  } catch (error) {
    if (error instanceof DiskFaultUnsupported) return error.message;
    throw error;
  }
}

const smallDiskProblem = await unsupported(async () => {
  const dir = await Deno.makeTempDir({ prefix: "disk-faults-probe-" });
  try {
    await (await mountSmallDisk(join(dir, "disk"), 64 * 1024)).unmount();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
const refuseWritesProblem = await unsupported(async () => {
  const dir = await Deno.makeTempDir({ prefix: "disk-faults-probe-" });
  try {
    await (await refuseWrites(dir))();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
for (const problem of [smallDiskProblem, refuseWritesProblem]) {
  if (problem !== null) console.warn(`disk_faults_test: ignored, ${problem}`);
}

/** A database like the engine's outbox, open in `dir` until `close`. */
function openStore(dir: string) {
  const db = new DatabaseSync(join(dir, "outbox.sqlite"));
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  db.exec("CREATE TABLE IF NOT EXISTS events (payload TEXT NOT NULL)");
  const insert = db.prepare("INSERT INTO events (payload) VALUES (?)");
  return {
    append: (payload: string) => void insert.run(payload),
    count: () => Number((db.prepare("SELECT count(*) AS n FROM events").get() as { n: number }).n),
    close: () => db.close(),
  };
}

const EVENT = JSON.stringify({ event_type: "cp_status_change", padding: "x".repeat(3000) });

Deno.test({
  name: "a full disk under an open database: writes fail with 'disk is full', then work again",
  ignore: smallDiskProblem !== null,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "disk-faults-test-" });
    const disk = await mountSmallDisk(join(root, "state"), 1024 * 1024);
    const store = openStore(disk.dir);
    try {
      store.append(EVENT);
      await disk.fill();
      assert.throws(() => {
        for (let i = 0; i < 100; i++) store.append(EVENT);
      }, /database or disk is full/);
      await disk.free();
      store.append(EVENT);
      assert.ok(store.count() >= 2);
    } finally {
      store.close();
      await disk.unmount();
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "files that refuse writes under an open database: writes fail, then work again",
  ignore: refuseWritesProblem !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "disk-faults-test-" });
    const store = openStore(dir);
    try {
      store.append(EVENT);
      const restore = await refuseWrites(dir);
      try {
        assert.throws(() => store.append(EVENT), /disk I\/O error|readonly/);
        await assert.rejects(
          Deno.writeTextFile(join(dir, "new-file"), "x"),
          Deno.errors.PermissionDenied,
        );
      } finally {
        await restore();
      }
      store.append(EVENT);
      assert.equal(store.count(), 2);
    } finally {
      store.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
