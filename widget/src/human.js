/* A person of the site's team in the chat: "a person has joined", their messages, "the assistant
 * is back". widget.js calls humanPart(w) once with what it needs (w: see the calls below) and then:
 *   follow(threadId, afterMessageId)  when the thread is known (created or restored)
 *   keep(threadId)                    when the widget's thread changes (null: none): stops following another
 *   historyMessage(m, before)         for a message with role "human" in the restored history
 * The messages come over GET /v1/threads/{id}/live (server-sent events, reconnected when lost).
 * The first chunk of a stream is the past (shown, not announced); what comes later is news.
 */
function humanPart(w) {
  var current = null; // { id, after, controller, quiet }

  function find(id) {
    return id ? w.log().querySelector('.msg[data-message-id="' + id + '"]') : null;
  }

  function note(kind, data) {
    var ref = "human:" + data.takeover_id + ":" + kind;
    if (w.shownNote(ref)) return;
    // after the message it follows (and the notes already there), else at the end
    var next = find(data.after_message);
    next = next && next.nextSibling;
    while (next && next.getAttribute("data-event") === "human") next = next.nextSibling;
    var text = kind === "joined" ? w.t("humanJoined", { name: data.name }) : w.t("humanLeft");
    w.showNote("human", text, next || undefined, ref);
    if (!current.quiet) w.announce(text);
  }

  function showMessage(m, before) {
    if (find(m.id)) return false;
    var label = w.t("humanLabel", { name: m.author });
    var shown = w.addMessage("human", { text: String(m.content), id: m.id, before: before });
    shown.el.insertBefore(w.h("span", { className: "author", text: label }), shown.bubble);
    return label + ": " + m.content;
  }

  function onEvent(ev) {
    var data = JSON.parse(ev.data);
    if (ev.event === "human.message") {
      current.after = data.id;
      var said = showMessage(data);
      if (said && !current.quiet) w.announce(said);
    } else if (ev.event === "human.joined" || ev.event === "human.left") {
      note(ev.event.slice(6), data);
    }
  }

  async function run(me) {
    for (var delay = 1000; current === me; delay = Math.min(delay * 2, 30000)) {
      try {
        var path = "/v1/threads/" + encodeURIComponent(me.id) + "/live?after=" + encodeURIComponent(me.after);
        var res = await w.request("GET", path, undefined, me.controller.signal, "text/event-stream");
        if ([400, 401, 403, 404].indexOf(res.status) > -1) return; // not (or no longer) ours
        if (res.ok) {
          delay = 1000;
          me.quiet = true;
          await w.readSSE(
            res.body,
            function (ev) {
              if (current === me) onEvent(ev);
            },
            {
              onActivity: function () {
                setTimeout(function () {
                  me.quiet = false;
                }, 0);
              },
            }
          );
        }
      } catch (e) {
        /* lost: try again */
      }
      await new Promise(function (resolve) {
        setTimeout(resolve, delay);
      });
    }
  }

  return {
    follow: function (id, after) {
      if (!id || (current && current.id === id)) return;
      this.keep(null);
      current = { id: id, after: after || "", controller: new AbortController(), quiet: true };
      run(current);
    },
    keep: function (id) {
      if (current && current.id !== id) {
        current.controller.abort();
        current = null;
      }
    },
    historyMessage: function (m, before) {
      if (current) current.after = m.id;
      showMessage(m, before);
    },
  };
}
