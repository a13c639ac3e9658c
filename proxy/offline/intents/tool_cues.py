"""Cue phrases and example phrasings of the tools this project ships, by tool name."""

from __future__ import annotations

from proxy.offline.intents.vocabulary import Cues, canonical_text, cues

_PEOPLE = (
    r"(?:human|person|people|agent|representative|rep|operator|staff|someone|somebody|employee|manager|team"
    r"|real person)"
)
TOOL_CUES: dict[str, Cues] = {
    "search_products": cues(
        (r"\bdo (?:you|u|ya) (?:guys )?(?:have|sell|stock|carry|offer|got)\b", 2.0),
        (r"\b(?:have|got) (?:you )?any\b|\bis there (?:a|an|any)\b|\bare there (?:any)?\b", 1.5),
        (r"\blooking for\b|\bsearch(?:ing)? for\b|\bi (?:need|want|would like|d like)\b|\bin the market for\b", 2.0),
        (
            r"\b(?:find|get|need|want|buy|order) (?:me )?(?:a|an|some|new)\b|\bwhere can i (?:find|get|buy)\b"
            r"|\bi m after\b",
            2.0,
        ),
        (r"\bprice\b|\bprices\b|\bpricing\b|\bcost\b|\bcosts\b|\bhow much (?:is|are|does|do|for)\b", 2.0),
        (
            r"\brecommend\w*|\bsuggest\w*|\bshow me\b|\bwhat (?:\w+ )?(?:do|can) you (?:have|sell|offer|recommend)\b",
            2.0,
        ),
        (r"\bproducts?\b|\bcatalog(?:ue)?\b|\bitems?\b|\bin stock\b|\bavailable\b|\bgifts?\b|\bbuy\b", 1.5),
        (r"\bcheap(?:est|er)?\b|\baffordable\b|\binexpensive\b|\bexpensive\b|\bpriciest\b", 1.5),
    ),
    "get_product": cues(
        (r"\bprod_\w+", 4.0),
        (r"\b(?:more )?(?:details|info|information|specs|specifications) (?:about|on|of|for)\b", 1.5),
        (r"\btell me (?:more )?about\b|\bdescribe\b|\bmore about\b", 1.5),
    ),
    "find_customer": cues(
        (r"\bcustomers? (?:named|called|with|whose|by the name)\b", 3.5),
        (r"\b(?:clients?|buyers?|shoppers?|users?|anyone|someone|somebody) (?:named|called|by the name)\b", 3.5),
        (r"\b(?:do|did) (?:we|you) have (?:a |any )?(?:customer|client|buyer)s?\b", 3.5),
        (r"\b(?:is|are) there (?:a|any) (?:customer|client|buyer)s?\b", 3.5),
        (r"\b(?:find|look ?up|search|lookup|search for|check) (?:the |a |for )?(?:customer|client)\b", 3.5),
        (r"\bcus_\w+", 3.0),
        (r"\bmy (?:account|details|profile|record|customer record|contact details|email address)\b", 3.0),
        # "what's my name?" asks for the record; "my name is Tom, tom@example.com" leaves contact details
        (
            r"\bwho am i\b|\bwhat do you know about me\b|\bwhich email\b|\bon file\b"
            r"|\bmy (?:email|name)\b(?! is\b| s\b)",
            3.0,
        ),
        (r"\bcustomer\b|\bclient\b", 1.0),
    ),
    "customer_orders": cues(
        (
            r"\bmy (?:last |latest |recent |previous |past |most recent |current |newest )?"
            r"(?:order|orders|purchase|purchases|invoice|invoices|delivery|deliveries|parcel|package|shipment|stuff)\b",
            3.5,
        ),
        (r"\b(?:what|when|which) (?:did|have) i (?:\w+ )?(?:buy|order|purchase|get|bought|ordered)\b", 3.5),
        (
            r"\bi (?:bought|ordered|purchased)\b|\bhave i (?:ever )?(?:bought|ordered|purchased)\b"
            r"|\bdid i (?:ever )?(?:buy|order)\b",
            3.0,
        ),
        (r"\bhow much (?:have|did) i (?:spend|spent|pay|paid)\b|\bhasn t (?:arrived|come|shipped)\b", 3.0),
        (
            r"\b(?:what|which) orders (?:did|has|have) (?!we\b|you\b|the shop\b)"
            r"|\borders (?:did|has|have) (?!we\b|you\b|the shop\b)\w+",
            3.0,
        ),
        (r"\border (?:status|history)\b|\bwhere is my\b|\bpurchase history\b", 3.0),
        (r"\b(?:his|her|their) (?:last |latest |recent )?(?:orders?|purchases?|invoices?|order history)\b", 3.0),
        (r"\b(?:orders|purchases|invoices) (?:of|for|from|by|placed by|made by)\b", 3.0),
        (r"\b(?:what|which) (?:did|has|have) (?:\w+ ){1,2}(?:buy|bought|order|ordered|purchase|purchased)\b", 2.0),
        (r"\bin_\w+", 3.0),
    ),
    "shop_insights": (),  # scored by insight_question
    "capture_lead": cues(
        (
            r"\b(?:contact|call|email|mail|reach|ring|text) (?:me|us)\b|\bget (?:back )?in touch\b|\bget back to me\b",
            3.0,
        ),
        (r"\bquote\b|\boffer for\b|\bbulk order\b|\bwholesale\b|\bnewsletter\b|\bcallback\b|\bcall back\b", 3.0),
        (r"\bmy (?:email|e mail|mail) (?:is|address is)\b|\byou can reach me\b|\breach me at\b", 3.0),
        (r"\b(?:leave|send|pass on|forward) (?:a |my )?(?:message|details|note|contact details)\b", 2.5),
        (r"\binterested in (?:buying|ordering|a partnership|working)\b|\bsales team\b", 1.5),
        (
            r"\bbulk\b|\bwholesale\b|\bb2b\b|\bcorporate\b|\bpartnership\b"
            r"|\bfor (?:my|our) (?:company|business|team)\b",
            2.5,
        ),
    ),
    "escalate_to_human": cues(
        (
            rf"\b(?:talk|speak|chat|write) (?:to|with) (?:a |an |some |your |the )?(?:real |live |actual )?{_PEOPLE}\b",
            4.0,
        ),
        (r"\b(?:real|live|actual) (?:human|person|agent|people)\b|\bhuman (?:agent|support|being|help)\b", 4.0),
        (r"\b(?:connect|transfer|put) me (?:to|through|with)\b|\bcustomer (?:service|support|care)\b", 3.5),
        (r"\bcomplain\w*|\bnot happy\b|\bunhappy\b|\bterrible service\b|\bfrustrat\w*|\bangry\b", 3.0),
        (r"\b(?:want|need|get me|give me|speak to|talk to) (?:a |an |the |your )?(?:manager|supervisor)\b", 3.5),
        (r"\buseless\b|\brubbish\b|\bawful\b|\bridiculous\b|\bnot helpful\b|\bdoesn t help\b", 3.0),
        (r"\b(?:a|an) (?:human|person|agent)\b|\bhuman\b", 2.5),
    ),
}
TOOL_CUES["sendEmail"] = TOOL_CUES["capture_lead"]

EXAMPLES: dict[str, tuple[str, ...]] = {
    "search_products": (
        "do you have a waterproof jacket under 150 EUR",
        "what tents do you have",
        "show me running shoes",
        "how much is the espresso machine",
        "I'm looking for a gift for a coffee lover",
        "any wireless headphones",
    ),
    "get_product": ("tell me more about prod_demo0001", "details of that product", "what are the specs of it"),
    "find_customer": ("is there a customer named Justin", "find the customer with email jane@example.com"),
    "customer_orders": ("where is my last order", "what did I buy in March", "show my orders"),
    "shop_insights": (
        "what are the most popular products sold",
        "who made the cheapest purchase",
        "which products are bought together",
        "what was the revenue in March",
        "who are our top customers",
        "what is the repeat purchase rate",
    ),
    "capture_lead": ("please contact me at jane@example.com", "I'd like a quote, my email is bob@example.org"),
    "sendEmail": ("please contact me at jane@example.com", "send a message to the owner"),
    "escalate_to_human": ("can I talk to a person", "I want to speak to a human", "connect me to support"),
}


def has_cue(text: str, tool: str) -> bool:
    """Whether the message holds any of ``tool``'s cue phrases."""
    canon = canonical_text(text)
    return any(pattern.search(canon) for pattern, _ in TOOL_CUES[tool])
