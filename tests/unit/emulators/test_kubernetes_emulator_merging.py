"""The emulator's server-side apply, patch and selector rules as pure functions: field sets and
their FieldsV1 form, associative lists merged by key, fields no longer applied removed unless
another manager owns them, strategic merge directives, JSON patch, label selector grammar."""

from __future__ import annotations

import pytest

from tests.emulators.kubernetes import fieldsets, merging
from tests.emulators.kubernetes.errors import ApiError
from tests.emulators.kubernetes.selectors import field_selector, label_selector

POD_SPEC = {"spec": {"containers": [
    {"name": "app", "image": "a:1", "env": [{"name": "MODE", "value": "x"}]},
    {"name": "side", "image": "s:1", "args": ["--a", "--b"]}]}}


def test_field_sets_key_list_items_and_keep_atomic_lists_whole():
    paths = fieldsets.field_set(POD_SPEC)
    app = (("f", "spec"), ("f", "containers"), ("k", '{"name":"app"}'))
    assert app in paths
    assert app + (("f", "env"), ("k", '{"name":"MODE"}'), ("f", "value")) in paths
    side_args = (("f", "spec"), ("f", "containers"), ("k", '{"name":"side"}'), ("f", "args"))
    assert side_args in paths                                     # atomic: one leaf
    assert fieldsets.from_fields_v1(fieldsets.to_fields_v1(paths)) == paths
    tree = fieldsets.to_fields_v1(paths)
    assert tree["f:spec"]["f:containers"]['k:{"name":"side"}'] == {
        ".": {}, "f:args": {}, "f:image": {}, "f:name": {}}
    assert fieldsets.describe(app + (("f", "image"),)) == '.spec.containers[name="app"].image'


def test_server_owned_fields_are_in_no_set():
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "status": {"x": 1},
           "metadata": {"name": "c", "uid": "u", "resourceVersion": "3", "labels": {"a": "b"}}}
    assert fieldsets.field_set(obj) == {(("f", "metadata"), ("f", "labels"), ("f", "a"))}


def apply(live, applied, manager="flowplan", force=False):
    return merging.server_side_apply(live, applied, manager=manager, force=force,
                                     api_version="v1", kind_plural="configmaps")


def config_map(**data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}


def test_apply_removes_what_its_manager_stopped_setting_but_not_what_others_own():
    live = apply(None, config_map(a="1", b="2"))
    live = apply(live, config_map(b="2", c="3"), manager="other")
    after = apply(live, config_map(a="1"))
    assert after["data"] == {"a": "1", "b": "2", "c": "3"}      # b is also "other"'s
    alone = apply(apply(None, config_map(a="1", b="2")), config_map(a="1"))
    assert alone["data"] == {"a": "1"}


def test_apply_conflicts_only_where_another_manager_owns_a_different_value():
    live = apply(None, config_map(a="1"), manager="first")
    with pytest.raises(ApiError) as conflict:
        apply(live, config_map(a="2"), manager="second")
    assert conflict.value.code == 409
    assert conflict.value.details["causes"] == [{"type": "FieldManagerConflict",
                                                 "message": 'conflict with "first"',
                                                 "field": ".data.a"}]
    forced = apply(live, config_map(a="2"), manager="second", force=True)
    assert [entry["manager"] for entry in forced["metadata"]["managedFields"]] == ["second"]


def test_apply_merges_associative_lists_by_key():
    live = {"spec": {"containers": [{"name": "app", "image": "a:1"},
                                    {"name": "side", "image": "s:1"}]}}
    merged = merging.apply_merge(live, {"spec": {"containers": [{"name": "side",
                                                                 "image": "s:2"}]}})
    assert merged["spec"]["containers"] == [{"name": "side", "image": "s:2"},
                                            {"name": "app", "image": "a:1"}]
    replaced = merging.apply_merge({"args": ["a", "b"]}, {"args": ["c"]})
    assert replaced == {"args": ["c"]}


def test_updates_move_the_fields_they_change_to_their_manager():
    live = apply(None, config_map(a="1", b="2"))
    changed = {**live, "data": {"a": "1", "b": "3"}}
    merging.record_update(live, changed, manager="kubectl-edit", api_version="v1")
    owners = {(entry["manager"], entry["operation"]): entry["fieldsV1"]
              for entry in changed["metadata"]["managedFields"]}
    assert owners[("flowplan", "Apply")] == {"f:data": {"f:a": {}}}
    assert owners[("kubectl-edit", "Update")] == {"f:data": {"f:b": {}}}


@pytest.mark.parametrize("target, patch, expected", [
    ({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}}, {"a": 1, "b": {"d": 3}}),
    ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
])
def test_merge_patch_follows_rfc_7386(target, patch, expected):
    assert merging.merge_patch(target, patch) == expected


def test_strategic_merge_patch_merges_containers_by_name_and_honours_directives():
    live = {"containers": [{"name": "app", "image": "a:1", "ports": [{"containerPort": 80}]},
                           {"name": "side", "image": "s:1"}]}
    patched = merging.strategic_merge_patch(live, {
        "$setElementOrder/containers": [{"name": "app"}],
        "containers": [{"name": "app", "image": "a:2"}, {"name": "side", "$patch": "delete"}]})
    assert patched == {"containers": [{"name": "app", "image": "a:2",
                                       "ports": [{"containerPort": 80}]}]}
    replaced = merging.strategic_merge_patch({"selector": {"app": "web", "colour": "blue"}},
                                             {"selector": {"$patch": "replace", "app": "web"}})
    assert replaced == {"selector": {"app": "web"}}


def test_json_patch_operations():
    document = {"spec": {"replicas": 1, "items": ["a"]}}
    patched = merging.json_patch(document, [
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/spec/items/-", "value": "b"},
        {"op": "copy", "from": "/spec/replicas", "path": "/spec/copied"},
        {"op": "remove", "path": "/spec/items/0"}])
    assert patched == {"spec": {"replicas": 3, "items": ["b"], "copied": 3}}
    assert document == {"spec": {"replicas": 1, "items": ["a"]}}
    with pytest.raises(ApiError) as failed:
        merging.json_patch(document, [{"op": "test", "path": "/spec/replicas", "value": 2}])
    assert failed.value.code == 422


@pytest.mark.parametrize("selector, labels, matches", [
    ("app=web", {"app": "web"}, True),
    ("app==web,tier!=db", {"app": "web", "tier": "db"}, False),
    ("tier in (a, b)", {"tier": "b"}, True),
    ("tier notin (a,b)", {}, True),
    ("colour", {"colour": ""}, True),
    ("!colour", {"colour": "blue"}, False),
    ("example.com/team=x", {"example.com/team": "x"}, True),
])
def test_label_selectors(selector, labels, matches):
    assert label_selector(selector)({"metadata": {"labels": labels}}) is matches


@pytest.mark.parametrize("selector", ["app=web=x", "a b=c", "app in (x", "=web"])
def test_malformed_label_selectors_are_400(selector):
    with pytest.raises(ApiError) as refused:
        label_selector(selector)
    assert refused.value.code == 400


def test_field_selectors_support_name_namespace_and_phase_only():
    obj = {"metadata": {"name": "a", "namespace": "n"}, "status": {"phase": "Running"}}
    assert field_selector("metadata.name=a,status.phase!=Pending")(obj)
    with pytest.raises(ApiError) as refused:
        field_selector("spec.nodeName=x")
    assert "field label not supported" in refused.value.message
