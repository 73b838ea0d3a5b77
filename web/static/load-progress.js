// Loading a model with the page's progress block: the chat page and the form demo show the
// same one (#progress: the bar #load-progress, the line #progress-label, the stage in
// data-stage for styles and tests), so what a load looks like is written once.

import { createChat } from "./chat-client.js";
import { describeProgress } from "./progress.js";

/**
 * createChat(options) with the progress block shown and following each report, then saying
 * "Ready: <model>". options.onProgress, if any, hears the reports too. Resolves to the chat.
 */
export async function loadWithProgress(options = {}) {
  const $ = (id) => document.getElementById(id);
  $("progress").hidden = false;
  const chat = await createChat({
    ...options,
    onProgress: (p) => {
      $("load-progress").value = p.fraction;
      $("progress-label").textContent = describeProgress(p);
      $("progress").dataset.stage = p.stage;
      options.onProgress?.(p);
    },
  });
  $("progress-label").textContent = `Ready: ${chat.model}`;
  return chat;
}
