/* A small markdown subset, rendered as DOM nodes (never through innerHTML).
 *
 * Blocks: paragraphs (single newlines become line breaks), "-", "*", "+" and "1." lists, ``` fenced
 * code, "#" headings (shown as bold paragraphs). Inline: **bold**, __bold__, *italic*, _italic_,
 * `code`, [text](url), bare http(s) links, and backslash escapes. Anything else stays text.
 * Links keep only http, https, mailto and tel URLs; others (javascript:, data:, ...) become text.
 */

var SAFE_PROTOCOLS = { "http:": 1, "https:": 1, "mailto:": 1, "tel:": 1 };

/** The URL to put in href, or null when it is not safe to link to. */
function safeUrl(raw, base) {
  if (typeof raw !== "string") return null;
  // as the URL parser does: trim C0 controls and spaces, drop tabs and newlines ("java\tscript:")
  var cleaned = raw.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, "").replace(/[\t\n\r]/g, "");
  if (!cleaned) return null;
  var url;
  try {
    url = new URL(cleaned, base || "https://invalid.example/");
  } catch (e) {
    return null;
  }
  if (!SAFE_PROTOCOLS[url.protocol]) return null;
  if (!base && url.host === "invalid.example") return null; // relative links need a base
  return url.href;
}

// -- inline ---------------------------------------------------------------------------------------

function isSpace(ch) {
  return ch === undefined || /\s/.test(ch);
}

function isWordChar(ch) {
  return ch !== undefined && /[\p{L}\p{N}_]/u.test(ch);
}

/**
 * Where each "[" closes (backslash escapes skipped) and each "(" closes on its own line, found in
 * one pass each. Looking for the closer from every opener again would make a reply full of
 * unclosed brackets quadratic to parse, and the widget parses the reply on every delta.
 */
function Closers(s) {
  this.s = s;
  this.brackets = null;
  this.parens = null;
}

Closers.prototype.bracket = function (from) {
  if (!this.brackets) this.brackets = pairs(this.s, "[", "]", true);
  var at = this.brackets[from];
  return at === undefined ? -1 : at;
};

Closers.prototype.paren = function (from) {
  if (!this.parens) this.parens = pairs(this.s, "(", ")", false);
  var at = this.parens[from];
  return at === undefined ? -1 : at;
};

/** Opening index -> closing index; brackets nest, and (for parentheses) a newline closes nothing. */
function pairs(s, open, close, escapes) {
  var found = {};
  var stack = [];
  for (var i = 0; i < s.length; i++) {
    var c = s.charAt(i);
    if (escapes && c === "\\") i++;
    else if (c === open) stack.push(i);
    else if (c === close && stack.length) found[stack.pop()] = i;
    else if (!escapes && c === "\n") stack = [];
  }
  return found;
}

/**
 * Searches in one string that remember what they found: a reply of a thousand unclosed "*" would
 * otherwise scan to its end from each of them.
 */
function Finder(s) {
  this.s = s;
  this.noneAfter = {}; // what -> from there on it does not occur
  this.closers = {}; // delimiter -> {position the scan passed: the closer it leads to, or -1}
}

/** s.indexOf(what, from); a search from where a previous one found nothing fails at once. */
Finder.prototype.indexOf = function (what, from) {
  var none = this.noneAfter[what];
  if (none !== undefined && from >= none) return -1;
  var at = this.s.indexOf(what, from);
  if (at === -1) this.noneAfter[what] = none === undefined ? from : Math.min(none, from);
  return at;
};

/**
 * Where the emphasis opened before ``from`` closes: the next ``delim`` not after a space or a
 * backslash ("**" is not the end of "*"), or -1. Each position a scan passes leads to the same
 * answer from any start, so it is remembered and no stretch of the string is scanned twice.
 */
Finder.prototype.closing = function (delim, from) {
  var s = this.s;
  var memo = this.closers[delim] || (this.closers[delim] = {});
  var passed = [];
  var i = from;
  var found = -1;
  while (true) {
    if (memo[i] !== undefined) {
      found = memo[i];
      break;
    }
    passed.push(i);
    var at = this.indexOf(delim, i);
    if (at === -1) break;
    if (s.charAt(at - 1) !== "\\" && !isSpace(s.charAt(at - 1))) {
      if (delim.length === 1 && s.charAt(at + 1) === delim) {
        i = at + 2; // "**" is not the end of "*"
        continue;
      }
      found = at;
      break;
    }
    i = at + delim.length;
  }
  for (var k = 0; k < passed.length; k++) memo[passed[k]] = found;
  return found;
};

var TRAILING_PUNCTUATION = /[.,;:!?'")\]]+$/;

/** Inline markdown -> [{type:"text"|"strong"|"em"|"code"|"link"|"br", ...}] */
function parseInline(s, inLink) {
  var out = [];
  var text = "";
  var closers = new Closers(s);
  var finder = new Finder(s);
  function flush() {
    if (text) out.push({ type: "text", text: text });
    text = "";
  }
  var i = 0;
  while (i < s.length) {
    var c = s.charAt(i);
    if (c === "\\" && i + 1 < s.length && /[\\`*_{}\[\]()#+\-.!~>|]/.test(s.charAt(i + 1))) {
      text += s.charAt(i + 1);
      i += 2;
      continue;
    }
    if (c === "\n") {
      flush();
      out.push({ type: "br" });
      i++;
      continue;
    }
    if (c === "`") {
      var ticks = /^`+/.exec(s.slice(i))[0];
      var close = finder.indexOf(ticks, i + ticks.length);
      if (close !== -1) {
        flush();
        var code = s.slice(i + ticks.length, close);
        if (/^ .* $/.test(code) && code.trim()) code = code.slice(1, -1);
        out.push({ type: "code", text: code });
        i = close + ticks.length;
        continue;
      }
      text += ticks;
      i += ticks.length;
      continue;
    }
    if (c === "[" && !inLink) {
      var endLabel = closers.bracket(i);
      if (endLabel !== -1 && s.charAt(endLabel + 1) === "(") {
        var endUrl = closers.paren(endLabel + 1);
        if (endUrl !== -1) {
          var target = s.slice(endLabel + 2, endUrl).trim();
          var title = target.match(/^(\S+)\s+["'].*["']$/);
          if (title) target = title[1];
          if (target.charAt(0) === "<" && target.charAt(target.length - 1) === ">") target = target.slice(1, -1);
          flush();
          out.push({ type: "link", href: target, children: parseInline(s.slice(i + 1, endLabel), true) });
          i = endUrl + 1;
          continue;
        }
      }
    }
    if (c === "*" && s.slice(i, i + 3) === "***" && !isSpace(s.charAt(i + 3))) {
      var end3 = finder.indexOf("***", i + 3);
      if (end3 > i + 3 && !isSpace(s.charAt(end3 - 1))) {
        flush();
        out.push({ type: "em", children: [{ type: "strong", children: parseInline(s.slice(i + 3, end3), inLink) }] });
        i = end3 + 3;
        continue;
      }
    }
    if ((c === "*" || c === "_") && s.charAt(i + 1) === c && !isSpace(s.charAt(i + 2))) {
      var delim2 = c + c;
      var end2 = finder.closing(delim2, i + 2);
      if (end2 !== -1 && (c === "*" || !isWordChar(s.charAt(end2 + 2)))) {
        flush();
        out.push({ type: "strong", children: parseInline(s.slice(i + 2, end2), inLink) });
        i = end2 + 2;
        continue;
      }
    }
    if ((c === "*" || c === "_") && !isSpace(s.charAt(i + 1)) && s.charAt(i + 1) !== c) {
      // "_" inside a word (snake_case) is not emphasis
      if (c === "*" || !isWordChar(s.charAt(i - 1))) {
        var end1 = finder.closing(c, i + 1);
        if (end1 !== -1 && (c === "*" || !isWordChar(s.charAt(end1 + 1)))) {
          flush();
          out.push({ type: "em", children: parseInline(s.slice(i + 1, end1), inLink) });
          i = end1 + 1;
          continue;
        }
      }
    }
    if (!inLink && (c === "h" || c === "H") && !isWordChar(s.charAt(i - 1))) {
      var auto = /^https?:\/\/[^\s<>"'`]+/i.exec(s.slice(i));
      if (auto) {
        var href = auto[0].replace(TRAILING_PUNCTUATION, "");
        // keep a closing parenthesis that closes one opened inside the URL
        var opened = (href.match(/\(/g) || []).length - (href.match(/\)/g) || []).length;
        var rest = auto[0].slice(href.length);
        while (opened > 0 && rest.charAt(0) === ")") {
          href += ")";
          rest = rest.slice(1);
          opened--;
        }
        if (href.length > 8) {
          flush();
          out.push({ type: "link", href: href, children: [{ type: "text", text: href }] });
          i += href.length;
          continue;
        }
      }
    }
    text += c;
    i++;
  }
  flush();
  return out;
}

// -- blocks ---------------------------------------------------------------------------------------

var FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)\s*$/;
var BULLET = /^ {0,6}[-*+]\s+(.*)$/;
var ORDERED = /^ {0,6}(\d{1,9})[.)]\s+(.*)$/;
var HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
var RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;

/** Markdown -> [{type:"p"|"ul"|"ol"|"code"|"h", ...}] */
function parseBlocks(src) {
  var lines = String(src).replace(/\r\n?/g, "\n").split("\n");
  var blocks = [];
  var para = null;
  var list = null;
  function endPara() {
    if (para) blocks.push({ type: "p", children: parseInline(para.join("\n")) });
    para = null;
  }
  function endList() {
    if (list) {
      list.items = list.items.map(function (item) {
        return parseInline(item.join("\n"));
      });
      blocks.push(list);
    }
    list = null;
  }
  for (var n = 0; n < lines.length; n++) {
    var ln = lines[n];
    var fence = FENCE.exec(ln);
    if (fence) {
      endPara();
      endList();
      var body = [];
      n++;
      while (n < lines.length) {
        var closing = new RegExp("^ {0,3}" + fence[1].charAt(0) + "{" + fence[1].length + ",}\\s*$");
        if (closing.test(lines[n])) break;
        body.push(lines[n]);
        n++;
      }
      blocks.push({ type: "code", lang: fence[2] || "", text: body.join("\n") });
      continue;
    }
    if (/^\s*$/.test(ln)) {
      endPara();
      endList();
      continue;
    }
    var heading = HEADING.exec(ln);
    if (heading) {
      endPara();
      endList();
      blocks.push({ type: "h", level: heading[1].length, children: parseInline(heading[2]) });
      continue;
    }
    if (RULE.test(ln) && !para) {
      endList();
      blocks.push({ type: "hr" });
      continue;
    }
    var bullet = BULLET.exec(ln);
    var ordered = bullet ? null : ORDERED.exec(ln);
    if (bullet || ordered) {
      var kind = bullet ? "ul" : "ol";
      endPara();
      if (!list || list.type !== kind) {
        endList();
        list = { type: kind, start: ordered ? parseInt(ordered[1], 10) : 1, items: [] };
      }
      list.items.push([bullet ? bullet[1] : ordered[2]]);
      continue;
    }
    if (list && /^\s+\S/.test(ln)) {
      list.items[list.items.length - 1].push(ln.trim()); // continuation of the last item
      continue;
    }
    endList();
    if (!para) para = [];
    para.push(ln.replace(/^\s+/, ""));
  }
  endPara();
  endList();
  return blocks;
}

// -- DOM --------------------------------------------------------------------------------------------

function appendInline(doc, parent, nodes, base) {
  for (var i = 0; i < nodes.length; i++) {
    var node = nodes[i];
    var el;
    switch (node.type) {
      case "text":
        parent.appendChild(doc.createTextNode(node.text));
        break;
      case "br":
        parent.appendChild(doc.createElement("br"));
        break;
      case "code":
        el = doc.createElement("code");
        el.textContent = node.text;
        parent.appendChild(el);
        break;
      case "strong":
      case "em":
        el = doc.createElement(node.type);
        appendInline(doc, el, node.children, base);
        parent.appendChild(el);
        break;
      case "link":
        var href = safeUrl(node.href, base);
        if (href === null) {
          appendInline(doc, parent, node.children, base); // the text stays, the link goes
          break;
        }
        el = doc.createElement("a");
        el.setAttribute("href", href);
        el.setAttribute("target", "_blank");
        el.setAttribute("rel", "noopener noreferrer");
        appendInline(doc, el, node.children, base);
        parent.appendChild(el);
        break;
    }
  }
}

/** Render markdown into `container` (emptied first) using only DOM methods. */
function renderMarkdown(container, src, base) {
  var doc = container.ownerDocument;
  while (container.firstChild) container.removeChild(container.firstChild);
  var blocks = parseBlocks(src);
  for (var i = 0; i < blocks.length; i++) {
    var b = blocks[i];
    var el;
    if (b.type === "p" || b.type === "h") {
      el = doc.createElement("p");
      if (b.type === "h") {
        var strong = doc.createElement("strong");
        appendInline(doc, strong, b.children, base);
        el.appendChild(strong);
      } else {
        appendInline(doc, el, b.children, base);
      }
    } else if (b.type === "ul" || b.type === "ol") {
      el = doc.createElement(b.type);
      if (b.type === "ol" && b.start !== 1) el.setAttribute("start", String(b.start));
      for (var j = 0; j < b.items.length; j++) {
        var li = doc.createElement("li");
        appendInline(doc, li, b.items[j], base);
        el.appendChild(li);
      }
    } else if (b.type === "code") {
      el = doc.createElement("pre");
      var code = doc.createElement("code");
      code.textContent = b.text;
      el.appendChild(code);
    } else if (b.type === "hr") {
      el = doc.createElement("hr");
    }
    if (el) container.appendChild(el);
  }
}

if (typeof module !== "undefined" && module.exports) {
  module.exports = {
    safeUrl: safeUrl,
    parseInline: parseInline,
    parseBlocks: parseBlocks,
    renderMarkdown: renderMarkdown,
  };
}
