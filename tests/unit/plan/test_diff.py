"""diff_attributes: one readable change per changed leaf, markers as leaves, replacement flags."""

from flowplan.plan import AttributeChange, diff_attributes

UNKNOWN = {"$unknown": "known after apply"}


def pipeline(command: str, **extra) -> dict:
    return {
        "source": "app",
        "stages": {"build": {"tasks": {"package": {"steps": {
            "mvn": {"type": "java_build", "command": command},
            "archive": {"type": "archive", "paths": ["target/app.jar", "deploy.sh"]},
        }}}}},
        **extra,
    }


def test_nested_change_is_named_by_its_dotted_path():
    changes = diff_attributes(pipeline("mvn package"), pipeline("mvn -B package"), ())
    assert changes == (AttributeChange("stages.build.tasks.package.steps.mvn.command",
                                       "mvn package", "mvn -B package", False),)


def test_list_items_are_named_by_index():
    before = {"paths": ["a", "b"]}
    after = {"paths": ["a", "c", "d"]}
    assert diff_attributes(before, after, ()) == (
        AttributeChange("paths[1]", "b", "c", False),
        AttributeChange("paths[2]", None, "d", False),
    )


def test_added_and_removed_keys_have_none_on_the_missing_side():
    changes = diff_attributes({"keep": 1, "gone": "x"}, {"keep": 1, "new": {"a": 1}}, ())
    assert changes == (AttributeChange("new", None, {"a": 1}, False),
                       AttributeChange("gone", "x", None, False))


def test_type_change_is_one_change():
    assert diff_attributes({"batches": "2"}, {"batches": 2}, ()) == (
        AttributeChange("batches", "2", 2, False),)


def test_unknown_marker_is_a_leaf_not_a_nested_key():
    changes = diff_attributes({"id": "p-1", "url": {"a": 1}}, {"id": UNKNOWN, "url": UNKNOWN}, ())
    assert changes == (AttributeChange("id", "p-1", UNKNOWN, False),
                       AttributeChange("url", {"a": 1}, UNKNOWN, False))


def test_sensitive_markers_compare_as_whole_digests():
    same = {"$sensitive": "sha256:aa:11"}
    assert diff_attributes({"secret": same, "a": 1}, {"secret": dict(same), "a": 2}, ()) == (
        AttributeChange("a", 1, 2, False),)
    other = {"$sensitive": "sha256:bb:22"}
    assert diff_attributes({"secret": same}, {"secret": other}, ()) == (
        AttributeChange("secret", same, other, False),)


def test_deferred_marker_is_a_leaf():
    before = {"env": {"TAG": {"$deferred": "run.commit", "sensitive": False}}}
    after = {"env": {"TAG": {"$deferred": "run.branch", "sensitive": False}}}
    assert diff_attributes(before, after, ()) == (
        AttributeChange("env.TAG", before["env"]["TAG"], after["env"]["TAG"], False),)


def test_changes_inside_a_forcing_attribute_force_replacement():
    before = {"pipeline": "a", "cron": "0 2 * * *", "source": {"url": "x", "branch": "main"}}
    after = {"pipeline": "b", "cron": "0 3 * * *", "source": {"url": "y", "branch": "dev"}}
    assert diff_attributes(before, after, ("pipeline", "source.url")) == (
        AttributeChange("pipeline", "a", "b", True),
        AttributeChange("cron", "0 2 * * *", "0 3 * * *", False),
        AttributeChange("source.url", "x", "y", True),
        AttributeChange("source.branch", "main", "dev", False),
    )


def test_create_and_delete_list_top_level_attributes_and_force_nothing():
    after = {"name": "app", "stages": {"build": {}}}
    assert diff_attributes(None, after, ("name",)) == (
        AttributeChange("name", None, "app", False),
        AttributeChange("stages", None, {"build": {}}, False),
    )
    assert diff_attributes(after, None, ("name",)) == (
        AttributeChange("name", "app", None, False),
        AttributeChange("stages", {"build": {}}, None, False),
    )


def test_keys_that_are_not_identifiers_are_quoted():
    changes = diff_attributes({"labels": {"team name": "a"}}, {"labels": {"team name": "b"}}, ())
    assert [c.path for c in changes] == ['labels["team name"]']


def test_changes_follow_document_order():
    before = {k: 0 for k in "zyxwv"}
    after = {k: 1 for k in "zyxwv"}
    assert [c.path for c in diff_attributes(before, after, ())] == list("zyxwv")
