"""Manifests read from the workspace, offline: files, directories and globs; hostile input
(paths and symlinks out of the workspace, malformed YAML with its file and line, huge files,
alias bombs, documents that are not objects, placeholders that name no variable); placeholder
filling that keeps types and never changes the YAML's structure; the rendered text a run keeps
without any Secret's data."""

from __future__ import annotations

import os
import textwrap

import pytest

from flowplan.executor.errors import PathEscape
from flowplan_providers.kubernetes import manifests
from flowplan_providers.kubernetes.manifests import (ManifestError, manifest_files,
                                                     parse_rendered, read_manifests,
                                                     rendered_text)

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"


@pytest.fixture
def workspace(tmp_path):
    root = tmp_path / "workspace"
    root.mkdir()
    return root


def write(root, name, text):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def load(root, pattern, variables=None):
    return read_manifests(root, manifest_files(root, pattern), variables or {})


def names(found):
    return [m.object["metadata"]["name"] for m in found]


def test_a_directory_gives_its_yaml_files_in_order_and_a_glob_reaches_subdirectories(workspace):
    write(workspace, "k8s/b.yaml", CONFIGMAP.format(name="b"))
    write(workspace, "k8s/a.yml", CONFIGMAP.format(name="a"))
    write(workspace, "k8s/notes.txt", "not a manifest")
    write(workspace, "k8s/sub/c.json", '{"apiVersion": "v1", "kind": "ConfigMap", '
                                       '"metadata": {"name": "c"}}')
    assert names(load(workspace, "k8s")) == ["a", "b"]
    assert names(load(workspace, "k8s/**/*.json")) == ["c"]
    assert names(load(workspace, "k8s/**")) == ["a", "b", "c"]
    assert names(load(workspace, "k8s/b.yaml")) == ["b"]


def test_multi_document_files_and_lists_give_every_object_with_its_line(workspace):
    write(workspace, "all.yaml", """\
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: one}
        ---
        # a comment only

        ---
        apiVersion: v1
        kind: List
        items:
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: two}}
        - {apiVersion: v1, kind: Secret, metadata: {name: three}}
        """)
    found = load(workspace, "all.yaml")
    assert names(found) == ["one", "two", "three"]
    assert [m.where for m in found] == ["all.yaml line 2", "all.yaml line 9", "all.yaml line 9"]


@pytest.mark.parametrize("pattern", ["../outside.yaml", "/etc/passwd", "~/x.yaml",
                                     "../*.yaml", "/etc/*.conf", "k8s/../../*.yaml"])
def test_paths_and_globs_out_of_the_workspace_are_refused(workspace, pattern):
    write(workspace.parent, "outside.yaml", CONFIGMAP.format(name="x"))
    with pytest.raises(PathEscape):
        manifest_files(workspace, pattern)


def test_a_symlink_out_of_the_workspace_is_refused_in_a_directory_and_a_glob(workspace):
    outside = write(workspace.parent, "secret.yaml", CONFIGMAP.format(name="x"))
    write(workspace, "k8s/ok.yaml", CONFIGMAP.format(name="ok"))
    os.symlink(outside, workspace / "k8s" / "link.yaml")
    for pattern in ("k8s", "k8s/*.yaml", "k8s/link.yaml"):
        with pytest.raises(PathEscape) as caught:
            manifest_files(workspace, pattern)
        assert "escapes" in str(caught.value)
    os.symlink(workspace.parent, workspace / "up")
    with pytest.raises(PathEscape):
        manifest_files(workspace, "up/secret.yaml")


def test_missing_and_empty_selections_say_what_they_looked_at(workspace):
    (workspace / "empty").mkdir()
    for pattern, text in (("nope.yaml", "does not exist"), ("empty", "without .yaml"),
                          ("*.yaml", "matches no file"), ("", "is empty")):
        with pytest.raises(ManifestError) as caught:
            manifest_files(workspace, pattern)
        assert text in str(caught.value)


@pytest.mark.parametrize("text, line, words", [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n", 5, "malformed YAML"),
    ("apiVersion: v1\nkind: ConfigMap\n  metadata: {}\n", 3, "malformed YAML"),
    ("apiVersion: v1\n\tkind: x\n", 2, "malformed YAML"),
    ("- a\n- b\n", 1, "not a list"),
    ("apiVersion: v1\nmetadata: {name: x}\n", 1, "has no `kind`"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}\n", 1, "generateName"),
    ("---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {labels: [a]\n  , name: x}\n", 3,
     "metadata.labels must be a mapping"),
])
def test_malformed_manifests_are_reported_with_file_and_line(workspace, text, line, words):
    (workspace / "bad.yaml").write_text(text)
    with pytest.raises(ManifestError) as caught:
        load(workspace, "bad.yaml")
    assert str(caught.value).startswith(f"bad.yaml line {line}: ")
    assert words in str(caught.value)


def test_text_that_is_not_utf8_is_reported_at_its_line(workspace):
    (workspace / "bad.yaml").write_bytes(b"apiVersion: v1\nkind: \xff\xfe\n")
    with pytest.raises(ManifestError) as caught:
        load(workspace, "bad.yaml")
    assert str(caught.value) == "bad.yaml line 2: not UTF-8 text"


def test_huge_files_and_alias_bombs_are_refused(workspace, monkeypatch):
    monkeypatch.setattr(manifests, "MAX_FILE_BYTES", 1000)
    (workspace / "big.yaml").write_text(CONFIGMAP.format(name="x") + "#" * 2000)
    with pytest.raises(ManifestError) as caught:
        load(workspace, "big.yaml")
    assert "larger than" in str(caught.value)
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        bomb.append(f"{'abcdefghij'[level]}: &{'abcdefghij'[level]} "
                    f"[{', '.join(['*' + 'abcdefghij'[level - 1]] * 10)}]")
    (workspace / "bomb.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"
                                         "data:\n" + "\n".join("  " + b for b in bomb) + "\n")
    with pytest.raises(ManifestError) as caught:
        load(workspace, "bomb.yaml")
    assert "aliases are expanded" in str(caught.value)


def test_placeholders_are_filled_keeping_types_and_never_change_the_structure(workspace):
    write(workspace, "app.yaml", """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ${NAME}
          labels: {version: "${VERSION}"}
        spec:
          replicas: ${REPLICAS}
          paused: ${PAUSED}
          template:
            spec:
              containers:
              - image: "${IMAGE}"
                args: ["--greeting=${GREETING}", "$${HOME}", "cost: $$5"]
        """)
    image = "registry.local/web@sha256:" + "0" * 64
    found = load(workspace, "app.yaml", {"NAME": "web", "VERSION": "1.2", "REPLICAS": 3,
                                         "PAUSED": False, "IMAGE": image,
                                         "GREETING": "a: b\n- c\n---\nkind: Secret"})
    (obj,) = [m.object for m in found]
    assert obj["metadata"] == {"name": "web", "labels": {"version": "1.2"}}
    assert obj["spec"]["replicas"] == 3 and obj["spec"]["paused"] is False
    container = obj["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == image
    assert container["args"] == ["--greeting=a: b\n- c\n---\nkind: Secret", "${HOME}",
                                 "cost: $$5"]


def test_a_placeholder_naming_no_variable_is_an_error_at_its_line(workspace):
    write(workspace, "app.yaml", CONFIGMAP.format(name="x") + "  b: ${IMAGE}\n  c: ${TAG}\n")
    with pytest.raises(ManifestError) as caught:
        load(workspace, "app.yaml", {"IMAGE": "x"})
    assert str(caught.value) == ("app.yaml line 8: ${TAG} names no variable of the step's "
                                 "`variables` (it has: IMAGE); write $${ for a literal ${")
    write(workspace, "app.yaml", CONFIGMAP.format(name="x") + "  b: ${steps.x.y}\n")
    with pytest.raises(ManifestError) as caught:
        load(workspace, "app.yaml", {"IMAGE": "x"})
    assert "app.yaml line 7: ${steps.x.y} is not a placeholder" in str(caught.value)


def test_the_same_object_twice_is_refused_naming_both_places(workspace):
    write(workspace, "k8s/a.yaml", CONFIGMAP.format(name="same"))
    write(workspace, "k8s/b.yaml", CONFIGMAP.format(name="same"))
    with pytest.raises(ManifestError) as caught:
        load(workspace, "k8s")
    assert str(caught.value) == ("k8s/b.yaml line 1: ConfigMap same is also defined at "
                                 "k8s/a.yaml line 1")


def test_the_rendered_text_keeps_no_secret_data_and_reads_back_without_those_secrets(workspace):
    write(workspace, "k8s/all.yaml", CONFIGMAP.format(name="cfg") + textwrap.dedent("""\
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: db}
        stringData: {password: hunter2-in-clear}
        data: {token: c2VjcmV0}
        """))
    objects = [m.object for m in load(workspace, "k8s")]
    text = rendered_text(objects)
    assert "hunter2-in-clear" not in text and "c2VjcmV0" not in text
    assert "# Secret db: its data is not kept" in text
    assert [o["metadata"]["name"] for o in parse_rendered(text)] == ["cfg"]
