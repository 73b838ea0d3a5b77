// What a value may be under constrained decoding on the CPU, in one place: both CPU engines'
// constraints read it (json-grammar.js writes it as GBNF for wllama, json-constraint.js
// walks it for transformers.js), so a form's fields right measure the model, never which
// constraint happened to let more through. form-schema.js validates with the same shapes.

/** Fixed-width string formats: one character class per position. A value of the format is
 * "" (not in the text) or exactly this shape; form-schema.js derives its pattern from it. */
export const FORMATS = {
  date: ["[0-9]", "[0-9]", "[0-9]", "[0-9]", "-", "[01]", "[0-9]", "-", "[0-3]", "[0-9]"],
};

/** The regular expression source of a format's shape (no anchors). */
export const formatSource = (name) => FORMATS[name].join("");

/** The pattern of a field that holds "" or a format's shape (form-schema.js writes it). */
export const optionalFormatPattern = (name) => `^(${formatSource(name)})?$`;

/** The FORMATS shape a string property holds, or "": its `format`, or a pattern that is
 * exactly "" or that shape. Forms say it by pattern alone, since a `format: "date"` beside
 * it would let a JSON-schema engine (WebLLM's) refuse the "" a form field may be. */
export function formatOf(prop) {
  if (FORMATS[prop.format]) return prop.format;
  return Object.keys(FORMATS).find((name) => prop.pattern === optionalFormatPattern(name)) || "";
}

/** The longest free string, in characters (an escape counts as one), unless maxLength is less. */
export const MAX_STRING_CHARS = 96;
/** Numbers: at most this many digits before the point (no leading zeros), and after it. */
export const INTEGER_DIGITS = 15;
export const FRACTION_DIGITS = 6;
/** The characters a free string may escape with a backslash. */
export const ESCAPES = "\"\\/nrt";
/** A character a free string may hold as it is: not a quote, backslash or control character. */
export const plainChar = (ch) => ch !== "\"" && ch !== "\\" && ch >= " " && ch !== "\x7f";

// A word: letters and digits, joined by the punctuation inside addresses and names
// (john.smith@acme.com, O'Brien, 555-0100); any other printing character is a word of its
// own, so a span may start or end at a bracket or a plus sign. Whitespace separates.
const WORD = /[\p{L}\p{N}]+(?:[@._'’+-][\p{L}\p{N}]+)*|[^\s\p{L}\p{N}]/gu;
/** A longer gap (blank lines, a table's padding) ends a span: no copied value spans it. */
export const MAX_SEPARATOR = 16;

/** `text` as words and the whitespace between them: {words, seps} (seps[i] follows words[i]). */
export function wordsOf(text) {
  const words = [];
  const starts = [];
  for (const m of String(text).matchAll(WORD)) {
    words.push(m[0]);
    starts.push(m.index);
  }
  const seps = words.slice(0, -1).map((w, i) => String(text).slice(starts[i] + w.length, starts[i + 1]));
  return { words, seps };
}

/** JSON string contents for `s` (what the model writes between the quotes). */
export const jsonInner = (s) => JSON.stringify(s).slice(1, -1);

/**
 * What a copied value may be, for walking it: `escaped` is `text` JSON-escaped word by word,
 * a long gap written as "\0" (which no JSON string holds as it is); `starts` and `ends` are
 * the offsets in it where words start and end. A copied value is "" or escaped.slice(a, b)
 * for a start a and an end b with no "\0" between them.
 */
export function copySource(text) {
  const { words, seps } = wordsOf(text);
  let escaped = "";
  const starts = [];
  const ends = new Set();
  words.forEach((word, i) => {
    starts.push(escaped.length);
    escaped += jsonInner(word);
    ends.add(escaped.length);
    if (i + 1 < words.length) escaped += seps[i].length > MAX_SEPARATOR ? "\0" : jsonInner(seps[i]);
  });
  return { escaped, starts, ends };
}
