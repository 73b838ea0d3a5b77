// Fill a form from free text with the model: schema from the form, JSON constrained by
// WebLLM's response_format, validated here, written into the fields and marked for review.
// Nothing is submitted: the user reviews the marked fields first.

import { deriveSchema, validate } from "./form-schema.js";

const SYSTEM = "You copy contact details from a text into a form. Use only facts written in the text. " +
  "Copy names, emails, companies and places exactly as written. Use \"\" for anything the text does not say.";

/** The user message: the fields (name: label, choices) and the text. */
export function buildPrompt(schema, text) {
  const lines = Object.entries(schema.properties).map(([name, p]) => {
    const choices = p.enum ? ` (one of: ${p.enum.filter(Boolean).join(", ")})` : p.type === "boolean" ? " (true or false)" : "";
    return `- ${name}: ${p.description || name}${choices}`;
  });
  return `Text:\n"""\n${text.trim()}\n"""\n\nFields:\n${lines.join("\n")}\n\nAnswer with one JSON object.`;
}

const norm = (s) => String(s).toLowerCase().replace(/\s+/g, " ").trim();
const digits = (s) => String(s).replace(/\D/g, "");

/** Whether a string value can be found in the source text (a guard against invented data). */
export function isGrounded(value, text) {
  if (typeof value !== "string" || !value) return true;
  if (norm(text).includes(norm(value))) return true;
  const d = digits(value);
  return d.length >= 5 && digits(text).includes(d); // phone numbers written differently
}

function setControl(form, name, value) {
  const controls = [...form.elements].filter((el) => el.name === name);
  if (!controls.length) return null;
  const first = controls[0];
  if (first.type === "radio") {
    const match = controls.find((el) => el.value === value);
    if (!match) return null;
    match.checked = true;
    return match.closest("fieldset") || match;
  }
  if (first.type === "checkbox") first.checked = Boolean(value);
  else first.value = value;
  // Frameworks listen for these, as they would for a user's typing.
  first.dispatchEvent(new Event("input", { bubbles: true }));
  first.dispatchEvent(new Event("change", { bubbles: true }));
  return first;
}

/** Remove the "filled by the model" marks once the user edits a field: it is reviewed. */
function markFilled(target, grounded) {
  target.classList.add("webslm-filled");
  target.classList.toggle("webslm-unverified", !grounded);
  target.dataset.webslmFilled = grounded ? "model" : "model-unverified";
  const clear = () => {
    target.classList.remove("webslm-filled", "webslm-unverified");
    delete target.dataset.webslmFilled;
  };
  target.addEventListener("input", (e) => e.isTrusted && clear());
}

/** Forget the marks of an earlier fill. */
export function clearMarks(form) {
  for (const el of form.querySelectorAll("[data-webslm-filled]")) {
    el.classList.remove("webslm-filled", "webslm-unverified");
    delete el.dataset.webslmFilled;
  }
}

/**
 * Ask `chat` (from createChat) to fill `form` from `text`.
 * Returns {values, filled: [names], unverified: [names], rejected: {name: [problems]}, raw, usage}.
 * Throws when the answer is not JSON at all (e.g. cut off by max_tokens).
 */
export async function fillForm(chat, form, text, { maxTokens = 256, temperature = 0, signal } = {}) {
  const { schema } = deriveSchema(form);
  const request = {
    messages: [{ role: "system", content: SYSTEM }, { role: "user", content: buildPrompt(schema, text) }],
    response_format: { type: "json_object", schema: JSON.stringify(schema) },
    temperature, top_p: 1, max_tokens: maxTokens, stream: false,
  };
  const stop = () => chat.interrupt();
  signal?.addEventListener("abort", stop);
  let reply;
  try {
    reply = await chat.chat.completions.create(request);
  } finally {
    signal?.removeEventListener("abort", stop);
  }
  const raw = reply.choices[0].message.content || "";
  let values;
  try {
    values = JSON.parse(raw);
  } catch {
    const why = reply.choices[0].finish_reason === "length" ? " (it ran out of tokens)" : "";
    throw new Error(`The model's answer is not complete JSON${why}: ${raw.slice(0, 200)}`);
  }
  const check = validate(schema, values);
  clearMarks(form);
  const filled = [];
  const unverified = [];
  for (const [name, value] of Object.entries(values)) {
    if (check.byField[name] || value === "" || value === false) continue; // invalid or "not stated"
    const target = setControl(form, name, value);
    if (!target) continue;
    const grounded = isGrounded(value, text);
    markFilled(target, grounded);
    filled.push(name);
    if (!grounded) unverified.push(name);
  }
  return { values, filled, unverified, rejected: check.byField, raw, usage: reply.usage, schema };
}
