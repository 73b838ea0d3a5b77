// <webslm-chat>: a drop-in chat box for any page.
//   <script type="module" src="/webslm/webslm.js"></script>
//   <webslm-chat model="smollm2-135m" base-url="/webslm/" autoload></webslm-chat>
// Attributes: model, base-url, system-prompt, max-tokens, autoload (load at once instead
// of on the first message). Events: webslm-ready, webslm-answer {text}, webslm-error {message}.
// The class is created inside defineChatElement() because webslm.js also runs as a service
// worker, where HTMLElement does not exist.

import { createChat } from "./chat-client.js";
import { renderMarkdown, frameRenderer } from "./markdown.js";
import { describeProgress } from "./progress.js";
import { explainError } from "./errors.js";

// Colours come from the host page: text inherits, tints are mixed from currentColor, so the
// box reads well on light and dark hosts alike. --webslm-accent sets the user bubble's tint.
const STYLE = `
:host { display: block; font: 14px/1.45 system-ui, sans-serif; border: 1px solid color-mix(in srgb, currentColor 30%, transparent); border-radius: 8px; padding: 8px; min-width: 0; max-width: 100%; }
.log { max-height: 24em; overflow-y: auto; display: flex; flex-direction: column; gap: 6px; }
.msg { padding: 6px 10px; border-radius: 6px; white-space: pre-wrap; overflow-wrap: anywhere; max-width: 100%; min-width: 0; }
.msg pre { overflow-x: auto; white-space: pre; overflow-wrap: normal; }
.user { background: color-mix(in srgb, var(--webslm-accent, #2458d6) 16%, transparent); align-self: flex-end; }
.assistant { background: color-mix(in srgb, currentColor 8%, transparent); }
.status { color: color-mix(in srgb, currentColor 78%, transparent); font-size: 12px; min-height: 1.2em; overflow-wrap: anywhere; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
form { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; }
textarea { flex: 1 1 12em; min-width: 0; resize: vertical; font: inherit; }
button { font: inherit; }
:focus-visible { outline: 3px solid var(--webslm-accent, #2458d6); outline-offset: 2px; }
`;

export function defineChatElement(name = "webslm-chat") {
  if (!globalThis.customElements || customElements.get(name)) return;

  class WebslmChat extends HTMLElement {
    #chat = null;
    #loading = null;
    #history = [];
    #busy = false;

    connectedCallback() {
      if (this.shadowRoot) return;
      const root = this.attachShadow({ mode: "open" });
      const style = document.createElement("style");
      style.textContent = STYLE;
      root.append(style);
      this.log = root.appendChild(Object.assign(document.createElement("div"), { className: "log" }));
      // Not live regions: progress and streamed tokens would be read out one by one;
      // .sr announces ready, errors and each complete answer once.
      this.log.setAttribute("role", "log");
      this.log.setAttribute("aria-live", "off");
      this.log.setAttribute("aria-label", "Conversation");
      this.log.tabIndex = 0; // it scrolls: reachable by keyboard
      this.status = root.appendChild(Object.assign(document.createElement("div"), { className: "status" }));
      this.announcer = root.appendChild(Object.assign(document.createElement("div"), { className: "sr" }));
      this.announcer.setAttribute("role", "status");
      const form = root.appendChild(document.createElement("form"));
      this.input = form.appendChild(Object.assign(document.createElement("textarea"), { rows: 2 }));
      this.input.setAttribute("aria-label", "Message");
      this.sendButton = form.appendChild(Object.assign(document.createElement("button"), { type: "submit", textContent: "Send" }));
      this.stopButton = form.appendChild(Object.assign(document.createElement("button"), { type: "button", textContent: "Stop", disabled: true }));
      form.addEventListener("submit", (e) => { e.preventDefault(); this.send(this.input.value); });
      this.input.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(this.input.value); }
      });
      this.stopButton.addEventListener("click", () => this.#chat?.interrupt());
      if (this.hasAttribute("autoload")) this.load().catch(() => {});
    }

    /** The chat object from createChat(), once loaded. */
    get chat() { return this.#chat; }

    /** Load the model (once); resolves to the chat object. */
    load() {
      this.#loading ||= createChat({
        model: this.getAttribute("model") || "",
        baseUrl: this.getAttribute("base-url") || undefined,
        onProgress: (p) => { this.status.textContent = describeProgress(p); },
      }).then((chat) => {
        this.#chat = chat;
        this.status.textContent = `Ready: ${chat.model}`;
        this.announcer.textContent = this.status.textContent;
        this.dispatchEvent(new CustomEvent("webslm-ready", { detail: { model: chat.model } }));
        return chat;
      }, (err) => {
        this.#loading = null;
        this.#fail(err);
        throw err;
      });
      return this.#loading;
    }

    #fail(err) {
      const { message } = explainError(err);
      this.status.textContent = message;
      this.announcer.textContent = message;
      this.dispatchEvent(new CustomEvent("webslm-error", { detail: { message, detail: String(err) } }));
    }

    #bubble(role, text) {
      const div = this.log.appendChild(Object.assign(document.createElement("div"), { className: `msg ${role}` }));
      renderMarkdown(text, div);
      this.log.scrollTop = this.log.scrollHeight;
      return div;
    }

    /** Send a user message; resolves to the answer text. */
    async send(text) {
      text = String(text || "").trim();
      if (!text || this.#busy) return null;
      this.#busy = true;
      this.input.value = "";
      this.sendButton.disabled = true;
      this.#bubble("user", text);
      this.#history.push({ role: "user", content: text });
      let answer = "";
      try {
        const chat = await this.load();
        const system = this.getAttribute("system-prompt");
        const messages = system ? [{ role: "system", content: system }, ...this.#history] : this.#history;
        const bubble = this.#bubble("assistant", "");
        bubble.setAttribute("aria-busy", "true");
        this.stopButton.disabled = false;
        const stream = await chat.chat.completions.create({
          messages, stream: true, max_tokens: Number(this.getAttribute("max-tokens")) || 256,
        });
        const view = frameRenderer(bubble); // once per frame, not once per token
        for await (const chunk of stream) {
          answer += chunk.choices[0]?.delta?.content || "";
          view.update(answer);
        }
        view.flush();
        this.announcer.textContent = `Answer: ${answer || "(empty)"}`;
        this.#history.push({ role: "assistant", content: answer });
        this.dispatchEvent(new CustomEvent("webslm-answer", { detail: { text: answer } }));
        return answer;
      } catch (err) {
        this.#history.pop(); // the question got no answer: keep the history consistent
        this.#fail(err);
        return null;
      } finally {
        this.log.querySelector("[aria-busy]")?.removeAttribute("aria-busy");
        this.#busy = false;
        this.sendButton.disabled = false;
        this.stopButton.disabled = true;
      }
    }

    disconnectedCallback() {
      // Free the GPU when the element leaves the page for good.
      queueMicrotask(() => { if (!this.isConnected) this.#chat?.unload(); });
    }
  }
  customElements.define(name, WebslmChat);
}
