// The conversation half of the chat page: composer, streaming answers, stop, multi-turn
// history, sampling settings and per-answer timing. Knows nothing about model loading.

import { renderMarkdown, frameRenderer, explainError } from "../webslm.js";

const $ = (id) => document.getElementById(id);

export class ChatUI {
  constructor({ setState }) {
    this.chat = null;
    this.history = []; // [{role, content}] of finished turns, sent again with every question
    this.busy = false;
    this.setState = setState;
    this.messages = $("messages");
    this.prompt = $("prompt");
    $("composer").addEventListener("submit", (e) => { e.preventDefault(); this.send(); });
    this.prompt.addEventListener("keydown", (e) => {
      // Enter sends, Shift+Enter inserts a line; never while an IME is composing.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
    });
    $("stop").addEventListener("click", () => this.chat?.interrupt());
    $("new-chat").addEventListener("click", () => this.clear());
    for (const id of ["temperature", "top-p"]) {
      const input = $(id);
      const show = () => { $(`${id}-value`).textContent = Number(input.value).toFixed(2); };
      input.addEventListener("input", show);
      show();
    }
  }

  /** `build`: the model's record; a base model's (completion_only) continues text instead. */
  attach(chat, build = {}) {
    this.chat = chat;
    this.completion = build.completion_only ? { prefix: build.completion_prefix || "" } : null;
    const note = $("mode-note");
    note.hidden = !this.completion;
    note.textContent = this.completion
      ? `${build.family || build.id} is a base model: it was not tuned to chat, so it continues ` +
        "your text instead of answering it. Write the start of what it should write."
      : "";
    this.prompt.placeholder = this.completion
      ? "Text to continue (Enter sends, Shift+Enter adds a line)"
      : "Message (Enter sends, Shift+Enter adds a line)";
    this.clear();
    this.#enable(true);
    this.prompt.focus();
  }

  detach() {
    this.chat = null;
    this.#enable(false);
  }

  clear() {
    if (this.busy) return;
    this.history = [];
    this.transcript = ""; // a base model's text so far: every turn continues all of it
    this.messages.replaceChildren();
    this.#error("");
  }

  #enable(ready) {
    this.prompt.disabled = !ready;
    $("send").disabled = !ready || this.busy;
    $("stop").disabled = !this.busy;
  }

  // #messages is not a live region (it would read every streamed token); this one speaks once.
  #announce(text) {
    const status = $("answer-status");
    if (status) status.textContent = text;
  }

  #error(text) {
    $("error").textContent = text;
    $("error").hidden = !text;
  }

  #bubble(role, text) {
    const item = document.createElement("article");
    item.className = `message ${role}`;
    const who = item.appendChild(document.createElement("h3"));
    who.className = "who";
    who.textContent = role === "user" ? "You" : this.chat?.model || "Model";
    const body = item.appendChild(document.createElement("div"));
    body.className = "body";
    renderMarkdown(text, body);
    this.messages.append(item);
    item.scrollIntoView({ block: "end" });
    return item;
  }

  #request(text) {
    const system = $("system-prompt").value.trim();
    const input = this.completion
      ? { prompt: this.completion.prefix + this.transcript + text }
      : { messages: system ? [{ role: "system", content: system }, ...this.history] : [...this.history] };
    return {
      ...input,
      temperature: Number($("temperature").value),
      top_p: Number($("top-p").value),
      max_tokens: Math.max(1, Number($("max-tokens").value) || 256),
      stream: true,
      stream_options: { include_usage: true },
    };
  }

  async send() {
    const text = this.prompt.value.trim();
    if (!text || !this.chat || this.busy) return;
    this.busy = true;
    this.setState("generating");
    this.#enable(true);
    this.#error("");
    this.#announce("");
    this.prompt.value = "";
    this.#bubble("user", text);
    this.history.push({ role: "user", content: text });
    const item = this.#bubble("assistant", "");
    item.classList.add("streaming");
    item.setAttribute("aria-busy", "true"); // half an answer: assistive tech should wait
    const body = item.querySelector(".body");
    // Rendered once per frame, then scrolled into view: not once per token (markdown.js).
    const view = frameRenderer(body, (render) => requestAnimationFrame(() => { render(); item.scrollIntoView({ block: "end" }); }));
    const t0 = performance.now();
    let tFirst = 0;
    let answer = "";
    let finish = null;
    let usage = null;
    let chunks = 0;
    try {
      const api = this.completion ? this.chat.completions : this.chat.chat.completions;
      if (!api) throw new Error(`${this.chat.engine} cannot continue plain text; load this model's WebGPU build`);
      const stream = await api.create(this.#request(text));
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        const piece = choice?.delta?.content ?? choice?.text; // chat chunks, completion chunks
        if (piece) {
          tFirst ||= performance.now();
          answer += piece;
          item.dataset.chunks = String(++chunks);
          view.update(answer);
        }
        if (choice?.finish_reason) finish = choice.finish_reason;
        if (chunk.usage) usage = chunk.usage;
      }
      view.flush();
      // A stopped answer stays in the history: the next turn continues from what was shown.
      this.history.push({ role: "assistant", content: answer });
      if (this.completion) this.transcript += text + answer;
      item.dataset.finishReason = finish || "stop";
      item.append(this.#stats(t0, tFirst, performance.now(), usage, finish));
      this.#announce(`${finish === "abort" ? "Stopped answer" : "Answer"}: ${answer || "(empty)"}`);
    } catch (err) {
      this.history.pop(); // the question got no answer
      item.classList.add("failed");
      const explained = explainError(err);
      this.#error(explained.message);
      item.dataset.error = explained.kind;
      if (explained.kind === "device-lost") this.detach();
    } finally {
      view.flush();
      item.dataset.renders = String(view.renders);
      item.classList.remove("streaming");
      item.removeAttribute("aria-busy");
      this.busy = false;
      this.setState(this.chat ? "ready" : "error");
      this.#enable(Boolean(this.chat));
    }
  }

  // Time to first token is measured here, from the click: it is what the user waits for.
  // Tokens per second come from WebLLM's own decode timer when it reports one.
  #stats(t0, tFirst, tEnd, usage, finish) {
    const p = document.createElement("p");
    p.className = "stats";
    const tokens = usage?.completion_tokens ?? 0;
    const ttft = tFirst ? (tFirst - t0) / 1000 : (tEnd - t0) / 1000;
    let tps = usage?.extra?.decode_tokens_per_s;
    if (!(tps > 0) && tokens > 1 && tFirst) tps = (tokens - 1) / ((tEnd - tFirst) / 1000);
    p.dataset.ttft = ttft.toFixed(3);
    p.dataset.tokensPerSecond = (tps || 0).toFixed(3);
    p.dataset.tokens = String(tokens);
    const parts = [`first token ${ttft.toFixed(2)} s`, `${(tps || 0).toFixed(2)} tokens/s`, `${tokens} tokens`];
    if (finish === "abort") parts.push("stopped");
    else if (finish === "length") parts.push("hit the token limit");
    p.textContent = parts.join(" · ");
    return p;
  }
}
