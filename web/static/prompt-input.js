// The Prompt API's inputs, checked and put in the form webslm's engines take: prompts as
// chat messages, the response constraint as a JSON schema, sampling as a temperature. The
// errors are the spec's (webmachinelearning/prompt-api): TypeError, SyntaxError and
// NotSupportedError DOMExceptions, and QuotaExceededError with {requested, quota}.

import { canConstrain } from "./json-constraint.js";

/** Sampling parameters: greedy by default (small models answer best so); temperature is
 * honoured by every engine; topK 1 means greedy, and a larger topK samples at `temperature`
 * from the whole distribution (the engines' OpenAI-style requests have no top-k cut). */
export const PARAMS = Object.freeze({ defaultTopK: 1, maxTopK: 128, defaultTemperature: 0, maxTemperature: 2 });
/** The spec's sampling modes, as temperatures. */
const SAMPLING_MODES = { "most-predictable": 0, predictable: 0.3, balanced: 0.7, creative: 1, "most-creative": 1.4 };

export const domError = (name, message) => new DOMException(message, name);
export const abortError = (message = "The operation was aborted.") => domError("AbortError", message);

/** The spec's QuotaExceededError: {requested, quota} (a DOMException subclass where the browser has it). */
export function quotaExceeded(requested, quota) {
  const message = `The input needs ${requested} tokens; the session has room for ${quota}.`;
  if (typeof globalThis.QuotaExceededError === "function") {
    try { return new globalThis.QuotaExceededError(message, { requested, quota }); } catch { /* older shape */ }
  }
  return Object.assign(domError("QuotaExceededError", message), { requested, quota });
}

/** What a failed load means in the spec's words (the original error stays as `cause`). */
export function loadError(err) {
  if (err?.name === "NoUsableBuildError") return Object.assign(domError("NotSupportedError", err.message), { cause: err });
  const network = /Failed to fetch|NetworkError|Cannot reach|net::/i.test(String(err?.message ?? err));
  return Object.assign(domError(network ? "NetworkError" : "OperationError", String(err?.message ?? err)), { cause: err });
}

// ---- input checks (the spec's "validate and canonicalize a prompt") ----

/** The prompt as [{role, content: string, prefix}]; throws the spec's errors. `hasHistory`:
 * the session already holds messages (a system message may then no longer come). */
export function canonicalPrompt(input, { hasHistory = false, allowPrefix = false } = {}) {
  const list = typeof input === "string" ? [{ role: "user", content: input }] : input;
  if (!Array.isArray(list)) throw new TypeError("A prompt is a string or an array of {role, content} messages.");
  if (!list.length) throw domError("SyntaxError", "The prompt holds no messages.");
  return list.map((message, i) => {
    const { role, content, prefix = false } = message ?? {};
    if (!["system", "user", "assistant"].includes(role)) throw new TypeError(`Unknown message role ${JSON.stringify(role)}.`);
    if (prefix && (role !== "assistant" || i !== list.length - 1)) {
      throw domError("SyntaxError", "Only the last message, an assistant one, may be a prefix.");
    }
    if (prefix && !allowPrefix) throw domError("NotSupportedError", "webslm's engines do not continue a prefilled assistant message (prefix: true).");
    if (role === "system" && (hasHistory || i > 0)) {
      throw new TypeError("A system message may only open a conversation (the first message of initialPrompts or of the first prompt).");
    }
    const parts = typeof content === "string" ? [{ type: "text", value: content }] : content;
    if (!Array.isArray(parts)) throw new TypeError("A message's content is a string or an array of {type, value}.");
    let text = "";
    for (const part of parts) {
      if (part?.type !== "text") throw domError("NotSupportedError", `webslm's models take text only, not ${JSON.stringify(part?.type)}.`);
      if (typeof part.value !== "string") throw new TypeError("A text content's value is a string.");
      text += part.value;
    }
    return { role, content: text };
  });
}

/** The response constraint as a JSON schema object, or null; throws the spec's errors, and
 * NotSupportedError for what `engine` cannot enforce. */
export function constraintOf(options, engine = "") {
  const { responseConstraint: schema, omitResponseConstraintInput = false } = options;
  if (schema == null) {
    if (omitResponseConstraintInput) throw new TypeError("omitResponseConstraintInput needs a responseConstraint.");
    return null;
  }
  if (schema instanceof RegExp) throw domError("NotSupportedError", "webslm constrains answers with JSON schemas, not regular expressions.");
  if (typeof schema !== "object") throw new TypeError("responseConstraint is a JSON schema object.");
  if (engine.startsWith("transformers") && !canConstrain(schema)) {
    throw domError("NotSupportedError", "transformers.js constrains flat JSON objects only (strings, choices, booleans, numbers); WebLLM and wllama take any JSON schema.");
  }
  return schema;
}

/** Sampling from create()'s options: {temperature, topK, samplingMode}. */
export function samplingOf(options) {
  const { temperature, topK, samplingMode } = options;
  if (samplingMode !== undefined && samplingMode !== "default") {
    if (!(samplingMode in SAMPLING_MODES)) throw new TypeError(`Unknown samplingMode ${JSON.stringify(samplingMode)}.`);
    if (temperature !== undefined || topK !== undefined) throw new TypeError("Give samplingMode or temperature and topK, not both.");
    return { samplingMode, temperature: SAMPLING_MODES[samplingMode], topK: samplingMode === "most-predictable" ? 1 : PARAMS.maxTopK };
  }
  for (const [name, value] of Object.entries({ temperature, topK })) {
    if (value !== undefined && (typeof value !== "number" || Number.isNaN(value))) throw new TypeError(`${name} is a number.`);
  }
  const t = temperature === undefined ? PARAMS.defaultTemperature : Math.min(Math.max(temperature, 0), PARAMS.maxTemperature);
  const k = topK === undefined ? (temperature > 0 ? PARAMS.maxTopK : PARAMS.defaultTopK) : Math.min(Math.max(Math.floor(topK), 1), PARAMS.maxTopK);
  const given = temperature !== undefined || topK !== undefined;
  return { samplingMode: given ? undefined : "most-predictable", temperature: t, topK: k };
}

/** Whether the options ask for something other than text in and out, or for tools. */
export function asksBeyondText(options) {
  const types = [...(options.expectedInputs || []), ...(options.expectedOutputs || [])].map((e) => e?.type);
  return types.some((type) => type !== "text") || (options.tools || []).length > 0;
}

/** The messages a prompt sends: the conversation, the new input, and (unless omitted) the
 * schema in words on the last message, since a small model answers better knowing it. */
export function requestMessages(history, input, schema, omit) {
  const messages = [...history, ...input];
  if (!schema || omit) return messages;
  const last = messages[messages.length - 1];
  const hint = `\n\nAnswer with JSON that matches this JSON schema: ${JSON.stringify(schema)}`;
  return [...messages.slice(0, -1), { ...last, content: last.content + hint }];
}

/** The tokens of `messages` an engine refused to read (longer than its context): at the
 * `conversation`'s tokens per character (its `usage`), and more than the `room` they missed. */
export function estimateTokens(messages, conversation, usage, room) {
  const chars = (list) => list.reduce((n, m) => n + m.content.length, 0);
  const perChar = usage > 0 ? usage / Math.max(1, chars(conversation)) : 0.25;
  return Math.max(Math.ceil(chars(messages) * perChar), room + 1);
}
