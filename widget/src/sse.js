/* Server-sent events over fetch(): an incremental parser and a stream reader.
 *
 * Follows the HTML "event stream" rules: lines end in CRLF, LF or CR; "data" lines accumulate;
 * a blank line dispatches; comment lines (":" first) are heartbeats; an unfinished event at the end
 * of the stream is discarded. Frames may be split across network chunks or packed several into one,
 * and a multi-byte character may be split across chunks: none of that changes what is delivered.
 */

/**
 * @param {(ev: {event: string, data: string, id: string}) => void} onEvent
 * @param {(text: string) => void} [onComment]
 */
function createSSEParser(onEvent, onComment) {
  var buffer = "";
  var pendingCR = false; // the previous chunk ended in "\r": a following "\n" belongs to it
  var started = false;
  var dataLines = null;
  var eventName = "";
  var lastEventId = "";

  function dispatch() {
    if (dataLines === null) {
      eventName = "";
      return;
    }
    var data = dataLines.join("\n");
    var name = eventName || "message";
    dataLines = null;
    eventName = "";
    onEvent({ event: name, data: data, id: lastEventId });
  }

  function line(text) {
    if (text === "") {
      dispatch();
      return;
    }
    if (text.charCodeAt(0) === 58 /* ":" */) {
      if (onComment) onComment(text.slice(1).replace(/^ /, ""));
      return;
    }
    var colon = text.indexOf(":");
    var field = colon === -1 ? text : text.slice(0, colon);
    var value = colon === -1 ? "" : text.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === "data") {
      if (dataLines === null) dataLines = [];
      dataLines.push(value);
    } else if (field === "event") {
      eventName = value;
    } else if (field === "id") {
      if (value.indexOf("\u0000") === -1) lastEventId = value;
    }
    // "retry" and unknown fields are ignored: this reader does not reconnect by itself
  }

  return {
    /** Feed decoded text; any amount, cut anywhere. */
    push: function (text) {
      if (!text) return;
      if (!started) {
        started = true;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      if (pendingCR) {
        pendingCR = false;
        if (text.charCodeAt(0) === 10) text = text.slice(1);
      }
      buffer += text;
      var start = 0;
      for (var i = 0; i < buffer.length; i++) {
        var c = buffer.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        line(buffer.slice(start, i));
        if (c === 13) {
          if (i + 1 < buffer.length) {
            if (buffer.charCodeAt(i + 1) === 10) i++;
          } else {
            pendingCR = true;
          }
        }
        start = i + 1;
      }
      buffer = buffer.slice(start);
    },
    /** The stream ended: an event without its blank line is dropped, as browsers do. */
    end: function () {
      buffer = "";
      dataLines = null;
      eventName = "";
    },
    get lastEventId() {
      return lastEventId;
    },
  };
}

/**
 * Read a fetch() response body to its end, calling onEvent for each event.
 * onActivity runs for every chunk (heartbeats included) so a caller can watch for stalls.
 * Resolves when the stream ends; rejects when it breaks or is aborted.
 */
async function readSSE(body, onEvent, options) {
  options = options || {};
  var reader = body.getReader();
  var decoder = new TextDecoder("utf-8");
  var parser = createSSEParser(onEvent, options.onComment);
  try {
    for (;;) {
      var step = await reader.read();
      if (step.done) break;
      if (options.onActivity) options.onActivity();
      parser.push(decoder.decode(step.value, { stream: true }));
    }
    parser.push(decoder.decode());
    parser.end();
  } finally {
    try {
      reader.releaseLock();
    } catch (e) {
      /* already released */
    }
  }
}

if (typeof module !== "undefined" && module.exports) {
  module.exports = { createSSEParser: createSSEParser, readSSE: readSSE };
}
