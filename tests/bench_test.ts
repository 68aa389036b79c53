/**
 * The benchmark tool works: `deno task bench --short` runs every lab once with tiny sizes against
 * the test broker, prints every row of the table with the engine's figure, and writes JSON that
 * parses and holds every figure. (Its figures mean nothing; this only proves the tool runs.)
 *
 * @module
 */
import assert from "node:assert/strict";
import { FIGURES } from "../tools/bench/figures.ts";
import { brokerAddress } from "./support/kafka.ts";

Deno.test({
  name: "deno task bench --short prints every row and writes JSON that parses",
  fn: async () => {
    const out = await Deno.makeTempFile({ prefix: "bench-", suffix: ".json" });
    try {
      const result = await new Deno.Command(Deno.execPath(), {
        args: ["task", "bench", "--short", "--out", out],
        cwd: new URL("..", import.meta.url),
        env: { KAFKA_BROKER: await brokerAddress(), NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(result.stdout);
      const stderr = new TextDecoder().decode(result.stderr);
      assert.deepEqual(result.code, 0, `bench failed:\n${stdout}\n${stderr}`);

      const rows = stdout.split("\n").filter((line) => line.startsWith("| "));
      for (const figure of FIGURES) {
        const label = figure.unit === "" ? figure.label : `${figure.label} (${figure.unit})`;
        const row = rows.find((line) => line.startsWith(`| ${label} `));
        assert(row !== undefined, `no row "${label}" in:\n${stdout}`);
        const engineCell = row.split("|")[2]!.trim();
        assert(engineCell !== "-", `no engine figure in the row "${label}":\n${stdout}`);
      }
      assert(stdout.includes("includes:") && stdout.includes("excludes:"));

      const report = JSON.parse(await Deno.readTextFile(out));
      assert.deepEqual(report.mode, "short");
      const ids = (report.figures as { id: string }[]).map((figure) => figure.id);
      assert.deepEqual(ids, FIGURES.map((figure) => figure.id));
      for (const figure of report.figures) {
        assert(figure.runs.engine.length === 1, `${figure.id}: one run in short mode`);
      }
    } finally {
      await Deno.remove(out).catch(() => {});
    }
  },
});
