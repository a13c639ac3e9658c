"""The CSV export names its charset once."""

from __future__ import annotations

import httpx

from tests.integration.hardening.conftest import SHOP_KEY


async def test_csv_content_type(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/admin/leads.csv", headers={"Authorization": f"Bearer {SHOP_KEY}"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
