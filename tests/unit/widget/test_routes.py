"""The widget's HTTP surface: the script (ETag, 304, gzip, size), the per-tenant config, the demo."""

from __future__ import annotations

import gzip
import html
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from litestar import Litestar, Request
from litestar.di import Provide
from litestar.exceptions import PermissionDeniedException
from litestar.testing import TestClient

from proxy.api.deps import Caller
from proxy.tenants import Tenant, TenantConfig, TenantDirectory
from proxy.visitors import Visitor
from proxy.widget.bundle import current_bundle, make_bundle
from proxy.widget.config import WidgetConfig
from proxy.widget.demo_pages import ACCOUNT_QUESTIONS, SHOP_QUESTIONS, STAFF_QUESTIONS
from proxy.widget.routes import widget_routes

TENANT = Tenant(
    config=TenantConfig(
        name="acme",
        domains=["acme.test"],
        widget=WidgetConfig(title="Acme help", primary_color="#112233", suggested_questions=["Hours?"]),
    ),
    api_key="sk-test",
    client_keys=(),
    base_url=None,
)


async def stand_in_caller(request: Request[Any, Any, Any]) -> Caller:
    """Stands in for proxy.api.deps.provide_caller: Origin acme.test is the tenant, others are not."""
    if request.headers.get("origin") != "https://acme.test":
        raise PermissionDeniedException("unknown origin")
    return Caller(TENANT, Visitor(), via_client_key=False)


@pytest.fixture
def client() -> Iterator[TestClient[Litestar]]:
    app = Litestar(route_handlers=widget_routes, dependencies={"caller": Provide(stand_in_caller)}, logging_config=None)
    with TestClient(app) as test_client:
        yield test_client


def test_script_is_served_with_caching_headers(client: TestClient[Litestar]) -> None:
    response = client.get("/widget.js", headers={"Accept-Encoding": "identity", "Origin": "https://anyone.test"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["etag"] == current_bundle().etag
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["access-control-allow-origin"] == "*"
    assert "content-encoding" not in response.headers
    assert response.content == current_bundle().body
    assert b"window.AssistantProxy" in response.content


def test_script_answers_304_when_unchanged(client: TestClient[Litestar]) -> None:
    etag = client.get("/widget.js").headers["etag"]
    for presented in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get("/widget.js", headers={"If-None-Match": presented})
        assert again.status_code == 304, presented
        assert again.content == b""
        assert again.headers["cache-control"] == "public, max-age=300"
    assert client.get("/widget.js", headers={"If-None-Match": '"stale"'}).status_code == 200


def test_script_is_gzipped_for_browsers_and_small(client: TestClient[Litestar]) -> None:
    bundle = current_bundle()
    raw = client.stream("GET", "/widget.js", headers={"Accept-Encoding": "gzip, deflate, br"})
    with raw as response:
        body = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["vary"] == "Accept-Encoding"
        assert response.headers["etag"] == bundle.gzip_etag
    assert gzip.decompress(body) == bundle.body
    # 18 KB before the list of past conversations (about 3 KB with its strings in five locales)
    assert len(body) < 22 * 1024, f"widget.js is {len(body)} bytes gzipped; the budget is 22 KB"
    refused = client.get("/widget.js", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_etag_follows_the_content(tmp_path: Any) -> None:
    import shutil

    from proxy.widget.bundle import WIDGET_DIR

    copy = tmp_path / "widget"
    shutil.copytree(WIDGET_DIR, copy)
    first = make_bundle(copy)
    assert make_bundle(copy).etag == first.etag
    (copy / "i18n" / "en.json").write_text((copy / "i18n" / "en.json").read_text().replace("Chat with us", "Talk"))
    assert make_bundle(copy).etag != first.etag


def test_every_locale_has_every_string(tmp_path: Any) -> None:
    import json
    import shutil

    from proxy.widget.bundle import WIDGET_DIR, catalogue

    strings = catalogue()
    assert {"en", "ar", "he"} <= strings.keys()
    assert strings["ar"]["dir"] == strings["he"]["dir"] == "rtl"
    copy = tmp_path / "widget"
    shutil.copytree(WIDGET_DIR, copy)
    (copy / "i18n" / "xx.json").write_text(json.dumps({"dir": "ltr"}))
    with pytest.raises(RuntimeError, match=r"xx\.json lacks"):
        catalogue(copy)


def test_served_script_is_the_sources_without_comments() -> None:
    body = current_bundle().body.decode()
    assert body.startswith("/*! assistant-proxy")
    assert "innerHTML" not in body.replace("innerHTML must", "")  # the widget never uses it
    assert "\n//" not in body


def test_widget_config_for_the_calling_tenant(client: TestClient[Litestar]) -> None:
    response = client.get("/v1/widget-config", headers={"Origin": "https://acme.test"})
    assert response.status_code == 200
    body = response.json()
    assert body["tenant"] == "acme"
    assert body["title"] == "Acme help"
    assert body["primary_color"] == "#112233"
    assert body["suggested_questions"] == ["Hours?"]
    assert body["position"] == "bottom-right"
    assert "cache-control" in response.headers
    assert "Origin" in response.headers["vary"]
    assert client.get("/v1/widget-config", headers={"Origin": "https://evil.test"}).status_code == 403


def test_demo_pages_render_without_a_shop(client: TestClient[Litestar]) -> None:
    """Without the app's services (no database, no tenant) the pages still render, and say so."""
    for path, questions in (
        ("/demo", SHOP_QUESTIONS),
        ("/demo/account", ACCOUNT_QUESTIONS),
        ("/demo/staff", STAFF_QUESTIONS),
    ):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        attribute = html.escape(json.dumps(questions))
        assert f'<script src="/widget.js" async data-suggested-questions="{attribute}"></script>' in response.text
        assert "data is not available here" in response.text
        assert 'href="/demo/account"' in response.text and 'href="/demo/staff"' in response.text
    assert client.get("/demo/account").headers["cache-control"] == "no-store"
    avatar = client.get("/demo/avatar.svg")
    assert avatar.headers["content-type"].startswith("image/svg+xml")


class Unreachable:
    """A database no page may touch."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the demo pages read a real shop's data ({name})")


def test_demo_pages_never_show_a_real_shops_data_or_sign_its_tokens() -> None:
    """The routes exist on every deployment and Host is the caller's: a shop that is not the demo
    shop gets neither its figures shown nor a (staff!) token signed with its identity secret."""
    real = Tenant(
        config=TenantConfig(name="acme", domains=["acme.test"]),  # shop.source is "stripe"
        api_key="sk-test",
        client_keys=(),
        base_url=None,
        identity_secret="acme-identity-secret-long-enough-for-hs256",
    )
    app = Litestar(route_handlers=widget_routes, dependencies={"caller": Provide(stand_in_caller)}, logging_config=None)
    app.state.services = SimpleNamespace(
        tenants=TenantDirectory([real]), db=Unreachable(), settings=SimpleNamespace(simulator_url=None)
    )
    with TestClient(app) as client:
        for path in ("/demo", "/demo/account", "/demo/staff"):
            response = client.get(path, headers={"Host": "acme.test"})
            assert response.status_code == 200
            assert "data-identity-token" not in response.text
            assert "no tenant with the demo shop serves this host" in response.text
