// The markdown parser's work grows linearly with what it parses, however hostile the text: the
// widget parses a reply again on every delta, so quadratic work would freeze the page. Counted in
// string operations (deterministic), not time. Run by tests/unit/widget/test_js.py.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { parseBlocks } = require(path.join(__dirname, "../../../../widget/src/markdown.js"));

/** String operations (charAt, indexOf) one parse of the text performs. */
function work(text) {
  let count = 0;
  const { charAt, indexOf } = String.prototype;
  String.prototype.charAt = function (i) {
    count++;
    return charAt.call(this, i);
  };
  String.prototype.indexOf = function (what, from) {
    count++;
    return indexOf.call(this, what, from);
  };
  try {
    parseBlocks(text);
  } finally {
    String.prototype.charAt = charAt;
    String.prototype.indexOf = indexOf;
  }
  return count;
}

const HOSTILE = {
  "unclosed brackets": (n) => "[".repeat(n),
  "links never closed": (n) => "[a](".repeat(n),
  "unclosed stars": (n) => "*a ".repeat(n),
  "unclosed underscores": (n) => "_a ".repeat(n),
  "unclosed double stars": (n) => "**a ".repeat(n),
  "unclosed triple stars": (n) => "***a ".repeat(n),
  "backtick runs": (n) => Array.from({ length: n }, (_, i) => "`".repeat(1 + (i % 40))).join(" "),
};

for (const [name, make] of Object.entries(HOSTILE)) {
  test(`linear work: ${name}`, () => {
    const small = work(make(2000));
    const large = work(make(8000));
    // four times the text: about four times the work (quadratic would be sixteen)
    assert.ok(large / small < 5, `${name}: ${small} -> ${large} operations`);
  });
}
