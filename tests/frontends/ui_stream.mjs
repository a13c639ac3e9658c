// Sends one message to POST /v1/ui/chat through the AI SDK's own transport (DefaultChatTransport)
// and reads the reply with its UI message reader (readUIMessageStream).
// Input: one JSON argument {api, origin, headers, chatId, text, stopAfterText, abortAfterText, resume}.
// stopAfterText calls our cancel route once text arrives; abortAfterText aborts the request instead,
// as useChat's stop() does.
// Output (stdout): {chunks, message, errors}: every chunk the transport parsed, the final UI message.
import { DefaultChatTransport, readUIMessageStream } from "ai";

const args = JSON.parse(process.argv[2]);
const transport = new DefaultChatTransport({ api: args.api, headers: args.headers });
const chunks = [];
const abort = new AbortController();
const errors = [];
let cancelled = false;

async function cancel(chunk) {
  // our cancel route, with the run id the stream's start chunk carries
  const { threadId, runId } = chunks.find((c) => c.type === "start").messageMetadata;
  const url = `${args.origin}/v1/threads/${threadId}/runs/${runId}/cancel`;
  const response = await fetch(url, { method: "POST", headers: args.headers });
  if (response.status !== 202) throw new Error(`cancel answered ${response.status}`);
}

const user = { id: "u1", role: "user", parts: [{ type: "text", text: args.text ?? "" }] };
let stream;
if (args.resume) {
  stream = await transport.reconnectToStream({ chatId: args.chatId });
  if (stream === null) {
    process.stdout.write(JSON.stringify({ chunks: null, message: null, errors }));
    process.exit(0);
  }
} else {
  stream = await transport.sendMessages({
    chatId: args.chatId,
    messages: [user],
    trigger: "submit-message",
    messageId: undefined,
    abortSignal: abort.signal,
  });
}

const recorded = stream.pipeThrough(
  new TransformStream({
    async transform(chunk, controller) {
      chunks.push(chunk);
      if (args.stopAfterText && chunk.type === "text-delta" && !cancelled) {
        cancelled = true;
        await cancel(chunk);
      }
      if (args.abortAfterText && chunk.type === "text-delta") abort.abort();
      controller.enqueue(chunk);
    },
  }),
);

let message = null;
try {
  const onError = (e) => errors.push(String(e.message ?? e));
  for await (const snapshot of readUIMessageStream({ stream: recorded, onError })) message = snapshot;
} catch (e) {
  if (!abort.signal.aborted) throw e;
  errors.push("aborted");
}
process.stdout.write(JSON.stringify({ chunks, message, errors }));
