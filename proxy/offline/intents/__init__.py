"""What a message asks for: which tool (scored from cue phrases, examples and the tools'
descriptions), which shop_insights question, or small talk and policy questions of its own.

Cue phrases are regular expressions over the message's *canonical* text (see
:mod:`proxy.offline.intents.vocabulary`), so a cue covers the typos of its words.
"""

from proxy.offline.intents.insight_questions import insight_options, insight_question
from proxy.offline.intents.policies import policy_topic
from proxy.offline.intents.scoring import THRESHOLD, Scored, score_tools
from proxy.offline.intents.small_talk import identity_question, small_talk
from proxy.offline.intents.tool_cues import TOOL_CUES, has_cue
from proxy.offline.intents.vocabulary import canonical_text

__all__ = (
    "THRESHOLD",
    "TOOL_CUES",
    "Scored",
    "canonical_text",
    "has_cue",
    "identity_question",
    "insight_options",
    "insight_question",
    "policy_topic",
    "score_tools",
    "small_talk",
)
