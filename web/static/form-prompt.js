// What the model is asked when it fills a form: which fields, and a worked example.
// Small models copy a pattern far better than they follow instructions: one example
// (signature -> JSON, built for THIS form) fixes which line is the company and which the
// city, and that absent things are "". Its values are a fictional person; form-fill.js
// drops any answer that does not occur in the user's text, so a copied example value
// never reaches the form.

const SYSTEM = "Copy the contact details in the user's text into JSON. Copy each value exactly as written. " +
  "Use \"\" when the text does not say.";

// Keyed by the HTML autocomplete token of a field (the standard hint for what it holds).
const EXAMPLE = {
  name: "Maria Rossi", "given-name": "Maria", "family-name": "Rossi",
  "organization-title": "Head of Operations", organization: "Northwind Traders",
  email: "maria.rossi@northwind.example", tel: "+39 02 555 0142",
  "street-address": "Via Roma 12", "address-line1": "Via Roma 12",
  "address-level2": "Milan", "postal-code": "20121", "country-name": "Italy",
};
// The order of the lines in the example signature.
const LINES = ["name", "organization-title", "organization", "email", "tel", "street-address",
  "address-line1", "address-level2", "postal-code", "country-name"];

// Typed fields whose kind of value plainly does not occur in the text are not asked for:
// each field asked costs the model a dozen or more tokens even to answer "".
const ABSENT = {
  email: (t) => !t.includes("@"),
  tel: (t) => (t.match(/[0-9]/g) || []).length < 6,
  date: (t) => !/\b\d{1,4}[-/.]\d{1,2}\b|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d|\b(today|tomorrow|next week|monday|tuesday|wednesday|thursday|friday)\b/i.test(t),
};

/** {schema, skipped}: the form's schema without the typed fields the text cannot fill. */
export function schemaForText(schema, fields, text) {
  const skipped = fields.filter((f) => ABSENT[f.kind] && ABSENT[f.kind](text)).map((f) => f.name);
  const properties = Object.fromEntries(Object.entries(schema.properties).filter(([k]) => !skipped.includes(k)));
  return { schema: { ...schema, properties, required: schema.required.filter((k) => !skipped.includes(k)) }, skipped };
}

/** The worked example for these fields: {text, answer} (answer as compact JSON). */
export function exampleFor(schema, fields) {
  const hint = new Map(fields.map((f) => [f.name, f.autocomplete]));
  const answer = {};
  const present = new Set();
  for (const [name, prop] of Object.entries(schema.properties)) {
    const token = hint.get(name);
    if (prop.type === "boolean") answer[name] = false;
    else if (prop.type === "number") answer[name] = 0;
    else if (token in EXAMPLE && !prop.enum) { answer[name] = EXAMPLE[token]; present.add(token); }
    else answer[name] = "";
  }
  if (present.has("given-name") && present.has("family-name")) present.add("name");
  const lines = LINES.filter((t) => present.has(t)).map((t) => EXAMPLE[t]);
  return { text: ["Kind regards,", ...lines].join("\n"), answer: JSON.stringify(answer) };
}

// Strings tokenizers read as control tokens when they appear in plain text: ChatML and
// Llama 3 (<|im_start|>, <|eot_id|>, ...), Gemma (<start_of_turn>, <end_of_turn>), Llama 2
// and Mistral ([INST], <<SYS>>), and the common <s>, </s>, <bos>, <eos>, <pad>, <unk>.
const SPECIAL = /<\|[^|<>\s]{1,48}\|>|<\/?(?:s|bos|eos|pad|unk|start_of_turn|end_of_turn|start_of_image|end_of_image)>|\[\/?INST\]|<<\/?SYS>>/g;
const BREAK = "\u200B"; // a zero-width space: the text reads the same, the token no longer matches

/**
 * `text` with every special-token string broken by a zero-width space after its first
 * character, so that pasted text cannot close the user's turn or open a forged one. `extra`
 * adds the model's own markers (createChat takes them from the build's chat template).
 */
export function neutraliseSpecialTokens(text, extra = []) {
  let out = String(text).replace(SPECIAL, (token) => token[0] + BREAK + token.slice(1));
  for (const token of extra || []) {
    if (typeof token === "string" && /^\S{2,64}$/.test(token) && /[<[|]/.test(token)) out = out.split(token).join(token[0] + BREAK + token.slice(1));
  }
  return out;
}

/** The chat messages that ask for `schema`'s fields from `text`. */
export function buildMessages(schema, fields, text) {
  const example = exampleFor(schema, fields);
  const messages = [{ role: "system", content: SYSTEM }];
  if (example.text.includes("\n")) { // only when the example shows something
    messages.push({ role: "user", content: example.text }, { role: "assistant", content: example.answer });
  }
  messages.push({ role: "user", content: text.trim() });
  return messages;
}
