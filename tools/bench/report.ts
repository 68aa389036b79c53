/**
 * Collects the benchmark's values run by run and renders them: the markdown table (median and
 * min..max over runs; ratios run by run), what each group of figures includes and excludes, and
 * the JSON written to `bench/results.json`.
 *
 * @module
 */
import {
  FIGURES,
  type FigureSpec,
  type GroupId,
  GROUPS,
  type Judged,
  type Subject,
} from "./figures.ts";
import { pairedRatios, type Spread, spread } from "./stats.ts";

/** The values of one figure: one per run for each subject (NaN: not measured in that run). */
type Values = Record<Subject, number[]>;

/** Everything measured in one benchmark run. */
export class Results {
  readonly #values = new Map<string, Values>();
  readonly #notes = new Map<GroupId, string[]>();
  readonly #failures = new Map<GroupId, string[]>();
  readonly #titles = new Map<GroupId, string>();

  /** `runs`: how many times each lab runs. */
  constructor(readonly runs: number) {
    for (const figure of FIGURES) {
      const empty = () => Array.from({ length: runs }, () => Number.NaN);
      this.#values.set(figure.id, { engine: empty(), reference: empty(), original: empty() });
    }
  }

  /** Records one value; unknown ids are a bug in the bench. */
  record(id: string, subject: Subject, run: number, value: number): void {
    const values = this.#values.get(id);
    if (values === undefined) throw new Error(`No figure ${id} in tools/bench/figures.ts`);
    values[subject][run] = value;
  }

  /** The value recorded for a figure, subject and run (NaN if none). */
  value(id: string, subject: Subject, run: number): number {
    return this.#values.get(id)?.[subject][run] ?? Number.NaN;
  }

  /** Adds a line to a group's notes (printed under the table). */
  note(group: GroupId, text: string): void {
    const notes = this.#notes.get(group) ?? [];
    if (!notes.includes(text)) notes.push(text);
    this.#notes.set(group, notes);
  }

  /** Records that a group's lab failed in one run. */
  fail(group: GroupId, run: number, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    const failures = this.#failures.get(group) ?? [];
    failures.push(`run ${run + 1}: ${message.split("\n").slice(0, 6).join("\n    ")}`);
    this.#failures.set(group, failures);
  }

  /** Replaces a group's title (e.g. with the sizes actually run). */
  retitle(group: GroupId, title: string): void {
    this.#titles.set(group, title);
  }

  /** The title of a group. */
  title(group: GroupId): string {
    return this.#titles.get(group) ?? GROUPS[group].title;
  }

  /** The spreads and ratios of one figure. */
  judged(id: string): Judged {
    const values = this.#values.get(id)!;
    return {
      engine: spread(values.engine),
      reference: spread(values.reference),
      original: spread(values.original),
      ratio: spread(pairedRatios(values.engine, values.reference)),
      originalRatio: spread(pairedRatios(values.engine, values.original)),
    };
  }

  /** Whether any group failed. */
  get failed(): boolean {
    return this.#failures.size > 0;
  }

  /** The markdown table. */
  table(): string {
    const header = [
      "figure",
      "ev-cp-engine",
      "reference",
      "ratio",
      "original engine",
      "ratio",
      "target",
      "met?",
    ];
    const rows: string[][] = [];
    let group: GroupId | null = null;
    for (const figure of FIGURES) {
      if (figure.group !== group) {
        group = figure.group;
        rows.push([`**${this.title(group)}**`, "", "", "", "", "", "", ""]);
      }
      rows.push(this.#row(figure));
    }
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const render = (cells: string[]) =>
      `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
    return [
      render(header),
      `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
      ...rows.map(render),
    ].join("\n");
  }

  #row(figure: FigureSpec): string[] {
    const judged = this.judged(figure.id);
    const cell = (s: Spread) => formatSpread(s, figure.digits, "");
    const ratio = (s: Spread) => formatSpread(s, 2, "x", true);
    const met = figure.target?.check(judged);
    return [
      figure.unit === "" ? figure.label : `${figure.label} (${figure.unit})`,
      cell(judged.engine),
      cell(judged.reference),
      ratio(judged.ratio),
      cell(judged.original),
      ratio(judged.originalRatio),
      figure.target?.text ?? "",
      figure.target === undefined ? "" : met === true ? "yes" : met === false ? "**no**" : "?",
    ];
  }

  /** What each group measures, its notes and failures. */
  explanations(): string {
    const lines: string[] = [];
    for (const [id, group] of Object.entries(GROUPS) as [GroupId, (typeof GROUPS)[GroupId]][]) {
      lines.push(`### ${this.title(id)}`);
      lines.push(`- ev-cp-engine: ${group.engine}`);
      lines.push(`- reference: ${group.reference}`);
      lines.push(`- original engine: ${group.original}`);
      lines.push(`- includes: ${group.includes}`);
      lines.push(`- excludes: ${group.excludes}`);
      for (const note of this.#notes.get(id) ?? []) lines.push(`- note: ${note}`);
      for (const failure of this.#failures.get(id) ?? []) lines.push(`- FAILED ${failure}`);
      lines.push("");
    }
    return lines.join("\n");
  }

  /** Everything as plain data, for the JSON file. */
  toJson(): Record<string, unknown> {
    const figures = FIGURES.map((figure) => {
      const values = this.#values.get(figure.id)!;
      const judged = this.judged(figure.id);
      return {
        id: figure.id,
        group: figure.group,
        label: figure.label,
        unit: figure.unit,
        runs: {
          engine: values.engine.map(orNull),
          reference: values.reference.map(orNull),
          original: values.original.map(orNull),
        },
        engine: spreadJson(judged.engine),
        reference: spreadJson(judged.reference),
        ratio: spreadJson(judged.ratio),
        original: spreadJson(judged.original),
        originalRatio: spreadJson(judged.originalRatio),
        target: figure.target?.text ?? null,
        met: figure.target?.check(judged) ?? null,
      };
    });
    const groups = Object.fromEntries(
      (Object.keys(GROUPS) as GroupId[]).map((id) => [id, {
        ...GROUPS[id],
        title: this.title(id),
        notes: this.#notes.get(id) ?? [],
        failures: this.#failures.get(id) ?? [],
      }]),
    );
    return { groups, figures };
  }
}

function orNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

function spreadJson(s: Spread): Record<string, number | null> {
  return { median: orNull(s.median), min: orNull(s.min), max: orNull(s.max), runs: s.count };
}

/**
 * `median (min..max)` over runs, or `-` when nothing was measured. `significant`: values below 1
 * keep `digits` significant digits (a ratio of 0.0003 is not 0.00).
 */
export function formatSpread(
  s: Spread,
  digits: number,
  suffix: string,
  significant = false,
): string {
  if (s.count === 0) return "-";
  const f = (value: number) =>
    significant && Number.isFinite(value) && value !== 0 && Math.abs(value) < 1
      ? value.toPrecision(digits)
      : formatNumber(value, digits);
  const median = `${f(s.median)}${suffix}`;
  if (s.count === 1 || s.min === s.max) return median;
  return `${median} (${f(s.min)}..${f(s.max)})`;
}

/** A number with `digits` decimals, thousands unseparated; infinities as text. */
export function formatNumber(value: number, digits: number): string {
  if (!Number.isFinite(value)) return value > 0 ? "inf" : value < 0 ? "-inf" : "-";
  return value.toFixed(digits);
}
