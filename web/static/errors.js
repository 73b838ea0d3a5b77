// Plain-language explanations for the failures a user can act on. Errors from the WebLLM
// worker cross the worker boundary as strings ("DeviceLostError: ..."), so classification
// works on the text, not on classes.

const KINDS = [
  {
    kind: "device-lost",
    re: /DeviceLostError|device (was |is )?lost|GPUDevice.*lost/i,
    message: "The GPU device was lost (the GPU ran out of memory, or its driver reset). Reload the page; if it keeps happening, close other GPU-heavy tabs or pick a smaller model.",
  },
  {
    kind: "out-of-memory",
    re: /out of memory|GPUOutOfMemoryError|\bOOM\b|Array buffer allocation failed|allocation failed|Cannot allocate/i,
    message: "Out of memory while running the model. Close other tabs or apps, or pick a smaller model or a smaller build.",
  },
  {
    kind: "quota-exceeded",
    re: /QuotaExceededError|quota (has been )?exceeded|exceeded the quota|storage quota/i,
    message: "The browser's storage quota is full, so the model cannot be cached. Delete cached models below, or free disk space, then try again.",
  },
  {
    kind: "no-webgpu",
    re: /WebGPU.*(not (available|supported|found))|navigator\.gpu|compatible GPU|WebGPUNotFoundError|WebGPUNotAvailableError/i,
    message: "WebGPU is not available in this browser, so the model cannot run here. Use a recent Chrome, Edge or Safari with WebGPU enabled.",
  },
  {
    kind: "shader-f16",
    re: /shader-f16|ShaderF16SupportError/i,
    message: "This build needs half-precision GPU shaders (shader-f16), which this GPU lacks. Pick the f32 build of the model.",
  },
  {
    kind: "network",
    re: /Failed to fetch|NetworkError|Cannot fetch|ERR_INTERNET_DISCONNECTED|net::/i,
    message: "A model file could not be downloaded. Check the connection (models load offline only after a complete first download).",
  },
  {
    kind: "context-window",
    re: /ContextWindowSizeExceededError|exceed context window/i,
    message: "The conversation no longer fits the model's context window. Start a new chat or shorten the messages.",
  },
];

const OWN_KINDS = { IntegrityError: "integrity", StorageFullError: "storage-full" };

/** {kind, message, detail}: `message` is for the user, `detail` the original text. */
export function explainError(err) {
  // createChat's own refusal (no build fits this GPU) is already written for the user.
  if (err && err.name === "NoUsableBuildError") return { kind: "no-usable-build", message: err.message, detail: err.message };
  // So are integrity.js's: they name the file, the hashes or the space needed, and the fix.
  if (err && OWN_KINDS[err.name]) return { kind: OWN_KINDS[err.name], message: err.message, detail: `${err.name}: ${err.message}` };
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  for (const k of KINDS) {
    if (k.re.test(detail)) return { kind: k.kind, message: k.message, detail };
  }
  return { kind: "other", message: `Something went wrong: ${detail}`, detail };
}
