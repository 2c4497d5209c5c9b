"""ApiError and the `Status` objects the API server answers errors with
(https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/): the same
`reason`, `code`, message wording and `details` as kube-apiserver, so clients that read them
(`kubectl`, the Python client's ApiException) see what a real cluster would say.
"""

from __future__ import annotations

from typing import Any

from .discovery import ResourceType


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Failure", "message": self.message,
                                  "reason": self.reason, "code": self.code}
        if self.details is not None:
            answer["details"] = self.details
        return answer


def _details(resource_type: ResourceType, name: str, **more: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": resource_type.plural}
    if resource_type.group:
        details["group"] = resource_type.group
    details.update(more)
    return details


def not_found(resource_type: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource_type.qualified} "{name}" not found',
                    _details(resource_type, name))


def namespace_not_found(namespace: str) -> ApiError:
    return ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                    {"name": namespace, "kind": "namespaces"})


def already_exists(resource_type: ResourceType, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{resource_type.qualified} "{name}" already exists',
                    _details(resource_type, name))


def stale(resource_type: ResourceType, name: str) -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {resource_type.qualified} "{name}": the '
                    "object has been modified; please apply your changes to the latest version "
                    "and try again", _details(resource_type, name))


def invalid(resource_type: ResourceType, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """causes: (type, field, message), e.g. ("FieldValueRequired", "spec.selector", "Required
    value"); the message lists them the way the API server does."""
    listed = [f"{field}: {message}" for _, field, message in causes]
    text = f'{resource_type.kind} "{name}" is invalid: '
    text += listed[0] if len(listed) == 1 else "[" + ", ".join(listed) + "]"
    return ApiError(422, "Invalid", text, _details(
        resource_type, name, kind=resource_type.kind,
        causes=[{"reason": cause, "message": message, "field": field}
                for cause, field, message in causes]))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def resource_not_served() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})
