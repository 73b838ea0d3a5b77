// The schema constraint of json-constraint.js as a GBNF grammar, for llama.cpp (wllama),
// whose sampler enforces grammars itself. Both admit exactly the values json-values.js
// describes (tests/serve/test_json_values.py checks them against each other). The shape is
// the flat object forms produce,
//   {"key1":<value1>,"key2":<value2>,...}
// keys in schema order, no whitespace, strings (or one of their enum values), booleans and
// numbers as values, so the result always parses and has every key. A string with a format
// (json-values.js formatOf: its FORMATS `format`, or a form's date pattern) is "" or that shape.
//
// `copy: {text, fields}` limits the named string fields to pieces of `text` (or ""): spans of
// whole words, with what separates them copied as it stands in the text. For words w_0..w_n-1
// and the separators sep_i between w_i and w_i+1, span rules
//   s_i ::= w_i (sep_i s_i+1)?
// make every run of consecutive words a string of the grammar, in size linear in the text.

import { FORMATS, MAX_STRING_CHARS, INTEGER_DIGITS, FRACTION_DIGITS, ESCAPES, MAX_SEPARATOR, formatOf, wordsOf, jsonInner } from "./json-values.js";

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

/** Grammar rules (lines) for the spans of `text` under the rule name `name`. */
function copyRules(name, text) {
  const { words, seps } = wordsOf(text);
  if (!words.length) return [`${name} ::= ""`];  // only "" can be copied
  const lines = [];
  for (let i = 0; i < words.length; i++) {
    const word = gbnfLiteral(jsonInner(words[i]));
    const joined = i + 1 < words.length && seps[i].length <= MAX_SEPARATOR;
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
export function schemaGrammar(schema, { copy = null, maxStringChars = MAX_STRING_CHARS } = {}) {
  const copyFields = new Set(copy?.fields || []);
  const rules = [];
  const parts = [];
  let copyRule = null;
  const formats = new Set();
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
    } else if (formatOf(prop)) {
      formats.add(formatOf(prop));
      value = `"\\"" format-${formatOf(prop)}? "\\""`;
    } else {
      value = `"\\"" char{0,${Math.max(0, Math.min(prop.maxLength ?? maxStringChars, maxStringChars))}} "\\""`;
    }
    parts.push(`${head} ${value}`);
  }
  const root = `root ::= "{" ${parts.join(" ")} "}"`;
  return [root,
    `char ::= [^"\\\\\\x00-\\x1f\\x7f] | "\\\\" [${ESCAPES.replace(/[\\\]]/g, "\\$&")}]`,
    `integer ::= "-"? ("0" | [1-9] [0-9]{0,${INTEGER_DIGITS - 1}})`,
    `number ::= integer ("." [0-9]{1,${FRACTION_DIGITS}})?`,
    ...[...formats].map((f) => `format-${f} ::= ${FORMATS[f].map((c) => (c.startsWith("[") ? c : gbnfLiteral(c))).join(" ")}`),
    ...rules].join("\n") + "\n";
}
