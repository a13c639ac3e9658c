// The markdown subset and its URL policy. Run by tests/unit/widget/test_js.py (`node --test`).
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { safeUrl, parseInline, parseBlocks, renderMarkdown } = require(
  path.join(__dirname, "../../../../widget/src/markdown.js")
);

// A minimal DOM: enough for renderMarkdown, and it refuses innerHTML outright.
class Node {
  constructor(doc, tag, text) {
    this.ownerDocument = doc;
    this.tagName = tag;
    this.text = text;
    this.attributes = {};
    this.childNodes = [];
  }
  get firstChild() {
    return this.childNodes[0] || null;
  }
  appendChild(child) {
    this.childNodes.push(child);
    return child;
  }
  removeChild(child) {
    this.childNodes.splice(this.childNodes.indexOf(child), 1);
    return child;
  }
  setAttribute(name, value) {
    this.attributes[name] = String(value);
  }
  set textContent(value) {
    this.childNodes = [new Node(this.ownerDocument, "#text", String(value))];
  }
  set innerHTML(value) {
    throw new Error("innerHTML must never be used");
  }
  toString() {
    if (this.tagName === "#text") return this.text.replace(/&/g, "&amp;").replace(/</g, "&lt;");
    const attrs = Object.entries(this.attributes).map(([k, v]) => ` ${k}="${v}"`).join("");
    const inner = this.childNodes.map(String).join("");
    return this.tagName === "#root" ? inner : `<${this.tagName}${attrs}>${inner}</${this.tagName}>`;
  }
}
const doc = {
  createElement: (tag) => new Node(doc, tag),
  createTextNode: (text) => new Node(doc, "#text", text),
};
function html(markdown, base) {
  const root = new Node(doc, "#root");
  renderMarkdown(root, markdown, base);
  return String(root);
}

test("safeUrl keeps http, https, mailto and tel; drops script-ish schemes however written", () => {
  assert.equal(safeUrl("https://shop.test/a?b=1#c"), "https://shop.test/a?b=1#c");
  assert.equal(safeUrl("mailto:help@shop.test"), "mailto:help@shop.test");
  assert.equal(safeUrl("tel:+4912345"), "tel:+4912345");
  for (const bad of [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\u0001javascript:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
    "file:///etc/passwd",
    "blob:https://x/1",
    "",
  ]) {
    assert.equal(safeUrl(bad), null, JSON.stringify(bad));
    assert.equal(safeUrl(bad, "https://shop.test/page"), null, JSON.stringify(bad));
  }
  // relative links resolve against the page, and only when a base is given
  assert.equal(safeUrl("/products/mug", "https://shop.test/page"), "https://shop.test/products/mug");
  assert.equal(safeUrl("/products/mug"), null);
  assert.equal(safeUrl("java&#58;script:alert(1)", "https://shop.test/"), "https://shop.test/java&#58;script:alert(1)");
});

test("blocks: paragraphs, line breaks, lists, fenced code, headings", () => {
  const blocks = parseBlocks("Hello\nworld\n\n- one\n- two\n\n3. three\n4. four\n\n```js\nlet a = '<b>';\n```\n## Title");
  assert.deepEqual(blocks.map((b) => b.type), ["p", "ul", "ol", "code", "h"]);
  assert.equal(blocks[2].start, 3);
  assert.equal(blocks[3].text, "let a = '<b>';");
  assert.equal(
    html("Hello\nworld\n\n* one\n* **two**"),
    "<p>Hello<br></br>world</p><ul><li>one</li><li><strong>two</strong></li></ul>"
  );
  assert.equal(html("3. c\n4. d"), '<ol start="3"><li>c</li><li>d</li></ol>');
  assert.equal(html("### Opening hours"), "<p><strong>Opening hours</strong></p>");
  assert.equal(html("- item\n  continued"), "<ul><li>item<br></br>continued</li></ul>");
});

test("inline: bold, italic, code, links, autolinks, escapes, snake_case", () => {
  assert.equal(html("**bold** and __bold__"), "<p><strong>bold</strong> and <strong>bold</strong></p>");
  assert.equal(html("*it* and _it_"), "<p><em>it</em> and <em>it</em></p>");
  assert.equal(html("***both***"), "<p><em><strong>both</strong></em></p>");
  assert.equal(html("use `a <b> c` here"), "<p>use <code>a &lt;b> c</code> here</p>");
  assert.equal(html("snake_case_name and 2 * 3 * 4"), "<p>snake_case_name and 2 * 3 * 4</p>");
  assert.equal(html("\\*not italic\\*"), "<p>*not italic*</p>");
  assert.equal(
    html("[the **guide**](https://shop.test/guide)"),
    '<p><a href="https://shop.test/guide" target="_blank" rel="noopener noreferrer">the <strong>guide</strong></a></p>'
  );
  assert.equal(
    html("see https://shop.test/a_(b). Thanks"),
    '<p>see <a href="https://shop.test/a_(b)" target="_blank" rel="noopener noreferrer">https://shop.test/a_(b)</a>. Thanks</p>'
  );
  assert.equal(html("**unclosed and *half"), "<p>**unclosed and *half</p>");
});

test("dangerous links lose their link but keep their text; HTML stays text", () => {
  assert.equal(html("[click](javascript:alert(1))"), "<p>click</p>");
  assert.equal(html("[click](JAVASCRIPT:alert(1))"), "<p>click</p>");
  assert.equal(html("[x](data:text/html;base64,PHNjcmlwdD4=)"), "<p>x</p>");
  assert.equal(html('<img src=x onerror="alert(1)">'), '<p>&lt;img src=x onerror="alert(1)"></p>');
  assert.equal(html("<script>alert(1)</script>"), "<p>&lt;script>alert(1)&lt;/script></p>");
  const nodes = parseInline("[a](javascript:x) <b>");
  assert.equal(nodes[0].type, "link"); // parsed as a link; rendering is where the URL is checked
});

test("rendering twice replaces the content (streaming re-renders)", () => {
  const root = new Node(doc, "#root");
  renderMarkdown(root, "Hel", null);
  renderMarkdown(root, "Hello **wor", null);
  renderMarkdown(root, "Hello **world**", null);
  assert.equal(String(root), "<p>Hello <strong>world</strong></p>");
});
