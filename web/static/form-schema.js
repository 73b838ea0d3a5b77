// Derive a JSON schema from an HTML form's fields, and validate an answer against it.
// The schema is what the model is constrained to (WebLLM response_format); validation runs
// again here because constrained decoding can still be cut off by max_tokens, and because
// the page must never trust model output blindly.

import { optionalFormatPattern } from "./json-values.js";

// Patterns allow "" too: the model answers "" for anything the text does not state. A date's
// is json-values.js's shape, which both CPU engines' constraints recognise and enforce.
const PATTERNS = {
  email: "^([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,})?$",
  tel: "^[+0-9 ().-]*$",
  date: optionalFormatPattern("date"),
};
const SKIP_TYPES = new Set(["submit", "button", "reset", "hidden", "file", "password", "image"]);

/** The human label of a form control: its <label>, aria-label, placeholder or name. */
export function labelOf(el) {
  const label = el.labels && el.labels[0] ? el.labels[0].textContent : "";
  return (label || el.getAttribute("aria-label") || el.placeholder || el.name).replace(/\s+/g, " ").replace(/[*:]\s*$/, "").trim();
}

function propertyFor(el) {
  const type = (el.type || "").toLowerCase();
  if (type === "checkbox") return { type: "boolean" };
  if (el.tagName === "SELECT") return { type: "string", enum: [...el.options].map((o) => o.value) };
  if (type === "number" || type === "range") return { type: "number" };
  const prop = { type: "string" };
  if (PATTERNS[type]) prop.pattern = PATTERNS[type];
  if (el.maxLength > 0) prop.maxLength = el.maxLength;
  return prop;
}

/** Whether `el` is a control a schema is derived from (and so the only kind fillForm writes):
 * named, enabled, visible to the user as a field, and not marked data-webslm-skip. */
export function isFillable(el) {
  const type = (el.type || "").toLowerCase();
  if (!el.name || el.disabled || SKIP_TYPES.has(type) || el.hasAttribute("data-webslm-skip")) return false;
  return !["FIELDSET", "BUTTON", "OUTPUT"].includes(el.tagName);
}

/** `object[name]` when `object` has it as its own property; never a prototype's (constructor,
 * toString, __proto__ are not field names of a plain object). */
export const own = (object, name) => (object && Object.hasOwn(object, name) ? object[name] : undefined);

/**
 * {schema, fields}: one property per named control of `form`, in document order.
 * Skipped: buttons, hidden/password/file inputs, disabled controls, and anything marked
 * data-webslm-skip (e.g. the free-text area the answer is extracted from). Radio groups
 * become one enum. Every property is required: "" / false stand for "not in the text",
 * which keeps the grammar simple and the output shape fixed.
 */
export function deriveSchema(form) {
  const properties = new Map(); // a Map: a control may be named "constructor" or "__proto__"
  const fields = [];
  for (const el of form.elements) {
    if (!isFillable(el)) continue;
    const type = (el.type || "").toLowerCase();
    if (type === "radio") {
      const known = properties.get(el.name);
      if (known) { known.enum?.push(el.value); continue; }
      properties.set(el.name, { type: "string", enum: ["", el.value], description: labelOf(el) });
      fields.push({ name: el.name, label: el.closest("fieldset")?.querySelector("legend")?.textContent.trim() || el.name, kind: "radio" });
      continue;
    }
    if (properties.has(el.name)) continue; // a repeated name: the first control wins
    const prop = propertyFor(el);
    prop.description = labelOf(el);
    properties.set(el.name, prop);
    // autocomplete ("name", "email", "organization", "address-level2", ...) says what a field
    // holds in standard words; form-prompt.js builds its worked example from it.
    const autocomplete = (el.getAttribute("autocomplete") || "").trim().toLowerCase().split(/\s+/).pop();
    fields.push({ name: el.name, label: prop.description, kind: el.tagName === "SELECT" ? "select" : type || "text", autocomplete });
  }
  const schema = { type: "object", properties: Object.fromEntries(properties), required: [...properties.keys()], additionalProperties: false };
  return { schema, fields };
}

function typeOk(type, value) {
  if (type === "string") return typeof value === "string";
  if (type === "boolean") return typeof value === "boolean";
  if (type === "number") return typeof value === "number" && Number.isFinite(value);
  if (type === "object") return value !== null && typeof value === "object" && !Array.isArray(value);
  return true;
}

/** Check one property value: [] when fine, else messages. */
export function checkProperty(name, prop, value) {
  if (!typeOk(prop.type, value)) return [`${name}: expected a ${prop.type}, got ${JSON.stringify(value)}`];
  const errors = [];
  if (prop.enum && !prop.enum.includes(value)) errors.push(`${name}: ${JSON.stringify(value)} is not one of the choices`);
  if (prop.pattern && !new RegExp(prop.pattern).test(value)) errors.push(`${name}: ${JSON.stringify(value)} does not look like a ${prop.description || "valid value"}`);
  if (prop.maxLength !== undefined && value.length > prop.maxLength) errors.push(`${name}: longer than ${prop.maxLength} characters`);
  return errors;
}

/** Validate `value` against an object schema made by deriveSchema: {valid, errors, byField}. */
export function validate(schema, value) {
  const errors = [];
  const byField = Object.create(null); // keyed by the answer's names, which may be "__proto__"
  if (!typeOk("object", value)) return { valid: false, errors: ["the answer is not a JSON object"], byField };
  for (const name of schema.required || []) {
    if (!Object.hasOwn(value, name)) (byField[name] = [`${name}: missing`]) && errors.push(`${name}: missing`);
  }
  for (const [name, v] of Object.entries(value)) {
    const prop = own(schema.properties, name);
    const problems = prop ? checkProperty(name, prop, v) : schema.additionalProperties === false ? [`${name}: not a field of this form`] : [];
    if (problems.length) { byField[name] = problems; errors.push(...problems); }
  }
  return { valid: errors.length === 0, errors, byField };
}
