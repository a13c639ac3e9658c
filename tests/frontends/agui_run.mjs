// Runs one turn against POST /v1/agui with @ag-ui/client's HttpAgent, which checks the event order
// with its own verifier while it applies the events.
// Input: one JSON argument {url, headers, threadId, text}.
// Output (stdout): {events, messages, error, verified}.
import { HttpAgent, verifyEvents } from "@ag-ui/client";
import { lastValueFrom, toArray } from "rxjs";

const args = JSON.parse(process.argv[2]);
const agent = new HttpAgent({ url: args.url, headers: args.headers, threadId: args.threadId });
agent.messages = [{ id: "u1", role: "user", content: args.text }];
if (args.history) agent.messages = [...args.history, ...agent.messages];

const events = [];
let error = null;
try {
  await agent.runAgent(
    { runId: "client-run-1", tools: args.tools ?? [] },
    { onEvent: ({ event }) => void events.push(event) },
  );
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
