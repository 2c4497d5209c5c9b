"""What the API server checks and fills in before it stores an object, for the emulator's kinds:
the body's shape (400 BadRequest, as a decoding error would be), names, labels, the workload
fields a rollout depends on and immutable selectors (422 Invalid with causes); and the defaults
a real cluster adds (Deployment replicas and strategy, Service type, clusterIP, port protocol
and targetPort, the Namespace's name label).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any

from .discovery import ResourceType
from .errors import bad_request, invalid

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_LABEL_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\Z")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?\Z")
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
DNS_LABEL_KINDS = {"Namespace", "Service"}


def check_shape(obj: Any) -> None:
    """Type errors a Go decoder would reject: 400, before any validation."""
    if not isinstance(obj, dict):
        raise bad_request(f"the body must be a JSON or YAML object, not {type(obj).__name__}")
    if not isinstance(obj.get("metadata", {}), dict):
        raise bad_request("metadata: expected an object")
    for section in ("spec", "data", "stringData"):
        if section in obj and obj[section] is not None and not isinstance(obj[section], dict):
            raise bad_request(f"{section}: expected an object, not {type(obj[section]).__name__}")
    metadata = obj.get("metadata", {})
    for field in ("labels", "annotations"):
        value = metadata.get(field)
        if value is not None and (not isinstance(value, dict) or not all(
                isinstance(item, str) for item in value.values())):
            raise bad_request(f"metadata.{field}: expected a map of strings")
    for field in ("name", "namespace", "generateName", "resourceVersion"):
        if field in metadata and metadata[field] is not None \
                and not isinstance(metadata[field], str):
            raise bad_request(f"metadata.{field}: expected a string")


def validate(resource_type: ResourceType, obj: dict[str, Any],
             old: dict[str, Any] | None) -> None:
    metadata = obj["metadata"]
    name = metadata.get("name") or ""
    causes: list[tuple[str, str, str]] = []
    pattern, limit = (_LABEL, 63) if resource_type.kind in DNS_LABEL_KINDS else (_SUBDOMAIN, 253)
    if not name:
        causes.append(("FieldValueRequired", "metadata.name",
                       "Required value: name or generateName is required"))
    elif not pattern.match(name) or len(name) > limit:
        causes.append(("FieldValueInvalid", "metadata.name",
                       f'Invalid value: "{name}": a lowercase RFC 1123 '
                       f'{"label" if limit == 63 else "subdomain"} must consist of lower case '
                       "alphanumeric characters, '-' or '.', and must start and end with an "
                       "alphanumeric character"))
    for key, value in (metadata.get("labels") or {}).items():
        if not _LABEL_KEY.match(key) or len(key) > 316:
            causes.append(("FieldValueInvalid", "metadata.labels",
                           f'Invalid value: "{key}": name part must consist of alphanumeric '
                           "characters, '-', '_' or '.'"))
        if not _LABEL_VALUE.match(value) or len(value) > 63:
            causes.append(("FieldValueInvalid", "metadata.labels",
                           f'Invalid value: "{value}": a valid label must be an empty string '
                           "or consist of alphanumeric characters, '-', '_' or '.' (at most "
                           "63 characters)"))
    spec = obj.get("spec") or {}
    if resource_type.kind in WORKLOADS:
        causes += _workload_causes(spec, (old or {}).get("spec") or {})
    elif resource_type.kind == "Pod":
        causes += _pod_spec_causes(spec, "spec")
    elif resource_type.kind == "Service":
        causes += _service_causes(spec)
    elif resource_type.kind == "Secret":
        for key, value in (obj.get("data") or {}).items():
            try:
                base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError):
                causes.append(("FieldValueInvalid", f"data[{key}]",
                               "Invalid value: <secret contents redacted>: illegal base64 data"))
    elif resource_type.kind == "ConfigMap":
        for key, value in (obj.get("data") or {}).items():
            if not isinstance(value, str):
                causes.append(("FieldValueInvalid", f"data[{key}]",
                               "Invalid value: configmap data values must be strings"))
    if causes:
        raise invalid(resource_type, name, causes)


def _workload_causes(spec: dict[str, Any], old_spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    causes = []
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        causes.append(("FieldValueInvalid", "spec.replicas",
                       f"Invalid value: {replicas!r}: must be greater than or equal to 0"))
    selector = spec.get("selector")
    match_labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    if not isinstance(match_labels, dict) or not match_labels:
        causes.append(("FieldValueRequired", "spec.selector", "Required value"))
    template = spec.get("template")
    if not isinstance(template, dict):
        causes.append(("FieldValueRequired", "spec.template", "Required value"))
        return causes
    labels = (template.get("metadata") or {}).get("labels") or {}
    if isinstance(match_labels, dict) and any(labels.get(key) != value
                                              for key, value in match_labels.items()):
        causes.append(("FieldValueInvalid", "spec.template.metadata.labels",
                       f"Invalid value: {labels!r}: `selector` does not match template "
                       "`labels`"))
    if old_spec and old_spec.get("selector") is not None and selector != old_spec.get("selector"):
        causes.append(("FieldValueInvalid", "spec.selector",
                       f"Invalid value: {selector!r}: field is immutable"))
    causes += _pod_spec_causes(template.get("spec"), "spec.template.spec")
    return causes


def _pod_spec_causes(spec: Any, where: str) -> list[tuple[str, str, str]]:
    if not isinstance(spec, dict):
        return [("FieldValueRequired", where, "Required value")]
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [("FieldValueRequired", f"{where}.containers", "Required value")]
    causes, names = [], set()
    for index, container in enumerate(containers):
        at = f"{where}.containers[{index}]"
        if not isinstance(container, dict):
            causes.append(("FieldValueInvalid", at, "Invalid value: expected an object"))
            continue
        name = container.get("name")
        if not isinstance(name, str) or not name:
            causes.append(("FieldValueRequired", f"{at}.name", "Required value"))
        elif name in names:
            causes.append(("FieldValueDuplicate", f"{at}.name", f'Duplicate value: "{name}"'))
        names.add(name)
        if not isinstance(container.get("image"), str) or not container.get("image"):
            causes.append(("FieldValueRequired", f"{at}.image", "Required value"))
        for field in ("ports", "env", "volumeMounts", "args", "command"):
            value = container.get(field)
            if value is not None and not isinstance(value, list):
                causes.append(("FieldValueInvalid", f"{at}.{field}",
                               f"Invalid value: expected a list, not {type(value).__name__}"))
            elif field in ("ports", "env", "volumeMounts") and any(
                    not isinstance(item, dict) for item in value or []):
                causes.append(("FieldValueInvalid", f"{at}.{field}",
                               "Invalid value: expected a list of objects"))
    return causes


def _service_causes(spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    causes = []
    if spec.get("type", "ClusterIP") not in ("ClusterIP", "NodePort", "LoadBalancer",
                                             "ExternalName"):
        causes.append(("FieldValueNotSupported", "spec.type",
                       f'Unsupported value: "{spec.get("type")}": supported values: '
                       '"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'))
    selector = spec.get("selector")
    if selector is not None and (not isinstance(selector, dict) or not all(
            isinstance(value, str) for value in selector.values())):
        causes.append(("FieldValueInvalid", "spec.selector", "Invalid value: a map of strings"))
    ports = spec.get("ports") or []
    if not isinstance(ports, list):
        return causes + [("FieldValueInvalid", "spec.ports", "Invalid value: a list")]
    for index, port in enumerate(ports):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 65536:
            causes.append(("FieldValueInvalid", f"spec.ports[{index}].port",
                           f"Invalid value: {number!r}: must be between 1 and 65535, inclusive"))
    return causes


def apply_defaults(resource_type: ResourceType, obj: dict[str, Any],
                   old: dict[str, Any] | None) -> None:
    spec = obj.get("spec")
    kind = resource_type.kind
    if kind == "Namespace":
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = \
            obj["metadata"]["name"]
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    if kind in WORKLOADS and isinstance(spec, dict):
        if kind != "DaemonSet":
            spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        if kind == "Deployment":
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {
                "maxSurge": "25%", "maxUnavailable": "25%"}})
        elif kind == "StatefulSet":
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                               "rollingUpdate": {"partition": 0}})
        elif kind == "DaemonSet":
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {
                "maxUnavailable": 1, "maxSurge": 0}})
        _default_pod_spec((spec.get("template") or {}).get("spec"))
    if kind == "Pod":
        _default_pod_spec(spec)
    if kind == "Service" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        old_ip = ((old or {}).get("spec") or {}).get("clusterIP")
        if spec["type"] != "ExternalName":
            digest = hashlib.sha256(obj["metadata"]["name"].encode()).digest()
            spec["clusterIP"] = old_ip or spec.get("clusterIP") or \
                f"10.96.{digest[0]}.{max(digest[1], 2)}"
            spec["clusterIPs"] = [spec["clusterIP"]]
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
    if kind == "Secret":
        string_data = obj.pop("stringData", None) or {}
        data = obj.setdefault("data", {}) if string_data else obj.get("data")
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj.setdefault("type", "Opaque")


def _default_pod_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for container in spec.get("containers") or []:
        if not isinstance(container, dict):
            continue
        image = str(container.get("image", ""))
        tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
        container.setdefault("imagePullPolicy", "IfNotPresent" if tagged and not image.endswith(
            ":latest") else "Always")
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")

