"""The artifact server against hostile callers: a granted file is served once to its exact URL;
wrong, forged, reused and expired tokens, traversal, listing, other methods and oversized requests
all get nothing, and the same nothing."""

from __future__ import annotations

import http.client
import os
import socket
import time

import pytest

from flowplan.artifact_server import (ArtifactServer, ArtifactServerError, parse_artifact_url,
                                      shared)

CONTENT = b"jar bytes " * 5000


@pytest.fixture
def artifact(tmp_path):
    path = tmp_path / "package.tgz"
    path.write_bytes(CONTENT)
    return path


@pytest.fixture
def server():
    with ArtifactServer("http://127.0.0.1:0") as running:
        yield running


def fetch(url: str, method: str = "GET", path: str | None = None,
          headers: dict | None = None) -> tuple[int, bytes]:
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    target = path if path is not None else "/" + url.split("//", 1)[1].split("/", 1)[1]
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, target, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def test_a_granted_file_is_served_once_then_its_url_is_gone(server, artifact):
    grant = server.grant(artifact)
    assert grant.url.startswith(server.url + "/a/")
    assert fetch(grant.url) == (200, CONTENT)
    assert fetch(grant.url) == (404, b"Not Found\n")
    assert server.served == 1


def test_a_grant_for_several_uses_serves_that_many(server, artifact):
    grant = server.grant(artifact, uses=2)
    assert fetch(grant.url)[0] == 200
    assert fetch(grant.url)[0] == 200
    assert fetch(grant.url)[0] == 404


def test_wrong_forged_and_truncated_tokens_get_the_same_404(server, artifact):
    grant = server.grant(artifact)
    grant_id, secret = grant.url.rsplit("/", 2)[-2:]
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    answers = {fetch(server.url, path=path) for path in (
        f"/a/{grant_id}/{flipped}",                       # wrong secret
        f"/a/{'0' * 16}/{secret}",                        # the secret under another id
        f"/a/{grant_id}/{secret[:-1]}",                   # truncated
        f"/a/{grant_id}/{secret}x",                       # extended
        f"/a/{grant_id}/{secret}?download=1",             # a query string
        f"/a/{grant_id.upper()}/{secret}",
    )}
    assert answers == {(404, b"Not Found\n")}
    assert fetch(grant.url) == (200, CONTENT)            # the failures did not use it up


@pytest.mark.parametrize("path", [
    "/", "/a/", "/a", "/package.tgz", "/../../../../etc/passwd", "/a/../etc/passwd",
    "/a/%2e%2e/%2e%2e/etc/passwd", "//etc/passwd", "/a/0123456789abcdef/" + "../" * 15,
    "/" + "A" * 5000,
])
def test_paths_never_reach_the_filesystem_nor_list_anything(server, artifact, path):
    server.grant(artifact)
    status, body = fetch(server.url, path=path)
    assert (status, body) == (404, b"Not Found\n")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"])
def test_only_get_is_served(server, artifact, method):
    grant = server.grant(artifact)
    status, _ = fetch(grant.url, method=method)
    assert status == 405
    assert fetch(grant.url)[0] == 200                    # and the grant is still there


def test_an_expired_grant_and_a_revoked_one_are_gone(server, artifact):
    expired = server.grant(artifact, expires=0.01)
    time.sleep(0.05)
    assert fetch(expired.url)[0] == 404
    revoked = server.grant(artifact)
    server.revoke(revoked)
    assert fetch(revoked.url)[0] == 404


def test_closing_the_server_ends_every_grant(artifact):
    server = ArtifactServer("http://127.0.0.1:0").start()
    grant = server.grant(artifact)
    server.close()
    with pytest.raises(OSError):
        fetch(grant.url)


def test_the_file_served_is_the_one_opened_when_granted(server, artifact, tmp_path):
    grant = server.grant(artifact)
    replacement = tmp_path / "evil"
    replacement.write_bytes(b"evil")
    os.replace(replacement, artifact)                    # swapped after the grant
    assert fetch(grant.url) == (200, CONTENT)


def test_symbolic_links_directories_and_missing_files_are_not_granted(server, artifact,
                                                                     tmp_path):
    link = tmp_path / "link.tgz"
    link.symlink_to(artifact)
    for path in (link, tmp_path, tmp_path / "missing.tgz"):
        with pytest.raises(ArtifactServerError):
            server.grant(path)


def test_an_oversized_request_line_is_refused(server, artifact):
    grant = server.grant(artifact)
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1]))) as raw:
        raw.sendall(b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.recv(64).startswith(b"HTTP/1.1 414")
    assert fetch(grant.url)[0] == 200


def test_a_header_flood_gets_431(server, artifact):
    grant = server.grant(artifact)
    flood = {f"X-{i}": "y" for i in range(150)}
    assert fetch(grant.url, headers=flood)[0] == 431


def test_a_client_that_sends_nothing_is_dropped(artifact):
    with ArtifactServer("http://127.0.0.1:0", timeout=0.3) as server:
        grant = server.grant(artifact)
        with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1]))) as idle:
            idle.settimeout(5)
            assert idle.recv(10) == b""                  # closed by the server
        assert fetch(grant.url)[0] == 200


def test_the_url_setting_must_be_http_host_port():
    assert parse_artifact_url("http://10.0.0.2:8400") == ("10.0.0.2", 8400)
    for bad in ("https://10.0.0.2:8400", "http://10.0.0.2", "http://10.0.0.2:8400/x",
                "10.0.0.2:8400", "http://user@10.0.0.2:8400", "http://10.0.0.2:99999"):
        with pytest.raises(ArtifactServerError):
            parse_artifact_url(bad)


def test_deploys_of_one_process_share_the_server_of_one_address(artifact):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with shared(url) as first:
        with shared(url) as second:
            assert first.server is second.server
            grant = second.grant(artifact)
        assert fetch(grant.url)[0] == 404                # revoked when its user left
        assert fetch(first.grant(artifact).url)[0] == 200
    with pytest.raises(OSError):                         # the last user closed it
        fetch(f"{url}/a/x")


def test_an_address_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ArtifactServerError, match=f"cannot listen at 127.0.0.1:{port}"):
            ArtifactServer(f"http://127.0.0.1:{port}")
