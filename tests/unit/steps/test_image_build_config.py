"""`image_build` at config load and the image names it takes: literal tags and repositories are
checked where they are written (file:line:column), run-time ones by the run; a reference to an
acr_repository orders the pipeline after it; hostile names and tags are refused with messages
that quote them cut short; the command lines and the auth file keep credentials off argv."""

from __future__ import annotations

import json
import os
import stat

import pytest
from inline import InlineConfigError, inline_config

from flowplan.steps.buildah import AuthFile, Build, bud_argv, push_argv
from flowplan.steps.image_names import BadImageName, check_digest, check_tag, parse_image_name

PIPELINE = '''
provider "alicloud" {
  region = "cn-hangzhou"
}
acr_repository "app" {
  namespace = "team"
  name      = "app"
}
pipeline "app" {
  stage "build" {
    task "image" {
      step "image" {
        type       = "image_build"
        repository = %s
        tags       = %s
      }
    }
  }
}
'''


def load(tmp_path, repository: str, tags: str):
    return inline_config(tmp_path / "config", PIPELINE % (repository, tags))


def problems(tmp_path, repository: str, tags: str) -> str:
    with pytest.raises(InlineConfigError) as caught:
        load(tmp_path, repository, tags)
    return str(caught.value)


def step_of(workspace) -> dict:
    pipeline = workspace.config.resources["pipeline.app"]
    return pipeline.attributes["stages"]["build"]["tasks"]["image"]["steps"]["image"]


def test_acr_repository_reference_becomes_its_address_and_a_dependency(tmp_path):
    workspace = load(tmp_path, "acr_repository.app", '["${run.number}", "latest"]')
    assert workspace.config.resources["pipeline.app"].dependencies == ["acr_repository.app"]
    step = step_of(workspace)
    assert step["repository"] == "acr_repository.app"
    assert step["tags"][1] == "latest" and step["tags"][0]["$deferred"] == "${run.number}"
    assert step["dockerfile"] == "Dockerfile" and step["context"] == "."


def test_full_image_name_is_kept_as_written(tmp_path):
    step = step_of(load(tmp_path, '"127.0.0.1:5000/team/app"', '["1.0"]'))
    assert step["repository"] == "127.0.0.1:5000/team/app"


def test_literal_bad_tag_is_located_at_the_tags_attribute(tmp_path):
    text = problems(tmp_path, '"127.0.0.1:5000/team/app"', '["ok", "bad tag"]')
    assert "main.hcl:14:22: error: Invalid value" in text
    assert "tag 'bad tag' is not a valid tag" in text


def test_literal_bad_tag_next_to_a_run_time_one_is_located_at_the_step(tmp_path):
    text = problems(tmp_path, '"127.0.0.1:5000/team/app"', '["${run.number}", "-bad"]')
    assert "main.hcl:11:7: error: Invalid step" in text
    assert "tag '-bad' is not a valid tag" in text


@pytest.mark.parametrize("repository, expected", [
    ('"team/app"', "does not start with a registry host"),
    ('"127.0.0.1:5000/team/app:1.0"', "carries a tag"),
    ('"127.0.0.1:5000/Team/app"', "path component 'Team' is not valid"),
    ('"127.0.0.1:5000/team/app@sha256:%s"' % ("a" * 64), "carries a digest"),
    ('deployment_group.x', "deployment_group.x is not declared"),
])
def test_bad_repository_is_located_at_the_attribute(tmp_path, repository, expected):
    text = problems(tmp_path, repository, '["x"]')
    assert expected in text
    assert "main.hcl:13:" in text


def test_no_tags_is_refused(tmp_path):
    assert "tags" in problems(tmp_path, '"127.0.0.1:5000/team/app"', "[]")


# -- hostile names and tags ----------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "", "/", "127.0.0.1:5000/", "127.0.0.1:5000//app", "127.0.0.1:5000/app/",
    "127.0.0.1:99999/app", "127.0.0.1:0/app", "-host.example/app", "host..example/app",
    "localhost/app\n", "localhost/app\x00", "localhost/ app", "localhost/app;rm -rf /",
    "localhost/$(id)", "localhost/app--", "localhost/" + "a/" * 200 + "b",
    "user:pw@registry.example.com/app", "registry.example.com/app:tag/more", "docker.io",
])
def test_hostile_image_names_are_refused(name):
    with pytest.raises(BadImageName) as caught:
        parse_image_name(name)
    assert len(str(caught.value)) < 400                 # quoted cut short
    assert "\n" not in str(caught.value) and "\x00" not in str(caught.value)


@pytest.mark.parametrize("name, host, path", [
    ("127.0.0.1:5000/team/app", "127.0.0.1:5000", "team/app"),
    ("localhost/app", "localhost", "app"),
    ("registry.example.com/a.b/c_d/e__f/g-h", "registry.example.com", "a.b/c_d/e__f/g-h"),
    ("cri-x-registry.cn-hangzhou.cr.aliyuncs.com/ns/repo",
     "cri-x-registry.cn-hangzhou.cr.aliyuncs.com", "ns/repo"),
])
def test_valid_image_names_are_split_into_host_and_path(name, host, path):
    parsed = parse_image_name(name)
    assert (parsed.host, parsed.path, parsed.name) == (host, path, name)


@pytest.mark.parametrize("tag", ["", ".x", "-x", "a" * 129, "a b", "a/b", "a:b", "ä", "a\n",
                                 "${run.number}", "a\x1b[31m"])
def test_hostile_tags_are_refused(tag):
    with pytest.raises(BadImageName):
        check_tag(tag)


@pytest.mark.parametrize("tag", ["1", "latest", "v1.2.3", "build-42_a", "A" * 128, "_x"])
def test_valid_tags_pass(tag):
    assert check_tag(tag) == tag


@pytest.mark.parametrize("text", ["", "sha256:", "sha256:" + "g" * 64, "md5:" + "a" * 32,
                                  "sha256:" + "a" * 63, "sha256:" + "A" * 64])
def test_digest_files_that_are_not_a_digest_are_refused(text):
    with pytest.raises(BadImageName):
        check_digest(text)


# -- command lines and the auth file ---------------------------------------------------------------

def test_command_lines_carry_no_credentials(tmp_path):
    build = Build(tmp_path / "Dockerfile", tmp_path, ["h:1/a:1", "h:1/a:latest"],
                  labels={"io.flowplan.run": "app#1"}, build_args={"BASE": "b"},
                  no_cache=True, platform="linux/amd64", image_id_file=tmp_path / "iid")
    argv = bud_argv("/usr/bin/buildah", build)
    assert argv[:6] == ["/usr/bin/buildah", "bud", "--isolation", "chroot", "--layers", "--file"]
    assert ["--tag", "h:1/a:1"] == argv[argv.index("--tag"):argv.index("--tag") + 2]
    assert "--no-cache" in argv and "linux/amd64" in argv and "BASE=b" in argv
    assert argv[-1] == str(tmp_path)
    with AuthFile(tmp_path, "s.auth.json", "h:1", "user", "s3cret-pw") as auth:
        push = push_argv("buildah", "h:1/a:1", digest_file=tmp_path / "d", auth_file=auth.path,
                         insecure=True)
        assert not any("s3cret-pw" in word for word in push)
        assert push[-2:] == ["h:1/a:1", "docker://h:1/a:1"] and "--tls-verify=false" in push
        mode = stat.S_IMODE(os.stat(auth.path).st_mode)
        assert mode == 0o600
        stored = json.loads(auth.path.read_text())
        assert list(stored["auths"]) == ["h:1"] and "s3cret-pw" not in auth.path.read_text()
        assert "s3cret" not in repr(auth)
        path = auth.path
    assert not path.exists()


def test_the_auth_file_is_removed_when_a_push_fails_midway(tmp_path):
    with pytest.raises(RuntimeError):
        with AuthFile(tmp_path, "s.auth.json", "h:1", "user", "pw") as auth:
            assert auth.path.exists()
            raise RuntimeError("push failed")
    assert list(tmp_path.iterdir()) == []


def test_anonymous_push_writes_no_auth_file(tmp_path):
    with AuthFile(tmp_path, "s.auth.json", "h:1", None, None) as auth:
        assert auth.path is None
        assert "--authfile" not in push_argv("buildah", "h:1/a:1", digest_file=tmp_path / "d",
                                             auth_file=auth.path, insecure=False)
    assert list(tmp_path.iterdir()) == []


def test_a_run_number_alone_becomes_a_tag_and_a_build_argument_as_text():
    from flowplan.steps.image_build import ImageBuildStep

    step = ImageBuildStep.model_validate({"type": "image_build", "repository": "localhost/a",
                                          "tags": [7, "x"], "build_args": {"N": 7}})
    assert step.tags == ["7", "x"] and step.build_args == {"N": "7"}
    with pytest.raises(ValueError):
        ImageBuildStep.model_validate({"type": "image_build", "repository": "localhost/a",
                                       "tags": [True]})


@pytest.mark.parametrize("url, label", [
    ("https://ci:tok3n@git.example.com/team/app.git", "https://git.example.com/team/app.git"),
    ("https://tok3n@git.example.com:8443/app.git", "https://git.example.com:8443/app.git"),
    ("/srv/git/app.git", "/srv/git/app.git"),
    ({"$deferred": "${var.url}", "sensitive": True}, None),
    (None, None),
])
def test_the_source_label_never_carries_credentials(url, label):
    from flowplan.executor.run.scheduler import _source_url

    assert _source_url({"source": {"url": url}}) == label


@pytest.mark.parametrize("attributes, expected", [
    ({"platform": "linux/amd64;id"}, "is not a platform"),
    ({"platform": "linux//amd64"}, "is not a platform"),
    ({"build_args": {"A B": "x"}}, "is not a name"),
    ({"build_args": {"1A": "x"}}, "is not a name"),
    ({"build_args": {"A=B": "x"}}, "is not a name"),
    ({"tags": ["a", "a"]}, "a tag is given twice"),
    ({"repository": "acr_repository."}, "name the acr_repository"),
])
def test_hostile_step_attributes_are_refused(attributes, expected):
    from pydantic import ValidationError

    from flowplan.steps.image_build import ImageBuildStep

    values = {"type": "image_build", "repository": "localhost/a", "tags": ["1"], **attributes}
    with pytest.raises(ValidationError) as caught:
        ImageBuildStep.model_validate(values)
    assert expected in str(caught.value)
