"""What every transport checks before it touches a host: remote paths, variables, user names."""

from __future__ import annotations

import pytest

from flowplan_providers.flowplan.deploy.inputs import (checked_environment, checked_user,
                                                       remote_path)
from flowplan_providers.flowplan.deploy.transport import TransportError


@pytest.mark.parametrize("given, used", [
    ("app/package.tgz", "app/package.tgz"),
    ("~/app/package.tgz", "app/package.tgz"),
    ("/home/admin/app/package.tgz", "/home/admin/app/package.tgz"),
    ("./app//package.tgz", "app/package.tgz"),
    ("/srv/./app/package.tgz", "/srv/app/package.tgz"),
    ("a..b/c...tgz", "a..b/c...tgz"),
])
def test_remote_path_is_used_relative_to_home_or_absolute(given, used):
    assert remote_path(given, "web1") == used


@pytest.mark.parametrize("given, problem", [
    ("", "is empty"),
    ("../etc/passwd", "climbs out with `..`"),
    ("app/../../etc/passwd", "climbs out with `..`"),
    ("/srv/app/..", "climbs out with `..`"),
    ("app/pack\x00age", "NUL"),
    ("app/", "names a directory"),
    ("~", "names a directory"),
    ("~admin/app.tgz", "another user's home"),
    ("/", "names a directory"),
    ("x" * 5000, "longer than"),
])
def test_remote_path_is_refused_with_the_reason(given, problem):
    with pytest.raises(TransportError) as refused:
        remote_path(given, "web1")
    assert problem in str(refused.value) and str(refused.value).startswith("web1: ")


def test_environment_names_must_be_shell_variable_names():
    assert checked_environment({"APP_PORT": "8080", "_x1": "a b"}, "web1") == {
        "APP_PORT": "8080", "_x1": "a b"}
    for name in ("1X", "A-B", "A B", "", "A;rm -rf /", "PATH=x"):
        with pytest.raises(TransportError, match="not a valid environment variable name"):
            checked_environment({name: "v"}, "web1")


def test_environment_values_must_be_text_without_nul():
    with pytest.raises(TransportError, match="holds a NUL"):
        checked_environment({"A": "x\x00y"}, "web1")
    with pytest.raises(TransportError, match="not a string"):
        checked_environment({"A": 1}, "web1")


def test_user_names_that_could_be_options_or_words_are_refused():
    assert checked_user("deploy", "web1") == "deploy"
    assert checked_user("svc.app-1", "web1") == "svc.app-1"
    for user in ("-oProxyCommand=x", "a b", "a'b", "a/b", "", "x" * 65):
        with pytest.raises(TransportError, match="not a valid user name"):
            checked_user(user, "web1")
