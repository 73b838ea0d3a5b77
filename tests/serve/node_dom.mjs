// Just enough DOM and Cache Storage for web/static modules under Node (tests only): elements
// that hold children, text, attributes and form state, and caches that, like the browser's,
// commit an entry only once its body has been read to the end. Real events (EventTarget).

class Node extends EventTarget {
  constructor(doc) { super(); this.ownerDocument = doc; this.childNodes = []; this.parentNode = null; }
  get textContent() { return this.childNodes.map((c) => c.textContent).join(""); }
  set textContent(text) { this.replaceChildren(this.ownerDocument.createTextNode(String(text))); }
  append(...nodes) { for (const n of nodes) this.appendChild(typeof n === "string" ? this.ownerDocument.createTextNode(n) : n); }
  appendChild(node) { node.parentNode = this; this.childNodes.push(node); return node; }
  replaceChildren(...nodes) { this.childNodes = []; this.append(...nodes); }
}

class Text extends Node {
  constructor(doc, text) { super(doc); this.data = text; }
  get textContent() { return this.data; }
}

class Element extends Node {
  constructor(doc, tag) {
    super(doc);
    this.tagName = tag.toUpperCase();
    this.attributes = new Map();
    this.dataset = {};
    const names = new Set();
    this.classList = { add: (c) => names.add(c), remove: (c) => names.delete(c), contains: (c) => names.has(c) };
    Object.assign(this, { name: "", value: "", checked: false, disabled: false, maxLength: -1, placeholder: "", labels: [] });
    if (this.tagName === "INPUT") this.type = "text";
  }
  get children() { return this.childNodes.filter((c) => c instanceof Element); }
  get elements() { return this.all().filter((e) => ["INPUT", "SELECT", "TEXTAREA", "BUTTON", "FIELDSET", "OUTPUT"].includes(e.tagName)); }
  all() { return this.children.flatMap((c) => [c, ...c.all()]); }
  setAttribute(name, value) { this.attributes.set(name, String(value)); }
  getAttribute(name) { return this.attributes.has(name) ? this.attributes.get(name) : null; }
  hasAttribute(name) { return this.attributes.has(name); }
  querySelectorAll(selector) { // [data-x] or a tag name: all these tests need
    const data = /^\[data-([\w-]+)\]$/.exec(selector);
    const key = data && data[1].replace(/-(\w)/g, (_, c) => c.toUpperCase());
    return this.all().filter((e) => (key ? key in e.dataset : e.tagName === selector.toUpperCase()));
  }
  closest(tag) {
    for (let e = this; e instanceof Element; e = e.parentNode) if (e.tagName === tag.toUpperCase()) return e;
    return null;
  }
}

export const document = {
  createElement: (tag) => new Element(document, tag),
  createTextNode: (text) => new Text(document, text),
};

/** <form> with the controls described: [{tag = "input", type, name, value, disabled, attrs}]. */
export function makeForm(controls) {
  const form = document.createElement("form");
  for (const { tag = "input", attrs = {}, ...props } of controls) {
    const el = Object.assign(document.createElement(tag), props);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    form.appendChild(el);
  }
  return form;
}

/** One cache of the in-memory CacheStorage; globalThis.Cache, so workers can wrap its methods. */
class Cache {
  #entries = new Map();
  #key = (request) => new URL(typeof request === "string" ? request : request.url, globalThis.location?.href).href.replace(/#.*$/, "");
  async match(request) {
    const hit = this.#entries.get(this.#key(request));
    return hit && new Response(hit.body, { status: hit.status, headers: hit.headers });
  }
  async put(request, response) {
    const body = await response.arrayBuffer(); // throws when the body's stream errors: nothing stored
    this.#entries.set(this.#key(request), { body, status: response.status, headers: new Headers(response.headers) });
  }
  async add(request) {
    const response = await fetch(request);
    if (!response.ok) throw new TypeError(`Cache.add: HTTP ${response.status}`);
    await this.put(request, response);
  }
  async delete(request) { return this.#entries.delete(this.#key(request)); }
  async keys() { return [...this.#entries.keys()].map((url) => new Request(url)); }
}

/** An in-memory CacheStorage (globalThis.caches, globalThis.Cache). */
export function installCaches() {
  const stores = new Map();
  globalThis.Cache = Cache;
  globalThis.caches = {
    open: async (name) => stores.get(name) || stores.set(name, new Cache()).get(name),
    has: async (name) => stores.has(name),
  };
}
