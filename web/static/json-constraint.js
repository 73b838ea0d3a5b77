// Schema-constrained decoding for engines without a grammar engine (transformers.js).
// WebLLM constrains JSON with xgrammar; here the same guarantee comes from a small
// character automaton over the flat object schemas forms produce: the output is always
//   {"key1":<value1>,"key2":<value2>,...}
// with the keys in schema order, strings (or one of their enum values), booleans and
// numbers as values. The keys and punctuation can only be written one way, so the model
// effectively chooses just the values, and the result always parses and has every key.
// For extraction, `copy: {text, fields}` also limits the named string fields to pieces of
// `text` (or ""): spans of whole words, so a small model cannot misspell or invent what it
// was asked to copy. A string with a format (formatOf: "date", by format or pattern) is "" or that shape. What a
// value may be is json-values.js's, shared with wllama's grammar (json-grammar.js).

import { FORMATS, MAX_STRING_CHARS, INTEGER_DIGITS, FRACTION_DIGITS, ESCAPES, formatOf, plainChar, copySource } from "./json-values.js";

/** Whether `schema` is a flat object this automaton can enforce. */
export function canConstrain(schema) {
  if (!schema || schema.type !== "object" || !schema.properties) return false;
  return Object.values(schema.properties).every((p) =>
    (p.type === "string" && (!p.enum || p.enum.every((v) => typeof v === "string")))
    || p.type === "boolean" || p.type === "number" || p.type === "integer");
}

/** The automaton's parts: literal text between values, and one value slot per property. */
function segments(schema, copyFields) {
  const segs = [];
  let literal = "{";
  for (const [name, prop] of Object.entries(schema.properties)) {
    literal += `${JSON.stringify(name)}:`;
    if (prop.type === "string" && !prop.enum) {
      const copy = copyFields.has(name);
      const format = !copy && formatOf(prop) ? FORMATS[formatOf(prop)].map((c) => new RegExp(`^${c}$`)) : null;
      segs.push({ lit: `${literal}"` }, { string: true, maxLength: prop.maxLength, copy, format });
      literal = "\",";
      continue;
    }
    segs.push({ lit: literal });
    if (prop.enum) segs.push({ choices: prop.enum.map((v) => JSON.stringify(v)) });
    else if (prop.type === "boolean") segs.push({ choices: ["true", "false"] });
    else segs.push({ number: true, integer: prop.type === "integer" });
    literal = ",";
  }
  segs.push({ lit: literal.endsWith(",") ? `${literal.slice(0, -1)}}` : `${literal}}` });
  return segs;
}

// A number's prefix: no leading zeros, the digits json-values.js allows.
const NUMBER = new RegExp(`^-?((0|[1-9]\\d{0,${INTEGER_DIGITS - 1}})(\\.\\d{0,${FRACTION_DIGITS}})?)?$`);
const INTEGER = new RegExp(`^-?(0|[1-9]\\d{0,${INTEGER_DIGITS - 1}})?$`);
const NEXT = { pos: 0, text: "", n: 0, esc: false, starts: null };

/**
 * The automaton. States are small frozen objects, so checking a candidate token never
 * changes the current state: {seg, pos, text, n (a string's characters, an escape counted
 * once), esc, starts (a copied value's candidate offsets in the copy source)}.
 */
export class JsonSchemaConstraint {
  constructor(schema, { maxStringChars = MAX_STRING_CHARS, copy = null } = {}) {
    if (!canConstrain(schema)) throw new Error("JsonSchemaConstraint handles flat objects of strings, enums, booleans and numbers");
    this.segs = segments(schema, new Set(copy?.fields || []));
    this.source = copySource(copy?.text || "");
    this.maxStringChars = maxStringChars;
    this.state = { seg: 0, ...NEXT };
  }

  get done() { return this.state.seg >= this.segs.length; }

  /** The state after `ch` from `s`, or null when `ch` cannot come next. */
  step(s, ch) {
    const seg = this.segs[s.seg];
    if (!seg) return null; // complete: nothing more may follow
    const next = () => this.step({ seg: s.seg + 1, ...NEXT }, ch);
    if (seg.lit !== undefined) {
      if (seg.lit[s.pos] !== ch) return null;
      return s.pos + 1 === seg.lit.length ? { seg: s.seg + 1, ...NEXT } : { ...s, pos: s.pos + 1 };
    }
    if (seg.choices) {
      const text = s.text + ch;
      if (!seg.choices.some((c) => c.startsWith(text))) {
        // A complete choice followed by the next literal's first character.
        return seg.choices.includes(s.text) ? next() : null;
      }
      return { ...s, text };
    }
    if (seg.number) {
      const text = s.text + ch;
      if ((seg.integer ? INTEGER : NUMBER).test(text)) return { ...s, text };
      return /\d$/.test(s.text) ? next() : null;
    }
    // A string's characters, up to the closing quote (which belongs to the next literal).
    if (seg.copy) return this.copyStep(s, ch, next);
    if (seg.format) {
      if (ch === "\"") return s.n === 0 || s.n === seg.format.length ? next() : null;
      return s.n < seg.format.length && seg.format[s.n].test(ch) ? { ...s, n: s.n + 1 } : null;
    }
    if (s.esc) return ESCAPES.includes(ch) ? { ...s, esc: false, n: s.n + 1 } : null;
    if (ch === "\"") return next();
    if (s.n >= Math.min(seg.maxLength ?? Infinity, this.maxStringChars)) return null;
    if (ch === "\\") return { ...s, esc: true };
    return plainChar(ch) ? { ...s, n: s.n + 1 } : null;
  }

  /** A copied string: a run of the source's escaped text from a word start, closed at a word
   * end (or at once: ""). */
  copyStep(s, ch, next) {
    const { escaped, starts, ends } = this.source;
    const at = s.starts || starts;
    const length = s.text.length;
    if (ch === "\"" && !s.esc) return length === 0 || at.some((a) => ends.has(a + length)) ? next() : null;
    if (ch < " ") return null; // never the "\0" that marks a long gap
    const kept = at.filter((a) => escaped[a + length] === ch);
    if (!kept.length) return null;
    return { ...s, text: s.text + ch, starts: kept, esc: !s.esc && ch === "\\" };
  }

  /** The state after the whole `piece`, or null. */
  walk(s, piece) {
    for (const ch of piece) {
      s = this.step(s, ch);
      if (!s) return null;
    }
    return s;
  }

  /** Whether `piece` (a decoded token) may come next. Empty pieces never may. */
  allows(piece) {
    return piece.length > 0 && this.walk(this.state, piece) !== null;
  }

  /** Take `piece` as written. */
  accept(piece) {
    const next = this.walk(this.state, piece);
    if (!next) throw new Error(`constraint violated by ${JSON.stringify(piece)}`);
    this.state = next;
  }
}

/**
 * Mask `scores` (a Float32Array over the vocabulary) to the tokens the constraint allows;
 * `pieces[id]` is token id's text ("" for tokens that are never allowed). When the object
 * is complete, only the `eos` ids remain.
 */
export function maskScores(constraint, scores, pieces, eos) {
  if (constraint.done) {
    for (let i = 0; i < scores.length; i++) if (!eos.has(i)) scores[i] = -Infinity;
    return;
  }
  // Most tokens fail on their first character: step each first character once, then walk
  // only the rest of the tokens it lets through.
  const after = new Map();
  for (let i = 0; i < scores.length; i++) {
    if (scores[i] === -Infinity) continue;
    const piece = pieces[i];
    if (!piece) { scores[i] = -Infinity; continue; }
    const first = String.fromCodePoint(piece.codePointAt(0));
    let state = after.get(first);
    if (state === undefined) after.set(first, state = constraint.step(constraint.state, first));
    if (!state || (piece.length > first.length && !constraint.walk(state, piece.slice(first.length)))) scores[i] = -Infinity;
  }
}
