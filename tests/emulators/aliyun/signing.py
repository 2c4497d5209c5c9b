"""How the Alibaba Cloud gateway checks a request's signature: RPC style (SignatureVersion 1.0,
ECS and Container Registry Enterprise Edition) and ROA style (`Authorization: acs ID:SIGNATURE`,
the REST-like Container Registry 2016-06-07 API).

RPC:

StringToSign = METHOD + "&" + percentEncode("/") + "&" + percentEncode(CanonicalizedQueryString),
where CanonicalizedQueryString is every parameter but `Signature` (query string and form body
alike, blank values kept), sorted by name, each `percentEncode(name)=percentEncode(value)`, joined
with `&`; percentEncode is RFC 3986 (UTF-8, everything but `A-Za-z0-9-_.~` escaped, upper-case hex).
The signature is base64(HMAC-SHA1(key = AccessKeySecret + "&", StringToSign)).

ROA: StringToSign = METHOD \n Accept \n Content-MD5 \n Content-Type \n Date \n, then each
`x-acs-*` header as `name:value\n` (names lower-cased, sorted), then the resource: the path, and
when there is a query, `?` and its parameters sorted by name as `name=value` (decoded, not
percent-encoded) joined with `&`. The signature is base64(HMAC-SHA1(key = AccessKeySecret,
StringToSign)), sent as `Authorization: acs AccessKeyId:Signature`.

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


def roa_string_to_sign(method: str, headers: Iterable[tuple[str, str]], path: str,
                       query: Iterable[tuple[str, str]]) -> str:
    given = {}
    for name, value in headers:
        given.setdefault(name.lower(), value)
    lines = [method.upper(), given.get("accept", ""), given.get("content-md5", ""),
             given.get("content-type", ""), given.get("date", "")]
    canonical = "".join(f"{name}:{given[name]}\n" for name in sorted(given)
                        if name.startswith("x-acs-"))
    resource = path
    pairs = sorted(query)
    if pairs:
        resource += "?" + "&".join(f"{name}={value}" for name, value in pairs)
    return "\n".join(lines) + "\n" + canonical + resource


def roa_signature(text: str, secret: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
