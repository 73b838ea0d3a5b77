// Test page driver: runs one model in the unmodified WebLLM engine (webllm_run.js), for
// Playwright. The result lands in window.__webslmResult.

import { adapterFacts, runWebLLM } from "./webllm_run.js";

const status = (text) => {
  window.__webslmStage = text;
  const el = document.getElementById("status");
  if (el) el.textContent = text;
};

window.webslmAdapter = async () => ({
  secure_context: window.isSecureContext, ...(await adapterFacts(navigator.gpu)),
});

// Import the engine module; report its exports or the import error.
window.webslmImport = async (webllmUrl) => {
  try {
    const mod = await import(webllmUrl);
    return { exports: Object.keys(mod).sort() };
  } catch (e) {
    return { error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
};

async function run(cfg) {
  const progress = [];
  window.__webslmProgress = progress;
  let webllm;
  try {
    status("import");
    webllm = await import(cfg.webllm_url);
  } catch (e) {
    window.__webslmResult = { progress, error: `${e.name}: ${e.message}`, failed_stage: "import" };
    return;
  }
  const result = await runWebLLM(cfg, { webllm, gpu: navigator.gpu, status, progress });
  result.adapter_info = { secure_context: window.isSecureContext, ...result.adapter_info };
  window.__webslmResult = result;
}

// Start a run without awaiting it; Python polls window.__webslmResult with its own timeout.
window.webslmStart = (cfg) => {
  window.__webslmResult = undefined;
  run(cfg);
  return true;
};

status("ready");
window.__webslmReady = true;
