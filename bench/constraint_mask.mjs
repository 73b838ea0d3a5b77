// What transformers.js's schema constraint costs per token on the CPU: maskScores over a real
// vocabulary while the returns form's right answer is written token by token (the longest
// allowed piece each step), in Node. Usage (docs/BENCHMARKS.md, "The CPU engine per task"):
//   node bench/constraint_mask.mjs <tokenizer.json of a byte-level BPE model>
import fs from "node:fs";
import { JsonSchemaConstraint, maskScores } from "../web/static/json-constraint.js";

const tok = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
// GPT-2's byte-level alphabet back to bytes.
const bytes = [];
for (let b = 0; b < 256; b++) if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) bytes.push(b);
const chars = [...bytes];
for (let b = 0, n = 0; b < 256; b++) if (!bytes.includes(b)) { bytes.push(b); chars.push(256 + n++); }
const byteOf = new Map(chars.map((c, i) => [String.fromCharCode(c), bytes[i]]));
const size = Object.keys(tok.model.vocab).length + tok.added_tokens.length;
const pieces = new Array(size).fill("");
for (const [t, id] of Object.entries(tok.model.vocab)) {
  const s = new TextDecoder().decode(Uint8Array.from([...t].map((c) => byteOf.get(c) ?? 63)));
  pieces[id] = s.includes("\uFFFD") ? "" : s;
}
const text = fs.readFileSync(new URL("./task_forms.py", import.meta.url), "utf8").split('RETURNS_TEXT = """')[1].split('"""')[0];
const schema = { type: "object", properties: { name: { type: "string" }, email: { type: "string" }, order: { type: "string" },
  product: { type: "string" }, reason: { type: "string", enum: ["", "damaged", "wrong-item", "wrong-size", "changed-mind"] },
  purchased: { type: "string", format: "date" }, resolution: { type: "string", enum: ["", "refund", "exchange"] } } };
const copy = { text, fields: ["name", "email", "order", "product"] };
const answer = JSON.stringify({ name: "Daniel Okafor", email: "daniel.okafor@example.net", order: "A-48213",
  product: "hiking boots", reason: "damaged", purchased: "2026-11-14", resolution: "refund" });
const k = new JsonSchemaConstraint(schema, { copy });
let rest = answer;
let steps = 0;
let ms = 0;
while (rest.length) {
  const scores = new Float32Array(size);
  const t0 = performance.now();
  maskScores(k, scores, pieces, new Set());
  ms += performance.now() - t0;
  let best = "";
  for (let i = 0; i < size; i++) if (scores[i] !== -Infinity && rest.startsWith(pieces[i]) && pieces[i].length > best.length) best = pieces[i];
  if (!best) throw new Error(`no allowed token writes ${rest}`);
  k.accept(best);
  rest = rest.slice(best.length);
  steps++;
}
console.log(`${size} tokens, ${steps} steps, ${(ms / steps).toFixed(1)} ms a step in maskScores`);
