"""The parse cache under .flowplan/cache/parse: hits on unchanged files, misses on any byte change,
and never holds a file that may contain a secret."""

from __future__ import annotations

import pytest

import flowplan.config.files as config_files
import flowplan.config.syntax as syntax

CONFIG = 'source "app" {\n  url = "https://example.com/app.git"\n}\n'
CACHE = ".flowplan/cache/parse"


def cache_entries(directory) -> list:
    root = directory / CACHE
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def parse_calls(monkeypatch):
    """Record every file parsed from text; `parse_calls.fail = True` makes parsing raise."""

    class Calls(list):
        fail = False

    calls = Calls()
    real = syntax.parse_text

    def recording(path, text):
        if calls.fail:
            raise AssertionError(f"{path} was parsed although it should come from the cache")
        calls.append(path)
        return real(path, text)

    # files.py imported parse_text by name, so patch both the module and its importer.
    monkeypatch.setattr(syntax, "parse_text", recording)
    monkeypatch.setattr(config_files, "parse_text", recording)
    return calls


def test_patched_parser_is_the_one_loading_uses(load, parse_calls):
    parse_calls.fail = True
    with pytest.raises(AssertionError, match="main.hcl was parsed"):
        load(CONFIG)


def test_second_load_reads_the_tree_from_the_cache(load, config_dir, parse_calls):
    first = load(CONFIG)
    assert parse_calls == ["main.hcl"]
    assert len(cache_entries(config_dir)) == 1
    parse_calls.fail = True
    second = load(CONFIG)
    assert list(second.diagnostics) == []
    assert second.sources == first.sources


def test_any_byte_change_misses_the_cache(load, config_dir, parse_calls):
    load(CONFIG)
    changed = CONFIG.replace("app.git", "app.gi!")
    config = load(changed)
    assert parse_calls == ["main.hcl", "main.hcl"]
    assert config.sources["app"]["url"] == "https://example.com/app.gi!"
    assert len(cache_entries(config_dir)) == 2


def test_whitespace_change_misses_the_cache(load, parse_calls):
    load(CONFIG)
    load(CONFIG + "\n")
    assert parse_calls == ["main.hcl", "main.hcl"]


def test_only_the_changed_file_is_parsed_again(load, parse_calls):
    files = {"a.hcl": CONFIG, "b.hcl": "locals {\n  x = 1\n}\n"}
    load(files)
    assert sorted(parse_calls) == ["a.hcl", "b.hcl"]
    parse_calls.clear()
    config = load({"b.hcl": "locals {\n  x = 2\n}\n"})
    assert parse_calls == ["b.hcl"]
    assert config.locals == {"x": 2}


def test_cached_file_with_a_mistake_still_reports_it_with_its_position(load, parse_calls):
    text = 'source "app" {\n  url = "u"\n  url = "v"\n}\n'
    first = load(text)
    parse_calls.fail = True
    second = load(text)
    assert [(str(d.range), d.summary) for d in second.diagnostics] == \
        [(str(d.range), d.summary) for d in first.diagnostics] == \
        [("main.hcl:3:3", "Duplicate attribute")]


def test_load_without_cache_writes_nothing(config_dir):
    from flowplan.config.loader import load_config

    (config_dir / "main.hcl").write_text(CONFIG)
    load_config(config_dir, environ={}, use_cache=False)
    assert not (config_dir / ".flowplan").exists()


def test_file_declaring_a_sensitive_variable_with_a_default_is_never_cached(
        load, config_dir, parse_calls):
    files = {
        "secret.hcl": 'variable "token" {\n  sensitive = true\n  default = "TOPSECRET-41"\n}\n',
        "main.hcl": CONFIG,
    }
    config = load(files)
    assert config.variables["token"].value == "TOPSECRET-41"
    load(files)
    assert parse_calls.count("secret.hcl") == 2
    assert parse_calls.count("main.hcl") == 1
    entries = cache_entries(config_dir)
    assert len(entries) == 1
    for path in (config_dir / ".flowplan").rglob("*"):
        if path.is_file():
            assert b"TOPSECRET-41" not in path.read_bytes(), path


def test_variables_files_setting_a_sensitive_variable_are_never_cached(load, config_dir,
                                                                       parse_calls):
    files = {"main.hcl": 'variable "token" {\n  sensitive = true\n}\n',
             "prod.auto.fpvars": 'token = "FILESECRET-9"\n'}
    config = load(files)
    assert config.variables["token"].value == "FILESECRET-9"
    load(files)
    assert parse_calls.count("prod.auto.fpvars") == 2
    assert parse_calls.count("main.hcl") == 1
    assert len(cache_entries(config_dir)) == 1
    for path in (config_dir / ".flowplan").rglob("*"):
        if path.is_file():
            assert b"FILESECRET-9" not in path.read_bytes(), path


@pytest.mark.parametrize("text", ['region = "eu"\nnope = "SECRET-7"\n', 'region = "eu"\nx {\n}\n'])
def test_variables_files_setting_undeclared_names_or_holding_blocks_are_never_cached(
        load, config_dir, parse_calls, text):
    files = {"main.hcl": 'variable "region" {\n  default = "cn"\n}\n', "a.auto.fpvars": text}
    load(files)
    load(files)
    assert parse_calls.count("a.auto.fpvars") == 2


def test_variables_files_setting_only_plain_variables_are_cached(load, config_dir, parse_calls):
    files = {"main.hcl": 'variable "region" {\n  default = "cn"\n}\n'
                         'variable "token" {\n  sensitive = true\n}\n',
             "prod.auto.fpvars": 'region = "eu-central-1"\n'}
    assert load(files).variables["region"].value == "eu-central-1"
    assert load(files).variables["region"].value == "eu-central-1"
    assert parse_calls.count("prod.auto.fpvars") == 1
    assert len(cache_entries(config_dir)) == 2


def test_non_sensitive_variable_with_a_default_is_cached(load, config_dir):
    load('variable "region" {\n  sensitive = false\n  default = "cn-hangzhou"\n}\n')
    assert len(cache_entries(config_dir)) == 1


def test_unreadable_cache_entry_is_parsed_again(load, config_dir, parse_calls):
    load(CONFIG)
    [entry] = cache_entries(config_dir)
    entry.write_bytes(b"not a pickle")
    config = load(CONFIG)
    assert parse_calls == ["main.hcl", "main.hcl"]
    assert config.sources["app"]["url"] == "https://example.com/app.git"


@pytest.mark.skipif((__import__("os").cpu_count() or 1) < 2, reason="needs two CPUs for a pool")
def test_files_parsed_in_a_process_pool_match_files_parsed_in_process(config_dir, monkeypatch):
    from flowplan.config.loader import load_config

    files = {f"f{n}.hcl": f'source "s{n}" {{\n  url = "u{n}"\n  url = "v{n}"\n}}\n'
             for n in range(4)}
    for name, text in files.items():
        (config_dir / name).write_text(text)
    monkeypatch.setattr(config_files, "PARALLEL_THRESHOLD_BYTES", 10 ** 9)
    in_process = load_config(config_dir, environ={}, use_cache=False)
    monkeypatch.setattr(config_files, "PARALLEL_THRESHOLD_BYTES", 0)
    pooled = load_config(config_dir, environ={}, use_cache=False)
    assert pooled.sources == in_process.sources
    assert [(str(d.range), d.summary) for d in pooled.diagnostics.sorted()] == \
        [(str(d.range), d.summary) for d in in_process.diagnostics.sorted()] == \
        [(f"f{n}.hcl:3:3", "Duplicate attribute") for n in range(4)]
