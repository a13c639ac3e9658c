"""The shop's data: Stripe sync into Postgres + pgvector, search and insight tools, visitor policy."""

# The public face: the modules other packages import from. The rest are internal to the package.
__all__ = (
    "cli",
    "config",
    "demo_catalog",
    "demo_data",
    "documents",
    "embedders",
    "insights",
    "money",
    "search",
    "search_ranked",
    "source",
    "store",
    "tools",
)
