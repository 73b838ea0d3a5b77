// Fill a form from free text with the model: schema from the form, JSON constrained by the
// engine (a createChat chat's response_format, or a Prompt API session's responseConstraint), validated here, written into the fields and marked for review.
// Nothing is submitted: the user reviews the marked fields first.

import { deriveSchema, validate, isFillable, own } from "./form-schema.js";
import { schemaForText, buildMessages, neutraliseSpecialTokens } from "./form-prompt.js";

const words = (s) => String(s).toLowerCase().match(/[\p{L}\p{N}]+/gu) || [];
const digits = (s) => String(s).replace(/\D/g, "");
// A number as people write one: digits broken only by spaces, dashes, dots, brackets or a "+"
// (a phone number: "+1 (415) 555-0199"), never across a line or a word.
const NUMBER = /\+?\d[\d \t().\/-]*\d|\d/g;

/**
 * Whether a string value comes from the source text: every word of it occurs in the text
 * (order and punctuation may differ). For phone numbers, a value's digit groups may be
 * split differently ("+1 (415) 555-0199" from "1 415 555 0199"): then its digits (5 or more)
 * must all lie in ONE number of the text, and its words with letters must still occur. A
 * value without a single letter or digit ("---", "...") is grounded by nothing. This keeps
 * invented data, or values copied from the prompt's example, out of the form.
 */
export function isGrounded(value, text) {
  if (typeof value !== "string") return true; // booleans, numbers, choices: the schema checks them
  if (!value) return true; // "" is the answer for "not in the text"; nothing is written
  const mine = words(value);
  if (!mine.length) return false;
  const have = new Set(words(text));
  if (mine.every((w) => have.has(w))) return true;
  if (!mine.filter((w) => /\p{L}/u.test(w)).every((w) => have.has(w))) return false;
  const d = digits(value);
  return d.length >= 5 && (String(text).match(NUMBER) || []).some((n) => digits(n).includes(d));
}

/** The controls of `form` that fillForm may write for `name`: the ones deriveSchema asked the
 * model about. A hidden, password, disabled or data-webslm-skip control sharing the name (Rails
 * puts <input type=hidden name=terms value=0> before its checkbox) is never touched. */
function controlsOf(form, name) {
  return [...form.elements].filter((el) => el.name === name && isFillable(el));
}

function setControl(form, name, value) {
  const controls = controlsOf(form, name);
  if (!controls.length) return null;
  const first = controls[0];
  if (first.type === "radio") {
    const match = controls.find((el) => el.type === "radio" && el.value === value);
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

/** Mark a field as filled by the model; the mark goes when the user edits it (reviewed). */
function markFilled(target) {
  target.classList.add("webslm-filled");
  target.dataset.webslmFilled = "model";
  const clear = () => {
    target.classList.remove("webslm-filled");
    delete target.dataset.webslmFilled;
  };
  target.addEventListener("input", (e) => e.isTrusted && clear());
}

/** Forget the marks of an earlier fill. */
export function clearMarks(form) {
  for (const el of form.querySelectorAll("[data-webslm-filled]")) {
    el.classList.remove("webslm-filled");
    delete el.dataset.webslmFilled;
  }
}

/** Whether `model` is a Prompt API session (webslm's LanguageModel or the browser's own)
 * rather than a createChat() chat. */
const isSession = (model) => typeof model.prompt === "function" && !model.chat?.completions;

/** The answer of a Prompt API session: {raw, finish, usage}. A clone answers, so the session
 * keeps its own conversation; the instruction opens the first user turn, since a system
 * message may only open a conversation and the session may have one. `webslm` (maxTokens,
 * copy) is webslm's extension: the browser's model ignores it. */
async function askSession(session, messages, schema, { maxTokens, copy, signal }) {
  const [system, ...turns] = messages;
  turns[0] = { ...turns[0], content: `${system.content}\n\n${turns[0].content}` };
  const fresh = await session.clone({ signal });
  try {
    const raw = await fresh.prompt(turns, { responseConstraint: schema, omitResponseConstraintInput: true, signal,
      webslm: { maxTokens, copy } });
    return { raw, finish: null, usage: undefined };
  } finally {
    fresh.destroy();
  }
}

/** The answer of a createChat() chat: {raw, finish, usage}. */
async function askChat(chat, request, signal) {
  const stop = () => chat.interrupt();
  signal?.addEventListener("abort", stop);
  try {
    const reply = await chat.chat.completions.create(request);
    return { raw: reply.choices[0].message.content || "", finish: reply.choices[0].finish_reason, usage: reply.usage };
  } finally {
    signal?.removeEventListener("abort", stop);
  }
}

/**
 * Ask `model` to fill `form` from `text`: a chat from createChat, or a Prompt API session
 * (webslm's LanguageModel, or the browser's, which samples as it was created).
 * Returns {values, filled: [names], ungrounded: [names whose answer is not in the text, left
 * empty], skipped: [names not asked for], rejected: {name: [problems]}, raw, usage, schema}.
 * Throws when the answer is not JSON at all (e.g. cut off by max_tokens).
 */
export async function fillForm(model, form, text, { maxTokens = 192, temperature = 0, signal } = {}) {
  const derived = deriveSchema(form);
  const { schema, skipped } = schemaForText(derived.schema, derived.fields, text);
  const kinds = new Map(derived.fields.map((f) => [f.name, f.kind]));
  // Free-text values must come from the text; choices, dates and booleans are checked by the schema.
  const isFreeText = (name) => { const prop = own(schema.properties, name);
    return !!prop && !prop.enum && prop.type === "string" && !["date", "select", "radio"].includes(kinds.get(name)); };
  // Pasted text is data: a "<|im_start|>" in it must not become the model's turn marker.
  const pasted = neutraliseSpecialTokens(text, model.specialTokens);
  const messages = buildMessages(schema, derived.fields, pasted);
  // Engines without a grammar engine (transformers.js) decode these fields as copies of
  // pieces of the text, and wllama's grammar allows only spans of its words; WebLLM ignores
  // it (isGrounded below checks its answer instead).
  const copy = { text: pasted, fields: Object.keys(schema.properties).filter(isFreeText) };
  const { raw, finish, usage } = isSession(model)
    ? await askSession(model, messages, schema, { maxTokens, copy, signal })
    : await askChat(model, { messages, response_format: { type: "json_object", schema: JSON.stringify(schema) },
      temperature, top_p: 1, max_tokens: maxTokens, stream: false, webslm: { copy } }, signal);
  let values;
  try {
    values = JSON.parse(raw);
  } catch {
    const why = finish === "length" ? " (it ran out of tokens)" : "";
    throw new Error(`The model's answer is not complete JSON${why}: ${raw.slice(0, 200)}`);
  }
  const check = validate(schema, values);
  clearMarks(form);
  const filled = [];
  const ungrounded = [];
  for (const [name, value] of Object.entries(values)) {
    if (check.byField[name] || value === "" || value === false) continue; // invalid or "not stated"
    if (isFreeText(name) && !isGrounded(value, text)) { ungrounded.push(name); continue; }
    const target = setControl(form, name, value);
    if (!target) continue;
    markFilled(target);
    filled.push(name);
  }
  return { values, filled, ungrounded, skipped, rejected: check.byField, raw, usage, schema };
}
