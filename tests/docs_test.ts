/**
 * The documentation is part of the product: README.md stays short and links every page of docs/,
 * every relative link resolves, the configuration page is generated from the settings table, and
 * every command in a shell block is run by a test (`documented("...")` in tests/), is run by CI
 * (.ci/run), or says that it needs what a test machine lacks (`# needs Docker`, `# needs internet`).
 */
import assert from "node:assert/strict";
import {
  BENCHMARKS_PAGE,
  CONFIGURATION_PAGE,
  formatMarkdown,
  renderBenchmarksPage,
  renderConfiguration,
} from "../tools/docs.ts";

const ROOT = new URL("..", import.meta.url);

/** Pages other developers write, linked before they land. */
const WRITTEN_ELSEWHERE = new Set(["docs/web.md"]);

/**
 * Pages whose commands are exercised by their tests on free ports rather than word for word
 * (tests/web_panel_test.ts): their links are checked, their commands not yet. Remove a page from
 * here once its commands are wrapped in `documented("...")`.
 */
const COMMANDS_NOT_YET_CHECKED = new Set(["docs/web.md"]);

/** What a command may need that the test machines do not have. */
const NEEDS = /#.*\bneeds (Docker|internet)\b/;

async function pages(): Promise<string[]> {
  const found = ["README.md"];
  for await (const entry of Deno.readDir(new URL("docs/", ROOT))) {
    if (entry.isFile && entry.name.endsWith(".md")) found.push(`docs/${entry.name}`);
  }
  return found.sort();
}

async function read(path: string): Promise<string> {
  return await Deno.readTextFile(new URL(path, ROOT));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(new URL(path, ROOT));
    return true;
  } catch {
    return false;
  }
}

/** The text outside fenced code blocks (links inside them are examples, not links). */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, "");
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes. */
export function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/`/g, "").replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function anchors(markdown: string): Set<string> {
  return new Set(
    [...prose(markdown).matchAll(/^#{1,6} (.+)$/gm)].map((match) => slug(match[1]!)),
  );
}

/** `dir/../x.md` -> `x.md`, relative to the repository. */
function resolve(page: string, target: string): string {
  const parts = page.split("/").slice(0, -1);
  for (const part of target.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== ".") parts.push(part);
  }
  return parts.join("/");
}

/** The commands of the page's shell blocks (continuation lines joined), with their comments. */
export function shellCommands(markdown: string): string[] {
  const commands: string[] = [];
  for (const block of markdown.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```/gm)) {
    const joined = block[1]!.replace(/\s*\\\n\s*/g, " ");
    for (const line of joined.split("\n")) {
      const text = line.trim();
      if (text !== "" && !text.startsWith("#")) commands.push(text);
    }
  }
  return commands;
}

/** A command line without its trailing `# comment`. */
function withoutComment(line: string): string {
  return line.replace(/\s+#.*$/, "").trim();
}

/** Every `documented("...")` of the tests: the commands they run as the docs show them. */
async function documentedCommands(): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const walk = async (dir: URL, prefix: string) => {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) await walk(new URL(`${entry.name}/`, dir), `${prefix}${entry.name}/`);
      else if (entry.name.endsWith(".ts") && entry.name !== "docs_test.ts") {
        const source = await Deno.readTextFile(new URL(entry.name, dir));
        for (const match of source.matchAll(/\bdocumented\(\s*"((?:[^"\\]|\\.)*)"\s*,?\s*\)/g)) {
          found.set(JSON.parse(`"${match[1]}"`), `${prefix}${entry.name}`);
        }
      }
    }
  };
  await walk(new URL("tests/", ROOT), "tests/");
  return found;
}

Deno.test("README.md is short and links every page of docs/", async () => {
  const readme = await read("README.md");
  const lines = readme.split("\n").length;
  assert.ok(lines <= 200, `README.md has ${lines} lines: move details to docs/`);
  for (const page of (await pages()).filter((page) => page.startsWith("docs/"))) {
    assert.ok(readme.includes(`(${page})`), `README.md links ${page}`);
  }
  for (const page of WRITTEN_ELSEWHERE) {
    assert.ok(readme.includes(`(${page})`), `README.md links ${page}`);
  }
});

Deno.test("every relative link of README.md and docs/ resolves, anchors included", async (t) => {
  for (const page of await pages()) {
    await t.step(page, async () => {
      const markdown = await read(page);
      for (const match of prose(markdown).matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
        const link = match[1]!;
        if (/^[a-z]+:/.test(link)) continue;
        const [path, anchor] = link.split("#", 2) as [string, string | undefined];
        const target = path === "" ? page : resolve(page, path);
        if (WRITTEN_ELSEWHERE.has(target) && !(await exists(target))) continue;
        assert.ok(await exists(target), `${page}: ${link} -> ${target} does not exist`);
        if (anchor !== undefined && target.endsWith(".md")) {
          assert.ok(
            anchors(await read(target)).has(anchor),
            `${page}: ${link}: ${target} has no heading #${anchor}`,
          );
        }
      }
    });
  }
});

Deno.test("every command of a shell block is run by a test, run by CI, or says what it needs", async (t) => {
  const documented = await documentedCommands();
  const ci = (await read(".ci/run")).split("\n").map((line) => line.trim());
  const shown = new Set<string>();
  for (const page of await pages()) {
    if (COMMANDS_NOT_YET_CHECKED.has(page)) continue;
    await t.step(page, async () => {
      for (const line of shellCommands(await read(page))) {
        const command = withoutComment(line);
        shown.add(command);
        if (NEEDS.test(line)) continue;
        const byCi = ci.some((ciLine) => ciLine === command || ciLine.startsWith(`${command} `));
        assert.ok(
          documented.has(command) || byCi,
          `${page}: \`${command}\` is run by no test (documented("...") in tests/) nor by .ci/run; ` +
            "test it, or mark it `# needs Docker` / `# needs internet`",
        );
      }
    });
  }
  await t.step("no test runs a command the docs no longer show", () => {
    for (const [command, test] of documented) {
      assert.ok(shown.has(command), `${test}: documented("${command}") is in no page`);
    }
  });
});

Deno.test("the shell blocks' reader joins continued lines and skips comments", () => {
  const markdown = "```sh\n# a comment\ndocker run \\\n  -d x   # needs Docker\n\nls\n```\n" +
    "```text\nnot a command\n```\n";
  assert.deepEqual(shellCommands(markdown), ["docker run -d x   # needs Docker", "ls"]);
  assert.equal(slug("Playing Central: `ev-cp-engine send`"), "playing-central-ev-cp-engine-send");
});

Deno.test("docs/configuration.md is generated from the settings table (deno task docs)", async () => {
  const expected = await formatMarkdown(renderConfiguration());
  assert.equal(await read(CONFIGURATION_PAGE), expected, "run `deno task docs`");
});

Deno.test("docs/benchmarks.md shows the figures of bench/results.json (deno task docs)", async () => {
  assert.equal(await read(BENCHMARKS_PAGE), await renderBenchmarksPage(), "run `deno task docs`");
});
