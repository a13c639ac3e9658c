"""The staff console: sign-in, the handoff inbox, taking a conversation over, the dashboard."""
