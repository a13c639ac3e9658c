"""Abuse limits: requests per tenant, visitor and client IP, in memory or in Redis."""
