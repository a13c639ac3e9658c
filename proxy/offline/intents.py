"""Which tool a message asks for: each offered tool is scored from its description and, for the
tools this project ships, from cue phrases and a few example phrasings. Small talk ("hi",
"thanks", "what can you do") is an intent of its own.

Cue phrases are regular expressions over the message's *canonical* text: lower-case words with
likely typos of the cue vocabulary corrected ("popluar" -> "popular"), so a cue covers its typos.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from proxy.offline.money import find_prices
from proxy.offline.types import ToolSpec
from proxy.offline.words import canonical, content_words, same_word, stem, tokens

THRESHOLD = 1.5

VOCABULARY = tuple(
    sorted(
        set(
            [
                "popular",
                "purchase",
                "purchases",
                "purchased",
                "customer",
                "customers",
                "cheapest",
                "revenue",
                "together",
                "bought",
                "sellers",
                "seller",
                "selling",
                "orders",
                "order",
                "largest",
                "biggest",
                "smallest",
                "expensive",
                "repeat",
                "returning",
                "average",
                "products",
                "product",
                "recommend",
                "looking",
                "available",
                "human",
                "person",
                "someone",
                "somebody",
                "contact",
                "email",
                "address",
                "thanks",
                "thank",
                "hello",
                "account",
                "delivery",
                "shipped",
                "invoice",
                "invoices",
                "details",
                "between",
                "under",
                "below",
                "second",
                "monthly",
                "month",
                "turnover",
                "income",
                "spent",
                "spend",
                "spenders",
                "quote",
                "representative",
                "agent",
                "manager",
                "insights",
                "statistics",
                "figures",
                "popularity",
                "bestseller",
                "bestsellers",
                "combination",
                "combinations",
                "alongside",
                "frequently",
                "commonly",
                "often",
                "together",
                "retention",
                "loyal",
                "valuable",
                "clients",
                "client",
                "shoppers",
                "shopper",
                "buyers",
                "highest",
                "lowest",
                "minimum",
                "maximum",
                "cheaper",
                "priciest",
                "affordable",
                "inexpensive",
                "catalogue",
                "catalog",
                "anything",
                "something",
                "recommendations",
                "suggestions",
                "cheap",
                "price",
                "prices",
                "pricing",
                "shipping",
                "package",
                "parcel",
                "tracking",
                "status",
                "history",
                "previous",
                "recent",
                "latest",
                "everything",
            ]
        )
    )
)


# Inflections and common words that are right as written (never "corrected" to a cue word).
VOCABULARY = tuple(
    sorted(
        {
            *VOCABULARY,
            *[
                "sell",
                "sells",
                "sold",
                "sale",
                "sales",
                "buy",
                "buys",
                "buying",
                "order",
                "ordered",
                "ordering",
                "item",
                "items",
                "thing",
                "things",
                "spend",
                "spending",
                "best",
                "most",
                "top",
                "hot",
                "often",
                "frequently",
                "commonly",
                "ever",
                "never",
                "again",
                "once",
                "twice",
                "first",
                "last",
                "next",
                "still",
                "person",
                "persons",
                "people",
                "human",
                "humans",
                "manager",
                "managers",
                "number",
                "numbers",
                "member",
                "members",
                "least",
                "less",
                "latest",
                "greatest",
                "older",
                "oldest",
                "newer",
                "newest",
                "shopping",
                "spender",
                "spenders",
                "personal",
                "recently",
                "revenues",
            ],
        }
    )
)
_IDS = re.compile(r"\b(?:prod|cus|in)_[a-z0-9]+")


def canonical_text(text: str) -> str:
    """Lower-case words, typos of the cue vocabulary corrected, apostrophes split ("i'd" -> "i d")."""
    words = " ".join(canonical(tokens(text), VOCABULARY)).replace("'", " ")
    return " ".join([words, *_IDS.findall(text.lower())])


def _cues(*pairs: tuple[str, float]) -> tuple[tuple[re.Pattern[str], float], ...]:
    return tuple((re.compile(pattern), weight) for pattern, weight in pairs)


# -- the shop_insights questions ---------------------------------------------------------------

_PURCHASE = r"(?:purchase|purchases|order|orders|sale|sales|basket|invoice|transaction|buy|checkout)"
INSIGHT_CUES: dict[str, tuple[tuple[re.Pattern[str], float], ...]] = {
    "best_sellers": _cues(
        (r"\bbest ?sell(?:er|ers|ing)?\b", 3.0),
        (r"\bbestsellers?\b", 3.0),
        (r"\bmost (?:popular|sold|bought|purchased|ordered|wanted|demanded)\b", 3.0),
        (r"\b(?:top|hottest|hot|popular)(?: \d+)? ?(?:selling|seller|sellers|products?|items?)\b", 2.5),
        (r"\bunits sold\b|\bby units\b|\bmost units\b|\bsold the most\b", 3.0),
        (r"\bmost (?:frequently|often|commonly) (?:ordered|bought|purchased|sold)\b|\bmost ordered\b", 3.0),
        (r"\bwhat (?:\w+ ){0,3}(?:buy|buying|bought|order|ordering|ordered|purchase|purchasing) (?:the )?most\b", 3.0),
        (r"\b(?:sells|selling|sold|sell) (?:the )?(?:best|most)\b", 3.0),
        (r"\b(?:made|makes|earned|earns|brought in|brings in|generated) (?:us )?the most\b|\btop grossing\b", 3.0),
        (r"\b(?:products?|items?|sellers?) (?:\w+ ){0,3}(?:by|in|per) (?:\w+ )?(?:revenue|sales|money)\b", 3.5),
        (r"\bsells? (?:the )?(?:most|best)\b|\bselling (?:the )?(?:most|best|well)\b|\bsold (?:the )?most\b", 3.0),
        (r"\bpopular(?:ity)?\b", 2.0),
        (r"\bwhat sells\b|\bwhich products sell\b", 2.5),
    ),
    "bought_together": _cues(
        (r"\b(?:bought|purchased|ordered|sold|buy|go|goes|paired|buying) (?:\w+ )?together\b", 3.5),
        (r"\btogether\b", 2.5),
        (r"\b(?:bought|purchased|ordered|sold) (?:along )?with\b", 3.0),
        (r"\bpairs?\b|\bcombinations?\b|\bcross ?sell\w*|\bcompanions?\b|\balongside\b|\bgo(?:es)? well with\b", 2.5),
        (r"\bfrequently bought\b|\boften bought\b|\bcommonly bought\b", 3.0),
        (r"\b(?:buy|buys|get|order|pair|pairs) (?:along )?with\b|\balso (?:buy|bought|get|order)\b", 3.0),
        (r"\bwhat else (?:do|did|should|would)\b|\bgoes with\b|\bgo with\b", 2.5),
    ),
    "second_product": _cues(
        (r"\bsecond (?:product|item|purchase|thing|buy|order|line)\b", 3.5),
        (r"\b(?:buy|bought|purchase|order|get) (?:next|second|after)\b", 3.0),
        (r"\bafter (?:their|the|a) first\b|\bnext purchase\b|\bfollow ?up purchase\b", 3.0),
    ),
    "cheapest_purchase": _cues(
        (rf"\b(?:cheapest|smallest|lowest|least expensive|tiniest|minimum|min|lowest value) {_PURCHASE}\b", 3.5),
        (r"\bwho (?:made|placed|did|had) the (?:cheapest|smallest|lowest)\b", 3.5),
        (r"\bwho (?:bought|purchased|ordered|spent) (?:the )?(?:cheapest|least|smallest|lowest)\b", 3.5),
        (r"\bspent the least\b|\bleast (?:amount|money) spent\b", 3.0),
    ),
    "largest_purchase": _cues(
        (
            rf"\b(?:largest|biggest|highest|most expensive|priciest|maximum|max|greatest|highest value)"
            rf" (?:single )?{_PURCHASE}\b",
            3.5,
        ),
        (r"\bwho (?:made|placed|did|had) the (?:largest|biggest|highest|most expensive)\b", 3.5),
        (r"\bwho (?:bought|purchased|ordered) (?:the )?(?:most expensive|biggest|largest|priciest)\b", 3.5),
        (r"\bspent the most in (?:one|a single)\b", 3.5),
    ),
    "revenue": _cues(
        (r"\brevenue\b|\bturnover\b|\btakings\b|\bincome\b|\bearnings\b|\bgross\b", 3.0),
        (
            r"\bhow much (?:did|have|has) (?:we|you|the shop|the store)"
            r" (?:make|made|earn|earned|sell|sold|take|taken)\b",
            3.0,
        ),
        (r"\baverage (?:order|basket|purchase|cart|sale)\b|\baov\b", 3.0),
        (r"\btotal sales\b|\bsales (?:in|for|during|this|last|by|per|were|was|total|figures?)\b", 2.5),
        (r"\bhow (?:did|were|are|is|was) (?:our |the )?sales\b|\bsales (?:go|goes|going|look|looking|doing)\b", 3.0),
        (r"\bhow many orders\b|\bnumber of orders\b|\border count\b", 2.5),
        (r"\bhow (?:much|well) did (?:we|you) (?:do|sell)\b|\bmoney (?:did|have) we\b", 2.5),
    ),
    "repeat_purchase_rate": _cues(
        (r"\brepeat\b|\brepurchase\w*|\bretention\b", 3.0),
        (r"\breturning (?:customer|customers|buyer|buyers|shopper|shoppers|client|clients)\b", 3.0),
        (r"\bcome back\b|\bcame back\b|\bbuy again\b|\bbought again\b|\border again\b|\bordered again\b", 3.0),
        (r"\bmore than (?:one|once) (?:order|time)|\bmore than once\b|\b(?:two|2) or more orders\b", 3.0),
        (r"\bhow many (?:customers|clients|buyers|shoppers)\b", 2.5),
    ),
    "top_customers": _cues(
        (
            r"\b(?:top|best|biggest|largest|most valuable|leading|vip|highest spending|big|loyal|most loyal)"
            r" (?:\d+ )?(?:customer|customers|client|clients|buyer|buyers|spender|spenders|shopper|shoppers)\b",
            3.5,
        ),
        (r"\bwho (?:spent|spends|buys|bought|orders|ordered|purchased) (?:the )?most\b", 3.5),
        (r"\b(?:customers|clients|buyers) (?:who|that) spent (?:the )?most\b|\bspent the most\b", 3.0),
    ),
}

_BY_REVENUE = re.compile(
    r"\bmost (?:money|revenue)\b|\bgrossing\b|\b(?:in|by) \w+ revenue\b|"
    r"\b(?:by|in|per) (?:revenue|sales value|value|money|turnover|euros?|dollars?)\b|\brevenue\b|\bearn"
)
_BY_MONTH = re.compile(
    r"\b(?:by|per|each|every) month\b|\bmonthly\b|\bmonth by month\b|\bmonth over month\b|\bbreakdown\b"
)
_BY_CUSTOMER = re.compile(
    r"\bcustomers? (?:buy|bought|purchase|purchased|order|ordered|get)\b|\btheir (?:second|next|first)\b"
    r"|\bpeople (?:buy|bought)\b"
)


def insight_question(text: str) -> tuple[str | None, float]:
    """The shop_insights ``question`` the message asks, and how sure (a cue weight)."""
    canon = canonical_text(text)
    found: dict[str, float] = {}
    for question, cues in INSIGHT_CUES.items():
        for pattern, weight in cues:
            if pattern.search(canon):
                found[question] = max(found.get(question, 0.0), weight)
    if "best_sellers" in found and "revenue" in found:  # "top products by revenue": a ranking, by money
        found["best_sellers"] = max(found["best_sellers"], found.pop("revenue"))
    if not found:
        return None, 0.0
    question = max(found, key=lambda q: found[q])
    return question, found[question]


def insight_options(text: str) -> dict[str, object]:
    canon = canonical_text(text)
    return {
        "by_revenue": bool(_BY_REVENUE.search(canon)),
        "by_month": bool(_BY_MONTH.search(canon)),
        "by_customer": bool(_BY_CUSTOMER.search(canon)),
    }


# -- every known tool --------------------------------------------------------------------------

_PEOPLE = (
    r"(?:human|person|people|agent|representative|rep|operator|staff|someone|somebody|employee|manager|team"
    r"|real person)"
)
TOOL_CUES: dict[str, tuple[tuple[re.Pattern[str], float], ...]] = {
    "search_products": _cues(
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
    "get_product": _cues(
        (r"\bprod_\w+", 4.0),
        (r"\b(?:more )?(?:details|info|information|specs|specifications) (?:about|on|of|for)\b", 1.5),
        (r"\btell me (?:more )?about\b|\bdescribe\b|\bmore about\b", 1.5),
    ),
    "find_customer": _cues(
        (r"\bcustomers? (?:named|called|with|whose|by the name)\b", 3.5),
        (r"\b(?:clients?|buyers?|shoppers?|users?|anyone|someone|somebody) (?:named|called|by the name)\b", 3.5),
        (r"\b(?:do|did) (?:we|you) have (?:a |any )?(?:customer|client|buyer)s?\b", 3.5),
        (r"\b(?:is|are) there (?:a|any) (?:customer|client|buyer)s?\b", 3.5),
        (r"\b(?:find|look ?up|search|lookup|search for|check) (?:the |a |for )?(?:customer|client)\b", 3.5),
        (r"\bcus_\w+", 3.0),
        (r"\bmy (?:account|details|profile|record|customer record|contact details|email address)\b", 3.0),
        (r"\bwho am i\b|\bwhat do you know about me\b|\bwhich email\b|\bon file\b|\bmy (?:email|name)\b", 3.0),
        (r"\bcustomer\b|\bclient\b", 1.0),
    ),
    "customer_orders": _cues(
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
    "capture_lead": _cues(
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
    "escalate_to_human": _cues(
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

# -- small talk --------------------------------------------------------------------------------

SMALL_TALK = _cues(
    (
        r"^(?:hi|hello|hey|hallo|howdy|hiya|yo|greetings|good (?:morning|afternoon|evening|day)|moin|hej|hola"
        r"|bonjour)\b",
        1.0,
    ),
)
_GREETING = SMALL_TALK[0][0]
_THANKS = re.compile(
    r"\b(?:thanks|thank you|thank u|thx|ty|cheers|much appreciated|appreciate it|great thanks|perfect|awesome|"
    r"that helps|helpful|danke|merci|gracias)\b"
)
_BYE = re.compile(r"\b(?:bye|goodbye|good bye|see you|see ya|later|ciao|farewell|that s all|thats all|that is all)\b")
_CAPABILITIES = re.compile(
    r"\bwhat (?:can|do) (?:you|u) do\b|\bwhat (?:can|could) (?:you|u) help\b|\bhow can (?:you|u) help\b|"
    r"\bwho are (?:you|u)\b|\bwhat are (?:you|u)\b"
    r"|\bare (?:you|u) (?:a |an )?(?:bot|robot|ai|human|real|person|machine)\b|"
    r"\bhow does this work\b|\bwhat do you know\b|^help\b|\bcan you help\b|\bhelp me\b|\bwhat is this\b|\bhow are you\b"
)


_IDENTITY = re.compile(
    r"\bare (?:you|u) (?:a |an )?(?:real |actual )?(?:bot|robot|ai|human|real|person|machine|people)\b"
)
_HOW_ARE_YOU = re.compile(r"\bhow (?:are|r) (?:you|u)\b|\bhow s it going\b|\bhow do you do\b")
_ACK = re.compile(
    r"^(?:ok|okay|k|yes|yeah|yep|no|nope|sure|cool|nice|great|fine|alright|lol|haha|hmm|ah|oh|i see|got it|right)"
    r"(?: (?:ok|okay|thanks|then|cool|great|lol))*$"
)


_POLICY = re.compile(
    r"\b(?:return policy|returns?|refunds?|exchanges?|shipping|ship|postage|delivery|deliver|payment|pay|"
    r"paypal|warranty|guarantee|opening hours|store hours|open on|discounts?|coupons?|vouchers?|promo codes?|"
    r"phone number|your address|your email|your number|where are you located|located|size guide|gift cards?)\b"
)


def policy_topic(text: str) -> str | None:
    """What a question about the shop's own policies is about (returns, shipping, payment ...)."""
    match = _POLICY.search(canonical_text(text))
    if match is None:
        return None
    word = match.group(0)
    return next((topic for topic, words in _POLICY_TOPICS.items() if word.split()[0] in words), word)


_POLICY_TOPICS = {
    "returns and refunds": {"return", "returns", "refund", "refunds", "exchange", "exchanges"},
    "shipping": {"shipping", "ship", "postage", "delivery", "deliver"},
    "payment": {"payment", "pay", "paypal"},
    "warranty": {"warranty", "guarantee"},
    "opening hours": {"opening", "store", "open"},
    "discounts": {"discount", "discounts", "coupon", "coupons", "voucher", "vouchers", "promo"},
    "contact details": {"phone", "your", "where", "located"},
}


def identity_question(text: str) -> bool:
    """ "Are you a bot?", "are you a real person?": questions about the assistant, not requests."""
    return bool(_IDENTITY.search(canonical_text(text)))


def small_talk(text: str) -> str | None:
    """``greeting``, ``thanks``, ``goodbye``, ``how_are_you``, ``ack`` or ``capabilities`` for
    messages that are only that."""
    canon = canonical_text(text)
    words = canon.split()
    if _IDENTITY.search(canon) and len(words) <= 10:
        return "capabilities"
    if _HOW_ARE_YOU.search(canon) and len(words) <= 6:
        return "how_are_you"
    if _ACK.match(canon.strip()):
        return "ack"
    if _CAPABILITIES.search(canon) and len(words) <= 10:
        return "capabilities"
    if _THANKS.search(canon) and len(words) <= 8:
        return "thanks"
    if _BYE.search(canon) and len(words) <= 6:
        return "goodbye"
    if _GREETING.search(canon) and len(words) <= 6:
        return "greeting"
    return None


# -- scoring -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scored:
    tool: str
    score: float


@lru_cache(maxsize=512)
def _description_words(description: str) -> frozenset[str]:
    return frozenset(stem(w) for w in content_words(description))


def _overlap(message_words: Sequence[str], other_words: Sequence[str]) -> float:
    """Dice similarity of two word lists, typos tolerated."""
    if not message_words or not other_words:
        return 0.0
    hits = sum(1 for w in other_words if any(same_word(w, m) for m in message_words))
    return 2 * hits / (len(other_words) + len(message_words))


def _description_score(message_words: Sequence[str], spec: ToolSpec) -> float:
    described = _description_words(spec.description + " " + spec.name.replace("_", " "))
    if not message_words or not described:
        return 0.0
    hits = sum(1 for w in message_words if stem(w) in described)
    return hits / len(message_words)


def _property_hints(text: str, spec: ToolSpec) -> float:
    properties = spec.parameters.get("properties") if isinstance(spec.parameters, dict) else None
    if not isinstance(properties, dict):
        return 0.0
    names = " ".join(properties).lower()
    bonus = 0.0
    if "@" in text and "email" in names:
        bonus += 0.5
    if re.search(r"\bprod_\w+", text) and "product" in names:
        bonus += 1.0
    if re.search(r"\bcus_\w+", text) and "customer" in names:
        bonus += 1.0
    return bonus


def score_tools(text: str, tools: Sequence[ToolSpec]) -> list[Scored]:
    """Every offered tool with its score, best first (ties: the order offered)."""
    canon = canonical_text(text)
    words = content_words(canon)
    scored: list[Scored] = []
    for index, spec in enumerate(tools):
        cue = 0.0
        if spec.name == "shop_insights":
            cue = insight_question(text)[1]
        elif spec.name == "search_products" and find_prices(text):
            cue = 2.0  # a price bound is a product question
        for pattern, weight in TOOL_CUES.get(spec.name, ()):
            if pattern.search(canon):
                cue = max(cue, weight) + (0.25 if cue else 0.0)
        examples = EXAMPLES.get(spec.name, ())
        example = max((_overlap(words, content_words(e)) for e in examples), default=0.0)
        known = spec.name in TOOL_CUES
        description = _description_score(words, spec) * (0.5 if known else 2.0)
        score = cue + 0.5 * example + description + _property_hints(text, spec) - index * 1e-6
        scored.append(Scored(spec.name, score))
    return sorted(scored, key=lambda s: -s.score)
