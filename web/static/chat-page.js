// The chat page's start-up: read the model list, check WebGPU before any download, offer
// the builds that can run, load the chosen one in a worker with a progress bar, then hand
// the chat over to ChatUI. Everything model-related goes through webslm.js.

import {
  loadModels, probeGPU, chooseEngine, engineFromUrl, dtypeFromUrl, buildProblems, createChat, describeProgress,
  explainError, formatBytes, registerOffline, engineLabel, runsOnCpu,
} from "../webslm.js";
import { ChatUI } from "./chat-ui.js";
import { CachePanel } from "./cache-panel.js";

const $ = (id) => document.getElementById(id);
const app = $("app");
const setState = (state) => { app.dataset.state = state; };
const ui = new ChatUI({ setState });
// For the console and the browser tests: what was listed, probed, chosen and seen.
const page = { listing: null, gpu: null, chat: null, choice: null, ui, stages: [] };
window.webslmPage = page;
const cache = new CachePanel({
  getListing: () => page.listing,
  getSelectedBuild: () => page.choice?.build?.id,
});

function fail(text) {
  $("error").textContent = text;
  $("error").hidden = false;
  setState("error");
}

function option(value, text, disabled = false) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  o.disabled = disabled;
  return o;
}

// One entry per model family ("best build for this GPU") and, below, every build; builds
// this GPU cannot run stay visible but disabled, with the reason in their label.
function fillPicker() {
  const select = $("model-select");
  const { models } = page.listing;
  const families = [...new Set(models.map((m) => m.family))];
  const auto = families.map((f) => option(f, `${f} (best engine and build for this browser)`));
  const group = document.createElement("optgroup");
  group.label = "Specific builds";
  for (const m of models) {
    const problems = buildProblems(m, page.gpu);
    const size = m.engine === "transformers.js" ? `ONNX ${m.dtypes.join("/")}, transformers.js` : formatBytes(m.size_bytes);
    const why = problems.length ? (problems.some((p) => p.includes("shader-f16")) ? " · needs shader-f16, unavailable here" : " · cannot run on this GPU") : "";
    group.append(option(m.id, `${m.id} · ${size}${why}`, problems.length > 0));
  }
  select.replaceChildren(...auto, group);
}

// The engine that will run the selection, and why (WebLLM on WebGPU, else transformers.js
// on WebGPU, else on WASM; ?engine= in the URL forces one).
function showChoice() {
  page.choice = chooseEngine(page.listing.models, page.gpu, { wanted: $("model-select").value, engine: engineFromUrl(), dtype: dtypeFromUrl() });
  const { build, engine } = page.choice;
  app.dataset.build = build ? build.id : "";
  app.dataset.engine = engine || "";
  const gpuName = page.gpu.info?.description || page.gpu.info?.vendor || "WebGPU adapter";
  const f16 = page.gpu.shaderF16 ? "has shader-f16" : "no shader-f16";
  const gpuLine = page.gpu.adapter ? `GPU: ${gpuName} (${f16}).` : page.gpu.reason;
  const size = build && (build.dtype_bytes?.[page.choice.dtype] ?? build.size_bytes);
  $("gpu-status").textContent = build
    ? `${gpuLine} ${page.choice.reason} Download ${formatBytes(size)}, context ${build.context_window} tokens.`
    : page.choice.reason;
  const runsOn = $("runs-on"); // the empty chat's words follow the engine chosen
  if (runsOn) runsOn.textContent = !engine ? "" : runsOnCpu(page.choice, page.gpu) ? ", on your CPU" : ", on your GPU";
  const badge = $("engine-badge");
  badge.hidden = !engine;
  badge.dataset.engine = engine || "";
  badge.textContent = engineLabel(page.choice, page.gpu);
  $("load-button").disabled = !build;
}

async function loadSelected() {
  const build = page.choice?.build;
  if (!build) return;
  $("load-button").disabled = true;
  $("model-select").disabled = true;
  $("error").hidden = true;
  setState("loading");
  if (page.chat) {
    ui.detach();
    await page.chat.unload().catch(() => {});
    page.chat = null;
  }
  $("progress").hidden = false;
  try {
    page.chat = await createChat({
      model: build.id,
      engine: page.choice.engine,
      dtype: page.choice.dtype || undefined,
      listing: page.listing,
      gpu: page.gpu,
      onProgress: (p) => {
        $("load-progress").value = p.fraction;
        $("progress-label").textContent = describeProgress(p);
        $("progress").dataset.stage = p.stage;
        if (page.stages.at(-1) !== p.stage) page.stages.push(p.stage);
      },
      onGpuEvent: (e) => fail(explainError(`${e.event}: ${e.message}`).message),
    });
    $("progress-label").textContent = `Ready: ${page.chat.model}`;
    ui.attach(page.chat);
    setState("ready");
    navigator.storage?.persist?.().catch(() => {}); // ask the browser not to evict the model
  } catch (err) {
    fail(explainError(err).message);
  } finally {
    $("load-button").disabled = !page.choice?.build;
    $("model-select").disabled = false;
    cache.refresh().catch(() => {});
  }
}

async function main() {
  registerOffline().catch((err) => console.warn("offline mode unavailable:", err));
  try {
    [page.listing, page.gpu] = await Promise.all([loadModels(), probeGPU()]);
  } catch (err) {
    fail(explainError(err).message);
    return;
  }
  fillPicker();
  $("model-select").addEventListener("change", showChoice);
  $("load-button").addEventListener("click", loadSelected);
  showChoice();
  if (!page.choice.engine) { // no WebGPU and no ONNX build to fall back on
    setState("unsupported");
    return;
  }
  setState("idle");
  app.dataset.ready = "true";
  cache.refresh().catch(() => {});
}

main();
