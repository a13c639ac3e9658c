"""Tables written by Airbyte's PGVector destination, read as they are.

One table per stream with ``document_id, chunk_id, metadata, document_content, embedding``, as the
destination (``airbyte-destination-pgvector``, on the CDK's ``DocumentProcessor``) writes them:

- ``metadata`` (json) holds the record's metadata fields: by default every field, nested objects
  kept as JSON objects; a dotted metadata field (``metadata.category``) is one flat key.
- ``document_content`` holds the text fields (by default every field) as langchain's
  ``stringify_dict`` renders them: ``key: value`` lines, a nested object as an empty ``key: `` line
  followed by its own lines, a list as its items one after another.
- A long record is split into chunks (rows) sharing ``document_id`` and metadata. Nothing keeps the
  chunks' order: chunk ids are random, and the physical order (``ctid``) is not the order the rows
  were inserted in (Postgres puts a row into any earlier page with room for it). So answers must
  not depend on it: lines found in the text are ordered by their ids, as the
  ``invoice_line_items`` stream's are.

A field is read from the metadata when it is there, else from the text. Invoice lines come from the
native Stripe source's ``invoice_line_items`` stream when configured, else from the invoices'
``lines.data`` (the tutorial's connector-builder source). A full refresh replaces a table and its
indexes with it, so indexes are re-created, idempotently, whenever a table's identity changes.
"""

from proxy.shop.airbyte.indexes import ensure_indexes
from proxy.shop.airbyte.shop_data import AirbyteShopData

__all__ = ("AirbyteShopData", "ensure_indexes")
