/* The staff console: sign-in, inbox, conversations, one live transcript with Take over / Hand back,
 * and the dashboard. Plain DOM code; every text from a visitor or the model goes in as textContent. */
(function () {
  "use strict";
  var API = "/console/api";
  var S = { me: null, view: null, thread: null, live: null, seen: {}, lastId: 0, holder: null, inboxTimer: null };

  function $(id) { return document.getElementById(id); }
  function h(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === "text") node.textContent = props[k];
      else if (k === "className") node.className = props[k];
      else node.setAttribute(k, props[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }
  function when(ts) { return ts ? new Date(ts * 1000).toLocaleString() : ""; }

  async function api(method, path, body) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && S.me) headers["X-CSRF-Token"] = S.me.csrf_token;
    var res = await fetch(API + path, {
      method: method, headers: headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (res.status === 401 && path !== "/me" && path !== "/session") { showSignIn(); }
    if (!res.ok) {
      var err = new Error((data && data.error && data.error.message) || "HTTP " + res.status);
      err.status = res.status;
      err.data = data;
      throw err;
    }
    return data;
  }

  // -- signing in and out ------------------------------------------------------------------------
  function showSignIn() {
    stopLive();
    clearInterval(S.inboxTimer);
    S.me = null;
    $("app").hidden = true;
    $("signin").hidden = false;
  }

  async function start() {
    try {
      S.me = await api("GET", "/me");
    } catch (e) {
      showSignIn();
      return;
    }
    showApp();
  }

  function showApp() {
    $("signin").hidden = true;
    $("app").hidden = false;
    $("tenant-name").textContent = S.me.tenant;
    $("staff-name").textContent = S.me.name;
    show(location.pathname.replace(/\/$/, "").endsWith("/dashboard") ? "dashboard" : "inbox");
  }

  $("signin-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    $("signin-error").textContent = "";
    var body = { name: $("signin-name").value };
    if ($("signin-token").value.trim()) body.identity_token = $("signin-token").value.trim();
    else body.client_key = $("signin-key").value;
    try {
      S.me = await api("POST", "/session", body);
      $("signin-key").value = "";
      $("signin-token").value = "";
      showApp();
    } catch (err) {
      $("signin-error").textContent = err.message;
    }
  });

  $("signout").addEventListener("click", async function () {
    try { await api("POST", "/session/end", {}); } catch (e) { /* signed out anyway */ }
    showSignIn();
  });

  // -- views -------------------------------------------------------------------------------------
  function show(view) {
    S.view = view;
    ["inbox", "conversations", "dashboard"].forEach(function (v) { $("view-" + v).hidden = v !== view; });
    Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (tab) {
      if (tab.getAttribute("data-view") === view) tab.setAttribute("aria-current", "page");
      else tab.removeAttribute("aria-current");
    });
    $("thread").hidden = view === "dashboard" || !S.thread;
    clearInterval(S.inboxTimer);
    if (view === "inbox") {
      loadInbox();
      S.inboxTimer = setInterval(loadInbox, 3000);
    } else if (view === "conversations") {
      loadConversations();
    } else {
      loadDashboard();
    }
  }
  Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (tab) {
    tab.addEventListener("click", function () { show(tab.getAttribute("data-view")); });
  });

  function lastLine(item) {
    var m = item.last_message;
    if (!m) return null;
    var who = m.author ? m.author : m.role === "user" ? "Visitor" : "Assistant";
    return h("div", { className: "meta", text: who + ": " + m.content });
  }

  async function loadInbox() {
    var data;
    try { data = await api("GET", "/inbox"); } catch (e) { return; }
    var list = $("inbox");
    list.textContent = "";
    $("inbox-empty").hidden = data.handoffs.length > 0;
    data.handoffs.forEach(function (item) {
      var li = h("li", { "data-thread-id": item.thread_id, "aria-selected": String(S.thread === item.thread_id) }, [
        h("div", { className: "reason", text: item.reason }),
        h("div", { className: "meta" }, [
          h("span", { text: when(item.created_at) }),
          h("span", { className: "contact", text: item.contact_email || "no contact given" }),
          item.holder ? h("span", { className: "badge", text: "held by " + item.holder }) : null,
        ]),
        lastLine(item),
      ]);
      li.addEventListener("click", function () { openThread(item.thread_id); });
      list.appendChild(li);
    });
  }

  async function loadConversations() {
    var q = $("search").value.trim();
    var data;
    try { data = await api("GET", "/conversations?q=" + encodeURIComponent(q)); } catch (e) { return; }
    var list = $("conversations");
    list.textContent = "";
    data.conversations.forEach(function (item) {
      var li = h("li", { "data-thread-id": item.thread_id }, [
        h("div", { className: "meta" }, [
          h("span", { text: when(item.active_at) }),
          h("span", { text: item.messages + " messages" }),
          item.asked_for_person ? h("span", { className: "badge", text: "asked for a person" }) : null,
          item.holder ? h("span", { className: "badge", text: "held by " + item.holder }) : null,
        ]),
        lastLine(item),
      ]);
      li.addEventListener("click", function () { openThread(item.thread_id); });
      list.appendChild(li);
    });
  }
  $("search-form").addEventListener("submit", function (e) { e.preventDefault(); loadConversations(); });

  // -- one conversation --------------------------------------------------------------------------
  function stopLive() {
    if (S.live) S.live.close();
    S.live = null;
  }

  function addMessage(m) {
    if (S.seen[m.id]) return;
    S.seen[m.id] = true;
    S.lastId = Math.max(S.lastId, m.id);
    var who = m.role === "user" ? "Visitor" : m.role === "human" ? m.author + " (staff)" : "Assistant";
    var li = h("li", { className: m.role, "data-role": m.role, "data-message-id": String(m.id) }, [
      h("span", { className: "who muted", text: who }),
      h("span", { className: "text", text: m.content }),
    ]);
    var box = $("transcript");
    var atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    box.appendChild(li);
    if (atEnd) box.scrollTop = box.scrollHeight;
  }

  function showHolder(holder) {
    S.holder = holder;
    var mine = !!holder && holder.staff_id === S.me.staff_id;
    $("holder").textContent = holder ? (mine ? "You hold this conversation" : "Held by " + holder.name) : "The assistant answers";
    $("holder").setAttribute("data-holder", holder ? holder.name : "");
    $("take-over").hidden = mine;
    $("take-over").disabled = !!holder && !mine;
    $("hand-back").hidden = !mine;
    $("reply-form").hidden = !mine;
  }

  async function openThread(id) {
    stopLive();
    S.thread = id;
    S.seen = {};
    S.lastId = 0;
    $("thread-error").textContent = "";
    var data;
    try { data = await api("GET", "/threads/" + encodeURIComponent(id)); } catch (e) {
      $("thread-error").textContent = e.message;
      return;
    }
    if (S.thread !== id) return;
    $("thread").hidden = false;
    $("thread-id").textContent = id;
    $("thread-visitor").textContent = data.visitor_email || (data.visitor_kind === "anonymous" ? "anonymous visitor" : data.visitor_kind);
    $("transcript").textContent = "";
    data.messages.forEach(addMessage);
    showHolder(data.holder);
    Array.prototype.forEach.call(document.querySelectorAll(".items li"), function (li) {
      li.setAttribute("aria-selected", String(li.getAttribute("data-thread-id") === id));
    });
    follow(id);
  }

  function follow(id) {
    var source = new EventSource(API + "/threads/" + encodeURIComponent(id) + "/live?after=" + S.lastId);
    S.live = source;
    source.addEventListener("message", function (ev) {
      if (S.thread === id) addMessage(JSON.parse(ev.data));
    });
    source.addEventListener("holder", function (ev) {
      if (S.thread === id) showHolder(JSON.parse(ev.data).holder);
    });
    source.addEventListener("open", function () { $("thread").setAttribute("data-live", "open"); });
  }

  async function act(path, body) {
    $("thread-error").textContent = "";
    try {
      return await api("POST", "/threads/" + encodeURIComponent(S.thread) + path, body === undefined ? {} : body);
    } catch (err) {
      $("thread-error").textContent = err.message;
      if (err.data && err.data.error && err.data.error.holder) showHolder(err.data.error.holder);
      return null;
    }
  }

  $("take-over").addEventListener("click", async function () {
    var res = await act("/takeover");
    if (res) showHolder(res.holder);
    if (res) $("reply").focus();
  });
  $("hand-back").addEventListener("click", async function () {
    var res = await act("/handback");
    if (res) showHolder(null);
  });
  $("reply-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    var text = $("reply").value.trim();
    if (!text) return;
    var sent = await act("/messages", { content: text });
    if (sent) {
      $("reply").value = "";
      addMessage(sent);
    }
  });
  $("reply").addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      $("reply-form").requestSubmit();
    }
  });

  // -- dashboard ---------------------------------------------------------------------------------
  var SERIES = [
    ["conversations", "Conversations"], ["messages", "Messages"], ["leads", "Leads"], ["handoffs", "Handoffs"],
    ["takeovers", "Taken over"], ["tokens", "Tokens"],
  ];
  function money(v) { return "$" + (v >= 100 ? v.toFixed(0) : v >= 0.1 || v === 0 ? v.toFixed(2) : v.toFixed(4)); }
  function count(v) { return v >= 10000 ? Math.round(v / 1000) + "k" : String(Math.round(v * 10) / 10); }

  function fill(tableId, rows) {
    var body = $(tableId).querySelector("tbody");
    body.textContent = "";
    rows.forEach(function (cells) {
      body.appendChild(h("tr", {}, cells.map(function (c) {
        return h("td", { className: typeof c === "number" ? "num" : "", text: c === null ? "" : String(c) });
      })));
    });
    if (!rows.length) body.appendChild(h("tr", {}, [h("td", { className: "muted", text: "Nothing yet." })]));
  }

  async function loadDashboard() {
    var days = parseInt($("days").value, 10);
    var data;
    try { data = await api("GET", "/dashboard?days=" + days); } catch (e) { return; }
    $("dash-days").textContent = String(days);
    var totals = $("totals");
    totals.textContent = "";
    SERIES.concat([["cost", "Estimated cost"]]).forEach(function (pair) {
      var v = data.totals[pair[0]];
      totals.appendChild(h("div", { className: "total", "data-total": pair[0] }, [
        h("b", { text: pair[0] === "cost" ? money(v) : String(v) }), h("span", { className: "muted", text: pair[1] }),
      ]));
    });
    var charts = $("charts");
    charts.textContent = "";
    SERIES.forEach(function (pair) {
      charts.appendChild(window.ConsoleCharts.bars(pair[0], pair[1], data.days, data.series[pair[0]], count));
    });
    charts.appendChild(window.ConsoleCharts.bars("cost", "Estimated cost", data.days, data.cost, money));
    fill("top-questions", data.top_questions.map(function (q) { return [q.question, q.count, q.conversations]; }));
    fill("found-nothing", data.found_nothing.map(function (f) {
      return [f.question || "(message deleted)", f.kind === "nothing_found" ? "search found nothing" : "refused", f.tool, f.count];
    }));
    fill("tools", data.tools.map(function (t) { return [t.tool, t.calls, t.failed]; }));
    fill("errors", data.errors.map(function (e) { return [e.code, e.count]; }));
    fill("models", data.models.map(function (m) {
      return [m.model, m.input_tokens, m.output_tokens, m.priced ? money(m.cost) : "no price set"];
    }));
    fill("prices", data.prices.map(function (p) { return [p.model, p.input_per_mtok, p.output_per_mtok]; }));
  }
  $("days").addEventListener("change", loadDashboard);
  $("price-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    try {
      await api("POST", "/prices", {
        model: $("price-model").value.trim(),
        input_per_mtok: $("price-input").value,
        output_per_mtok: $("price-output").value,
      });
      loadDashboard();
    } catch (err) {
      alert(err.message);
    }
  });

  start();
})();
