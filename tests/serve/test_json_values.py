"""Both CPU engines' JSON constraints admit exactly the same values, under Node: wllama's GBNF
grammar (json-grammar.js, read by a small recognizer, gbnf_match.mjs) and transformers.js's
automaton (json-constraint.js) each take every value listed valid here and refuse every one
listed invalid, field kind by field kind: copied spans of whole words, a date (a form
schema's date pattern, recognised as the format), choices, booleans, numbers and length-limited strings. Fields right
in bench/task_engines.py then measure the model, not which constraint let more through."""

from __future__ import annotations

from pathlib import Path

from serve_helpers import run_node_checks

NODE_CHECKS = r"""
import assert from "node:assert/strict";
const { JsonSchemaConstraint } = await import("./static/json-constraint.js");
const { schemaGrammar } = await import("./static/json-grammar.js");
const { deriveSchema } = await import("./static/form-schema.js");

const text = 'Call "John" Smith\n(415) 555-0100' + " ".repeat(20) + "Bye";
const { formatOf } = await import("./static/json-values.js");
// A form's date field, as form-schema.js derives it: "" or the date's shape by pattern alone
// (no `format`, which would let WebLLM's JSON-schema grammar refuse ""); the constraints
// recognise the pattern, as they do a `format: "date"`.
const dateField = deriveSchema({elements: [{name: "d", type: "date", tagName: "INPUT", hasAttribute: () => false,
  getAttribute: () => "", labels: [], placeholder: ""}]}).schema.properties.d;
assert.equal(dateField.format, undefined);
assert.equal(formatOf(dateField), "date");
assert.equal(formatOf({type: "string", format: "date"}), "date");
assert.equal(formatOf({type: "string", pattern: "^[0-9]*$"}), "");
const schema = {type: "object", properties: {name: {type: "string"}, d: dateField,
  kind: {type: "string", enum: ["", "a", 'b"c']}, ok: {type: "boolean"}, n: {type: "integer"},
  x: {type: "number"}, note: {type: "string", maxLength: 5}}};
const copy = {text, fields: ["name"]};
const rules = parseGrammar(schemaGrammar(schema, {copy}));
const base = {name: '""', d: '""', kind: '""', ok: "true", n: "0", x: "0", note: '""'};
// Raw JSON as the model writes it, per field: [valid, invalid].
const cases = {
  name: [['""', '"Call"', '"Call \\"John\\""', '"\\"John\\""', '"John"', '"Smith\\n(415)"', '"555-0100"', '"Bye"', '"(415) 555-0100"'],
         ['"Cal"', '"all"', '"John Smith"', '"555-0100 Bye"', '"Bob"', '" Call"', '"Smith\\n"', '"Call\\n"', '"Call"x']],
  d: [['""', '"2026-11-14"', '"1999-12-31"', '"2026-01-09"'],
      ['"2026-1-14"', '"14/11/2026"', '"A-48213"', '"2026-11-14x"', '"2026-21-01"', '"2026-11-4"', '"2026-11-14 "', '"2026"']],
  kind: [['""', '"a"', '"b\\"c"'], ['"ab"', '"A"', '"b"', 'a', '"b\\\\"c"']],
  ok: [["true", "false"], ['"true"', "True", "1", "tru"]],
  n: [["0", "-0", "7", "-12", "123456789012345"], ["01", "1.5", "1234567890123456", "-", "+1", "1e3", '""']],
  x: [["1.5", "-0.25", "3", "0.123456", "0"], ["1.", ".5", "1.1234567", "00.1", "-.5", "1..2"]],
  note: [['""', '"abcde"', '"a\\"b"', '"ab\\ncd"', '"\\\\\\\\"', '"\\/"'],
         ['"abcdef"', '"a\u0001"', '"a\\q"', '"\\u0041"', '"ab\\ncde"', '"a\u007f"']],
};
const doc = (field, raw) => "{" + Object.entries({...base, [field]: raw}).map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",") + "}";
const automaton = (s) => { const k = new JsonSchemaConstraint(schema, {copy}); const end = k.walk(k.state, s); return !!end && end.seg === k.segs.length; };
for (const [field, [valid, invalid]] of Object.entries(cases)) {
  for (const [raws, want] of [[valid, true], [invalid, false]]) {
    for (const raw of raws) {
      const s = doc(field, raw);
      assert.equal(automaton(s), want, `automaton, ${field}: ${raw}`);
      assert.equal(admits(rules, s), want, `grammar, ${field}: ${raw}`);
    }
  }
}
// The form schema's date pattern is the same shape: it validates what the constraints admit.
const date = new RegExp(dateField.pattern);
for (const raw of cases.d[0]) assert.ok(date.test(JSON.parse(raw)), raw);
for (const raw of cases.d[1].filter((r) => r.startsWith('"') && r.endsWith('"'))) assert.ok(!date.test(JSON.parse(raw)), raw);
console.log("ok");
"""


def test_both_cpu_constraints_admit_exactly_the_valid_values(tmp_path):
    matcher = (Path(__file__).with_name("gbnf_match.mjs")).read_text()
    run_node_checks(tmp_path, matcher.replace("export function", "function") + NODE_CHECKS)
