"""Front-end streaming protocols other than our own v1 SSE: each maps the same run events."""
