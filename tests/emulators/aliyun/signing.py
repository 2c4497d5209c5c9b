"""How the Alibaba Cloud RPC gateway checks a request's signature (SignatureVersion 1.0).

StringToSign = METHOD + "&" + percentEncode("/") + "&" + percentEncode(CanonicalizedQueryString),
where CanonicalizedQueryString is every parameter but `Signature` (query string and form body
alike, blank values kept), sorted by name, each `percentEncode(name)=percentEncode(value)`, joined
with `&`; percentEncode is RFC 3986 (UTF-8, everything but `A-Za-z0-9-_.~` escaped, upper-case hex).
The signature is base64(HMAC-SHA1(key = AccessKeySecret + "&", StringToSign)).

Written from the documented algorithm, not taken from the SDK: the tests sign with the real SDK, so
an emulator that agreed with itself only would be caught.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import quote


def percent_encode(text: str) -> str:
    return quote(text.encode("utf-8"), safe="-_.~")


def string_to_sign(method: str, parameters: Iterable[tuple[str, str]]) -> str:
    canonical = "&".join(f"{percent_encode(name)}={percent_encode(value)}"
                         for name, value in sorted(p for p in parameters if p[0] != "Signature"))
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical)}"


def signature(text: str, secret: str) -> str:
    digest = hmac.new(f"{secret}&".encode("utf-8"), text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
