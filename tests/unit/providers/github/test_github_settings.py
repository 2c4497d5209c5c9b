"""The `provider "github"` block and the delivery URL, offline: a literal or missing token, other
API addresses, unknown arguments; `<server url>/hooks/NAME` from the `server {}` settings and
which addresses GitHub cannot reach."""

from __future__ import annotations

import pytest

from flowplan.providers import ProviderBlock
from flowplan_providers.github.delivery import delivery_url, loopback, server_url
from flowplan_providers.github.settings import read_settings


def summaries(config, literal=()):
    settings, problems = read_settings(config, ProviderBlock(config, tuple(literal)))
    return settings, [(p.summary, p.attribute, p.block) for p in problems]


def test_a_token_from_a_variable_is_taken_and_the_default_api_used():
    settings, problems = summaries({"token": "ghp_x"})
    assert problems == [] and settings.base_url == "https://api.github.com"


def test_a_token_written_into_the_file_is_refused_at_its_attribute():
    settings, problems = summaries({"token": "ghp_x"}, literal=("token",))
    assert settings is None
    assert problems == [("`token` is written into the config", "token", "github")]


def test_a_missing_or_empty_token_is_an_error():
    assert summaries({})[1] == [("Missing `token`", "token", "github")]
    assert summaries({"token": " "})[1] == [("Invalid `token`", "token", "github")]
    assert summaries({"token": "a\nb"})[1] == [("Invalid `token`", "token", "github")]


@pytest.mark.parametrize("base_url", ["ftp://api.github.com", "https://user:pw@github.example",
                                      "https://api.github.com/?x=1", "api.github.com", "", 5])
def test_an_api_address_must_be_an_http_url_without_credentials(base_url):
    assert summaries({"token": "t", "base_url": base_url})[1] == [
        ("Invalid `base_url`", "base_url", "github")]


def test_an_enterprise_api_path_is_kept_without_its_trailing_slash():
    settings, _ = summaries({"token": "t", "base_url": "https://git.example.com/api/v3/"})
    assert settings.base_url == "https://git.example.com/api/v3"


def test_unknown_arguments_are_named():
    assert summaries({"token": "t", "owner": "x"})[1] == [
        ("Unsupported argument `owner`", "owner", "github")]


@pytest.mark.parametrize("settings,url", [
    (None, "http://127.0.0.1:8080/hooks/ci"),
    ({"server": None}, "http://127.0.0.1:8080/hooks/ci"),
    ({"server": {"host": "0.0.0.0", "port": 9000, "url": None}}, "http://0.0.0.0:9000/hooks/ci"),
    ({"server": {"host": "::1", "port": 80}}, "http://[::1]:80/hooks/ci"),
    ({"server": {"url": "https://ci.example.com/flowplan/"}},
     "https://ci.example.com/flowplan/hooks/ci"),
])
def test_the_delivery_url_comes_from_the_server_settings(settings, url):
    assert delivery_url(settings, "ci") == url
    assert server_url(settings) + "/hooks/ci" == url


@pytest.mark.parametrize("url,expected", [
    ("http://127.0.0.1:8080/hooks/ci", True), ("http://localhost/hooks/ci", True),
    ("http://[::1]:80/hooks/ci", True), ("http://0.0.0.0:9000/hooks/ci", True),
    ("http://127.9.9.9/hooks/ci", True), ("https://ci.example.com/hooks/ci", False),
    ("http://10.0.0.5/hooks/ci", False)])
def test_loopback_addresses_are_the_ones_github_cannot_reach(url, expected):
    assert loopback(url) is expected
