// Runs one turn against POST /v1/agui with @ag-ui/client's HttpAgent, which checks the event order
// with its own verifier while it applies the events.
// Input: one JSON argument {url, headers, threadId, text, tools, history, origin, stopAfterText}.
// With stopAfterText, our cancel route is called once the first text arrives.
// Output (stdout): {events, messages, error, verified}.
import { HttpAgent, verifyEvents } from "@ag-ui/client";
import { lastValueFrom, toArray } from "rxjs";

const args = JSON.parse(process.argv[2]);
const agent = new HttpAgent({ url: args.url, headers: args.headers, threadId: args.threadId });
agent.messages = [{ id: "u1", role: "user", content: args.text }];
if (args.history) agent.messages = [...args.history, ...agent.messages];

const events = [];
let error = null;
let stopping = null;

function stop() {
  // our cancel route, with our run id from RUN_STARTED's metadata
  const { threadId, runId } = events[0].metadata.assistantProxy;
  const url = `${args.origin}/v1/threads/${threadId}/runs/${runId}/cancel`;
  return fetch(url, { method: "POST", headers: args.headers }).then((response) => {
    if (response.status !== 202) throw new Error(`cancel answered ${response.status}`);
  });
}

try {
  await agent.runAgent(
    { runId: "client-run-1", tools: args.tools ?? [] },
    {
      onEvent: ({ event }) => {
        events.push(event);
        if (args.stopAfterText && event.type === "TEXT_MESSAGE_CONTENT" && stopping === null) stopping = stop();
      },
    },
  );
  await stopping;
} catch (e) {
  error = String(e.message ?? e);
}

// and the verifier once more, on its own, over exactly what arrived
let verified = null;
if (!error) {
  const { from } = await import("rxjs");
  try {
    await lastValueFrom(from(events).pipe(verifyEvents(), toArray()));
    verified = true;
  } catch (e) {
    verified = String(e.message ?? e);
  }
}
process.stdout.write(JSON.stringify({ events, messages: agent.messages, error, verified }));
