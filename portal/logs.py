"""One request's story is one grep: a request id on every log line, web and worker alike.

The web request's id (the proxy's ``X-Request-ID`` when it sends a sane one, otherwise a new
one; the API's Graph ``request-id`` is the same value) lives in a context variable while the
request runs. Every task published meanwhile carries it in a message header, and the worker
puts it back in the context variable while that task runs, so the tasks it enqueues in turn
carry it on. Beat's jobs, which no request started, log under their task id.

Lines are JSON (``LOG_FORMAT=json``, the default with ``DEBUG=0``) or text (``make run``).
Log what happened and its ids, never a token, password, secret or signed link: the
formatters only ever see what the code passed them, and :class:`RedactSecrets` strips the
signed part of an approval link from the paths Django logs.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # settings import this module: nothing of Django's at import time
    from django.http import HttpRequest, HttpResponse

HEADER = "request_id"  # the Celery message header
_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SANE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def current_request_id() -> str:
    return _current.get()


def bind_request_id(value: str) -> contextvars.Token[str]:
    return _current.set(value)


def unbind_request_id(token: contextvars.Token[str]) -> None:
    _current.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every record (``-`` outside any request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            # Django logs a response's status ("Not Found: …") after the middleware has
            # unbound the id; the request it passes along still has it.
            record.request_id = getattr(getattr(record, "request", None), "graph_request_id", None) or _current.get()
        return True


# /myaccess/approvals/<uuid>/link/<signed token>/: the token is a credential (with login off).
_SIGNED_LINK = re.compile(r"(/link/)[^/\s\"']+")


class RedactSecrets(logging.Filter):
    """Removes signed approval-link tokens from what Django logs about a path ("Not Found: …")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(_SIGNED_LINK.sub(r"\1…", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str) and "/link/" in record.msg:
            record.msg = _SIGNED_LINK.sub(r"\1…", record.msg)
        return True


class Refusals(logging.Filter):
    """Django logs each 4xx answer once ("Not Found: /path"); a refusal (401, 403, and the
    404 that stands for "not yours to see", DESIGN §1) is routine, so INFO, named as one and
    with who was refused: the only line a refusal gets."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.name == "django.request" and status in (401, 403, 404):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.event = "permission_refusal"
            record.principal = _principal(getattr(record, "request", None))
        return True


def _principal(request: Any) -> str:
    """The signed-in person's or API client's id, if the request already knows it (never
    loads a session just to log)."""
    user = getattr(request, "__dict__", {}).get("user")
    wrapped = getattr(user, "_wrapped", user)
    if wrapped is None or type(wrapped).__name__ == "object" or not getattr(wrapped, "is_authenticated", False):
        return "anonymous"
    return f"{type(wrapped).__name__.lower()}:{wrapped.pk}"


class RequestIdMiddleware:
    """Binds the request's id for its log lines and answers it in ``X-Request-ID``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        value = incoming if _SANE.match(incoming) else str(uuid.uuid4())
        # The API's Graph request-id (governance/api/errors.py) is this same id.
        request.graph_request_id = value  # type: ignore[attr-defined]
        token = bind_request_id(value)
        try:
            response = self.get_response(request)
        finally:
            unbind_request_id(token)
        response["X-Request-ID"] = value
        return response


# --- Celery: the id travels in a message header -----------------------------------------


def add_request_id_header(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """``before_task_publish``: the publishing request's (or task's) id rides along."""
    value = _current.get()
    if headers is not None and value != "-":
        headers.setdefault(HEADER, value)


_task_tokens: dict[str, contextvars.Token[str]] = {}


def bind_task_request_id(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    """``task_prerun``: the id of the request that enqueued this task, or the task's own."""
    value = getattr(getattr(task, "request", None), HEADER, None) or f"task-{task_id}"
    if task_id:
        _task_tokens[task_id] = bind_request_id(str(value))


def unbind_task_request_id(task_id: str | None = None, **_: Any) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        unbind_request_id(token)


def connect_celery_signals() -> None:
    from celery import signals

    signals.before_task_publish.connect(add_request_id_header, weak=False)
    signals.task_prerun.connect(bind_task_request_id, weak=False)
    signals.task_postrun.connect(unbind_task_request_id, weak=False)


def logging_config(fmt: str, level: str) -> dict[str, Any]:
    """``LOGGING`` for ``settings``: JSON or text, a request id on every line."""
    text = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
    from pythonjsonlogger.core import RESERVED_ATTRS

    formatters: dict[str, Any] = {
        "text": {"format": text},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            # Django passes the request object along ("Not Found: …"): its repr is a path that
            # may be a signed link, and the line already has the path and the request id.
            "reserved_attrs": [*RESERVED_ATTRS, "request", "server_time"],
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "portal.logs.RequestIdFilter"},
            "redact": {"()": "portal.logs.RedactSecrets"},
            "refusals": {"()": "portal.logs.Refusals"},
        },
        "formatters": formatters,
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if fmt == "json" else "text",
                "filters": ["request_id", "redact", "refusals"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        # axes logs every failed sign-in at WARNING; its INFO lines are bookkeeping.
        "loggers": {
            # Only through ours: Django's own console handler (DEBUG on) would print each
            # django.* line a second time, unformatted and unredacted.
            "django": {"level": "INFO", "handlers": [], "propagate": True},
            "django.db.backends": {"level": "WARNING"},
            "axes": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }
