// A minimal chat page on the AI SDK's React useChat, talking to the gateway. The browser test
// bundles it with esbuild; the page gives the gateway's address in window.GATEWAY.
import { useChat } from "@ai-sdk/react";
import { DefaultChatTransport } from "ai";
import { useEffect, useMemo, useState } from "react";
import { createRoot } from "react-dom/client";

const gateway = window.GATEWAY;
const visitorId = localStorage.getItem("visitor") ?? `visitor-${crypto.randomUUID()}`;
localStorage.setItem("visitor", visitorId);
const headers = { "X-Visitor-Id": visitorId };

async function openThread() {
  // one of our threads is the chat's id (kept across reloads, so resume finds it)
  const kept = localStorage.getItem("thread");
  if (kept) return kept;
  const response = await fetch(`${gateway}/v1/threads`, { method: "POST", headers });
  const { thread_id } = await response.json();
  localStorage.setItem("thread", thread_id);
  return thread_id;
}

function Chat({ threadId }) {
  const transport = useMemo(
    () =>
      new DefaultChatTransport({
        api: `${gateway}/v1/ui/chat`,
        headers,
        // the history is the gateway's: send only the new message
        prepareSendMessagesRequest: ({ id, messages, trigger, messageId }) => ({
          body: { id, messages: messages.slice(-1), trigger, messageId },
        }),
      }),
    [],
  );
  const { messages, sendMessage, status, error } = useChat({ id: threadId, transport, resume: true });
  const [input, setInput] = useState("");
  return (
    <main>
      <ol id="messages">
        {messages.map((message) => (
          <li key={message.id} className={message.role}>
            {message.parts.map((part, i) =>
              part.type === "text" ? <span key={i}>{part.text}</span> : <em key={i} data-part={part.type}>{part.state ?? ""}</em>,
            )}
          </li>
        ))}
      </ol>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          sendMessage({ text: input });
          setInput("");
        }}
      >
        <input id="input" value={input} onChange={(event) => setInput(event.target.value)} />
        <button id="send" disabled={status !== "ready"}>Send</button>
      </form>
      <p id="status">{status}</p>
      {error && <p id="error">{error.message}</p>}
    </main>
  );
}

function App() {
  const [threadId, setThreadId] = useState(null);
  useEffect(() => void openThread().then(setThreadId), []);
  return threadId ? <Chat threadId={threadId} /> : <p id="status">connecting</p>;
}

createRoot(document.getElementById("root")).render(<App />);
