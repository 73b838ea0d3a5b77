// Where the engines' code comes from, in one place (WebLLM, transformers.js, wllama).
//
// An app built with a bundler (`npm install webslm`) gets them from node_modules: the bare
// specifiers below are what Vite, webpack and esbuild resolve and split into lazy chunks, so
// they must stay literal `import("...")` calls. A webslm site (`webslm serve`,
// `webslm export-site`) runs without a bundler: there the bare specifiers do not resolve
// (and import maps do not reach workers), so the copies the site serves under vendor/ are
// imported instead. ONNX Runtime's WASM files are found the same way, from the site root the
// app names (createChat's baseUrl): vendor/ort/ there, never a content delivery network.

const SITE_COPY = {
  "@mlc-ai/web-llm": "../vendor/web-llm/index.js",
  "@huggingface/transformers": "../vendor/transformers/transformers.js",
  "@wllama/wllama": "../vendor/wllama/index.js",
};
// wllama's one WASM file (its worker's code is inside index.js), under the site root.
const WLLAMA_WASM = "vendor/wllama/wasm/wllama.wasm";
const ORT_FOLDER = "vendor/ort/";

async function fromPackageOrSite(load, specifier) {
  try {
    return await load();
  } catch (packageError) {
    const siteCopy = new URL(SITE_COPY[specifier], import.meta.url).href;
    try {
      return await import(/* @vite-ignore */ /* webpackIgnore: true */ siteCopy);
    } catch (siteError) {
      throw new Error(`Cannot import ${specifier}: ${packageError.message} (as a package); `
        + `${siteError.message} (the site's copy at ${siteCopy})`);
    }
  }
}

let webllm = null;
/** WebLLM's module, imported once, on first use (6.8 MB: not at page load). */
export function importWebLLM() {
  webllm ||= fromPackageOrSite(() => import("@mlc-ai/web-llm"), "@mlc-ai/web-llm");
  return webllm;
}

let transformers = null;
/** transformers.js's module, imported once, on first use. */
export function importTransformers() {
  transformers ||= fromPackageOrSite(() => import("@huggingface/transformers"), "@huggingface/transformers");
  return transformers;
}

let wllama = null;
/** wllama's module (llama.cpp in WASM), imported once, on first use. */
export function importWllama() {
  wllama ||= fromPackageOrSite(() => import("@wllama/wllama"), "@wllama/wllama");
  return wllama;
}

/** wllama's WASM file under the webslm site at `base` (the folder of api/models.json). An
 * app built with a bundler serves it from there too (the site's vendor/wllama/ copy). */
export function wllamaWasmUrl(base) {
  return new URL(WLLAMA_WASM, base).href;
}

/** ONNX Runtime's WASM files under the webslm site at `base` (the folder of api/models.json). */
export function ortWasmFolder(base) {
  return new URL(ORT_FOLDER, base).href;
}

/**
 * onnxruntime-web's {mjs, wasm} pair in `folder`. On the CPU the plain build: asyncify exists
 * for WebGPU and costs speed on every call (docs/BENCHMARKS.md).
 */
export function ortWasmPaths(folder, { plain }) {
  const name = plain ? "ort-wasm-simd-threaded" : "ort-wasm-simd-threaded.asyncify";
  return { mjs: new URL(`${name}.mjs`, folder).href, wasm: new URL(`${name}.wasm`, folder).href };
}
