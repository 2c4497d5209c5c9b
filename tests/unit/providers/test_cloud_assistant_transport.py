"""The Cloud Assistant transport running real commands through the ECS emulator: uploads fetched
from the artifact server with their checksum checked, output streamed, exit codes, environment and
user, timeout and cancel stopping the invocation, probes, and refused credentials."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

import aliyun_fixtures as fx
from flowplan_providers.alicloud.cloud_assistant import CloudAssistantTransport, Poll
from flowplan_providers.alicloud.ecs import Backoff
from flowplan_providers.alicloud.settings import AlicloudSettings
from flowplan_providers.flowplan.deploy.transport import Target, TransportError
from tests.emulators.aliyun import Instance

FAST = Poll(first=0.05, factor=1.5, ceiling=0.2, stop_wait=5)


@pytest.fixture
def ecs(tmp_path):
    with fx.emulator(tmp_path / "instances") as emulator:
        yield emulator


@pytest.fixture
def transport(ecs):
    settings = AlicloudSettings(fx.REGION, fx.ACCESS_KEY, fx.SECRET_KEY, ecs.endpoint)
    with CloudAssistantTransport(settings, "http://127.0.0.1:0", poll=FAST) as opened:
        yield opened


@pytest.fixture
def artifact(tmp_path):
    path = tmp_path / "package.tgz"
    path.write_bytes(b"\x1f\x8b package " * 4096)
    return path


def target(instance: str = "i-web1", user: str = "root") -> Target:
    return Target(instance, "ecs", user=user, instance_id=instance, region=fx.REGION)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Output:
    def __init__(self):
        self.chunks: list[tuple[str, bytes]] = []

    def __call__(self, stream: str, data: bytes) -> None:
        self.chunks.append((stream, data))

    @property
    def text(self) -> str:
        return b"".join(data for _, data in self.chunks).decode()


def run(session, command: str, *, env=None, timeout: float | None = 30, cancel=None,
        user=None) -> tuple[int, Output]:
    output = Output()
    code = session.run(command, env=env or {}, on_output=output, timeout=timeout,
                       cancel=cancel or threading.Event(), user=user)
    return code, output


def test_upload_serves_the_artifact_once_and_the_instance_checks_and_places_it(
        ecs, transport, artifact):
    session = transport.connect(target())
    placed = session.upload(artifact, "app/package.tgz", sha256(artifact))
    home = ecs.home("i-web1")
    assert placed == str((home / "app" / "package.tgz").resolve())
    assert (home / "app" / "package.tgz").read_bytes() == artifact.read_bytes()
    assert [p.name for p in (home / "app").iterdir()] == ["package.tgz"]   # no partial files
    server = transport._served.server
    assert server.served == 1
    command = next(r for r in ecs.requests if r.action == "RunCommand")
    assert command.parameters["ContentEncoding"] == "Base64"


def test_an_absolute_destination_is_used_as_given(ecs, transport, artifact):
    session = transport.connect(target())
    destination = ecs.home("i-web2").parent / "outside-home" / "package.tgz"
    placed = transport.connect(target("i-web2")).upload(artifact, str(destination),
                                                        sha256(artifact))
    assert placed == str(destination) and destination.read_bytes() == artifact.read_bytes()
    session.close()


def test_a_checksum_mismatch_fails_the_upload_and_leaves_nothing(ecs, transport, artifact):
    session = transport.connect(target())
    with pytest.raises(TransportError) as caught:
        session.upload(artifact, "app/package.tgz", "0" * 64)
    assert str(caught.value) == "i-web1: upload of app/package.tgz failed: checksum mismatch"
    assert list((ecs.home("i-web1") / "app").iterdir()) == []


def test_an_upload_url_cannot_be_fetched_twice(ecs, transport, artifact):
    session = transport.connect(target())
    session.upload(artifact, "one.tgz", sha256(artifact))
    script = next(r for r in ecs.requests if r.action == "RunCommand").parameters
    import base64

    content = base64.b64decode(script["CommandContent"]).decode()
    url = next(line.split("=", 1)[1].strip("'") for line in content.splitlines()
               if line.startswith("url="))
    code, output = run(session, f"curl -fsS -o again.tgz '{url}'")
    assert code == 22 and not (ecs.home("i-web1") / "again.tgz").exists()


def test_uploads_without_artifact_url_or_a_file_are_clear_errors(ecs, artifact):
    settings = AlicloudSettings(fx.REGION, fx.ACCESS_KEY, fx.SECRET_KEY, ecs.endpoint)
    with CloudAssistantTransport(settings, None, poll=FAST) as bare:
        with pytest.raises(TransportError, match="needs `artifact_url` in the flowplan block"):
            bare.connect(target()).upload(artifact, "x.tgz", sha256(artifact))
    with CloudAssistantTransport(settings, "http://127.0.0.1:0", poll=FAST) as served:
        with pytest.raises(TransportError, match="cannot serve .*missing.tgz"):
            served.connect(target()).upload(artifact.parent / "missing.tgz", "x.tgz", "0" * 64)


def test_run_streams_output_returns_exit_codes_and_passes_environment_and_user(
        ecs, transport):
    session = transport.connect(target(user="admin"))
    code, output = run(session, 'echo "to $TARGET"; echo warn >&2; exit 7',
                       env={"TARGET": "it's daily"})
    assert code == 7
    assert output.text == "to it's daily\nwarn\n"
    code, _ = run(session, "true", user="deploy")
    assert code == 0
    users = [r.parameters.get("Username") for r in ecs.requests if r.action == "RunCommand"]
    assert users == ["admin", "deploy"]


def test_output_arrives_while_the_command_runs(ecs, transport):
    session = transport.connect(target())
    seen_at: list[float] = []
    start = time.monotonic()

    def on_output(stream, data):
        seen_at.append(time.monotonic() - start)

    code = session.run("echo first; sleep 1.5; echo second", env={}, on_output=on_output,
                       timeout=30, cancel=threading.Event())
    assert code == 0 and len(seen_at) == 2 and seen_at[0] < 1.4 <= seen_at[1]


def test_a_timeout_stops_the_invocation(ecs, transport):
    session = transport.connect(target())
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        run(session, "sleep 30; touch late", timeout=1)
    assert str(caught.value) == "i-web1: the command timed out after 1 s and was stopped"
    assert time.monotonic() - started < 8
    assert ecs.count("StopInvocation") == 1
    invocation = next(iter(ecs.invocations.values()))
    assert invocation.records["i-web1"].status == "Stopped"
    assert not (ecs.home("i-web1") / "late").exists()


def test_cancel_stops_the_invocation(ecs, transport):
    session = transport.connect(target())
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    with pytest.raises(TransportError, match="cancelled and stopped"):
        run(session, "sleep 30", timeout=None, cancel=cancel)
    assert ecs.count("StopInvocation") == 1


def test_probe_tells_why_an_instance_cannot_be_reached(ecs, transport):
    ecs.add_instance(Instance("i-stopped", fx.REGION, "10.0.0.20", status="Stopped"))
    ecs.add_instance(Instance("i-noagent", fx.REGION, "10.0.0.21", cloud_assistant=False))
    assert transport.probe(target()).reachable
    assert transport.probe(target("i-nope")).problem == "i-nope: no such ECS instance in " \
                                                        "cn-hangzhou"
    assert transport.probe(target("i-stopped")).problem == \
        "i-stopped: the instance is Stopped, not Running"
    assert transport.probe(target("i-noagent")).problem == \
        "i-noagent: its Cloud Assistant agent is not online"
    with pytest.raises(TransportError, match="i-nope: no such ECS instance"):
        transport.connect(target("i-nope"))


def test_refused_credentials_are_one_clear_error_and_one_request(ecs):
    settings = AlicloudSettings(fx.REGION, fx.ACCESS_KEY, "wrong", ecs.endpoint)
    with CloudAssistantTransport(settings, "http://127.0.0.1:0", poll=FAST,
                                 backoff=Backoff(sleep=lambda s: None)) as refused:
        with pytest.raises(TransportError) as caught:
            refused.connect(target())
    assert "refused the credentials" in str(caught.value) and "wrong" not in str(caught.value)
    assert ecs.count() == 1


def test_throttled_polling_is_retried_and_the_command_still_completes(ecs, transport):
    session = transport.connect(target())
    ecs.throttle(times=2, action="DescribeInvocationResults")
    transport.client(fx.REGION).backoff = Backoff(first=0.01)
    code, output = run(session, "echo done")
    assert code == 0 and output.text == "done\n"
    assert any(r.code == "Throttling.User" for r in ecs.requests)
