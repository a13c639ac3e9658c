// The SSE reader: frames split across network chunks, packed into one chunk, and everything between.
// Run by tests/unit/widget/test_js.py (`node --test`).
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { createSSEParser, readSSE } = require(path.join(__dirname, "../../../../widget/src/sse.js"));

const STREAM =
  ": ping\n\n" +
  'id: run_1:1\nevent: run.started\ndata: {"thread_id":"t1","run_id":"run_1"}\n\n' +
  'id: run_1:2\nevent: message.delta\ndata: {"message_id":"m1","delta":"Hé"}\n\n' +
  ": ping\n\n" +
  'id: run_1:3\nevent: message.delta\ndata: {"message_id":"m1","delta":"llo 👋 مرحبا"}\n\n' +
  'id: run_1:4\nevent: message.completed\ndata: {"message_id":"m1","content":"Héllo 👋 مرحبا"}\n\n' +
  "id: run_1:5\nevent: done\ndata: {}\n\n";

const EXPECTED = [
  { event: "run.started", id: "run_1:1", data: { thread_id: "t1", run_id: "run_1" } },
  { event: "message.delta", id: "run_1:2", data: { message_id: "m1", delta: "Hé" } },
  { event: "message.delta", id: "run_1:3", data: { message_id: "m1", delta: "llo 👋 مرحبا" } },
  { event: "message.completed", id: "run_1:4", data: { message_id: "m1", content: "Héllo 👋 مرحبا" } },
  { event: "done", id: "run_1:5", data: {} },
];

function streamOf(chunks) {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

async function collect(chunks) {
  const events = [];
  const comments = [];
  let activity = 0;
  await readSSE(streamOf(chunks), (ev) => events.push({ event: ev.event, id: ev.id, data: JSON.parse(ev.data) }), {
    onComment: (text) => comments.push(text),
    onActivity: () => activity++,
  });
  return { events, comments, activity };
}

const bytes = new TextEncoder().encode(STREAM);

test("one chunk holding every frame (coalesced)", async () => {
  const { events, comments, activity } = await collect([bytes]);
  assert.deepEqual(events, EXPECTED);
  assert.deepEqual(comments, ["ping", "ping"]);
  assert.equal(activity, 1);
});

test("one byte per chunk: frames, lines and multi-byte characters split everywhere", async () => {
  const chunks = Array.from(bytes, (b) => Uint8Array.of(b));
  const { events, comments, activity } = await collect(chunks);
  assert.deepEqual(events, EXPECTED);
  assert.deepEqual(comments, ["ping", "ping"]);
  assert.equal(activity, bytes.length); // every chunk counts as life, heartbeats included
});

test("every split point into two chunks gives the same events", async () => {
  for (let cut = 1; cut < bytes.length; cut++) {
    const { events } = await collect([bytes.slice(0, cut), bytes.slice(cut)]);
    assert.deepEqual(events, EXPECTED, `cut at byte ${cut}`);
  }
});

test("irregular chunks: some frames packed together, others torn apart", async () => {
  const sizes = [3, 50, 1, 7, 120, 2, 64, 9, 200, 5];
  const chunks = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length];
    chunks.push(bytes.slice(at, at + size));
    at += size;
  }
  assert.deepEqual((await collect(chunks)).events, EXPECTED);
});

test("CRLF and lone CR line endings, including CRLF split between chunks", async () => {
  const crlf = new TextEncoder().encode(STREAM.replace(/\n/g, "\r\n"));
  assert.deepEqual((await collect([crlf])).events, EXPECTED);
  for (let cut = 1; cut < crlf.length; cut += 7) {
    assert.deepEqual((await collect([crlf.slice(0, cut), crlf.slice(cut)])).events, EXPECTED);
  }
  const cr = new TextEncoder().encode(STREAM.replace(/\n/g, "\r"));
  assert.deepEqual((await collect(Array.from(cr, (b) => Uint8Array.of(b)))).events, EXPECTED);
  // "\r" at the end of one chunk and "\n" at the start of the next is ONE line break
  const events = [];
  const parser = createSSEParser((ev) => events.push(ev));
  parser.push("event: a\r");
  parser.push("\ndata: 1\r");
  parser.push("\n\r");
  parser.push("\n");
  assert.deepEqual(events, [{ event: "a", data: "1", id: "" }]);
});

test("field rules: multi-line data, no space after colon, default event name, unknown fields", () => {
  const events = [];
  const parser = createSSEParser((ev) => events.push(ev));
  parser.push("data:first\ndata: second\nretry: 3000\nfoo: bar\n\n");
  parser.push("event: x\n\n"); // no data: nothing is dispatched
  parser.push("id: 7\ndata\n\n"); // "data" with no colon is an empty data line
  assert.deepEqual(events, [
    { event: "message", data: "first\nsecond", id: "" },
    { event: "message", data: "", id: "7" },
  ]);
});

test("a byte-order mark at the start is ignored; an unfinished last frame is dropped", async () => {
  const body = new TextEncoder().encode("\uFEFFevent: done\ndata: {}\n\nevent: message.delta\ndata: {\"delta\":\"cut\"}\n");
  const { events } = await collect([body]);
  assert.deepEqual(events, [{ event: "done", id: "", data: {} }]);
});

test("a stream that breaks rejects, after delivering what came before", async () => {
  const events = [];
  let pulls = 0;
  const body = new ReadableStream({
    pull(controller) {
      pulls++;
      if (pulls === 1) controller.enqueue(new TextEncoder().encode("event: run.started\ndata: {}\n\nevent: message.delta\ndata: {"));
      else controller.error(new TypeError("network error"));
    },
  });
  await assert.rejects(readSSE(body, (ev) => events.push(ev.event)), /network error/);
  assert.deepEqual(events, ["run.started"]);
});

test("an aborted fetch body rejects the reader", async () => {
  const controller = new AbortController();
  const body = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode(": ping\n\n"));
      controller.signal.addEventListener("abort", () => c.error(new DOMException("aborted", "AbortError")));
    },
  });
  const reading = readSSE(body, () => {});
  controller.abort();
  await assert.rejects(reading, { name: "AbortError" });
});
