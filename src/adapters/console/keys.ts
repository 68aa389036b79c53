/**
 * The operator console's keyboard, as pure functions: raw terminal input split into keys, keys
 * mapped to actions, and the line editor of the user-name prompt. No I/O.
 *
 * @module
 */

/** What a key press asks for. */
export type ConsoleAction =
  | "plug_in"
  | "unplug"
  | "fault"
  | "recover"
  | "manual_session"
  | "service"
  | "help"
  | "quit";

/** Ctrl+C as a raw terminal sends it (no SIGINT in raw mode). */
export const CTRL_C = "\x03";
/** The escape key alone. */
export const ESCAPE = "\x1b";

const ACTIONS: Readonly<Record<string, ConsoleAction>> = {
  p: "plug_in",
  u: "unplug",
  f: "fault",
  r: "recover",
  m: "manual_session",
  s: "service",
  h: "help",
  "?": "help",
  q: "quit",
  [CTRL_C]: "quit",
};

/** The action of one key (case does not matter), or null for a key that does nothing. */
export function actionForKey(key: string): ConsoleAction | null {
  return ACTIONS[key.toLowerCase()] ?? null;
}

/**
 * Splits raw terminal input into keys: one character each, except escape sequences (arrow and
 * function keys: `ESC [ ...` or `ESC O x`), which stay whole so they can be ignored as one.
 */
export function splitKeys(input: string): string[] {
  const keys: string[] = [];
  const chars = Array.from(input);
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i]!;
    if (char !== ESCAPE || i + 1 >= chars.length) {
      keys.push(char);
      continue;
    }
    const next = chars[i + 1]!;
    if (next === "[") {
      // CSI: parameters and intermediates up to a final byte in @..~.
      let end = i + 2;
      while (end < chars.length && !/[@-~]/.test(chars[end]!)) end++;
      keys.push(chars.slice(i, end + 1).join(""));
      i = end;
    } else if (next === "O") {
      keys.push(chars.slice(i, i + 3).join(""));
      i += 2;
    } else {
      // Alt+key: ESC followed by the key.
      keys.push(char + next);
      i += 1;
    }
  }
  return keys;
}

/** The longest user name the prompt accepts. */
export const MAX_USER_NAME = 64;

/** What one key does to the prompt. */
export type PromptStep =
  | { readonly kind: "edit"; readonly text: string }
  | { readonly kind: "submit"; readonly text: string }
  | { readonly kind: "cancel" }
  | { readonly kind: "quit" };

/**
 * Applies one key to the text typed so far: printable characters are added (up to
 * {@linkcode MAX_USER_NAME}), Backspace removes one, Ctrl+U clears, Enter submits the trimmed
 * text, Esc cancels, Ctrl+C quits; anything else is ignored.
 */
export function editPrompt(text: string, key: string): PromptStep {
  switch (key) {
    case "\r":
    case "\n":
      return { kind: "submit", text: text.trim() };
    case ESCAPE:
      return { kind: "cancel" };
    case CTRL_C:
      return { kind: "quit" };
    case "\x7f":
    case "\b":
      return { kind: "edit", text: Array.from(text).slice(0, -1).join("") };
    case "\x15":
      return { kind: "edit", text: "" };
  }
  const printable = Array.from(key).length === 1 && !/\p{C}/u.test(key);
  if (!printable || Array.from(text).length >= MAX_USER_NAME) return { kind: "edit", text };
  return { kind: "edit", text: text + key };
}
