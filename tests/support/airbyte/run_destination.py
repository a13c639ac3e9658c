"""Runs Airbyte's real PGVector destination (``destination_pgvector``) with two changes:

- its text splitter counts tokens with a local function instead of GPT-2's BPE, whose files
  tiktoken would download at run time (impossible offline);
- the gzip files it stages its records in (before loading them into Postgres) are written at
  compression level 1 instead of gzip's default 9, which took two thirds of a run's CPU (records
  carry their 1536 embedding floats as JSON text); the files, and what is read back, are the same.

Everything else (document processing, chunking, embedding, the SQL it writes) is the destination's
own code.

Executed by the destination's own virtualenv, not by the project's: it imports nothing from us.
Usage: ``python run_destination.py write --config c.json --catalog cat.json < messages.jsonl``
"""

import gzip
import re
import sys

from langchain_text_splitters import TextSplitter

_TOKEN = re.compile(r"\w+|[^\w\s]")


def local_length(text: str) -> int:
    """About as many units as a BPE tokenizer counts: words and punctuation marks."""
    return len(_TOKEN.findall(text))


def _from_tiktoken_encoder(cls, **kwargs):  # type: ignore[no-untyped-def]
    for key in ("encoding_name", "model_name", "allowed_special", "disallowed_special"):
        kwargs.pop(key, None)
    return cls(length_function=local_length, **kwargs)


TextSplitter.from_tiktoken_encoder = classmethod(_from_tiktoken_encoder)  # type: ignore[assignment, method-assign]


def _open_staging_file(self, file_path):  # type: ignore[no-untyped-def]
    return gzip.open(file_path, "w", compresslevel=1)


if __name__ == "__main__":
    from airbyte._processors.file.jsonl import JsonlWriter
    from destination_pgvector import DestinationPGVector

    JsonlWriter._open_new_file = _open_staging_file  # type: ignore[method-assign]

    DestinationPGVector().run(sys.argv[1:])
