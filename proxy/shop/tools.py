"""The shop tools the model can call: search_products, get_product, find_customer,
customer_orders, shop_insights. Each checks the visitor's access first, cites record ids, and
keeps its answer small."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from proxy.shop import insights_orders as orders
from proxy.shop.customers import customer_orders, find_customer
from proxy.shop.embedders import EmbedderCache, EmbeddingError, default_embedders
from proxy.shop.insights import InsightError, Insights
from proxy.shop.policy import customer_scope, require
from proxy.shop.search import search_products
from proxy.shop.search_cards import product_cards
from proxy.shop.source import ShopData, ShopDataError, shop_data
from proxy.tools.registry import Tool, ToolContext, ToolError, ToolRegistry

if TYPE_CHECKING:
    from proxy.shop.config import ShopConfig
    from proxy.shop.embedders import Embedder
    from proxy.store.db import Database

MAX_OUTPUT_CHARS = 8000
INSIGHTS_TIMEOUT = 30.0  # seconds: shop-wide figures aggregate many orders, more than a lookup's default
_STR = {"type": "string"}
_DATE = {"type": "string", "description": "ISO date, inclusive, e.g. 2026-03-31"}
_LIMIT = {"type": "integer", "minimum": 1, "maximum": 50}


def _schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or [], "additionalProperties": False}


def _context(ctx: ToolContext) -> tuple[ShopConfig, Database, ShopData]:
    if ctx.tenant_config is None or ctx.db is None:
        raise ToolError("the shop's data is not available on this site")
    shop = ctx.tenant_config.shop
    return shop, ctx.db, shop_data(ctx.tenant, shop)


def _embedder(ctx: ToolContext, shop: ShopConfig) -> Embedder:
    cache: EmbedderCache = ctx.services.embedders or default_embedders
    config = ctx.tenant_config
    try:
        return cache.get(
            ctx.tenant,
            shop,
            api_key_env=config.api_key_env if config else None,
            base_url=config.base_url if config else None,
        )
    except EmbeddingError as exc:
        raise ToolError(str(exc)) from None


def _limit(args: dict[str, Any], shop: ShopConfig, default: int) -> int:
    value = args.get("limit", default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ToolError("limit must be a whole number")
    return max(1, min(value, shop.max_results))


def _text(args: dict[str, Any], key: str) -> str | None:
    value = args.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ToolError(f"{key} must be a string")
    return value.strip()


def _number(args: dict[str, Any], key: str) -> float | None:
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolError(f"{key} must be a number")
    return float(value)


def cap(result: dict[str, Any], max_chars: int = MAX_OUTPUT_CHARS) -> dict[str, Any]:
    """Drop items from the longest list until the JSON fits; say so."""
    while len(json.dumps(result, default=str)) > max_chars:
        lists = [(len(v), k) for k, v in result.items() if isinstance(v, list) and v]
        if not lists:
            break
        _, key = max(lists)
        result[key] = result[key][:-1]
        result["truncated"] = True
    return result


def _guard(func: Any) -> Any:
    """Data and embedding problems become messages for the model, not crashes."""

    async def wrapper(ctx: ToolContext, args: dict[str, Any]) -> Any:
        try:
            return cap(await func(ctx, args))
        except (ShopDataError, EmbeddingError, InsightError) as exc:
            raise ToolError(str(exc)) from None

    return wrapper


async def _search_products(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    shop, db, data = _context(ctx)
    require(shop, ctx.visitor, "catalog")
    query = _text(args, "query")
    if not query:
        raise ToolError("query is required: describe what the visitor is looking for")
    currency = _text(args, "currency")
    found = await search_products(
        db,
        data,
        _embedder(ctx, shop),
        query,
        currency=currency,
        min_price=_number(args, "min_price"),
        max_price=_number(args, "max_price"),
        limit=_limit(args, shop, 5),
    )
    return {"query": query, **found}


async def _get_product(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    shop, db, data = _context(ctx)
    require(shop, ctx.visitor, "catalog")
    product_id = _text(args, "product_id")
    if not product_id:
        raise ToolError("product_id is required (from search_products)")
    cards = await product_cards(db, data, [product_id], full=True)
    if not cards:
        raise ToolError(f"there is no product with id {product_id}")
    return cards[0]


async def _find_customer(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    shop, db, data = _context(ctx)
    scope = await customer_scope(db, data, shop, ctx.visitor)
    return await find_customer(
        db,
        data,
        scope,
        email=_text(args, "email"),
        name=_text(args, "name"),
        customer_id=_text(args, "customer_id"),
        limit=_limit(args, shop, 5),
    )


async def _customer_orders(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    shop, db, data = _context(ctx)
    scope = await customer_scope(db, data, shop, ctx.visitor)
    return await customer_orders(
        db,
        data,
        scope,
        customer_id=_text(args, "customer_id"),
        email=_text(args, "email"),
        limit=_limit(args, shop, 10),
    )


QUESTIONS = (
    "best_sellers",
    "bought_together",
    "second_product",
    "cheapest_purchase",
    "largest_purchase",
    "revenue",
    "repeat_purchase_rate",
    "top_customers",
)


async def _shop_insights(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    shop, db, data = _context(ctx)
    require(shop, ctx.visitor, "all")
    question = args.get("question")
    ins = Insights(db, data, date_from=_text(args, "date_from"), date_to=_text(args, "date_to"))
    limit, currency, product_id = _limit(args, shop, 10), _text(args, "currency"), _text(args, "product_id")
    if question == "best_sellers":
        return await ins.best_sellers(by=_text(args, "by") or "units", currency=currency, limit=limit)
    if question == "bought_together":
        return await ins.bought_together(product_id=product_id, limit=limit)
    if question == "second_product":
        return await ins.second_product(basis=_text(args, "basis") or "order", product_id=product_id, limit=limit)
    if question in ("cheapest_purchase", "largest_purchase"):
        which = question.split("_")[0]
        return await orders.extreme_purchase(ins, which=which, currency=currency, limit=_limit(args, shop, 1))
    if question == "revenue":
        return await orders.revenue(ins, currency=currency, by_month=bool(args.get("by_month")))
    if question == "repeat_purchase_rate":
        return await orders.repeat_rate(ins)
    if question == "top_customers":
        rank = _text(args, "rank") or "most"
        return await orders.top_customers(ins, currency=currency, rank=rank, limit=limit)
    raise ToolError(f"question must be one of: {', '.join(QUESTIONS)}")


TOOLS = [
    Tool(
        "search_products",
        "Search the shop's product catalog by what the visitor describes (product words: types, features, uses), "
        "optionally within a price range and currency; put prices and currencies in min_price, max_price and "
        "currency, not in query. Each product says how it matches: match 'strong' (it has every content word of "
        "the query) or 'partial' (only the words in matched_words). nothing_matches is true when no product "
        "matches every word within the filters: then say so plainly, never claim the shop has it; note says why "
        "and alternatives lists the nearest items (e.g. the same products at other prices, cheapest first, with "
        "outside_filters naming the filters each one fails; match 'none' means only similar, no shared word).",
        _schema(
            {
                "query": {"type": "string", "description": "the product words, e.g. 'waterproof jacket'"},
                "currency": {"type": "string", "description": "three-letter code such as EUR or USD"},
                "min_price": {"type": "number", "description": "in whole currency units, e.g. 20 for 20.00"},
                "max_price": {"type": "number", "description": "in whole currency units"},
                "limit": _LIMIT,
            },
            ["query"],
        ),
        _guard(_search_products),
    ),
    Tool(
        "get_product",
        "Full details and all prices of one product, by its id from search_products.",
        _schema({"product_id": _STR}, ["product_id"]),
        _guard(_get_product),
    ),
    Tool(
        "find_customer",
        "Look up customer records by email, name or id. Signed-in visitors see only their own record (call it "
        "without arguments to get it).",
        _schema({"email": _STR, "name": _STR, "customer_id": _STR, "limit": _LIMIT}),
        _guard(_find_customer),
    ),
    Tool(
        "customer_orders",
        "A customer's orders (invoices), newest first, with items and totals. Signed-in visitors: call it without "
        "arguments for their own orders.",
        _schema({"customer_id": _STR, "email": _STR, "limit": _LIMIT}),
        _guard(_customer_orders),
    ),
    Tool(
        "shop_insights",
        "Exact shop-wide figures computed from paid orders (staff only): best sellers by units or revenue, products "
        "bought together, the most common second product, the cheapest or largest purchase with buyer and items, "
        "revenue and average order value, repeat-purchase rate, customers by spend (the top, or with rank 'least' the"
        " lowest). Periods are inclusive dates (UTC).",
        _schema(
            {
                "question": {"type": "string", "enum": list(QUESTIONS)},
                "date_from": _DATE,
                "date_to": _DATE,
                "by": {"type": "string", "enum": ["units", "revenue"], "description": "for best_sellers"},
                "product_id": {
                    "type": "string",
                    "description": "bought_together / second_product: start from this product",
                },
                "basis": {
                    "type": "string",
                    "enum": ["order", "customer"],
                    "description": "second_product: the second line of multi-product orders, or each customer's"
                    " second different product",
                },
                "currency": {
                    "type": "string",
                    "description": "money questions; default: the currency with the most orders",
                },
                "by_month": {"type": "boolean", "description": "revenue: add a month-by-month breakdown"},
                "rank": {
                    "type": "string",
                    "enum": list(orders.RANKS),
                    "description": "top_customers: from those who spent the most (default) or from those who spent"
                    " the least, among customers with paid orders in the currency",
                },
                "limit": _LIMIT,
            },
            ["question"],
        ),
        _guard(_shop_insights),
        timeout=INSIGHTS_TIMEOUT,
    ),
]


def register_shop_tools(registry: ToolRegistry) -> None:
    for tool in TOOLS:
        registry.register(tool)
