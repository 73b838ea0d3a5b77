// webslm.js: the public ES module of a webslm site (served at <site>/webslm.js).
//
//   import { createChat } from "https://example.com/webslm/webslm.js";
//   const chat = await createChat({ model: "smollm2-135m", onProgress: (p) => console.log(p.label) });
//   const reply = await chat.chat.completions.create({ messages: [{ role: "user", content: "Hi" }] });
//   await chat.fillForm(document.querySelector("form"), signatureText);
//   await chat.unload();
//
// Importing it also defines <webslm-chat>. The chat page and the form demo use this module
// too: there is one code path for listing models, choosing an engine and a build, and
// talking to the engine (WebLLM on WebGPU, transformers.js on WebGPU or WASM, or wllama,
// llama.cpp in WASM, for the GGUF an ONNX build carries).

import { installOfflineWorker, registerOffline as registerAt } from "./static/offline-sw.js";
import { defineChatElement } from "./static/chat-element.js";

export { createChat, importWebLLM } from "./static/chat-client.js";
export { hostStats } from "./static/shared-client.js";
export { loadModels, familyOf, needsF16, fineTunesOf, describeDownload, siteBase, SITE_ROOT } from "./static/models.js";
export { probeGPU, chooseBuild, buildProblems, isSoftwareAdapter, REQUIRED_LIMITS } from "./static/gpu.js";
export { chooseEngine, engineFromUrl, dtypeFromUrl, wasmThreads, wllamaRuns, wllamaFitProblem, WLLAMA_MEMORY_BYTES, engineLabel, runsOnCpu, contextOf, ENGINES, ENGINE_ORDER, engineOrder, TASKS } from "./static/engines.js";
export { JsonSchemaConstraint, canConstrain, maskScores } from "./static/json-constraint.js";
export { parseProgress, describeProgress, formatBytes } from "./static/progress.js";
export { explainError } from "./static/errors.js";
export { deriveSchema, validate } from "./static/form-schema.js";
export { fillForm, isGrounded, clearMarks } from "./static/form-fill.js";
export { schemaForText, exampleFor, buildMessages } from "./static/form-prompt.js";
export { renderMarkdown, frameRenderer, destinationOf } from "./static/markdown.js";
export { LanguageModel, installLanguageModel } from "./static/language-model.js";
export { defineChatElement };

/** Make this site work offline after the first visit: registers webslm.js as its service
 * worker. Served as the site's webslm.js, no argument is needed; from a bundle, pass the URL
 * of the site's webslm.js (import.meta.url is then the bundle's chunk, refused). */
export const registerOffline = (workerUrl = import.meta.url) => registerAt(workerUrl);

// The same file is the site's offline service worker (see static/offline-sw.js for why).
if (typeof ServiceWorkerGlobalScope !== "undefined" && self instanceof ServiceWorkerGlobalScope) {
  installOfflineWorker(self);
} else {
  defineChatElement();
}
