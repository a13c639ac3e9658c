"""Outgoing notifications: SMTP settings, the durable outbox, the mail sender, signed webhooks, the local sink."""
