// A small markdown renderer for model output that cannot inject HTML.
// Model text is untrusted: it may contain <script>, <img onerror=...> or javascript: links.
// Nothing here ever assigns innerHTML; every piece of text reaches the DOM through
// createTextNode/textContent, so markup in the text shows up as literal characters.
// Supported: paragraphs, # headings, - and 1. lists, > quotes, ``` code blocks, `code`,
// **bold**, *italic*, and [links](https://...) whose URL is http(s) or mailto.

const SAFE_URL = /^(https?:|mailto:)/i;
// _italic_ and __bold__ only between non-word characters, so snake_case_names and
// window.__private stay as written.
const INLINE = /(`+)([^`]+?)\1|\*\*([^*]+?)\*\*|(?<![\p{L}\p{N}_])__([^_]+?)__(?![\p{L}\p{N}_])|\*([^*\s][^*]*?)\*|(?<![\p{L}\p{N}_])_([^_\s][^_]*?)_(?![\p{L}\p{N}_])|\[([^\]\n]+)\]\(([^()\s]+)\)/gu;

function el(doc, tag, text) {
  const node = doc.createElement(tag);
  if (text !== undefined) node.textContent = text;
  return node;
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
      let url = null;
      try {
        url = SAFE_URL.test(m[8]) ? new URL(m[8]) : null;
      } catch {
        url = null;
      }
      if (!url) {
        parent.append(doc.createTextNode(m[0])); // unsafe or relative link: show it as written
        continue;
      }
      const a = el(doc, "a", m[7]);
      a.href = url.href;
      a.rel = "noopener noreferrer nofollow";
      a.target = "_blank";
      parent.append(a);
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
