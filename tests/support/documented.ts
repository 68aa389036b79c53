/**
 * Commands the documentation shows, run by the tests as they are written. A test wraps each in
 * {@linkcode documented}; `tests/docs_test.ts` reads the tests' sources for those calls and checks
 * that every command in a fenced shell block of README.md and docs/ is one of them, or is marked
 * as needing what a test machine lacks (`# needs internet`, `# needs Docker`).
 *
 * @module
 */

/**
 * Marks `line` as a command the documentation shows word for word, and returns it unchanged.
 * The argument must be a string literal: the docs test finds it in the source.
 */
export function documented(line: string): string {
  return line;
}

/**
 * The words of a shell command line (no variables, no pipes): split at spaces, with '...' and
 * "..." quoting; a `# comment` ends it.
 */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: string | null = null;
  for (const char of line) {
    if (quote !== null) {
      if (char === quote) quote = null;
      else word += char;
    } else if (char === "'" || char === '"') {
      quote = char;
      word ??= "";
    } else if (char === "#" && word === null) {
      break;
    } else if (/\s/.test(char)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? "") + char;
    }
  }
  if (quote !== null) throw new Error(`Unbalanced quote in: ${line}`);
  if (word !== null) words.push(word);
  return words;
}
