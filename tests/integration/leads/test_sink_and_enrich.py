"""The demo's local SMTP sink, and lead mails that say who a known Stripe customer is."""

from __future__ import annotations

import logging
import secrets
from email import message_from_bytes, policy
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from proxy.leads.enrich import find_customer
from proxy.leads.worker import deliver_due
from proxy.mail.sink import run_smtp_sink
from proxy.store.db import Database
from tests.integration.leads.support import Recorder, mail_settings, parts, queue_lead, smtp_server, tenant_config


async def test_sink_keeps_the_lead_mail_as_an_eml_file(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = "sink-demo"
    await queue_lead(db, tenant_config(tenant), name="Demo Visitor", email="demo@example.com")
    folder = tmp_path / "mail"
    with caplog.at_level(logging.INFO, logger="proxy.mail.sink"):
        async with run_smtp_sink(folder) as (host, port):
            settings = mail_settings(port, host=host, user="anyone", password="anything")
            assert await deliver_due(db, settings, tenants=[tenant]) == 1
    [eml] = list(folder.glob("*.eml"))
    mail = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert mail["Subject"] == "New message from Demo Visitor - demo@example.com"
    assert str(eml) in caplog.text  # the log says where to find it
    assert not list(folder.glob("*.part"))


async def _seed_customer(db: Database, tenant: str) -> None:
    await db.execute(
        "insert into shop_customers (tenant, id, email, name, created) values"
        " (%s, 'cus_1', 'Known@Example.com', 'Kim Known', '2023-03-01T00:00:00Z')",
        (tenant,),
    )
    for invoice_id, status, total in (("in_1", "paid", 10000), ("in_2", "paid", 5000), ("in_3", "open", 99900)):
        await db.execute(
            "insert into shop_invoices (tenant, id, customer_id, currency, status, total, created)"
            " values (%s, %s, 'cus_1', 'eur', %s, %s, '2024-06-01T00:00:00Z')",
            (tenant, invoice_id, status, total),
        )


async def test_a_known_customer_is_described_in_the_mail(db: Database) -> None:
    tenant = "enrich-shop"
    await _seed_customer(db, tenant)
    config = tenant_config(tenant)
    await queue_lead(db, config, name="Kim", email="known@example.com")
    await queue_lead(db, config, name="Stranger", email="stranger@example.com")
    recorder = Recorder()
    async with smtp_server(recorder) as port:
        await deliver_due(db, mail_settings(port), tenants=[tenant])
    by_subject = {m["Subject"]: m for m in recorder.for_tenant(tenant)}
    known_text, known_html = parts(by_subject["New message from Kim - known@example.com"])
    for body in (known_text, known_html):
        assert "cus_1" in body and "Kim Known" in body
        assert "2 paid orders" in body and "lifetime value 150.00 EUR" in body
    stranger_text, _ = parts(by_subject["New message from Stranger - stranger@example.com"])
    assert "Known customer" not in stranger_text


async def test_without_shop_tables_there_is_no_enrichment(pg_url: str) -> None:
    name = f"leads_noshop_{secrets.token_hex(4)}"
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        async with Database.connect(make_conninfo(pg_url, dbname=name), migrate=False) as bare:
            assert await find_customer(bare, tenant="t", email="a@example.com") is None
    finally:
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            await conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))
