// Cache management: how much this site stores (navigator.storage.estimate), how much of
// each build the browser holds (its verified files in Cache Storage, for either engine:
// build-cache.js), and a button deleting the selected build's files.

import { explainError, formatBytes } from "../webslm.js";
import { cachedState, deleteCached } from "./build-cache.js";

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
    const items = await Promise.all(listing.models.map(async (m) => {
      const li = document.createElement("li");
      const held = await cachedState(m, listing.base).catch(() => ({ files: 0, bytes: 0, complete: false, dtypes: [] }));
      const which = held.dtypes.length ? ` (${held.dtypes.join(", ")})` : "";
      li.textContent = `${m.id}: ${held.files === 0 ? "not cached"
        : held.complete ? `cached${which}, ${formatBytes(held.bytes)}` : `partly cached, ${formatBytes(held.bytes)} of ${formatBytes(held.totalBytes)}`}`;
      li.dataset.model = m.id;
      li.dataset.cached = String(held.complete);
      li.dataset.bytes = String(held.bytes);
      return li;
    }));
    $("cached-models").replaceChildren(...items);
  }

  async deleteSelected() {
    const listing = this.getListing();
    const id = this.getSelectedBuild();
    const status = $("cache-status");
    const build = listing?.models.find((m) => m.id === id);
    if (!build) return;
    try {
      const before = await cachedState(build, listing.base);
      await deleteCached(build, listing.base);
      status.textContent = `Deleted the cached files of ${id} (${formatBytes(before.bytes)}). It downloads again on its next load.`;
    } catch (err) {
      status.textContent = explainError(err).message;
    }
    await this.refresh();
  }
}
