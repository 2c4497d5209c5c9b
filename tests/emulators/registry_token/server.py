"""A Docker token-auth server (the `auth: token` of Docker Distribution) for tests: it checks
basic credentials and hands out JWTs the registry trusts.

    service = TokenService(directory, users={"ci": "s3cret"})      # started; .stop() ends it
    service.realm                  # http://127.0.0.1:P/token, the registry's `realm`
    service.certificate            # the PEM file for the registry's `rootcertbundle`
    service.registry_config()      # the `auth: token:` lines of a registry config.yml

GET /token?service=S&scope=repository:NAME:pull,push&account=A with `Authorization: Basic`:
a known user with the right password gets a token (ES256, `kid` the libtrust key id of the
signing key, whose self-signed certificate is the registry's root bundle) whose `access` claim
grants the requested pull/push actions on each requested repository; the answer is
{"token", "access_token", "expires_in", "issued_at"}. Wrong or missing credentials get 401 (no
token for anonymous users unless `anonymous=True`, which grants pull only); a wrong service, a
malformed scope or a malformed Authorization header get 400. `requests` records what was asked
(account, service, scopes, answer status), never a password.

Standard library, plus `cryptography` for the key, the certificate and the signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

SERVICE = "flowplan-test-registry"
ISSUER = "flowplan-test-token-service"
LIFETIME = 300                                  # seconds a token is valid
ACTIONS = ("pull", "push")


@dataclass(frozen=True)
class TokenRequest:
    """One request to the token endpoint, as recorded (no password)."""

    account: str | None
    service: str | None
    scopes: tuple[str, ...]
    status: int


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """The key id Docker Distribution derives for a trusted key (libtrust's KeyID): the first
    240 bits of the SHA-256 of the DER public key, base32, in groups of four joined by ':'."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(text[i:i + 4] for i in range(0, len(text), 4))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class TokenService:
    """The token server, listening on 127.0.0.1 in a thread of this process."""

    def __init__(self, directory: Path, users: dict[str, str] | None = None, *,
                 service: str = SERVICE, issuer: str = ISSUER, anonymous: bool = False,
                 port: int = 0):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.service, self.issuer, self.anonymous = service, issuer, anonymous
        self._salt = secrets.token_bytes(16)
        self._users = {name: self._hash(password) for name, password in (users or {}).items()}
        self.requests: list[TokenRequest] = []
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.key_id = libtrust_key_id(self._key.public_key())
        self.certificate = self.directory / "token-root.crt"
        self.certificate.write_bytes(self._self_signed().public_bytes(serialization.Encoding.PEM))
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="registry-token-service")
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    def registry_config(self) -> list[str]:
        """The `auth:` section of a docker-registry config.yml that trusts this service."""
        return ["auth:", "  token:", f"    realm: {self.realm}", f"    service: {self.service}",
                f"    issuer: {self.issuer}", f"    rootcertbundle: {self.certificate}"]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "TokenService":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- tokens ---------------------------------------------------------------------------------

    def token(self, subject: str, access: list[dict]) -> str:
        """A JWT for `subject` with the `access` claim, signed ES256 with the service's key."""
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "kid": self.key_id}
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "exp": now + LIFETIME,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(16), "access": access}
        signed = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        der = self._key.sign(signed.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signed}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def _self_signed(self) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.issuer)])
        now = datetime.now(timezone.utc)
        return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self._key, hashes.SHA256()))

    def _hash(self, password: str) -> bytes:
        return hashlib.pbkdf2_hmac("sha256", password.encode(), self._salt, 1000)

    def _check(self, authorization: str | None) -> tuple[int, str | None]:
        """(status, account): 200 and the user for good credentials, None for anonymous; 401
        for wrong ones; 400 for a header that is not basic auth."""
        if authorization is None:
            return (200, None) if self.anonymous else (401, None)
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic" or not encoded or len(encoded) > 1024:
            return 400, None
        try:
            pair = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return 400, None
        name, colon, password = pair.partition(":")
        if not colon:
            return 400, None
        wanted = self._users.get(name)
        if wanted is None or not hmac.compare_digest(wanted, self._hash(password)):
            return 401, name
        return 200, name

    def answer(self, path: str, authorization: str | None) -> tuple[int, dict]:
        """The status and JSON body for GET `path` (with its query)."""
        split = urlsplit(path)
        if split.path != "/token":
            return 404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]}
        query = parse_qs(split.query, keep_blank_values=True)
        service = (query.get("service") or [None])[0]
        scopes = tuple(query.get("scope", []))
        status, account = self._check(authorization)
        access = self._access(scopes, account)
        if status == 200 and (service != self.service or access is None):
            status = 400
        self.requests.append(TokenRequest(account, service, scopes, status))
        if status == 401:
            return 401, {"errors": [{"code": "UNAUTHORIZED",
                                     "message": "authentication required"}]}
        if status == 400:
            return 400, {"errors": [{"code": "DENIED",
                                     "message": "unknown service or malformed request"}]}
        token = self.token(account or "", access or [])
        return 200, {"token": token, "access_token": token, "expires_in": LIFETIME,
                     "issued_at": datetime.now(timezone.utc).isoformat()}

    def _access(self, scopes: tuple[str, ...], account: str | None) -> list[dict] | None:
        """The `access` claim for `scopes` (None when one is malformed): the requested pull and
        push on each repository for a user, pull only for anonymous."""
        granted = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name or len(scope) > 512:
                return None
            wanted = [a for a in actions.split(",") if a in ACTIONS]
            allowed = wanted if account else [a for a in wanted if a == "pull"]
            granted.append({"type": "repository", "name": name, "actions": allowed})
        return granted

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:              # noqa: N802 - the http.server hook
                status, body = service.answer(self.path, self.headers.get("Authorization"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="flowplan-test-token"')
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass                                 # quiet: tests read `requests`

        return Handler
