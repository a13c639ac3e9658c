/* The chat widget: launcher, panel, streaming turns, history, JS API.
 *
 * The proxy serves this file inside one bundle, after the string catalogue (CATALOGUE), the styles
 * (STYLES), sse.js (createSSEParser, readSSE) and markdown.js (renderMarkdown, safeUrl).
 * No text from the model or the visitor ever goes through innerHTML: the whole widget is built with
 * createElement/textContent.
 */

var WIDGET_VERSION = "1";
var DEFAULT_IDLE_TIMEOUT = 45; // seconds without a byte (heartbeats included) before a turn is given up
var SVG_NS = "http://www.w3.org/2000/svg";
var ICONS = {
  chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2Z",
  close: "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6 10.6 12 5 6.4Z",
  fresh: "M17.7 6.3A8 8 0 1 0 20 12h-2a6 6 0 1 1-1.8-4.2L13 11h7V4l-2.3 2.3Z",
  send: "M3 20.5 21 12 3 3.5 3 10l12 2-12 2z",
  stop: "M5 5h14v14H5z",
};

function boot() {
  if (window.AssistantProxy && window.AssistantProxy.version) return; // loaded twice

  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  var attrs = (script && script.dataset) || {};
  var scriptUrl = script && script.src ? new URL(script.src, location.href) : new URL(location.href);
  var apiBase = (attrs.api || scriptUrl.origin).replace(/\/+$/, "");
  var idleTimeout = Math.max(1, parseFloat(attrs.idleTimeout) || DEFAULT_IDLE_TIMEOUT) * 1000;

  // -- storage (localStorage may be missing or throw: private modes, sandboxed frames) ----------
  var memory = {};
  function storage(kind) {
    try {
      var s = window[kind];
      var probe = "__ap_probe__";
      s.setItem(probe, "1");
      s.removeItem(probe);
      return s;
    } catch (e) {
      return {
        getItem: function (k) {
          return Object.prototype.hasOwnProperty.call(memory, kind + k) ? memory[kind + k] : null;
        },
        setItem: function (k, v) {
          memory[kind + k] = String(v);
        },
        removeItem: function (k) {
          delete memory[kind + k];
        },
      };
    }
  }
  var local = storage("localStorage");
  var session = storage("sessionStorage");

  function randomId() {
    if (window.crypto && crypto.randomUUID) {
      try {
        return crypto.randomUUID();
      } catch (e) {
        /* not a secure context */
      }
    }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map
      .call(bytes, function (b) {
        return (b + 256).toString(16).slice(1);
      })
      .join("");
  }

  /** Short non-reversible tag of a string: tells "same visitor?" without storing who it is. */
  function fingerprint(text) {
    if (!text) return "";
    var h = 0x811c9dc5;
    for (var i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h.toString(36);
  }

  /**
   * Who an identity token names (its `sub`), tagged: hosts mint a new token on every page view,
   * so the saved thread is keyed by the user, not by the token. The signature is the server's
   * business; an unreadable token counts as a user of its own.
   */
  function identityTag(token) {
    if (!token) return "";
    try {
      var part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      var bytes = Uint8Array.from(atob(part + "===".slice((part.length + 3) % 4)), function (c) {
        return c.charCodeAt(0);
      });
      var claims = JSON.parse(new TextDecoder().decode(bytes));
      if (claims && typeof claims.sub === "string" && claims.sub) return fingerprint("sub:" + claims.sub);
    } catch (e) {
      /* not a readable JWT */
    }
    return fingerprint("token:" + token);
  }

  var visitorKey = "assistant-proxy:" + apiBase + ":visitor";
  var visitorId = local.getItem(visitorKey);
  if (!visitorId || !/^[A-Za-z0-9_-]{8,128}$/.test(visitorId)) {
    visitorId = randomId();
    local.setItem(visitorKey, visitorId);
  }

  // -- state ------------------------------------------------------------------------------------
  var S = {
    ready: false,
    config: null,
    strings: CATALOGUE.en,
    locale: "en",
    scope: "", // storage scope: proxy + tenant
    identityToken: attrs.identityToken || null,
    suggestions: attrs.suggestedQuestions ? questionList(attrs.suggestedQuestions) : null, // the page's own
    threadId: null,
    isOpen: false,
    loaded: false, // history fetched for the current thread
    turn: null, // the running turn
    lastText: "",
    messages: 0, // shown messages of the conversation (greeting excluded)
  };
  var ui = {};
  var queue = [];

  function t(key, vars) {
    var s = S.strings[key] != null ? S.strings[key] : CATALOGUE.en[key] != null ? CATALOGUE.en[key] : key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, function (m, name) {
        return vars[name] != null ? String(vars[name]) : m;
      });
    }
    return s;
  }

  function pickLocale(wanted) {
    for (var i = 0; i < wanted.length; i++) {
      var w = String(wanted[i] || "").toLowerCase();
      if (!w) continue;
      if (CATALOGUE[w]) return w;
      var primary = w.split(/[-_]/)[0];
      if (CATALOGUE[primary]) return primary;
    }
    return "en";
  }

  // -- DOM helpers ------------------------------------------------------------------------------
  function h(tag, props, children) {
    var el = document.createElement(tag);
    if (props) {
      for (var k in props) {
        if (!Object.prototype.hasOwnProperty.call(props, k) || props[k] == null || props[k] === false) continue;
        if (k === "text") el.textContent = props[k];
        else if (k === "className") el.className = props[k];
        else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), props[k]);
        else el.setAttribute(k, props[k] === true ? "" : props[k]);
      }
    }
    (children || []).forEach(function (c) {
      if (c) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return el;
  }

  function icon(name) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  var COLOUR = /^#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;

  // -- building the UI --------------------------------------------------------------------------
  function build() {
    var cfg = S.config;
    var host = document.createElement("assistant-proxy-widget");
    host.setAttribute("style", "all: initial !important;");
    var shadow = host.attachShadow({ mode: "open" });
    if (shadow.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
      try {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(STYLES);
        shadow.adoptedStyleSheets = [sheet];
      } catch (e) {
        shadow.appendChild(h("style", { text: STYLES }));
      }
    } else {
      shadow.appendChild(h("style", { text: STYLES }));
    }

    var position = { left: "bottom-left", right: "bottom-right" }[attrs.position] || attrs.position;
    if (position !== "bottom-left" && position !== "bottom-right") position = cfg.position || "bottom-right";

    var root = h("div", {
      className: "root",
      dir: t("dir") === "rtl" ? "rtl" : "ltr",
      lang: S.locale,
      "data-position": position,
      "data-open": "false",
    });
    [
      ["--ap-primary", cfg.primary_color],
      ["--ap-on-primary", cfg.primary_text_color],
      ["--ap-bg", cfg.background_color],
      ["--ap-fg", cfg.text_color],
    ].forEach(function (pair) {
      if (typeof pair[1] === "string" && COLOUR.test(pair[1])) root.style.setProperty(pair[0], pair[1]);
    });

    var title = cfg.title || t("title");
    ui.launcher = h(
      "button",
      {
        type: "button",
        className: "launcher",
        "aria-label": t("openChat"),
        "aria-expanded": "false",
        "aria-controls": "ap-panel",
        onclick: function () {
          S.isOpen ? close() : open();
        },
      },
      [icon("chat")]
    );

    var avatar = null;
    var avatarUrl = cfg.avatar_url ? safeUrl(cfg.avatar_url, apiBase + "/") : null; // paths: on the proxy
    if (avatarUrl && /^https?:/.test(avatarUrl)) {
      avatar = h("img", { className: "avatar", src: avatarUrl, alt: "", width: "36", height: "36" });
      avatar.referrerPolicy = "no-referrer";
      avatar.addEventListener("error", function () {
        avatar.hidden = true;
      });
    }
    ui.newButton = h(
      "button",
      { type: "button", className: "icon-button new", title: t("newConversation"), onclick: onNewConversation },
      [icon("fresh"), h("span", { className: "sr", text: t("newConversation") })]
    );
    ui.closeButton = h(
      "button",
      { type: "button", className: "icon-button close", title: t("closeChat"), onclick: function () { close(); } },
      [icon("close"), h("span", { className: "sr", text: t("closeChat") })]
    );
    ui.conversations = createConversations({
      h: h,
      icon: icon,
      t: t,
      locale: function () { return S.locale; },
      request: request,
      httpError: httpError,
      announce: announce,
      current: function () { return S.threadId; },
      openThread: openThread,
      startNew: function () { startOver(false); },
      chatParts: function () { return [ui.log, ui.suggestions, ui.status, form]; },
      focusChat: function () { ui.input.focus(); },
    });
    var header = h("div", { className: "header" }, [
      avatar,
      h("div", { className: "heading" }, [
        h("h2", { className: "title", id: "ap-title", text: title }),
        cfg.subtitle ? h("p", { className: "subtitle", text: cfg.subtitle }) : null,
      ]),
      ui.conversations.button,
      ui.newButton,
      ui.closeButton,
    ]);

    ui.log = h("div", {
      className: "log",
      role: "log",
      "aria-live": "off", // replies are announced once, when finished, by the announcer below
      "aria-label": t("conversation"),
      tabindex: "0",
    });
    ui.suggestions = h("div", { className: "suggestions", role: "group", "aria-label": t("suggestions") });
    ui.status = h("div", { className: "status", hidden: true });
    ui.input = h("textarea", {
      id: "ap-input",
      className: "input",
      rows: "1",
      placeholder: cfg.placeholder || t("placeholder"),
      "aria-label": t("inputLabel"),
      autocomplete: "off",
      enterkeyhint: "send",
      maxlength: "8000",
      dir: "auto",
    });
    ui.input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submit();
      }
    });
    ui.input.addEventListener("input", autosize);
    ui.send = h("button", { type: "submit", className: "send", "aria-label": t("send"), title: t("send") }, [icon("send")]);
    ui.stop = h("button", { type: "button", className: "stop", hidden: true, onclick: stop }, [
      icon("stop"),
      h("span", { text: t("stop") }),
    ]);
    var form = h("form", { className: "composer", onsubmit: function (e) { e.preventDefault(); submit(); } }, [
      ui.input,
      ui.send,
      ui.stop,
    ]);
    ui.announcer = h("div", { className: "sr announcer", "aria-live": "polite", "aria-atomic": "true" });

    ui.panel = h(
      "div",
      { id: "ap-panel", className: "panel", role: "dialog", "aria-labelledby": "ap-title", hidden: true },
      [header, ui.conversations.view, ui.log, ui.suggestions, ui.status, form, ui.announcer]
    );
    ui.panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !e.defaultPrevented) {
        e.preventDefault();
        close();
      }
    });

    root.appendChild(ui.launcher);
    root.appendChild(ui.panel);
    shadow.appendChild(root);
    ui.root = root;
    ui.shadow = shadow;
    ui.host = host;
    (document.body || document.documentElement).appendChild(host);
  }

  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 130) + "px";
  }

  // -- conversation view ------------------------------------------------------------------------
  function nearBottom() {
    return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 80;
  }

  function scrollDown(force) {
    if (force || S.stick) ui.log.scrollTop = ui.log.scrollHeight;
  }

  function addMessage(kind, opts) {
    opts = opts || {};
    S.stick = nearBottom();
    var bubble = h("div", { className: "bubble", dir: "auto" });
    var label = kind === "user" ? t("you") : kind === "assistant" ? t("assistant") : null;
    var msg = h("div", { className: "msg " + kind, "data-role": kind }, [label ? h("span", { className: "sr", text: label + ": " }) : null, bubble]);
    if (opts.id) msg.setAttribute("data-message-id", opts.id);
    if (kind === "user" || kind === "system") bubble.textContent = opts.text || "";
    else if (opts.text) renderMarkdown(bubble, opts.text, location.href);
    if (opts.before !== undefined) ui.log.insertBefore(msg, opts.before);
    else ui.log.appendChild(msg);
    if ((kind === "user" || kind === "assistant") && !opts.greeting) {
      S.messages++;
      ui.suggestions.hidden = true;
    }
    scrollDown(kind === "user");
    return { el: msg, bubble: bubble, text: opts.text || "" };
  }

  function addNote(message, text) {
    message.el.appendChild(h("div", { className: "note", text: text }));
  }

  function showEmptyState() {
    while (ui.log.firstChild) ui.log.removeChild(ui.log.firstChild);
    S.messages = 0;
    if (S.config.greeting) {
      var g = addMessage("assistant", { text: S.config.greeting, greeting: true });
      g.el.classList.add("greeting");
      g.el.setAttribute("data-role", "greeting");
    }
    showSuggestions();
  }

  /** The page's own questions (data-suggested-questions, suggest()) or else the tenant's. */
  function showSuggestions() {
    while (ui.suggestions.firstChild) ui.suggestions.removeChild(ui.suggestions.firstChild);
    (S.suggestions || S.config.suggested_questions || []).forEach(function (q) {
      ui.suggestions.appendChild(
        h("button", {
          type: "button",
          className: "chip",
          text: q,
          onclick: function () {
            ui.input.focus();
            send(q);
          },
        })
      );
    });
    ui.suggestions.hidden = S.messages > 0 || !ui.suggestions.firstChild;
  }

  /** Up to 6 non-empty questions of at most 200 characters; anything else (null, junk) -> null. */
  function questionList(value) {
    if (typeof value === "string") {
      try {
        value = JSON.parse(value);
      } catch (e) {
        console.warn("[assistant-proxy] data-suggested-questions must be a JSON array of strings");
        return null;
      }
    }
    if (!Array.isArray(value)) return null;
    return value
      .filter(function (q) {
        return typeof q === "string" && q.trim() && q.trim().length <= 200;
      })
      .map(function (q) {
        return q.trim();
      })
      .slice(0, 6);
  }

  function suggest(questions) {
    S.suggestions = questionList(questions);
    if (S.ready) showSuggestions();
  }

  function setStatus(kind, text) {
    while (ui.status.firstChild) ui.status.removeChild(ui.status.firstChild);
    if (!kind) {
      ui.status.hidden = true;
      ui.status.removeAttribute("data-kind");
      return;
    }
    ui.status.setAttribute("data-kind", kind);
    ui.status.appendChild(h("span", { className: "dots", "aria-hidden": "true" }, [h("i"), h("i"), h("i")]));
    ui.status.appendChild(h("span", { className: "status-text", text: text }));
    ui.status.hidden = false;
  }

  function toolLabel(name) {
    var labels = S.config.tool_labels || {};
    if (typeof labels[name] === "string") return labels[name];
    var n = String(name || "").toLowerCase();
    if (/search|product|catalog|find/.test(n)) return t("toolSearching");
    if (/lead|contact|email|mail/.test(n)) return t("toolLead");
    if (/handoff|human|agent|escalat/.test(n)) return t("toolHandoff");
    return t("toolWorking");
  }

  var announceTimer = null;
  function announce(text) {
    // cleared first so the same text twice is still read; one update per finished reply
    ui.announcer.textContent = "";
    clearTimeout(announceTimer);
    announceTimer = setTimeout(function () {
      ui.announcer.textContent = text;
    }, 60);
  }

  function plain(markdown) {
    return String(markdown)
      .replace(/```[^\n]*\n?/g, "")
      .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
      .replace(/[*_`#>]+/g, "")
      .replace(/\s+/g, " ")
      .trim();
  }

  // -- open / close -----------------------------------------------------------------------------
  function open(focus) {
    if (!S.ready) return;
    var wasOpen = S.isOpen;
    S.isOpen = true;
    ui.panel.hidden = false;
    ui.root.setAttribute("data-open", "true");
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.launcher.setAttribute("aria-label", t("closeChat"));
    ui.launcher.replaceChildren(icon("close"));
    session.setItem(S.scope + ":open", "1");
    if (!S.loaded) restore();
    scrollDown(true);
    if (!wasOpen && focus !== false) ui.input.focus();
  }

  function close() {
    if (!S.ready || !S.isOpen) return;
    var hadFocus = ui.shadow.activeElement && ui.panel.contains(ui.shadow.activeElement);
    S.isOpen = false;
    ui.panel.hidden = true;
    ui.root.setAttribute("data-open", "false");
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.setAttribute("aria-label", t("openChat"));
    ui.launcher.replaceChildren(icon("chat"));
    session.removeItem(S.scope + ":open");
    if (hadFocus) ui.launcher.focus();
  }

  // -- HTTP -------------------------------------------------------------------------------------
  function request(method, path, body, signal, accept) {
    var headers = { "X-Visitor-Id": visitorId, Accept: accept || "application/json" };
    // a signed-in visitor's thread answers only requests that prove who they are, every time
    if (S.identityToken) headers["X-Identity-Token"] = S.identityToken;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(apiBase + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: signal,
      credentials: "omit",
      cache: "no-store",
      mode: "cors",
    });
  }

  function HttpError(status, code, message, retryAfter) {
    this.status = status;
    this.code = code;
    this.message = message;
    this.retryAfter = retryAfter;
  }

  async function httpError(res) {
    var code = "http_" + res.status;
    var message = "";
    var retryAfter = parseInt(res.headers.get("Retry-After") || "", 10);
    try {
      var body = await res.json();
      if (body && body.error) {
        code = body.error.code || code;
        message = body.error.message || "";
        if (isNaN(retryAfter)) retryAfter = parseInt(body.error.retry_after, 10);
      }
    } catch (e) {
      /* not JSON */
    }
    return new HttpError(res.status, code, message, isNaN(retryAfter) ? null : retryAfter);
  }

  var threadKey = function () {
    return S.scope + ":thread";
  };

  function saveThread(id) {
    S.threadId = id;
    if (id) local.setItem(threadKey(), JSON.stringify({ id: id, idf: identityTag(S.identityToken) }));
    else local.removeItem(threadKey());
    if (!id) local.removeItem(notesKey());
    human.keep(id); // another thread (or none): stop following the old one
  }

  // -- notes (lead, handoff) ------------------------------------------------------------------
  // The thread's history holds its messages only, so the widget keeps the confirmations it showed,
  // each with the visitor message it followed, and puts them back when the history is restored.
  var MAX_NOTES = 20;
  var notesKey = function () {
    return S.scope + ":notes";
  };

  function showNote(kind, text, before, ref) {
    var note = addMessage("system", { text: text, before: before });
    note.el.setAttribute("data-event", kind);
    if (ref) note.el.setAttribute("data-ref", ref);
    return note;
  }

  function shownNote(ref) {
    var notes = ui.log.querySelectorAll(".msg[data-ref]");
    for (var i = 0; i < notes.length; i++) if (notes[i].getAttribute("data-ref") === ref) return true;
    return false;
  }

  function bubbleText(msg) {
    var bubble = msg.querySelector(".bubble");
    return bubble ? bubble.textContent : "";
  }

  function loadNotes(id) {
    try {
      var saved = JSON.parse(local.getItem(notesKey()) || "null");
      if (saved && saved.thread === id && Array.isArray(saved.notes)) return saved.notes;
    } catch (e) {
      /* unreadable: no notes */
    }
    return [];
  }

  function rememberNote(kind, text, ref) {
    if (!S.threadId) return;
    var asked = ui.log.querySelectorAll('.msg[data-role="user"]');
    var last = asked[asked.length - 1];
    var note = { kind: kind, text: text, ref: ref, after: asked.length, asked: last ? bubbleText(last) : "" };
    var notes = loadNotes(S.threadId).concat([note]).slice(-MAX_NOTES);
    local.setItem(notesKey(), JSON.stringify({ thread: S.threadId, notes: notes }));
  }

  /** Put the stored notes of thread ``id`` back after the visitor messages they followed. */
  function restoreNotes(id, anchor) {
    var users = [];
    for (var el = ui.log.firstChild; el && el !== anchor; el = el.nextSibling) {
      if (el.getAttribute && el.getAttribute("data-role") === "user") users.push(el);
    }
    // last first: each note goes right after its message, so earlier ones end up above later ones
    loadNotes(id)
      .slice()
      .reverse()
      .forEach(function (n) {
        if ((n.kind !== "lead" && n.kind !== "handoff") || typeof n.text !== "string") return;
        var target = null;
        for (var i = Math.max(0, (n.after | 0) - 1); i < users.length && !target; i++) {
          if (bubbleText(users[i]) === n.asked) target = users[i];
        }
        target = target || users[(n.after | 0) - 1];
        showNote(n.kind, n.text, target ? target.nextSibling : anchor, typeof n.ref === "string" ? n.ref : "");
      });
  }

  // a person of the site's team taking over (human.js)
  var human = humanPart({
    request: request,
    readSSE: readSSE,
    addMessage: addMessage,
    showNote: showNote,
    shownNote: shownNote,
    announce: announce,
    t: t,
    h: h,
    log: function () {
      return ui.log;
    },
  });

  function loadThread() {
    try {
      var saved = JSON.parse(local.getItem(threadKey()) || "null");
      if (saved && typeof saved.id === "string" && saved.idf === identityTag(S.identityToken)) return saved.id;
    } catch (e) {
      /* unreadable: start over */
    }
    local.removeItem(threadKey());
    return null;
  }

  /** A conversation started by its first message (POST /v1/threads with it): the thread is the reply's. */
  function threadStarted(id) {
    saveThread(id);
    S.loaded = true;
    human.follow(id, "");
  }

  async function restore() {
    S.loaded = true;
    showEmptyState();
    var id = S.threadId;
    if (!id) return;
    // history goes above anything said meanwhile (a message sent before it arrived)
    var anchor = ui.log.appendChild(h("div", { hidden: true }));
    ui.log.setAttribute("aria-busy", "true");
    setStatus("loading", t("loading"));
    try {
      var res = await request("GET", "/v1/threads/" + encodeURIComponent(id) + "/messages");
      if (S.threadId !== id) return; // reset meanwhile
      if (res.status === 404) {
        saveThread(null);
        return;
      }
      if (!res.ok) throw await httpError(res);
      var data = await res.json();
      if (S.threadId !== id) return;
      (data.messages || []).forEach(function (m) {
        if (m.role === "human") return human.historyMessage(m, anchor);
        if (m.role !== "user" && m.role !== "assistant") return;
        addMessage(m.role, { text: String(m.content || ""), id: m.id, before: anchor });
      });
      restoreNotes(id, anchor);
      scrollDown(true);
      var newest = (data.messages || [])[(data.messages || []).length - 1];
      human.follow(id, newest ? newest.id : "");
    } catch (e) {
      S.loaded = false; // try again at the next open
      addMessage("error", { text: t("errorNetwork") });
    } finally {
      anchor.remove();
      if (!S.turn) ui.log.removeAttribute("aria-busy");
      if (!S.turn) setStatus(null);
    }
  }

  // -- a turn -----------------------------------------------------------------------------------
  function setBusy(busy) {
    var focusOnSend = ui.shadow.activeElement === ui.send;
    var focusOnStop = ui.shadow.activeElement === ui.stop;
    ui.send.hidden = busy;
    ui.stop.hidden = !busy;
    ui.stop.disabled = false;
    ui.stop.lastChild.textContent = t("stop");
    if (busy && focusOnSend) ui.stop.focus();
    if (!busy && focusOnStop) ui.input.focus();
    ui.log.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function submit() {
    var text = ui.input.value;
    if (!text.trim() || S.turn) return;
    ui.input.value = "";
    autosize();
    send(text);
  }

  function send(text, retry) {
    text = String(text || "").trim();
    if (!text || S.turn || !S.ready) return;
    if (!S.isOpen) open();
    if (!retry) addMessage("user", { text: text });
    S.lastText = text;
    runTurn(text, 0);
  }

  function errorText(err) {
    var code = err.code || "";
    if (err.status === 429 || code === "rate_limited" || code === "upstream_rate_limited") {
      return err.retryAfter ? t("errorRateLimited", { seconds: err.retryAfter }) : t("errorRateLimitedSoon");
    }
    if (err.status === 409 || code === "thread_busy") return t("errorBusy");
    if (err.status === 413 || /too_long|too_large/.test(code)) return t("errorTooLong");
    if (err.status === 403 || code === "upstream_quota" || code === "upstream_auth" || code === "forbidden") {
      return t("errorUnavailable");
    }
    if (/^upstream_/.test(code) || err.status >= 500) return t("errorUnavailable");
    if (code === "network" || code === "stalled") return t("errorNetwork");
    return t("errorGeneric");
  }

  function showError(err, retryable) {
    var m = addMessage("error", {});
    m.el.setAttribute("role", "alert");
    m.bubble.appendChild(h("span", { className: "error-text", text: errorText(err) }));
    if (retryable) {
      m.bubble.appendChild(
        h("button", {
          type: "button",
          className: "retry",
          text: t("retry"),
          onclick: function () {
            if (S.turn) return;
            m.el.remove();
            ui.input.focus();
            send(S.lastText, true);
          },
        })
      );
    }
    scrollDown(true);
  }

  function cancelRun(turn) {
    if (!turn.runId || turn.cancelSent) return;
    turn.cancelSent = true;
    var path = threadPath(turn) + "/runs/" + encodeURIComponent(turn.runId) + "/cancel";
    request("POST", path, {}).then(
      function (res) {
        if (!res.ok && res.status !== 404 && res.status !== 409) turn.controller.abort();
      },
      function () {
        turn.controller.abort();
      }
    );
  }

  function stop() {
    var turn = S.turn;
    if (!turn || turn.stopRequested) return;
    turn.stopRequested = true;
    ui.stop.disabled = true;
    ui.stop.lastChild.textContent = t("stopping");
    if (turn.runId) cancelRun(turn);
    else if (turn.pausing) turn.controller.abort(); // nothing started on the server yet
    // else: the reply's first event (run.started) is on its way; it is cancelled when it comes
    // the server ends the stream with error(cancelled) + done; if it does not, stop waiting
    turn.stopTimer = setTimeout(function () {
      turn.controller.abort();
    }, 4000);
    ui.input.focus();
  }

  function assistantMessage(turn, id) {
    var m = turn.messages[id];
    if (!m) {
      m = turn.messages[id] = addMessage("assistant", { id: id });
      m.el.setAttribute("data-state", "streaming");
      turn.last = m;
    }
    return m;
  }

  function renderSoon(turn, m) {
    if (m.pending) return;
    m.pending = true;
    var run = function () {
      m.pending = false;
      S.stick = nearBottom();
      renderMarkdown(m.bubble, m.text, location.href);
      scrollDown();
    };
    if (document.hidden) setTimeout(run, 50);
    else requestAnimationFrame(run);
  }

  function handleEvent(turn, ev) {
    if (S.turn !== turn) return; // a stale stream (the conversation was reset)
    var data = {};
    try {
      data = ev.data ? JSON.parse(ev.data) : {};
    } catch (e) {
      return;
    }
    var m;
    switch (ev.event) {
      case "run.started":
        turn.runId = data.run_id;
        if (!turn.threadId) threadStarted((turn.threadId = data.thread_id));
        if (turn.stopRequested) cancelRun(turn);
        break;
      case "message.delta":
        if (turn.tools === 0 && !ui.status.hidden) setStatus(null);
        m = assistantMessage(turn, data.message_id);
        m.text += String(data.delta || "");
        renderSoon(turn, m);
        break;
      case "tool.started":
        turn.tools++;
        setStatus("tool", toolLabel(data.name));
        ui.status.setAttribute("data-tool", String(data.name || ""));
        break;
      case "tool.finished":
        turn.tools = Math.max(0, turn.tools - 1);
        if (turn.tools === 0) setStatus("typing", t("typing"));
        break;
      case "message.completed":
        m = assistantMessage(turn, data.message_id);
        if (typeof data.content === "string") m.text = data.content;
        S.stick = nearBottom();
        renderMarkdown(m.bubble, m.text, location.href);
        m.el.setAttribute("data-state", "done");
        m.done = true;
        scrollDown();
        if (m.text) announce(t("announceReply", { text: plain(m.text) }));
        break;
      case "handoff":
      case "lead.captured":
        // the tenant's own words for the visitor when the event has them, else the catalogue's
        var note = typeof data.message === "string" && data.message.trim() ? data.message.trim() : null;
        note = note || t(ev.event === "handoff" ? "handoff" : "leadCaptured");
        var kind = ev.event === "handoff" ? "handoff" : "lead";
        var id = kind === "handoff" ? data.handoff_id : data.lead_id;
        var ref = id != null && id !== "" ? kind + ":" + id : "";
        if (ref && shownNote(ref)) break; // the same handoff again (asked for twice): one note is enough
        showNote(kind, note, undefined, ref);
        rememberNote(kind, note, ref);
        announce(note);
        break;
      case "error":
        turn.error = data;
        break;
      case "done":
        turn.done = true;
        break;
    }
  }

  function markStopped(turn) {
    var m = turn.last;
    if (m && !m.done) {
      renderMarkdown(m.bubble, m.text, location.href);
      m.el.setAttribute("data-state", "stopped");
      addNote(m, t("stopped"));
    } else {
      addMessage("system", { text: t("stopped") }).el.setAttribute("data-event", "stopped");
    }
  }

  /** The reply ended on the server while we were away: show the stored version of it. */
  async function recoverFromHistory(turn) {
    var res = await request("GET", threadPath(turn) + "/messages");
    if (!res.ok) return false;
    var messages = (await res.json()).messages || [];
    var last = messages[messages.length - 1];
    var asked = messages[messages.length - 2];
    if (!last || last.role !== "assistant" || !asked || asked.content !== turn.text || S.turn !== turn) return false;
    var id = turn.last ? turn.last.el.getAttribute("data-message-id") : last.id;
    handleEvent(turn, { event: "message.completed", data: JSON.stringify({ message_id: id, content: last.content }) });
    turn.done = true;
    return true;
  }

  // a busy or restarting server (503 overloaded / shutting_down) asks for a retry after a moment
  function briefRefusal(err) {
    var soon = err.retryAfter > 0 && err.retryAfter <= 10;
    return err.status === 503 && soon && (err.code === "overloaded" || err.code === "shutting_down");
  }

  function pause(seconds, signal) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(resolve, seconds * 1000);
      signal.addEventListener(
        "abort",
        function () {
          clearTimeout(timer);
          reject(new Error("aborted"));
        },
        { once: true }
      );
    });
  }

  function threadPath(turn) {
    return "/v1/threads/" + encodeURIComponent(turn.threadId);
  }

  async function runTurn(text, attempt) {
    var turn = {
      text: text,
      controller: new AbortController(),
      messages: {},
      last: null,
      tools: 0,
      runId: null,
      threadId: null,
      lastEventId: "",
      resumes: 0,
      done: false,
      error: null,
      stopRequested: false,
    };
    S.turn = turn;
    setBusy(true);
    setStatus("typing", t("typing"));
    var idle = null;
    var stalled = false;
    function kick() {
      clearTimeout(idle);
      idle = setTimeout(function () {
        stalled = true;
        turn.controller.abort();
      }, idleTimeout);
    }
    var failure = null;
    var retryable = true;
    var again = false;
    var SSE = "text/event-stream";
    kick();
    try {
      turn.threadId = S.threadId;
      var res = turn.threadId
        ? await request("POST", threadPath(turn) + "/messages", { content: text }, turn.controller.signal, SSE)
        : await request("POST", "/v1/threads", { message: text }, turn.controller.signal, SSE);
      if (res.status === 404 && attempt === 0 && !turn.stopRequested) {
        saveThread(null); // the thread is gone (expired, deleted): start a new one
        again = true;
      }
      while (!again) {
        if (!res.ok) {
          if (res.status === 404 && turn.runId && (await recoverFromHistory(turn))) break;
          failure = await httpError(res);
          retryable = [400, 403, 413, 422].indexOf(failure.status) === -1;
          if (attempt === 0 && briefRefusal(failure)) {
            // once, on its own, after the time asked for (and a little more, so that refused
            // visitors do not all come back at the same instant); Stop ends the wait
            clearTimeout(idle);
            turn.pausing = true;
            await pause(failure.retryAfter + Math.random(), turn.controller.signal);
            turn.pausing = false;
            failure = null;
            again = true;
          }
          break;
        }
        var broken = null;
        try {
          kick();
          await readSSE(
            res.body,
            function (ev) {
              if (ev.id) turn.lastEventId = ev.id;
              handleEvent(turn, ev);
            },
            { onActivity: kick }
          );
        } catch (e) {
          broken = e;
        }
        if (turn.done || turn.stopRequested || !turn.runId || turn.resumes >= 2 || S.turn !== turn) {
          if (broken && !turn.done) throw broken;
          break;
        }
        // the connection broke or went silent in the middle of a reply: pick it up where it stopped
        turn.resumes++;
        stalled = false;
        turn.controller = new AbortController();
        kick();
        var resume = threadPath(turn) + "/runs/" + encodeURIComponent(turn.runId) + "/events?last_event_id=";
        res = await request("GET", resume + encodeURIComponent(turn.lastEventId), undefined, turn.controller.signal, SSE);
      }
      if (failure || again) {
        /* decided above */
      } else if (turn.error && turn.error.code === "cancelled") {
        failure = "stopped";
      } else if (turn.error) {
        failure = { code: turn.error.code, message: turn.error.message };
        retryable = turn.error.retryable !== false;
      } else if (!turn.done) {
        failure = turn.stopRequested ? "stopped" : { code: "network" };
      }
    } catch (e) {
      if (e instanceof HttpError) {
        failure = e;
        retryable = e.status !== 403 && e.status !== 400;
      } else if (turn.stopRequested && !stalled) {
        failure = "stopped";
      } else {
        failure = { code: stalled ? "stalled" : "network" };
      }
    } finally {
      clearTimeout(idle);
      clearTimeout(turn.stopTimer);
    }
    if (S.turn !== turn) return; // reset while running: nothing more to show
    S.turn = null;
    setStatus(null);
    setBusy(false);
    Object.keys(turn.messages).forEach(function (id) {
      var m = turn.messages[id];
      if (!m.done && failure !== "stopped") {
        renderMarkdown(m.bubble, m.text, location.href);
        m.el.setAttribute("data-state", "incomplete");
      }
    });
    if (again) return runTurn(text, attempt + 1);
    if (failure === "stopped") markStopped(turn);
    else if (failure) showError(failure, retryable); // role="alert" announces it
  }

  // -- new conversation, identity ---------------------------------------------------------------
  function discardTurn() {
    var turn = S.turn;
    if (!turn) return;
    S.turn = null;
    turn.stopRequested = true;
    cancelRun(turn);
    turn.controller.abort();
    setStatus(null);
    setBusy(false);
  }

  function deleteThread(id, tries) {
    // best effort; a reply that was just stopped may still hold the thread for a moment (409)
    request("DELETE", "/v1/threads/" + encodeURIComponent(id)).then(
      function (res) {
        if (res.status === 409 && tries > 1) {
          setTimeout(function () {
            deleteThread(id, tries - 1);
          }, 1000);
        }
      },
      function () {}
    );
  }

  function startOver(deleteOnServer) {
    var old = S.threadId;
    discardTurn();
    saveThread(null);
    if (old && deleteOnServer) deleteThread(old, 3);
    S.loaded = true;
    showEmptyState();
  }

  /** Show a past conversation (from the list of conversations). */
  function openThread(id) {
    if (id === S.threadId && S.loaded) return;
    discardTurn();
    saveThread(id);
    S.loaded = false;
    restore();
  }

  function onNewConversation() {
    startOver(true);
    announce(t("conversationCleared"));
    ui.input.focus();
  }

  function identify(token) {
    token = token ? String(token) : null;
    if (token === S.identityToken) return;
    var sameVisitor = identityTag(token) === identityTag(S.identityToken);
    S.identityToken = token;
    if (!sameVisitor && S.threadId) startOver(false); // the old thread belongs to the other identity
  }

  // -- start ------------------------------------------------------------------------------------
  async function start() {
    var res;
    try {
      res = await fetch(apiBase + "/v1/widget-config", { credentials: "omit", mode: "cors" });
    } catch (e) {
      console.warn("[assistant-proxy] the chat is unavailable: cannot reach " + apiBase);
      return;
    }
    if (!res.ok) {
      console.warn("[assistant-proxy] the chat is not enabled for this site (HTTP " + res.status + ")");
      return;
    }
    var cfg = await res.json();
    S.config = cfg;
    S.locale = pickLocale([attrs.locale, cfg.locale].concat(navigator.languages || [navigator.language]));
    S.strings = CATALOGUE[S.locale] || CATALOGUE.en;
    S.scope = "assistant-proxy:" + apiBase + ":" + (cfg.tenant || "default");
    S.threadId = loadThread();
    build();
    S.ready = true;
    var small = window.matchMedia && window.matchMedia("(max-width: 480px)").matches;
    var wantOpen =
      session.getItem(S.scope + ":open") === "1" ||
      attrs.open === "true" ||
      attrs.open === "" ||
      (cfg.open_on_load && !small);
    if (wantOpen) open(false);
    var pending = queue;
    queue = [];
    pending.forEach(function (call) {
      api[call[0]].apply(null, call[1]);
    });
    window.dispatchEvent(new CustomEvent("assistant-proxy:ready"));
  }

  function deferred(name, fn) {
    return function () {
      if (!S.ready) {
        if (name === "identify" || name === "suggest") fn.apply(null, arguments); // applies before the first view
        else queue.push([name, Array.prototype.slice.call(arguments)]);
        return;
      }
      return fn.apply(null, arguments);
    };
  }

  var api = {
    version: WIDGET_VERSION,
    open: deferred("open", function () {
      open();
    }),
    close: deferred("close", close),
    toggle: deferred("toggle", function () {
      S.isOpen ? close() : open();
    }),
    identify: deferred("identify", identify),
    suggest: deferred("suggest", suggest),
    reset: deferred("reset", function () {
      startOver(true);
    }),
    send: deferred("send", function (text) {
      send(text);
    }),
    isOpen: function () {
      return S.isOpen;
    },
  };

  var early = window.AssistantProxy;
  window.AssistantProxy = api;
  // calls made before the script loaded: window.AssistantProxy = [["identify", token], ["open"]]
  if (Array.isArray(early)) {
    early.forEach(function (call) {
      if (call && api[call[0]] && typeof api[call[0]] === "function") api[call[0]].apply(null, call.slice(1));
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start, { once: true });
  } else {
    start();
  }
}

boot();
