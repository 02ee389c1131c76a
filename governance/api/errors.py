"""Every refusal as a Graph-style error:
``{"error": {"code": ..., "message": ..., "innerError": {"date": ..., "request-id": ...}}}``."""

from __future__ import annotations

import logging
import uuid
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponseBase, JsonResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response

from governance.errors import DomainError

logger = logging.getLogger(__name__)


class ODataError(exceptions.APIException):
    """A refusal the API itself decides (bad query option, unsupported property)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalidRequest"

    def __init__(self, message: str, *, code: str = "invalidRequest", http_status: int = 400, target: str = ""):
        super().__init__(message, code)
        self.status_code = http_status  # type: ignore[assignment]
        self.graph_code = code
        self.target = target


def request_id(request: HttpRequest) -> str:
    """The id of one call, as Graph gives it: in the ``request-id`` header of every answer
    and in an error's ``innerError``, so a log line and a client's report can be matched."""
    found = getattr(request, "graph_request_id", None)
    if found is None:
        found = str(uuid.uuid4())
        request.graph_request_id = found  # type: ignore[attr-defined]
    return str(found)


def client_request_id(request: HttpRequest) -> str:
    """What the client named its call (Graph echoes ``client-request-id``), if it is a GUID."""
    value = request.headers.get("client-request-id", "")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return ""


def error_body(
    code: str, message: str, target: str | None = None, *, request: HttpRequest | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if target:
        error["target"] = target
    inner: dict[str, Any] = {"date": timezone.now().strftime("%Y-%m-%dT%H:%M:%S")}
    if request is not None:
        inner["request-id"] = request_id(request)
        if client_id := client_request_id(request):
            inner["client-request-id"] = client_id
    error["innerError"] = inner
    return {"error": error}


_DRF_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.NotAuthenticated: "InvalidAuthenticationToken",
    exceptions.AuthenticationFailed: "InvalidAuthenticationToken",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "notFound",
    exceptions.MethodNotAllowed: "methodNotAllowed",
    exceptions.NotAcceptable: "notAcceptable",
    exceptions.UnsupportedMediaType: "unsupportedMediaType",
    exceptions.Throttled: "TooManyRequests",
    exceptions.ParseError: "invalidRequest",
}


def _first_message(detail: Any, path: str = "") -> tuple[str, str]:
    """A DRF validation error as one sentence and the (camelCase) property it is about."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else (f"{path}.{key}" if path else str(key))
            return _first_message(value, name)
    if isinstance(detail, list) and detail:
        for index, value in enumerate(detail):
            if value:
                nested = isinstance(value, dict | list)
                return _first_message(value, f"{path}[{index}]" if nested else path)
    text = str(detail)
    return (f"{path}: {text}" if path else text), path


def graph_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception hook: domain errors, DRF errors and 404s in Graph's error shape."""
    refusal = _refusal(exc)
    if refusal is None:
        return None
    code, message, target, status_code, headers = refusal
    request = context["request"]._request if context.get("request") is not None else None
    return Response(error_body(code, message, target, request=request), status=status_code, headers=headers)


def _refusal(exc: Exception) -> tuple[str, str, str | None, int, dict[str, str]] | None:
    """(code, message, target, status, headers) of what the API refuses; None for a bug."""
    if isinstance(exc, DomainError):
        return exc.code, exc.message, exc.field, exc.http_status, {}
    if isinstance(exc, Http404):
        return "notFound", str(exc) or "Not found.", None, 404, {}
    if isinstance(exc, RequestDataTooBig):
        message = f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0:,} bytes."
        return "requestEntityTooLarge", message, None, 413, {}
    if isinstance(exc, ODataError):
        return exc.graph_code, str(exc.detail), exc.target, exc.status_code, {}
    if isinstance(exc, exceptions.ValidationError):
        message, target = _first_message(exc.detail)
        return "invalidRequest", message, target, 400, {}
    if isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "invalidRequest")
        headers: dict[str, str] = {}
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        wait = getattr(exc, "wait", None)
        if wait is not None:
            headers["Retry-After"] = str(max(1, int(wait + 0.999)))
        return code, str(exc.detail), None, exc.status_code, headers
    return None


@csrf_exempt
def not_found_json(request: HttpRequest, path: str = "") -> HttpResponseBase:
    """Any path under /v1.0/ that the API does not serve. A path the API serves but sent
    with a trailing slash (Graph's own examples have some) is served as without it."""
    if request.path_info.endswith("/") and request.path_info.rstrip("/") != "/v1.0":
        try:
            match = resolve(request.path_info.rstrip("/"))
        except Resolver404:
            match = None
        if match is not None and match.func is not not_found_json:
            answer: HttpResponseBase = match.func(request, *match.args, **match.kwargs)
            return answer
    response = JsonResponse(
        error_body(
            "notFound",
            f"Resource not found for the segment '{path.split('/')[0] or request.path}'.",
            request=request,
        ),
        status=404,
    )
    return with_request_id(response, request)


Answer = TypeVar("Answer", bound=HttpResponseBase)


def with_request_id(response: Answer, request: HttpRequest) -> Answer:
    """The ``request-id`` header Graph sends with every answer (and the client's own id)."""
    response["request-id"] = request_id(request)
    if client_id := client_request_id(request):
        response["client-request-id"] = client_id
    return response
