"""The `blue_green` and `canary` blocks of kubectl_apply: what they accept and refuse, and where a
continued canary goes on (after the Nth manual pause)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flowplan_providers.kubernetes.strategies import (BlueGreen, Canary, _Canary, _with_label,
                                                      COLOUR_LABEL)


def problems(model, data) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return str(caught.value)


def test_blue_green_needs_a_service_and_keeps_nothing_old_by_default():
    assert BlueGreen.model_validate({"service": "web"}).keep_old is False
    assert "service" in problems(BlueGreen, {})
    assert "service" in problems(BlueGreen, {"service": ""})
    assert "colour" in problems(BlueGreen, {"service": "web", "colour": "red"})


@pytest.mark.parametrize("step, expected", [
    ({"weight": 0, "pause": "manual"}, "greater than or equal to 1"),
    ({"weight": 100, "pause": "manual"}, "less than or equal to 99"),
    ({"weight": 20, "pause": "soon"}, 'pause is "manual" or a duration such as 30s'),
    ({"weight": 20, "pause": "manual", "wait": 3}, "Extra inputs are not permitted"),
])
def test_a_canary_step_takes_a_weight_of_1_to_99_and_a_manual_or_timed_pause(step, expected):
    assert expected in problems(Canary, {"steps": [step]})


def test_each_canary_step_waits_for_a_pause_or_the_analysis():
    assert "canary step 2 has no pause and the canary block no analysis" in problems(
        Canary, {"steps": [{"weight": 10, "pause": "30s"}, {"weight": 50}]})
    assert Canary.model_validate({"steps": [{"weight": 50}], "analysis": "./check.sh"})
    assert "steps" in problems(Canary, {"steps": []})


class Said:
    def __init__(self):
        self.lines = []


def test_a_continued_canary_goes_on_after_the_pause_it_was_resumed_from():
    settings = Canary.model_validate({"steps": [
        {"weight": 10, "pause": "manual"}, {"weight": 30, "pause": "10s"},
        {"weight": 60, "pause": "manual"}, {"weight": 90, "pause": "manual"}]})
    canary = _Canary.__new__(_Canary)
    canary.settings, canary.count, said = settings, 4, []
    canary.say = said.append
    assert [canary._first_step(n) for n in range(5)] == [0, 1, 3, 4, 4]
    assert said[0] == "resumed after canary step 1 of 4"


def test_a_coloured_copy_changes_name_labels_selector_and_pods_but_not_the_manifest():
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "web", "resourceVersion": "7", "managedFields": []},
                  "spec": {"selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}}}},
                  "status": {"replicas": 1}}
    green = _with_label(deployment, "web-green", COLOUR_LABEL, "green")
    assert green["metadata"] == {"name": "web-green", "labels": {COLOUR_LABEL: "green"}}
    assert green["spec"]["selector"]["matchLabels"] == {"app": "web", COLOUR_LABEL: "green"}
    assert green["spec"]["template"]["metadata"]["labels"] == {"app": "web",
                                                               COLOUR_LABEL: "green"}
    assert "status" not in green and deployment["metadata"]["name"] == "web"
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "web"}


def test_odd_answers_of_the_server_read_as_nothing_rather_than_failing():
    from flowplan_providers.kubernetes.strategies import _images, _replicas, _selector

    assert _selector(None) == {} and _selector({"spec": {"selector": None}}) == {}
    assert _selector({"spec": "text"}) == {} and _selector({"spec": {"selector": [1]}}) == {}
    assert [_replicas({"spec": {"replicas": v}}) for v in ("3", True, -1, None, 4)] == \
        [1, 1, 1, 1, 4]
    assert _images({"spec": {"template": "x"}}) == []
    assert _images({"spec": {"template": {"spec": {"containers": [{"image": "a"}, 3]}}}}) \
        == ["a"]
    assert _images({"spec": {"template": {"spec": {"containers": "b"}}}}) == []


STEP = """
pipeline "app" {
  stage "deploy" {
    task "cluster" {
      step "apply" {
        type      = "kubectl_apply"
        cluster   = { kubeconfig = "/k/config", context = "emulator" }
        manifests = "k8s"
BODY
      }
    }
  }
}
"""


@pytest.mark.parametrize("body, expected", [
    ('strategy = "canary"', 'strategy = "canary" needs a canary { steps = [{ weight = 20, '
                            'pause = "manual" }] } block'),
    ('blue_green {\n  service = "web"\n}', 'a blue_green block goes with strategy = '
                                           '"blue_green", not "rolling"'),
    ('strategy = "blue_green"\nreplace = true\nblue_green {\n  service = "web"\n}',
     'replace = true goes with the rolling strategy, not "blue_green"'),
    ('strategy = "canary"\ncanary {\n  steps = [{ weight = 120, pause = "manual" }]\n}',
     "less than or equal to 99"),
    ('strategy = "canary"\ncanary {\n  steps = [{ weight = 20, pause = "later" }]\n}',
     'pause is "manual" or a duration such as 30s or 5m, not \'later\' (at 0.pause)'),
])
def test_a_strategy_block_that_does_not_fit_is_reported_where_the_config_says_it(
        tmp_path, body, expected):
    from inline import InlineConfigError, inline_config

    with pytest.raises(InlineConfigError) as caught:
        inline_config(tmp_path, STEP.replace("BODY", body))
    rendered = caught.value.rendered
    assert expected in " ".join(rendered.split()), rendered
    assert "main.hcl:" in rendered


def test_a_coloured_copy_of_a_manifest_with_null_maps_gets_maps():
    odd = {"kind": "Deployment", "metadata": {"name": "web", "labels": None},
           "spec": {"selector": None, "template": {"metadata": "x"}}}
    blue = _with_label(odd, "web-blue", COLOUR_LABEL, "blue")
    assert blue["metadata"]["labels"] == {COLOUR_LABEL: "blue"}
    assert blue["spec"]["selector"] == {"matchLabels": {COLOUR_LABEL: "blue"}}
    assert blue["spec"]["template"]["metadata"] == {"labels": {COLOUR_LABEL: "blue"}}
