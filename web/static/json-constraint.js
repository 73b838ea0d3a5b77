// Schema-constrained decoding for engines without a grammar engine (transformers.js).
// WebLLM constrains JSON with xgrammar; here the same guarantee comes from a small
// character automaton over the flat object schemas forms produce: the output is always
//   {"key1":<value1>,"key2":<value2>,...}
// with the keys in schema order, strings (or one of their enum values), booleans and
// numbers as values. The keys and punctuation can only be written one way, so the model
// effectively chooses just the values, and the result always parses and has every key.
// For extraction, `copy: {text, fields}` also limits the named string fields to pieces of
// `text` (or ""): a small model then cannot misspell or invent what it was asked to copy.

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
      segs.push({ lit: `${literal}"` }, { string: true, maxLength: prop.maxLength, copy: copyFields.has(name) });
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

/**
 * The automaton. States are small frozen objects, so checking a candidate token never
 * changes the current state: {seg, pos, text, esc}.
 */
export class JsonSchemaConstraint {
  constructor(schema, { maxStringChars = 96, copy = null } = {}) {
    if (!canConstrain(schema)) throw new Error("JsonSchemaConstraint handles flat objects of strings, enums, booleans and numbers");
    this.segs = segments(schema, new Set(copy?.fields || []));
    this.copyText = copy?.text || "";
    this.maxStringChars = maxStringChars;
    this.state = { seg: 0, pos: 0, text: "", esc: false };
  }

  get done() { return this.state.seg >= this.segs.length; }

  /** The state after `ch` from `s`, or null when `ch` cannot come next. */
  step(s, ch) {
    const seg = this.segs[s.seg];
    if (!seg) return null; // complete: nothing more may follow
    if (seg.lit !== undefined) {
      if (seg.lit[s.pos] !== ch) return null;
      return s.pos + 1 === seg.lit.length ? { seg: s.seg + 1, pos: 0, text: "", esc: false } : { ...s, pos: s.pos + 1 };
    }
    if (seg.choices) {
      const text = s.text + ch;
      if (!seg.choices.some((c) => c.startsWith(text))) {
        // A complete choice followed by the next literal's first character.
        if (seg.choices.includes(s.text)) return this.step({ seg: s.seg + 1, pos: 0, text: "", esc: false }, ch);
        return null;
      }
      return { ...s, text };
    }
    if (seg.number) {
      const text = s.text + ch;
      const re = seg.integer ? /^-?(0|[1-9]\d*)?$/ : /^-?(0|[1-9]\d*)?(\.\d*)?$/;
      if (re.test(text) && text.length <= 24) return { ...s, text };
      if (/\d$/.test(s.text)) return this.step({ seg: s.seg + 1, pos: 0, text: "", esc: false }, ch);
      return null;
    }
    // A string's characters, up to the closing quote (which belongs to the next literal).
    const limit = Math.min(seg.maxLength ?? Infinity, this.maxStringChars);
    if (s.esc) {
      if (!"\"\\/bfnrt".includes(ch)) return null;
      return { ...s, text: s.text + ch, esc: false };
    }
    if (ch === "\"") return this.step({ seg: s.seg + 1, pos: 0, text: "", esc: false }, ch);
    if (ch < " " || s.text.length >= limit) return null;
    if (seg.copy) return ch !== "\\" && this.copyText.includes(s.text + ch) ? { ...s, text: s.text + ch } : null;
    if (ch === "\\") return { ...s, text: s.text + ch, esc: true };
    return { ...s, text: s.text + ch };
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
  for (let i = 0; i < scores.length; i++) {
    if (scores[i] === -Infinity) continue;
    const piece = pieces[i];
    if (!piece || !constraint.allows(piece)) scores[i] = -Infinity;
  }
}
