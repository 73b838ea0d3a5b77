// <webslm-chat>: a drop-in chat box for any page.
//   <script type="module" src="/webslm/webslm.js"></script>
//   <webslm-chat model="smollm2-135m" base-url="/webslm/" autoload></webslm-chat>
// Attributes: model, base-url, system-prompt, max-tokens, autoload (load at once instead
// of on the first message). Events: webslm-ready, webslm-answer {text}, webslm-error {message}.
// The class is created inside defineChatElement() because webslm.js also runs as a service
// worker, where HTMLElement does not exist.

import { createChat } from "./chat-client.js";
import { renderMarkdown } from "./markdown.js";
import { describeProgress } from "./progress.js";
import { explainError } from "./errors.js";

const STYLE = `
:host { display: block; font: 14px/1.45 system-ui, sans-serif; border: 1px solid #c8ccd4; border-radius: 8px; padding: 8px; }
.log { max-height: 24em; overflow-y: auto; display: flex; flex-direction: column; gap: 6px; }
.msg { padding: 6px 10px; border-radius: 6px; white-space: pre-wrap; }
.user { background: #e8f0fe; align-self: flex-end; }
.assistant { background: #f3f4f6; }
.status { color: #555; font-size: 12px; min-height: 1.2em; }
form { display: flex; gap: 6px; margin-top: 6px; }
textarea { flex: 1; resize: vertical; font: inherit; }
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
      this.log.setAttribute("role", "log");
      this.status = root.appendChild(Object.assign(document.createElement("div"), { className: "status" }));
      this.status.setAttribute("aria-live", "polite");
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
        this.stopButton.disabled = false;
        const stream = await chat.chat.completions.create({
          messages, stream: true, max_tokens: Number(this.getAttribute("max-tokens")) || 256,
        });
        for await (const chunk of stream) {
          answer += chunk.choices[0]?.delta?.content || "";
          renderMarkdown(answer, bubble);
        }
        this.#history.push({ role: "assistant", content: answer });
        this.dispatchEvent(new CustomEvent("webslm-answer", { detail: { text: answer } }));
        return answer;
      } catch (err) {
        this.#history.pop(); // the question got no answer: keep the history consistent
        this.#fail(err);
        return null;
      } finally {
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
