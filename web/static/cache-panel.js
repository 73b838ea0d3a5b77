// Cache management: how much this site stores (navigator.storage.estimate), how much of
// each build the browser holds (its verified files in Cache Storage, for either engine:
// build-cache.js), and a button deleting the selected build's files.
//
// A fine-tune's row counts its own files only: the base's weight shards it shares are the
// base's, counted (and deleted) under the base's row, so every byte shows once. Deleting says
// what stays (a fine-tune's shared shards) and who downloads again (a base's fine-tunes).

import { explainError, fineTunesOf, formatBytes } from "../webslm.js";
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
      const own = held.files === 0 ? "not cached"
        : held.complete || held.files === held.totalFiles ? `cached${which}, ${formatBytes(held.bytes)}`
          : `partly cached, ${formatBytes(held.bytes)} of ${formatBytes(held.totalBytes)}`;
      li.textContent = m.base ? `${m.id} (fine-tune of ${m.base}): ${own}; ${sharedNote(m, held)}` : `${m.id}: ${own}`;
      li.dataset.model = m.id;
      if (m.base) li.dataset.base = m.base;
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
      status.textContent = `Deleted the cached files of ${id} (${formatBytes(before.bytes)}). It downloads again on its next load.`
        + afterDelete(build, listing.models);
    } catch (err) {
      status.textContent = explainError(err).message;
    }
    await this.refresh();
  }
}

/** A fine-tune's base shards, in its row: whether they are cached, and where they count. */
function sharedNote(m, held) {
  return held.sharedBytes === held.sharedTotalBytes && held.sharedTotalBytes > 0
    ? `its ${formatBytes(held.sharedTotalBytes)} of shared weights are cached with ${m.base} and counted there`
    : `it also needs ${m.base}'s weights (${formatBytes(m.shared_bytes)}), not all cached`;
}

/** What deleting `build` leaves to the builds it shares weights with, in words. */
function afterDelete(build, models) {
  if (build.base) return ` The weights it shares with ${build.base} stay cached: delete ${build.base} to free them.`;
  const tunes = fineTunesOf(build, models).map((m) => m.id);
  return tunes.length ? ` Its fine-tunes ${tunes.join(", ")} use the same weights and download them again too.` : "";
}
