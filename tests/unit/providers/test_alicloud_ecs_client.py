"""The ECS client against the emulator: refused credentials fail at once with one clear message and
one request; throttling and 5xx are retried with bounded backoff; other errors are not retried;
an unreachable endpoint is an error, not a traceback."""

from __future__ import annotations

import socket

import pytest

import aliyun_fixtures as fx
from flowplan_providers.alicloud.ecs import Backoff, CredentialsRefused, EcsClient, EcsError
from flowplan_providers.alicloud.settings import AlicloudSettings


@pytest.fixture
def ecs(tmp_path):
    with fx.emulator(tmp_path / "instances") as emulator:
        yield emulator


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_of(endpoint: str, secret: str = fx.SECRET_KEY, key: str = fx.ACCESS_KEY,
              sleeps: Sleeps | None = None, attempts: int = 5) -> EcsClient:
    settings = AlicloudSettings(fx.REGION, key, secret, endpoint)
    return EcsClient(settings, fx.REGION,
                     backoff=Backoff(attempts=attempts, sleep=sleeps if sleeps is not None
                                     else Sleeps()))


def test_describe_instances_by_ids_and_by_tags(ecs):
    client = client_of(ecs.endpoint)
    found = client.describe_instances(ids=["i-web1", "i-nope"])
    assert list(found) == ["i-web1"]
    assert (found["i-web1"].private_ip, found["i-web1"].status) == ("10.0.0.5", "Running")
    assert sorted(client.describe_instances(tags={"app": "web"})) == ["i-web1", "i-web2"]


def test_many_ids_and_instances_are_paged(ecs):
    for n in range(130):
        ecs.add_instance(fx.Instance(f"i-bulk{n:03}", fx.REGION, f"10.9.{n // 200}.{n % 200}",
                                     {"bulk": "yes"}))
    client = client_of(ecs.endpoint)
    assert len(client.describe_instances(tags={"bulk": "yes"})) == 130
    assert ecs.count("DescribeInstances") == 2
    ids = [f"i-bulk{n:03}" for n in range(130)]
    assert len(client.describe_instances(ids=ids)) == 130
    assert ecs.count("DescribeInstances") == 4
    assert len(client.cloud_assistant_status(ids)) == 130
    assert ecs.count("DescribeCloudAssistantStatus") == 3


def test_a_wrong_secret_fails_at_once_with_one_request_and_a_clear_message(ecs):
    sleeps = Sleeps()
    client = client_of(ecs.endpoint, secret="wrong-secret", sleeps=sleeps)
    with pytest.raises(CredentialsRefused) as caught:
        client.describe_instances(ids=["i-web1"])
    message = str(caught.value)
    assert message == ('Alibaba Cloud refused the credentials of the provider "alicloud" block: '
                       "secret_key is not the secret of access_key (InvalidAccessKeySecret). "
                       "Check access_key and secret_key.")
    assert "wrong-secret" not in message and fx.SECRET_KEY not in message
    assert ecs.count() == 1 and sleeps == []


def test_an_unknown_key_id_fails_at_once(ecs):
    client = client_of(ecs.endpoint, key="LTAI-unknown")
    with pytest.raises(CredentialsRefused, match="access_key is not a known AccessKey ID"):
        client.tag(["i-web1"], "k", "v")
    assert ecs.count() == 1


def test_throttling_is_retried_with_growing_bounded_delays(ecs):
    ecs.throttle(times=3)
    sleeps = Sleeps()
    found = client_of(ecs.endpoint, sleeps=sleeps).describe_instances(ids=["i-web1"])
    assert list(found) == ["i-web1"]
    assert ecs.count() == 4
    assert len(sleeps) == 3
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0 and 1.0 <= sleeps[2] <= 2.0


def test_throttling_that_does_not_end_gives_up_after_the_attempts(ecs):
    ecs.throttle(times=100, status=429)
    sleeps = Sleeps()
    with pytest.raises(EcsError) as caught:
        client_of(ecs.endpoint, sleeps=sleeps).describe_instances(ids=["i-web1"])
    assert caught.value.code == "Throttling.User"
    assert "still after 5 attempts" in str(caught.value)
    assert ecs.count() == 5 and len(sleeps) == 4 and max(sleeps) <= 8.0


def test_server_errors_are_retried_and_other_errors_are_not(ecs):
    ecs.fail(times=1, status=503)
    client = client_of(ecs.endpoint)
    assert list(client.describe_instances(ids=["i-web2"])) == ["i-web2"]
    assert ecs.count() == 2
    with pytest.raises(EcsError) as caught:
        client.tag(["i-nope"], "k", "v")
    assert caught.value.code == "InvalidResourceId.NotFound"
    assert "TagResources in cn-hangzhou failed" in str(caught.value)
    assert ecs.count("TagResources") == 1


def test_an_endpoint_nobody_listens_at_is_an_error_after_bounded_attempts():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    with pytest.raises(EcsError, match=f"cannot reach http://127.0.0.1:{port}"):
        client_of(f"http://127.0.0.1:{port}", sleeps=sleeps,
                  attempts=3).describe_instances(ids=["i-web1"])
    assert len(sleeps) == 2


def test_settings_never_show_their_keys():
    settings = AlicloudSettings(fx.REGION, fx.ACCESS_KEY, fx.SECRET_KEY, "http://127.0.0.1:1")
    assert fx.SECRET_KEY not in repr(settings) and fx.ACCESS_KEY not in repr(settings)
