// The schema constraint of json-constraint.js as a GBNF grammar, for llama.cpp (wllama),
// whose sampler enforces grammars itself. Same shape as there: the flat object forms produce,
//   {"key1":<value1>,"key2":<value2>,...}
// keys in schema order, no whitespace, strings (or one of their enum values), booleans and
// numbers as values, so the result always parses and has every key.
//
// `copy: {text, fields}` limits the named string fields to pieces of `text` (or ""): spans of
// whole words, with what separates them copied as it stands in the text. For words w_0..w_n-1
// and the separators sep_i between w_i and w_i+1, span rules
//   s_i ::= w_i (sep_i s_i+1)?
// make every run of consecutive words a string of the grammar, in size linear in the text.

/** A GBNF string literal for `s` (characters as they are, escapes for the special ones). */
export function gbnfLiteral(s) {
  let out = "\"";
  for (const ch of s) {
    const code = ch.codePointAt(0);
    if (ch === "\"" || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/** JSON string contents for `s` (what the model writes between the quotes). */
const jsonInner = (s) => JSON.stringify(s).slice(1, -1);

// A word: letters and digits, joined by the punctuation inside addresses and names
// (john.smith@acme.com, O'Brien, 555-0100); any other printing character is a word of its
// own, so a span may start or end at a bracket or a plus sign. Whitespace separates.
const WORD = /[\p{L}\p{N}]+(?:[@._'’+-][\p{L}\p{N}]+)*|[^\s\p{L}\p{N}]/gu;

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

/** Grammar rules (lines) for the spans of `text` under the rule name `name`. */
function copyRules(name, text, maxSeparator = 16) {
  const { words, seps } = wordsOf(text);
  if (!words.length) return [`${name} ::= ""`];  // only "" can be copied
  const lines = [];
  for (let i = 0; i < words.length; i++) {
    const word = gbnfLiteral(jsonInner(words[i]));
    // A long gap (blank lines, a table's padding) ends a span: no value spans it.
    const joined = i + 1 < words.length && seps[i].length <= maxSeparator;
    const sep = joined && seps[i] ? `${gbnfLiteral(jsonInner(seps[i]))} ` : "";
    lines.push(joined ? `${name}-${i} ::= ${word} (${sep}${name}-${i + 1})?` : `${name}-${i} ::= ${word}`);
  }
  lines.unshift(`${name} ::= (${words.map((_, i) => `${name}-${i}`).join(" | ")})?`);
  return lines;
}

/**
 * A GBNF grammar for `schema` (a flat object: see canConstrain in json-constraint.js), its
 * free strings at most `maxStringChars` characters, `copy.fields` limited to spans of `copy.text`.
 */
export function schemaGrammar(schema, { copy = null, maxStringChars = 96 } = {}) {
  const copyFields = new Set(copy?.fields || []);
  const rules = [];
  const parts = [];
  let copyRule = null;
  let first = true;
  for (const [key, prop] of Object.entries(schema.properties)) {
    const head = gbnfLiteral(`${first ? "" : ","}${JSON.stringify(key)}:`);
    first = false;
    let value;
    if (prop.enum) value = `(${prop.enum.map((v) => gbnfLiteral(JSON.stringify(v))).join(" | ")})`;
    else if (prop.type === "boolean") value = "(\"true\" | \"false\")";
    else if (prop.type === "integer") value = "integer";
    else if (prop.type === "number") value = "number";
    else if (copyFields.has(key)) {
      if (!copyRule) {
        copyRule = "copy";
        rules.push(...copyRules(copyRule, copy.text || ""));
      }
      value = `"\\"" ${copyRule} "\\""`;
    } else {
      value = `"\\"" char{0,${Math.max(0, Math.min(prop.maxLength ?? maxStringChars, maxStringChars))}} "\\""`;
    }
    parts.push(`${head} ${value}`);
  }
  const root = `root ::= "{" ${parts.join(" ")} "}"`;
  return [root,
    "char ::= [^\"\\\\\\x00-\\x1f\\x7f] | \"\\\\\" [\"\\\\/nrt]",
    "integer ::= \"-\"? [0-9]{1,15}",
    "number ::= \"-\"? [0-9]{1,15} (\".\" [0-9]{1,6})?",
    ...rules].join("\n") + "\n";
}
