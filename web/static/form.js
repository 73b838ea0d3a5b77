// The form demo: load the best engine and build for this browser through webslm.js (WebLLM
// on WebGPU, else transformers.js on WebGPU, else the CPU engine measured fastest at filling
// forms, task "form"; ?engine= forces one), fill the contact form
// from the pasted text with chat.fillForm(), and require a review before "submitting"
// (the demo only shows the data; it sends nothing).

import { loadModels, probeGPU, chooseEngine, engineFromUrl, dtypeFromUrl, explainError, describeDownload, registerOffline, engineLabel } from "../webslm.js";
import { loadWithProgress } from "./load-progress.js";

const $ = (id) => document.getElementById(id);
const app = $("app");
const form = $("contact-form");
const page = { chat: null, loading: null, listing: null, gpu: null, fill: null };
window.webslmPage = page; // for the console and the browser tests

const EXAMPLE = `Best regards,

Maria Rossi
Head of Operations | Northwind Traders
maria.rossi@northwind.example
+39 02 555 0142
Via Roma 12, Milan`;

function fail(err) {
  $("error").textContent = explainError(err).message;
  $("error").hidden = false;
  app.dataset.state = "error";
}

function loadModel() {
  page.loading ||= (async () => {
    app.dataset.state = "loading";
    const chat = await loadWithProgress({
      engine: page.choice.engine,
      task: "form",
      urlOverrides: true, // the demo page: its ?engine= and ?dtype= choose (chooseEngine above)
      dtype: page.choice.dtype || undefined,
      listing: page.listing,
      gpu: page.gpu,
    });
    page.chat = chat;
    return chat;
  })();
  page.loading.catch(() => { page.loading = null; });
  return page.loading;
}

async function fill() {
  const text = $("source-text").value.trim();
  if (!text) { $("fill-status").textContent = "Paste some text first."; return; }
  $("error").hidden = true;
  // Fill is disabled while it runs: keyboard focus moves on to Stop rather than being lost.
  // Only where the user has not moved on to something else meanwhile.
  const hadFocus = document.activeElement === $("fill");
  const focusIsLost = () => hadFocus && [document.body, $("fill"), $("stop-fill")].includes(document.activeElement);
  $("fill").disabled = true;
  try {
    const chat = await loadModel();
    app.dataset.state = "filling";
    $("fill-status").textContent = "Reading the text…";
    $("stop-fill").disabled = false;
    if (focusIsLost()) $("stop-fill").focus();
    const t0 = performance.now();
    const result = await chat.fillForm(form, text);
    page.fill = result;
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    const parts = [`Filled ${result.filled.length} field${result.filled.length === 1 ? "" : "s"} in ${seconds} s: ${result.filled.join(", ") || "none"}.`];
    if (result.ungrounded.length) parts.push(`Left empty (the model's answer is not in the text): ${result.ungrounded.join(", ")}.`);
    const rejected = Object.values(result.rejected).flat();
    if (rejected.length) parts.push(`Rejected answers: ${rejected.join("; ")}.`);
    parts.push("Review the marked fields, tick the box, then submit.");
    $("fill-status").textContent = parts.join(" ");
    // Model-filled data is never submitted unreviewed.
    $("reviewed").checked = false;
    $("reviewed").required = result.filled.length > 0;
    app.dataset.state = "filled";
  } catch (err) {
    fail(err);
  } finally {
    $("fill").disabled = false;
    $("stop-fill").disabled = true;
    // Where the review starts: the first filled field, else Fill again.
    if (focusIsLost()) (form.querySelector("[data-webslm-filled]") || $("fill")).focus();
  }
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const data = {};
  for (const [name, value] of new FormData(form)) if (name !== "reviewed") data[name] = value;
  data.newsletter = $("newsletter").checked;
  $("submitted").textContent = JSON.stringify(data, null, 2);
});
form.addEventListener("reset", () => {
  for (const el of form.querySelectorAll("[data-webslm-filled]")) {
    el.classList.remove("webslm-filled");
    delete el.dataset.webslmFilled;
  }
  $("reviewed").required = false;
});
$("example").addEventListener("click", () => { $("source-text").value = EXAMPLE; });
$("fill").addEventListener("click", fill);
$("stop-fill").addEventListener("click", () => page.chat?.interrupt());

async function main() {
  registerOffline().catch(() => {});
  try {
    [page.listing, page.gpu] = await Promise.all([loadModels(), probeGPU()]);
  } catch (err) {
    fail(err);
    return;
  }
  // The CPU engine measured fastest at filling forms (cpu-engine-order.js).
  const choice = chooseEngine(page.listing.models, page.gpu, { engine: engineFromUrl(), dtype: dtypeFromUrl(), task: "form" });
  page.choice = choice;
  $("model-status").textContent = choice.build
    ? `${choice.reason} It loads (${describeDownload(choice.build, choice.dtype)}) on the first fill.`
    : choice.reason;
  const badge = $("engine-badge");
  badge.hidden = !choice.engine;
  badge.dataset.engine = choice.engine || "";
  badge.textContent = engineLabel(choice, page.gpu);
  app.dataset.engine = choice.engine || "";
  $("fill").disabled = !choice.build;
  app.dataset.ready = "true";
}

main();
