/* Past conversations: a view inside the panel to open one, start a new one, rename or delete one.
 *
 * widget.js builds it with createConversations(hooks) and puts `button` in the header and `view`
 * in the panel. The list comes from GET /v1/threads (a signed-in visitor's from every device, else
 * this browser's), page by page. Everything is a real button or form field, so it works with the
 * keyboard alone; Escape leaves the list (or a rename) without closing the chat; changes are
 * announced through the widget's live region. Layout uses logical properties, so RTL just works.
 */

var CONVERSATION_ICONS = { // joined into the widget's ICONS
  history: "M13 3a9 9 0 0 0-9 9H1l4 4 4-4H6a7 7 0 1 1 2 5l-1.4 1.4A9 9 0 1 0 13 3Zm-1 5v5l4 2.5.8-1.3-3.3-2V8H12Z",
  edit: "M3 17.25V21h3.75L17.8 9.94l-3.75-3.75L3 17.25ZM20.7 7.04a1 1 0 0 0 0-1.41l-2.34-2.34a1 1 0 0 0-1.41 0l-1.83 1.83 3.75 3.75 1.83-1.83Z",
  trash: "M6 19a2 2 0 0 0 2 2h8a2 2 0 0 0 2-2V7H6v12ZM19 4h-3.5l-1-1h-5l-1 1H5v2h14V4Z",
};
var CONVERSATIONS_PAGE = 20;

/**
 * hooks: h, icon(name), t, locale(), request(method, path, body), httpError(res), announce(text),
 * current() (the open thread id), openThread(id), startNew(), chatParts (the elements of the chat
 * view, hidden while the list shows), focusChat().
 */
function createConversations(hooks) {
  var h = hooks.h;
  var t = hooks.t;
  var svg = hooks.icon;
  Object.assign(ICONS, CONVERSATION_ICONS);
  var shown = false;
  var cursor = null;
  var loading = false;

  var button = h(
    "button",
    {
      type: "button",
      className: "icon-button history",
      title: t("pastConversations"),
      "aria-expanded": "false",
      "aria-controls": "ap-convos",
      onclick: function () {
        shown ? hide(true) : show();
      },
    },
    [svg("history"), h("span", { className: "sr", text: t("pastConversations") })]
  );
  var list = h("ul", { className: "convos-list", "aria-labelledby": "ap-convos-title" });
  var status = h("p", { className: "convos-status", role: "status" });
  var more = h("button", { type: "button", className: "convos-more", hidden: true, text: t("showMore"), onclick: loadMore });
  var fresh = h("button", {
    type: "button",
    className: "convos-new",
    text: t("newConversation"),
    onclick: function () {
      hooks.startNew();
      hide(false);
      hooks.announce(t("conversationCleared"));
      hooks.focusChat();
    },
  });
  var view = h("section", { id: "ap-convos", className: "convos", hidden: true, "aria-labelledby": "ap-convos-title" }, [
    h("h3", { id: "ap-convos-title", className: "convos-title", text: t("pastConversations") }),
    fresh,
    status,
    list,
    more,
  ]);
  view.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && !e.defaultPrevented) {
      e.preventDefault(); // the list closes, not the chat
      hide(true);
    }
  });

  function when(seconds) {
    return new Date(seconds * 1000).toLocaleString(hooks.locale(), { dateStyle: "medium", timeStyle: "short" });
  }

  function setStatus(text) {
    status.textContent = text || "";
    status.hidden = !text;
  }

  function show() {
    shown = true;
    hooks.chatParts().forEach(function (el) {
      el.setAttribute("data-convos-hidden", el.hidden ? "was" : "");
      el.hidden = true;
    });
    view.hidden = false;
    button.setAttribute("aria-expanded", "true");
    while (list.firstChild) list.removeChild(list.firstChild);
    cursor = null;
    load().then(function () {
      var first = list.querySelector(".convo-open");
      (first || fresh).focus();
    });
    fresh.focus();
  }

  function hide(focusButton) {
    if (!shown) return;
    shown = false;
    view.hidden = true;
    button.setAttribute("aria-expanded", "false");
    hooks.chatParts().forEach(function (el) {
      if (el.getAttribute("data-convos-hidden") !== "was") el.hidden = false;
      el.removeAttribute("data-convos-hidden");
    });
    if (focusButton) button.focus();
  }

  async function load() {
    if (loading) return;
    loading = true;
    list.setAttribute("aria-busy", "true");
    more.hidden = true;
    try {
      var path = "/v1/threads?limit=" + CONVERSATIONS_PAGE + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
      var res = await hooks.request("GET", path);
      if (!res.ok) throw await hooks.httpError(res);
      var data = await res.json();
      (data.threads || []).forEach(function (c) {
        list.appendChild(item(c));
      });
      cursor = data.next_cursor || null;
      more.hidden = !cursor;
      setStatus(list.childNodes.length ? "" : t("noConversations"));
    } catch (e) {
      setStatus(t("errorGeneric"));
    } finally {
      list.removeAttribute("aria-busy");
      loading = false;
    }
  }

  function loadMore() {
    var before = list.childNodes.length;
    load().then(function () {
      var next = list.childNodes[before];
      if (next) next.querySelector(".convo-open").focus();
    });
  }

  function item(c) {
    var li = h("li", { className: "convo", "data-thread-id": c.thread_id });
    render(li, c);
    return li;
  }

  function render(li, c) {
    while (li.firstChild) li.removeChild(li.firstChild);
    var current = c.thread_id === hooks.current();
    var open = h(
      "button",
      {
        type: "button",
        className: "convo-open",
        "aria-current": current ? "true" : null,
        onclick: function () {
          hide(false);
          hooks.openThread(c.thread_id);
          hooks.focusChat();
        },
      },
      [
        h("span", { className: "convo-title", dir: "auto", id: "ap-t-" + c.thread_id, text: c.title || t("conversation") }),
        h("span", { className: "convo-meta" }, [
          h("time", { datetime: new Date(c.last_message_at * 1000).toISOString(), text: when(c.last_message_at) }),
          h("span", { className: "convo-preview", dir: "auto", text: c.preview || "" }),
        ]),
      ]
    );
    var rename = h(
      "button",
      {
        type: "button",
        className: "icon-button convo-rename",
        title: t("rename"),
        "aria-label": t("rename"),
        "aria-describedby": "ap-t-" + c.thread_id,
        onclick: function () {
          renaming(li, c);
        },
      },
      [svg("edit")]
    );
    var remove = h(
      "button",
      {
        type: "button",
        className: "icon-button convo-delete",
        title: t("delete"),
        "aria-label": t("delete"),
        "aria-describedby": "ap-t-" + c.thread_id,
        onclick: function () {
          confirming(li, c);
        },
      },
      [svg("trash")]
    );
    li.appendChild(open);
    li.appendChild(rename);
    li.appendChild(remove);
  }

  function renaming(li, c) {
    while (li.firstChild) li.removeChild(li.firstChild);
    var input = h("input", {
      type: "text",
      className: "convo-title-input",
      value: c.title,
      maxlength: "120",
      dir: "auto",
      "aria-label": t("conversationName"),
    });
    var cancel = function () {
      render(li, c);
      li.querySelector(".convo-rename").focus();
    };
    var form = h(
      "form",
      {
        className: "convo-rename-form",
        onsubmit: async function (e) {
          e.preventDefault();
          var title = input.value.trim();
          if (!title || title === c.title) return cancel();
          try {
            var res = await hooks.request("PATCH", "/v1/threads/" + encodeURIComponent(c.thread_id), { title: title });
            if (!res.ok) throw await hooks.httpError(res);
            c.title = (await res.json()).title || title;
            render(li, c);
            li.querySelector(".convo-rename").focus();
            hooks.announce(t("renamed", { title: c.title }));
          } catch (err) {
            setStatus(t("errorGeneric"));
          }
        },
      },
      [
        input,
        h("button", { type: "submit", className: "convo-save", text: t("save") }),
        h("button", { type: "button", className: "convo-cancel", text: t("cancel"), onclick: cancel }),
      ]
    );
    form.addEventListener("keydown", function (e) {
      if (e.key === "Escape") {
        e.preventDefault(); // leaves the rename only
        cancel();
      }
    });
    li.appendChild(form);
    input.focus();
    input.select();
  }

  function confirming(li, c) {
    while (li.firstChild) li.removeChild(li.firstChild);
    var cancel = function () {
      render(li, c);
      li.querySelector(".convo-delete").focus();
    };
    var yes = h("button", {
      type: "button",
      className: "convo-confirm",
      text: t("delete"),
      onclick: async function () {
        try {
          var res = await hooks.request("DELETE", "/v1/threads/" + encodeURIComponent(c.thread_id));
          if (!res.ok && res.status !== 404) throw await hooks.httpError(res);
        } catch (err) {
          setStatus(err && err.code === "thread_busy" ? t("errorBusy") : t("errorGeneric"));
          return cancel();
        }
        var next = li.nextSibling || li.previousSibling;
        li.remove();
        if (c.thread_id === hooks.current()) hooks.startNew();
        hooks.announce(t("deleted", { title: c.title }));
        if (!list.childNodes.length) setStatus(t("noConversations"));
        (next ? next.querySelector(".convo-open") : fresh).focus();
      },
    });
    var no = h("button", { type: "button", className: "convo-cancel", text: t("cancel"), onclick: cancel });
    var question = h("p", { className: "convo-question", id: "ap-q-" + c.thread_id, text: t("deleteQuestion", { title: c.title }) });
    var group = h("div", { className: "convo-confirm-group", role: "group", "aria-labelledby": question.id }, [question, yes, no]);
    group.addEventListener("keydown", function (e) {
      if (e.key === "Escape") {
        e.preventDefault();
        cancel();
      }
    });
    li.appendChild(group);
    no.focus();
  }

  return {
    button: button,
    view: view,
    hide: hide,
    isShown: function () {
      return shown;
    },
  };
}
