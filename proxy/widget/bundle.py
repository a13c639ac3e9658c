"""The widget script as served: the sources under ``widget/`` joined into one file at start-up.

No build tool: the string catalogue (``widget/i18n/*.json``), the styles (``widget/src/styles.css``)
and the plain scripts (``sse.js``, ``markdown.js``, ``conversations.js``, ``human.js``, ``widget.js``) are
concatenated inside one
function scope, hashed for the ETag and gzipped once. Whole-line comments and indentation are
dropped on the way (nothing else is rewritten, so the served code reads like the sources).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# the top-level widget/ folder: a symlink in the checkout, a copy in a built wheel (package data)
WIDGET_DIR = Path(__file__).resolve().parent / "assets"
SCRIPTS = ("sse.js", "markdown.js", "conversations.js", "human.js", "widget.js")


@dataclass(frozen=True, slots=True)
class Bundle:
    body: bytes
    gzipped: bytes
    etag: str  # quoted, strong; the gzipped form gets its own ("...-gz")

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gz"'


def catalogue(widget_dir: Path = WIDGET_DIR) -> dict[str, dict[str, str]]:
    """Every locale's strings; English is complete and the others are checked against it."""
    strings = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted((widget_dir / "i18n").glob("*.json"))}
    english = strings.get("en")
    if english is None:
        raise RuntimeError(f"{widget_dir / 'i18n' / 'en.json'} is missing")
    for locale, table in strings.items():
        missing = english.keys() - table.keys()
        if missing:
            raise RuntimeError(f"widget/i18n/{locale}.json lacks {', '.join(sorted(missing))}")
    return strings


_BLOCK_COMMENT_LINES = re.compile(r"^[ \t]*/\*(?:(?!\*/).)*\*/[ \t]*$\n?", re.MULTILINE | re.DOTALL)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def slim_js(source: str) -> str:
    """Drop comment-only lines, blank lines and indentation (the sources use no multi-line strings)."""
    source = _BLOCK_COMMENT_LINES.sub("", source)
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


def slim_css(source: str) -> str:
    return re.sub(r"\s+", " ", _CSS_COMMENT.sub("", source)).strip()


def build_source(widget_dir: Path = WIDGET_DIR) -> str:
    src = widget_dir / "src"
    parts = [
        '/*! assistant-proxy chat widget. Embed: <script src="https://PROXY/widget.js" async></script> */',
        "(function () {",
        '"use strict";',
        "var module;",  # the sources export for Node tests only when `module` exists
        "var CATALOGUE = " + json.dumps(catalogue(widget_dir), ensure_ascii=False, separators=(",", ":")) + ";",
        "var STYLES = " + json.dumps(slim_css((src / "styles.css").read_text(encoding="utf-8"))) + ";",
    ]
    parts += [slim_js((src / name).read_text(encoding="utf-8")) for name in SCRIPTS]
    parts.append("})();\n")
    return "\n".join(parts)


def make_bundle(widget_dir: Path = WIDGET_DIR) -> Bundle:
    body = build_source(widget_dir).encode("utf-8")
    digest = hashlib.sha256(body).hexdigest()[:32]
    return Bundle(body=body, gzipped=gzip.compress(body, compresslevel=9, mtime=0), etag=f'"{digest}"')


@lru_cache(maxsize=1)
def current_bundle() -> Bundle:
    """Built once per process (the first request, or the app's start-up)."""
    return make_bundle()
