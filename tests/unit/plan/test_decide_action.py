"""decide_action as a table: (prior, planned, requires_replace, replace_requested) → action and reason."""

import pytest

from flowplan.plan import Action, decide_action

UNKNOWN = {"$unknown": "known after apply"}
SECRET = {"$sensitive": "sha256:ab12:0f0f"}
OTHER_SECRET = {"$sensitive": "sha256:cd34:1e1e"}
REPO = {"namespace": "team", "name": "app", "visibility": "private"}

CASES = [
    # id, prior, planned, requires_replace, replace_requested, action, reason
    ("create_when_not_in_state", None, REPO, (), False,
     Action.CREATE, "create because not in state"),
    ("create_even_when_replace_requested", None, REPO, ("name",), True,
     Action.CREATE, "create because not in state"),
    ("delete_when_no_longer_in_config", REPO, None, (), False,
     Action.DELETE, "delete because no longer in config"),
    ("delete_even_when_replace_requested", REPO, None, (), True,
     Action.DELETE, "delete because no longer in config"),
    ("noop_when_equal", REPO, dict(REPO), ("name",), False,
     Action.NOOP, "no changes"),
    ("noop_when_same_sensitive_digest", {**REPO, "secret": SECRET}, {**REPO, "secret": dict(SECRET)},
     (), False, Action.NOOP, "no changes"),
    ("noop_when_both_unknown", {"id": UNKNOWN}, {"id": dict(UNKNOWN)}, (), False,
     Action.NOOP, "no changes"),
    ("replace_when_requested_on_unchanged", REPO, dict(REPO), (), True,
     Action.REPLACE, "replace as requested"),
    ("replace_when_requested_on_changed", REPO, {**REPO, "visibility": "public"}, (), True,
     Action.REPLACE, "replace as requested"),
    ("replace_when_forcing_attribute_changes", REPO, {**REPO, "namespace": "ops"}, ("namespace",),
     False, Action.REPLACE, "replace because namespace changed"),
    ("replace_names_every_forcing_attribute_in_given_order", REPO,
     {**REPO, "namespace": "ops", "name": "svc"}, ("namespace", "name"), False,
     Action.REPLACE, "replace because namespace, name changed"),
    ("replace_only_names_forcing_attributes_that_changed", REPO,
     {**REPO, "namespace": "ops", "visibility": "public"}, ("name", "namespace"), False,
     Action.REPLACE, "replace because namespace changed"),
    ("replace_when_forcing_attribute_becomes_unknown", REPO, {**REPO, "name": UNKNOWN}, ("name",),
     False, Action.REPLACE, "replace because name changed"),
    ("replace_when_forcing_nested_attribute_changes",
     {"source": {"url": "a", "branch": "main"}}, {"source": {"url": "b", "branch": "main"}},
     ("source.url",), False, Action.REPLACE, "replace because source.url changed"),
    ("update_when_forcing_attribute_unchanged", REPO, {**REPO, "visibility": "public"},
     ("namespace", "name"), False, Action.UPDATE, "update because visibility changed"),
    ("update_when_forcing_nested_attribute_unchanged",
     {"source": {"url": "a", "branch": "main"}}, {"source": {"url": "a", "branch": "dev"}},
     ("source.url",), False, Action.UPDATE, "update because source changed"),
    ("update_lists_top_level_attributes", {"a": 1, "b": {"c": 1}, "d": 1},
     {"a": 2, "b": {"c": 2}, "d": 1}, (), False, Action.UPDATE, "update because a, b changed"),
    ("update_counts_added_and_removed_attributes", {"a": 1, "gone": 1}, {"a": 1, "new": 1}, (),
     False, Action.UPDATE, "update because new, gone changed"),
    ("update_when_known_value_becomes_unknown", {"url": "https://x"}, {"url": UNKNOWN}, (), False,
     Action.UPDATE, "update because url changed"),
    ("update_when_sensitive_digest_differs", {"secret": SECRET}, {"secret": OTHER_SECRET}, (),
     False, Action.UPDATE, "update because secret changed"),
    ("update_when_true_becomes_one", {"flag": True}, {"flag": 1}, (), False,
     Action.UPDATE, "update because flag changed"),
    ("update_when_list_order_changes", {"events": ["push", "tag"]}, {"events": ["tag", "push"]},
     (), False, Action.UPDATE, "update because events changed"),
]


@pytest.mark.parametrize(
    "prior, planned, requires_replace, replace_requested, action, reason",
    [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_decide_action(prior, planned, requires_replace, replace_requested, action, reason):
    assert decide_action(prior, planned, requires_replace, replace_requested) == (action, reason)


def test_delete_takes_the_callers_reason_in_destroy_mode():
    assert decide_action(REPO, None, (), delete_reason="delete because destroy was requested") == (
        Action.DELETE, "delete because destroy was requested")


def test_decide_action_refuses_a_resource_that_is_nowhere():
    with pytest.raises(ValueError):
        decide_action(None, None, ())


def test_decide_action_does_not_touch_its_inputs():
    prior, planned = {"a": [1, {"b": 2}]}, {"a": [1, {"b": 3}]}
    decide_action(prior, planned, ("a",))
    assert prior == {"a": [1, {"b": 2}]} and planned == {"a": [1, {"b": 3}]}


@pytest.mark.parametrize("action, expected", [
    (Action.CREATE, ["create"]),
    (Action.UPDATE, ["update"]),
    (Action.REPLACE, ["delete", "create"]),
    (Action.DELETE, ["delete"]),
    (Action.NOOP, ["no-op"]),
])
def test_terraform_actions(action, expected):
    assert action.terraform_actions == expected
