/**
 * The harness's report: the markdown table `scenario | original engine | ev-cp-engine` and the
 * evidence behind each cell.
 *
 * @module
 */
import type { EngineKind } from "./stack.ts";
import type { Verdict } from "./verdicts.ts";

/** The result of one scenario with one engine. */
export interface ScenarioResult {
  readonly scenario: string;
  readonly engine: EngineKind;
  readonly verdict: Verdict;
  /** The key observation, e.g. `ticket 0.068 kWh at 13 s`. */
  readonly summary: string;
  /** The facts and the timeline behind the verdict, one line each. */
  readonly evidence: readonly string[];
  /** How long the run took, in seconds. */
  readonly seconds: number;
}

/** The column title of each engine. */
export const ENGINE_TITLES: Readonly<Record<EngineKind, string>> = {
  original: "original engine",
  ours: "ev-cp-engine",
};

/** Makes `text` safe inside a markdown table cell (no pipe, no line break). */
export function cellText(text: string): string {
  return text.replace(/\r?\n/g, " ").replaceAll("|", "\\|").trim();
}

/** The cell of one result: `PASS: summary`, or `not run`. */
export function formatCell(result: ScenarioResult | undefined): string {
  return result === undefined ? "not run" : cellText(`${result.verdict}: ${result.summary}`);
}

/** The markdown table: one row per scenario (in the order given), one column per engine. */
export function formatTable(
  scenarios: readonly string[],
  results: readonly ScenarioResult[],
): string {
  const engines: EngineKind[] = ["original", "ours"];
  const lines = [
    `| scenario | ${engines.map((engine) => ENGINE_TITLES[engine]).join(" | ")} |`,
    `|---|${engines.map(() => "---").join("|")}|`,
  ];
  for (const scenario of scenarios) {
    const cells = engines.map((engine) =>
      formatCell(results.find((r) => r.scenario === scenario && r.engine === engine))
    );
    lines.push(`| ${scenario} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

/** The evidence of every result, as markdown sections with the lines in code blocks. */
export function formatEvidence(results: readonly ScenarioResult[]): string {
  return results.map((result) =>
    [
      `### ${result.scenario} / ${ENGINE_TITLES[result.engine]}: ${result.verdict} ` +
      `(${result.seconds.toFixed(0)} s)`,
      "",
      "```",
      ...result.evidence,
      "```",
      "",
    ].join("\n")
  ).join("\n");
}
