"""Serving the embeddable widget, its per-tenant configuration and the demo pages."""
