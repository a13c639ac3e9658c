"""The shop's data: Stripe sync into Postgres + pgvector, search and insight tools, visitor policy."""
