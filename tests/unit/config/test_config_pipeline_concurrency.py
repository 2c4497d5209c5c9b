"""`max_concurrent_runs` and `on_limit` on a pipeline: checked, kept in the definition only when
set (so pipelines applied before they existed plan no change), known at plan time."""

from __future__ import annotations

PIPELINE = """\
pipeline "p" {
%s
  stage "s" {
    task "t" {
      step "x" {
        type = "command"
        run  = "true"
      }
    }
  }
}
"""


def errors_of(config) -> list[tuple[str, str]]:
    return [(d.summary, d.detail) for d in config.diagnostics.errors]


def test_definition_without_a_limit_has_no_concurrency_keys(load):
    config = load(PIPELINE % "")
    assert errors_of(config) == []
    definition = config.resources["pipeline.p"].attributes
    assert "max_concurrent_runs" not in definition and "on_limit" not in definition


def test_definition_keeps_the_limit_and_what_to_do_past_it(load):
    config = load(PIPELINE % '  max_concurrent_runs = 2\n  on_limit = "cancel_oldest"')
    assert errors_of(config) == []
    definition = config.resources["pipeline.p"].attributes
    assert (definition["max_concurrent_runs"], definition["on_limit"]) == (2, "cancel_oldest")


def test_limit_alone_queues_by_default(load):
    definition = load(PIPELINE % "  max_concurrent_runs = 1").resources["pipeline.p"].attributes
    assert (definition["max_concurrent_runs"], definition["on_limit"]) == (1, "queue")


def test_limit_below_one_is_refused_at_its_line(load):
    config = load(PIPELINE % "  max_concurrent_runs = 0")
    assert config.diagnostics.has_errors
    [error] = config.diagnostics.errors
    assert error.range.line == 2 and "max_concurrent_runs" in error.detail


def test_unknown_on_limit_is_refused(load):
    config = load(PIPELINE % '  max_concurrent_runs = 1\n  on_limit = "drop"')
    [error] = config.diagnostics.errors
    assert error.range.line == 3 and "queue" in error.detail


def test_limit_from_a_run_time_value_is_refused(load):
    config = load(PIPELINE % '  max_concurrent_runs = run.variables.n')
    assert [d.summary for d in config.diagnostics.errors] == ["Value needed before the run"]
