"""One chat turn: the thread lock, the engine run in its own task, and the events it publishes."""
