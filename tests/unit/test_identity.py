"""Identity tokens: what a host site signs is accepted; anything else is refused with a reason."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from proxy.identity import MAX_LIFETIME, IdentityError, issue_identity_token, verify_identity_token

SECRET = "s3cret-for-tests-that-is-long-enough-for-hs256"
NOW = 1_780_000_000.0


def token(**claims: object) -> str:
    base: dict[str, object] = {
        "sub": "42",
        "email": "ada@example.com",
        "aud": "acme",
        "iat": int(NOW),
        "exp": int(NOW) + 600,
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, SECRET, algorithm="HS256")


def test_a_valid_token_gives_an_identified_visitor() -> None:
    visitor = verify_identity_token(token(), secret=SECRET, tenant="acme", now=NOW)
    assert (visitor.id, visitor.kind, visitor.user_id, visitor.email) == (
        "user:42",
        "identified",
        "42",
        "ada@example.com",
    )


def test_staff_role_and_tenant_claim() -> None:
    visitor = verify_identity_token(token(aud=None, tenant="acme", role="staff"), secret=SECRET, tenant="acme", now=NOW)
    assert visitor.kind == "staff"


def test_issue_and_verify_round_trip() -> None:
    minted = issue_identity_token(secret=SECRET, tenant="acme", sub="7", email="b@example.com", now=NOW)
    assert verify_identity_token(minted, secret=SECRET, tenant="acme", now=NOW + 60).user_id == "7"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: token(exp=int(NOW) - 120), "expired"),
        (lambda: token(aud="other-shop"), "not for tenant 'acme'"),
        (lambda: token(aud=None), "names no tenant"),
        (lambda: token(exp=None), "no expiry"),
        (lambda: token(exp=int(NOW) + MAX_LIFETIME + 3600), "lives too long"),
        (lambda: token(iat=None, exp=int(NOW) + 30 * 86400), "lives too long"),
        (lambda: token(sub=None), "no user id"),
        (lambda: token(email="not-an-email"), "not an email"),
        (lambda: token(role="admin"), "role"),
        (lambda: token(iat=int(NOW) + 3600, exp=int(NOW) + 4000), "future"),
        (
            lambda: jwt.encode(
                {"sub": "42", "aud": "acme", "exp": int(NOW) + 60},
                "another-secret-of-sufficient-length!!",
                algorithm="HS256",
            ),
            "signature",
        ),
        (lambda: "not.a.jwt", "not a JWT"),
        (lambda: "garbage", "not a JWT"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(make, reason: str) -> None:
    with pytest.raises(IdentityError, match=reason):
        verify_identity_token(make(), secret=SECRET, tenant="acme", now=NOW)


def test_unsigned_and_other_algorithms_are_refused() -> None:
    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'sub': '1', 'aud': 'acme', 'exp': int(NOW) + 60})}."
    with pytest.raises(IdentityError, match="HS256"):
        verify_identity_token(unsigned, secret=SECRET, tenant="acme", now=NOW)
    hs512 = jwt.encode({"sub": "1", "aud": "acme", "exp": int(NOW) + 60}, SECRET * 2, algorithm="HS512")
    with pytest.raises(IdentityError, match="HS256"):
        verify_identity_token(hs512, secret=SECRET, tenant="acme", now=NOW)


def test_a_tenant_without_secret_accepts_no_tokens() -> None:
    with pytest.raises(IdentityError, match="no identity secret"):
        verify_identity_token(token(), secret="", tenant="acme", now=NOW)
