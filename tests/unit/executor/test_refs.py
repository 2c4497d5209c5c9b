"""Run references as people type them: `pipeline#number`, and what is not one."""

from __future__ import annotations

import pytest

from flowplan.executor.errors import InvalidRunRef
from flowplan.executor.run.refs import MAX_RUN_NUMBER, RunRef


@pytest.mark.parametrize("text, expected", [
    ("app#3", RunRef("app", 3)),
    ("app#003", RunRef("app", 3)),
    ("a#b#4", RunRef("a#b", 4)),
    (f"app#{MAX_RUN_NUMBER}", RunRef("app", MAX_RUN_NUMBER)),
])
def test_a_run_reference_names_pipeline_and_number(text, expected):
    assert RunRef.parse(text) == expected


@pytest.mark.parametrize("text", ["app#-1", "app#0", "app#00", "app#abc", "#3", "app#", "app",
                                  "app#1 ", "app#²", "app#٣", "app#1\n", "app#+1", "app#1.0"])
def test_what_is_not_a_run_reference_says_how_to_write_one(text):
    with pytest.raises(InvalidRunRef, match=r"is not a run: write PIPELINE#NUMBER, e\.g\. app#3"):
        RunRef.parse(text)


@pytest.mark.parametrize("number", ["99999999999999999999", str(MAX_RUN_NUMBER + 1),
                                    "9" * 5000])
def test_a_number_past_what_the_store_holds_is_refused_with_the_range(number):
    with pytest.raises(InvalidRunRef, match=f"is not a run: run numbers go from 1 to "
                                            f"{MAX_RUN_NUMBER}$"):
        RunRef.parse(f"app#{number}")


def test_a_long_bad_reference_is_quoted_short_with_control_characters_escaped():
    with pytest.raises(InvalidRunRef) as refused:
        RunRef.parse("\x1b[31m" + "x" * 10_000 + "#nope")
    message = str(refused.value)
    assert len(message) < 200 and "\x1b" not in message and "(10010 characters)" in message
