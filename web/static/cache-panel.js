// Cache management: how much this site stores (navigator.storage.estimate), which builds
// WebLLM has cached, and a button deleting one build's files (weights, wasm, config).
// WebLLM keeps models in the Cache API keyed by URL, so the same appConfig as the load
// is needed to find them.

import { importWebLLM, formatBytes, explainError } from "../webslm.js";

const $ = (id) => document.getElementById(id);

export class CachePanel {
  constructor({ getListing, getSelectedBuild }) {
    this.getListing = getListing;
    this.getSelectedBuild = getSelectedBuild;
    $("delete-cache").addEventListener("click", () => this.deleteSelected());
  }

  async refresh() {
    const usage = $("storage-usage");
    if (navigator.storage?.estimate) {
      const { usage: used = 0, quota = 0 } = await navigator.storage.estimate();
      usage.textContent = `This site stores ${formatBytes(used)} (the browser allows up to ${formatBytes(quota)}).`;
      usage.dataset.bytes = String(used);
    } else {
      usage.textContent = "This browser does not report storage use.";
    }
    const listing = this.getListing();
    if (!listing) return;
    const { hasModelInCache } = await importWebLLM();
    const appConfig = { model_list: listing.records };
    const items = await Promise.all(listing.models.map(async (m) => {
      const li = document.createElement("li");
      const cached = await hasModelInCache(m.id, appConfig).catch(() => false);
      li.textContent = `${m.id}: ${cached ? "cached" : "not cached"}`;
      li.dataset.model = m.id;
      li.dataset.cached = String(cached);
      return li;
    }));
    $("cached-models").replaceChildren(...items);
  }

  async deleteSelected() {
    const listing = this.getListing();
    const id = this.getSelectedBuild();
    const status = $("cache-status");
    if (!listing || !id) return;
    try {
      const { deleteModelAllInfoInCache } = await importWebLLM();
      await deleteModelAllInfoInCache(id, { model_list: listing.records });
      status.textContent = `Deleted the cached files of ${id}. It downloads again on its next load.`;
    } catch (err) {
      status.textContent = explainError(err).message;
    }
    await this.refresh();
  }
}
