// A small GBNF recognizer for tests: whether a grammar from json-grammar.js admits a whole
// string, read as llama.cpp reads the subset that module writes (literals, [classes],
// rule names, groups, |, ?, *, +, {m,n}). No left recursion, which that module never writes.

function parseLiteral(src, i, close) {
  let out = "";
  while (src[i] !== close) {
    if (src[i] === "\\") {
      const c = src[i + 1];
      if (c === "x") { out += String.fromCharCode(parseInt(src.slice(i + 2, i + 4), 16)); i += 4; continue; }
      out += { n: "\n", r: "\r", t: "\t" }[c] ?? c;
      i += 2;
      continue;
    }
    out += src[i++];
  }
  return [out, i + 1];
}

function parseClass(src, i) {
  const negated = src[i] === "^";
  if (negated) i++;
  const [body, end] = parseLiteral(src, i, "]");
  const chars = [...body];
  const ranges = [];
  for (let k = 0; k < chars.length; k++) {
    if (chars[k + 1] === "-" && k + 2 < chars.length) { ranges.push([chars[k], chars[k + 2]]); k += 2; }
    else ranges.push([chars[k], chars[k]]);
  }
  return [{ cls: ranges, negated }, end];
}

function parseAlt(src, i) {
  const alts = [];
  let seq = [];
  for (;;) {
    while (src[i] === " ") i++;
    const c = src[i];
    if (c === undefined || c === ")") { alts.push(seq); return [{ alt: alts }, i + 1]; }
    if (c === "|") { alts.push(seq); seq = []; i++; continue; }
    let item;
    if (c === "\"") [item, i] = ((r) => [{ lit: r[0] }, r[1]])(parseLiteral(src, i + 1, "\""));
    else if (c === "[") [item, i] = parseClass(src, i + 1);
    else if (c === "(") [item, i] = parseAlt(src, i + 1);
    else { const m = /^[a-z0-9-]+/.exec(src.slice(i)); item = { ref: m[0] }; i += m[0].length; }
    const q = /^(\?|\*|\+|\{(\d+)(,(\d*))?\})/.exec(src.slice(i));
    if (q) {
      const [min, max] = q[1] === "?" ? [0, 1] : q[1] === "*" ? [0, Infinity] : q[1] === "+" ? [1, Infinity]
        : [Number(q[2]), q[3] === undefined ? Number(q[2]) : q[4] === "" ? Infinity : Number(q[4])];
      item = { rep: item, min, max };
      i += q[0].length;
    }
    seq.push(item);
  }
}

/** {rule name: expression} of a grammar text. */
export function parseGrammar(text) {
  const rules = {};
  for (const line of text.split("\n").filter(Boolean)) {
    const [name, body] = line.split(/ ::= (.*)/s);
    rules[name] = parseAlt(body, 0)[0];
  }
  return rules;
}

/** The positions where `e` can end when it starts at `pos` in `s`. */
function ends(rules, e, s, pos) {
  if (e.lit !== undefined) return s.startsWith(e.lit, pos) ? [pos + e.lit.length] : [];
  if (e.cls) {
    const ch = String.fromCodePoint(s.codePointAt(pos) ?? 0);
    if (pos >= s.length) return [];
    const inside = e.cls.some(([a, b]) => ch >= a && ch <= b);
    return inside !== e.negated ? [pos + ch.length] : [];
  }
  if (e.ref) return ends(rules, rules[e.ref], s, pos);
  if (e.alt) {
    const out = new Set();
    for (const seq of e.alt) {
      let at = new Set([pos]);
      for (const item of seq) at = new Set([...at].flatMap((p) => ends(rules, item, s, p)));
      at.forEach((p) => out.add(p));
    }
    return [...out];
  }
  const out = new Set(e.min === 0 ? [pos] : []);
  let at = new Set([pos]);
  for (let n = 1; n <= e.max && at.size; n++) {
    at = new Set([...at].flatMap((p) => ends(rules, e.rep, s, p)));
    if (n >= e.min) at.forEach((p) => out.add(p));
  }
  return [...out];
}

/** Whether the grammar's root admits all of `s`. */
export function admits(rules, s) {
  return ends(rules, rules.root, s, 0).includes(s.length);
}
