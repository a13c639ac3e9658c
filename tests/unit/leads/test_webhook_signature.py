from __future__ import annotations

import hashlib
import hmac

from proxy.mail.webhook import encode_body, sign, verify


def test_signature_is_hmac_sha256_of_timestamp_and_body() -> None:
    body = encode_body({"event": "lead.created", "b": 1, "a": "é"})
    header = sign("secret", body, 1_700_000_000)
    expected = hmac.new(b"secret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert verify("secret", body, header, now=1_700_000_010)


def test_verify_rejects_tampering_wrong_secret_and_old_signatures() -> None:
    body = encode_body({"x": 1})
    header = sign("secret", body, 1_700_000_000)
    assert not verify("secret", body + b" ", header, now=1_700_000_000)
    assert not verify("other", body, header, now=1_700_000_000)
    assert not verify("secret", body, header, now=1_700_000_000 + 301)
    assert not verify("secret", body, "garbage", now=1_700_000_000)


def test_body_encoding_is_stable() -> None:
    assert encode_body({"b": 1, "a": 2}) == b'{"a":2,"b":1}'
