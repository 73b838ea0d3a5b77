// The chat page's start-up: read the model list, check WebGPU before any download, offer
// the builds that can run, load the chosen one in a worker with a progress bar, then hand
// the chat over to ChatUI. Everything model-related goes through webslm.js (the load
// through load-progress.js, shared with the form demo).

import {
  loadModels, probeGPU, chooseEngine, engineFromUrl, dtypeFromUrl, buildProblems,
  explainError, formatBytes, registerOffline, engineLabel, runsOnCpu, describeDownload, contextOf,
} from "../webslm.js";
import { ChatUI } from "./chat-ui.js";
import { CachePanel } from "./cache-panel.js";
import { loadWithProgress } from "./load-progress.js";

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
page.cache = cache;

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
// this GPU cannot run stay visible but disabled, with the reason in their label. A fine-tune
// built over a base ("base + adapter") comes right after its base's family, and its builds
// in a group of their own, "Fine-tunes of <base>", sized by what they add to the base.
function fillPicker() {
  const select = $("model-select");
  const { models } = page.listing;
  const byId = new Map(models.map((m) => [m.id, m]));
  // family -> the family it is listed with: its base's, for a fine-tune; else itself
  const anchor = new Map();
  for (const m of models) if (!anchor.has(m.family)) anchor.set(m.family, (m.base && byId.get(m.base)?.family) || m.family);
  const families = [...new Set(anchor.values())].flatMap((root) => [...anchor.keys()]
    .filter((f) => anchor.get(f) === root).sort((a, b) => Number(a !== root) - Number(b !== root)));
  const auto = families.map((f) => option(f, anchor.get(f) !== f
    ? `${f}, fine-tune of ${anchor.get(f)} (best engine and build for this browser)`
    : `${f} (best engine and build for this browser)`));
  const group = (label, builds) => {
    const g = document.createElement("optgroup");
    g.label = label;
    g.append(...builds.map(buildOption));
    return g;
  };
  const bases = [...new Set(models.filter((m) => m.base).map((m) => m.base))];
  select.replaceChildren(...auto, group("Specific builds", models.filter((m) => !m.base)),
    ...bases.map((b) => group(`Fine-tunes of ${b}`, models.filter((m) => m.base === b))));
}

function buildOption(m) {
  const problems = buildProblems(m, page.gpu);
  const size = m.engine === "transformers.js" ? `ONNX ${m.dtypes.join("/")}, transformers.js`
    : m.base ? `adds ${formatBytes(m.size_bytes)} to ${m.base}` : formatBytes(m.size_bytes);
  const why = problems.length ? (problems.some((p) => p.includes("shader-f16")) ? " · needs shader-f16, unavailable here" : " · cannot run on this GPU") : "";
  return option(m.id, `${m.id} · ${size}${why}`, problems.length > 0);
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
  $("gpu-status").textContent = build
    ? `${gpuLine} ${page.choice.reason} Download ${describeDownload(build, page.choice.dtype)}, context ${contextOf(page.choice)} tokens.`
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
  try {
    page.chat = await loadWithProgress({
      model: build.id,
      urlOverrides: true, // the demo page: its ?engine= and ?dtype= choose (chooseEngine above)
      engine: page.choice.engine,
      dtype: page.choice.dtype || undefined,
      listing: page.listing,
      gpu: page.gpu,
      onProgress: (p) => { if (page.stages.at(-1) !== p.stage) page.stages.push(p.stage); },
      onGpuEvent: (e) => fail(explainError(`${e.event}: ${e.message}`).message),
    });
    ui.attach(page.chat, build);
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
  if (!page.choice.engine) { // no WebGPU and no CPU build to fall back on
    setState("unsupported");
    return;
  }
  setState("idle");
  app.dataset.ready = "true";
  cache.refresh().catch(() => {});
}

main();
