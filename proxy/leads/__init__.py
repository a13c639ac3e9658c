"""Leads and human handoff: durable capture, an outbox for mail and webhooks, the admin API."""
