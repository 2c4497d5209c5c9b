"""The slice of OpenAPI kubectl needs.

- v3 (kubectl >= 1.27): `/openapi/v3` lists a document per group version, and each document
  has, for every kind, the object path whose PATCH operation carries
  `x-kubernetes-group-version-kind` and the `fieldValidation` and `dryRun` query parameters.
  kubectl reads that to learn that the server validates fields itself (then it sends
  `fieldValidation=Strict` instead of validating against schemas).
- v2 (older kubectl, e.g. Debian's 1.20): `/openapi/v2`, as JSON or as the gnostic protobuf
  kubectl asks for, a document without definitions; kubectl skips client-side validation of
  kinds the document does not define.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .discovery import RESOURCE_TYPES, group_versions

QUERY_PARAMETERS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _document_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def document(path: str) -> dict[str, Any] | None:
    """The document for "api/v1" or "apis/apps/v1", or None."""
    paths: dict[str, Any] = {}
    for resource_type in RESOURCE_TYPES:
        if _document_path(resource_type.group, resource_type.version) != path:
            continue
        prefix = f"/{path}/namespaces/{{namespace}}" if resource_type.namespaced else f"/{path}"
        gvk = {"group": resource_type.group, "version": resource_type.version,
               "kind": resource_type.kind}
        parameters = [{"name": name, "in": "query", "schema": {"type": "string"},
                       "uniqueItems": True} for name in QUERY_PARAMETERS]
        paths[f"{prefix}/{resource_type.plural}/{{name}}"] = {"patch": {
            "operationId": f"patch{resource_type.kind}",
            "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk,
            "parameters": parameters,
            "responses": {"200": {"description": "OK"}}}}
    if not paths:
        return None
    return {"openapi": "3.0.0",
            "info": {"title": "Kubernetes (flowplan emulator)", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": {}}}


def root() -> dict[str, Any]:
    listed = {}
    for group, versions in group_versions().items():
        for version in versions:
            path = _document_path(group, version)
            digest = hashlib.sha256(json.dumps(document(path)).encode()).hexdigest()[:16].upper()
            listed[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": listed}


def v2_json() -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": {}, "definitions": {}}


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2); the lengths here stay under 128."""
    return bytes([number << 3 | 2, len(payload)]) + payload


def v2_protobuf() -> bytes:
    """gnostic's openapi_v2.Document: swagger (1), info (2: title 1, version 2), paths (8)."""
    info = _field(1, b"Kubernetes") + _field(2, b"v1.32.0")
    return _field(1, b"2.0") + _field(2, info) + _field(8, b"")
