// A small markdown renderer for model output that cannot inject HTML.
// Model text is untrusted: it may contain <script>, <img onerror=...> or javascript: links.
// Nothing here ever assigns innerHTML; every piece of text reaches the DOM through
// createTextNode/textContent, so markup in the text shows up as literal characters.
// Supported: paragraphs, # headings, - and 1. lists, > quotes, ``` code blocks, `code`,
// **bold**, *italic*, and [links](https://...) whose URL is http(s) or mailto.
//
// Time: this runs on every animation frame of a streamed answer, on text a hostile prompt
// may shape ("[[[[..."), so it must stay linear in the text's length. Every span the inline
// pattern can match is bounded (SPAN, LINK_TEXT, LINK_URL): a start that finds no closing
// delimiter gives up after that many characters instead of scanning to the end of the line.
// tests/serve/test_page_js_security.py times it on hostile inputs.
//
// Links: the destination's host is shown beside the text ("[your bank](https://evil.example)"
// reads "your bank (evil.example)"), and a URL longer than LINK_URL stays plain text: a link
// that long is more likely carrying data out (a prompt-injected "?q=<the conversation>") than
// naming a page, and nothing here is worth one click that sends it.

const SAFE_URL = /^(https?:|mailto:)/i;
const SPAN = 1000;      // characters of `code`, **bold** or *italic*
const LINK_TEXT = 300;  // characters of a link's [text]
const LINK_URL = 512;   // characters of a link's (url)
// _italic_ and __bold__ only between non-word characters, so snake_case_names and
// window.__private stay as written.
const INLINE = new RegExp([
  `(\`{1,8})([^\`]{1,${SPAN}}?)\\1`,
  `\\*\\*([^*]{1,${SPAN}}?)\\*\\*`,
  `(?<![\\p{L}\\p{N}_])__([^_]{1,${SPAN}}?)__(?![\\p{L}\\p{N}_])`,
  `\\*([^*\\s][^*]{0,${SPAN}}?)\\*`,
  `(?<![\\p{L}\\p{N}_])_([^_\\s][^_]{0,${SPAN}}?)_(?![\\p{L}\\p{N}_])`,
  `\\[([^\\[\\]\\n]{1,${LINK_TEXT}})\\]\\(([^()\\s]{1,${LINK_URL + 1}})\\)`,
].join("|"), "gu");

function el(doc, tag, text) {
  const node = doc.createElement(tag);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The URL a link may point at: http(s) or mailto, absolute, at most LINK_URL long; else null. */
function safeUrl(text) {
  if (text.length > LINK_URL || !SAFE_URL.test(text)) return null;
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

/** Where a link goes, as the user should read it: the host (punycode, so a look-alike
 * Unicode name shows as xn--...), or a mailto's address. */
export function destinationOf(url) {
  return url.protocol === "mailto:" ? url.pathname : url.host;
}

/** Append `text` to `parent`, turning inline markdown into elements. */
export function renderInline(text, parent) {
  const doc = parent.ownerDocument;
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) parent.append(doc.createTextNode(text.slice(last, m.index)));
    last = m.index + m[0].length;
    if (m[2] !== undefined) parent.append(el(doc, "code", m[2]));
    else if (m[3] !== undefined || m[4] !== undefined) renderInline(m[3] ?? m[4], parent.appendChild(el(doc, "strong")));
    else if (m[5] !== undefined || m[6] !== undefined) renderInline(m[5] ?? m[6], parent.appendChild(el(doc, "em")));
    else if (m[7] !== undefined) {
      const url = safeUrl(m[8]);
      if (!url) {
        parent.append(doc.createTextNode(m[0])); // unsafe, relative or too long: show it as written
        continue;
      }
      const a = el(doc, "a", m[7]);
      a.href = url.href;
      a.rel = "noopener noreferrer nofollow";
      a.referrerPolicy = "no-referrer";
      a.target = "_blank";
      const host = el(doc, "span", ` (${destinationOf(url)})`);
      host.className = "link-host";
      parent.append(a, host);
    }
  }
  if (last < text.length) parent.append(doc.createTextNode(text.slice(last)));
}

// Block patterns, tried on each line in order.
const FENCE = /^\s*```/;
const HEADING = /^(#{1,6})\s+(.*)$/;
const BULLET = /^\s*[-*+]\s+(?<text>.*)$/;
const NUMBERED = /^\s*(?<n>\d+)[.)]\s+(?<text>.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;

/**
 * Replace the children of `container` with `text` rendered as markdown.
 * Safe to call on every streamed chunk: an unclosed ``` block renders as code so far.
 */
export function renderMarkdown(text, container) {
  const doc = container.ownerDocument;
  container.replaceChildren();
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  let para = null; // the open paragraph, lines joined by "\n" (CSS keeps the breaks)
  let list = null; // the open <ul>/<ol>
  const close = () => { para = null; list = null; };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (FENCE.test(line)) {
      close();
      const lang = line.replace(FENCE, "").trim();
      const body = [];
      while (++i < lines.length && !FENCE.test(lines[i])) body.push(lines[i]);
      const pre = el(doc, "pre");
      const code = el(doc, "code", body.join("\n"));
      if (/^[\w+-]{1,20}$/.test(lang)) code.dataset.lang = lang;
      pre.append(code);
      pre.tabIndex = 0; // a wide block scrolls sideways: keyboard users must reach it too
      container.append(pre);
      continue;
    }
    // A blank line ends a paragraph; a list goes on when its next item follows (models
    // often put blank lines between "1." and "2.").
    if (!line.trim()) { para = null; continue; }
    let m;
    if ((m = line.match(HEADING))) {
      close();
      renderInline(m[2], container.appendChild(el(doc, `h${Math.min(6, m[1].length + 2)}`)));
    } else if ((m = line.match(BULLET)) || (m = line.match(NUMBERED))) {
      const tag = BULLET.test(line) ? "ul" : "ol";
      if (!list || list.tagName.toLowerCase() !== tag) {
        para = null;
        list = container.appendChild(el(doc, tag));
        if (m.groups.n && m.groups.n !== "1") list.start = Number(m.groups.n); // "3." starts at 3
      }
      renderInline(m.groups.text, list.appendChild(el(doc, "li")));
    } else if ((m = line.match(QUOTE))) {
      close();
      renderInline(m[1], container.appendChild(el(doc, "blockquote")));
    } else if (para) {
      para.append(doc.createTextNode("\n"));
      renderInline(line, para);
    } else {
      list = null;
      para = container.appendChild(el(doc, "p"));
      renderInline(line, para);
    }
  }
  return container;
}

/**
 * Render a streamed answer into `container` at most once per animation frame: update(text)
 * after each chunk only records the text; the frame renders the latest. A model emits tokens
 * faster than the screen refreshes, and each render costs the whole answer so far, so
 * rendering per chunk would be quadratic in the answer's length. flush() renders at once
 * (the answer's end). `schedule` is requestAnimationFrame in a page.
 */
export function frameRenderer(container, schedule = (render) => requestAnimationFrame(render)) {
  let latest = null;
  let pending = false;
  let renders = 0;
  const render = () => {
    pending = false;
    if (latest === null) return;
    renderMarkdown(latest, container);
    latest = null;
    renders += 1;
  };
  return {
    update(text) {
      latest = text;
      if (!pending) { pending = true; schedule(render); }
    },
    flush: render,
    get renders() { return renders; },
  };
}
