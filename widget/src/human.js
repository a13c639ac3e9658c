/* A person of the site's team in the chat: "a person has joined", their messages, "the assistant
 * is back". widget.js calls humanPart(w) once with what it needs (w: see the calls below) and then:
 *   follow(threadId, afterMessageId)  when the thread is known (created or restored)
 *   keep(threadId)                    when the widget's thread changes (null: none): stops following another
 *   historyMessage(m, before)         for a message with role "human" in the restored history
 * The messages come over GET /v1/threads/{id}/live (server-sent events, reconnected when lost).
 */
function humanPart(w) {
  var current = null; // { id, after, controller }
  var follow = { quiet: true }; // the first batch of a stream is the past: shown, not announced

  function noteRef(kind, data) {
    return "human:" + data.takeover_id + ":" + kind;
  }

  /** Where a note goes: after the message it follows (and notes already there), else at the end. */
  function notePlace(data) {
    var log = w.log();
    var anchor = data.after_message ? log.querySelector('.msg[data-message-id="' + data.after_message + '"]') : null;
    if (!anchor) return undefined;
    var next = anchor.nextSibling;
    while (next && next.getAttribute && next.getAttribute("data-event") === "human") next = next.nextSibling;
    return next || undefined;
  }

  function note(kind, data) {
    var ref = noteRef(kind, data);
    if (w.shownNote(ref)) return;
    var text = kind === "joined" ? w.t("humanJoined", { name: data.name }) : w.t("humanLeft");
    w.showNote("human", text, notePlace(data), ref);
    if (!follow.quiet) w.announce(text);
  }

  function showMessage(m, before) {
    var id = String(m.id);
    if (w.log().querySelector('.msg[data-message-id="' + id + '"]')) return;
    var shown = w.addMessage("human", { text: String(m.content || ""), id: id, before: before });
    var name = String(m.author || "");
    shown.el.setAttribute("data-author", name);
    shown.el.insertBefore(w.h("span", { className: "author", text: w.t("humanLabel", { name: name }) }), shown.bubble);
    return shown;
  }

  function onEvent(ev) {
    var data;
    try {
      data = ev.data ? JSON.parse(ev.data) : {};
    } catch (e) {
      return;
    }
    if (ev.event === "human.joined") note("joined", data);
    else if (ev.event === "human.left") note("left", data);
    else if (ev.event === "human.message") {
      current.after = String(data.id);
      if (showMessage(data) && !follow.quiet) w.announce(w.t("announceHuman", { name: data.author, text: data.content }));
    }
  }

  async function run(me) {
    var delay = 1000;
    while (current === me) {
      try {
        var path = "/v1/threads/" + encodeURIComponent(me.id) + "/live?after=" + encodeURIComponent(me.after);
        var res = await w.request("GET", path, undefined, me.controller.signal, "text/event-stream");
        if (res.status === 404 || res.status === 400 || res.status === 403) return; // not (or no longer) ours
        if (res.ok) {
          delay = 1000;
          follow.quiet = true;
          await w.readSSE(
            res.body,
            function (ev) {
              if (current === me) onEvent(ev);
            },
            {
              onActivity: function () {
                // the first chunk is the state on connecting; what comes later is news
                setTimeout(function () {
                  follow.quiet = false;
                }, 0);
              },
            }
          );
        }
      } catch (e) {
        /* lost: try again below */
      }
      if (current !== me) return;
      await new Promise(function (resolve) {
        setTimeout(resolve, delay);
      });
      delay = Math.min(delay * 2, 30000);
    }
  }

  return {
    follow: function (id, after) {
      if (!id || (current && current.id === id)) return;
      this.stop();
      current = { id: id, after: after ? String(after) : "", controller: new AbortController() };
      run(current);
    },
    stop: function () {
      if (current) current.controller.abort();
      current = null;
    },
    keep: function (id) {
      if (current && current.id !== id) this.stop();
    },
    historyMessage: function (m, before) {
      if (current) current.after = String(m.id);
      showMessage(m, before);
    },
  };
}
