"""assistant-proxy: a self-hosted gateway between website chat widgets and AI assistants."""

__version__ = "0.1.0"
