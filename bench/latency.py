"""Time to access (DESIGN §8): how long a person waits between submitting a request and
having the access, under a steady load through the real web server.

A steady ``rate`` requests/s for ``seconds`` is posted to the API (`userAdd`, each by a
different person with a personal token) through gunicorn; one Celery worker delivers
through the built-in connector. Per request: submitted (the request's ``created_at``) →
access granted (the built-in connector's own timestamp: the group membership's
``created_at``). Reported: p50, p99, max, and what is still pending at the end. Run twice:
an auto-approved policy, then a one-stage approval decided through the API the moment the
request is made (the approver's client PATCHes the stage as soon as the 201 arrives).

The same figure is read back from `/metrics` (``portcullis_time_to_access_seconds``, a
histogram the engine counts in the database): its p50/p99 are bucket upper bounds, so the
two agree when our own figure falls inside the histogram's bucket for that quantile.

  bench/run.py --only latency                      20 req/s for 300 s (DESIGN §8)
  bench/run.py --only latency --scale small        5 req/s for 20 s (a busy machine)
  bench/run.py --only latency --latency-rate 10 --latency-seconds 60
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import ROOT, OneWorker, builtin_role, chunks, wait_until

API = "/v1.0/identityGovernance/entitlementManagement/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gunicorn:
    """`gunicorn portal.wsgi` as production runs it (DEBUG=0), on a free loopback port."""

    def __init__(self, queue: str, workers: int = 2, threads: int = 4) -> None:
        self.queue = queue
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.args = [
            str(Path(sys.executable).parent / "gunicorn"),
            "portal.wsgi:application",
            f"--workers={workers}",
            f"--threads={threads}",
            f"--bind=127.0.0.1:{self.port}",
            "--timeout=120",
            "--log-level=warning",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        import httpx

        from tests.workers import redis_url

        env = {
            **os.environ,
            "DEBUG": "0",
            "SECURE_SSL_REDIRECT": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "API_RATE_LIMIT": "100000/minute",
            # Wake the bench's own worker, not whatever queue the shell names.
            "CELERY_BROKER_URL": redis_url(),
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
        }
        env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
        self.process = subprocess.Popen(self.args, cwd=ROOT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/metrics", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("gunicorn did not answer")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _people_with_tokens(n: int, tag: str) -> list[tuple[Any, str]]:
    """n member users, each with a personal API token (the token's hash stored as
    create_api_client stores it)."""
    from governance import models as m
    from governance.services.api_clients import TOKEN_PREFIX, hash_token

    users = [
        m.User(username=f"lat{tag}-{i}", email=f"lat{tag}-{i}@bench.example", password="!", user_type="member")
        for i in range(n)
    ]
    for part in chunks(users):
        m.User.objects.bulk_create(part)
    tokens = [TOKEN_PREFIX + secrets.token_urlsafe(32) for _ in users]
    clients = [
        m.ApiClient(name=f"lat{tag}-{i}", user=u, token_hash=hash_token(t), token_prefix=t[: len(TOKEN_PREFIX) + 4])
        for i, (u, t) in enumerate(zip(users, tokens, strict=True))
    ]
    for part in chunks(clients):
        m.ApiClient.objects.bulk_create(part)
    return list(zip(users, tokens, strict=True))


def _scrape(base: str) -> dict[str, float]:
    """The time-to-access histogram's samples, keyed ``bucket:<le>``, ``count``, ``sum``."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{base}/metrics", timeout=30).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "portcullis_time_to_access_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                out[f"bucket:{sample.labels['le']}"] = sample.value
            elif sample.name.endswith("_count"):
                out["count"] = sample.value
            elif sample.name.endswith("_sum"):
                out["sum"] = sample.value
    return out


def histogram_quantiles(before: dict[str, float], after: dict[str, float], qs: tuple[float, ...]) -> dict[str, Any]:
    """Quantiles of what was observed between two scrapes: (lower, upper] bucket bounds."""
    bounds = sorted(
        (float(k.split(":", 1)[1]) for k in after if k.startswith("bucket:")),
    )
    label = {b: ("+Inf" if b == float("inf") else repr(b)) for b in bounds}
    cumulative = [after[f"bucket:{label[b]}"] - before.get(f"bucket:{label[b]}", 0) for b in bounds]
    count = after.get("count", 0) - before.get("count", 0)
    result: dict[str, Any] = {"count": int(count)}
    for q in qs:
        lower = 0.0
        for bound, seen in zip(bounds, cumulative, strict=True):
            if count and seen >= q * count:
                result[f"p{round(q * 100)}"] = [lower, bound]
                break
            lower = bound
    if count:
        result["mean"] = round((after.get("sum", 0) - before.get("sum", 0)) / count, 3)
    return result


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def run_once(rate: float, seconds: float, approval: bool, server: Gunicorn) -> dict[str, Any]:
    import httpx

    from governance import models as m

    target = builtin_role("latency-approval" if approval else "latency")
    role, group = target.role, target.group
    tag = uuid.uuid4().hex[:6]
    package = m.AccessPackage.objects.create(catalog=role.resource.catalog, display_name=f"Latency {tag}")
    m.PackageResourceRole.objects.create(package=package, resource_role=role)
    policy = m.AssignmentPolicy.objects.create(
        package=package,
        display_name="Everyone",
        allowed_target_scope=m.TargetScope.ALL_MEMBERS,
        requires_approval=approval,
    )
    n = max(1, round(rate * seconds))
    people = _people_with_tokens(n, tag)
    approver_token = ""
    stage_id = ""
    if approval:
        [(approver, approver_token)] = _people_with_tokens(1, tag + "a")
        stage = m.ApprovalStage.objects.create(policy=policy, order=1)
        m.StageApprover.objects.create(stage=stage, kind=m.ApproverKind.USER, user=approver)
        stage_id = str(stage.pk)

    before = _scrape(server.base)
    sent: dict[str, float] = {}  # request id -> our clock (Unix time) just before the POST
    errors: list[str] = []
    lock = threading.Lock()
    local = threading.local()

    def client(token: str) -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=server.base + API, timeout=60)
        local.client.headers["Authorization"] = f"Bearer {token}"
        return local.client

    def one(token: str) -> None:
        at = time.time()
        body = {"requestType": "userAdd", "assignment": {"accessPackageId": str(package.pk)}}
        answer = client(token).post("assignmentRequests", json=body)
        if answer.status_code != 201:
            with lock:
                errors.append(f"POST {answer.status_code}: {answer.text[:200]}")
            return
        made = answer.json()["id"]
        with lock:
            sent[made] = at
        if approval:
            decided = client(approver_token).patch(
                f"accessPackageAssignmentApprovals/{made}/stages/{stage_id}",
                json={"reviewResult": "Approve", "justification": "Fine"},
            )
            if decided.status_code != 204:
                with lock:
                    errors.append(f"PATCH {decided.status_code}: {decided.text[:200]}")

    start = time.time()
    late = 0.0
    with ThreadPoolExecutor(max_workers=32) as pool:
        for i, (_, token) in enumerate(people):
            due = start + i / rate
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            else:
                late = max(late, -pause)
            pool.submit(one, token)
    sending = time.time() - start

    ids = list(sent)

    def settled() -> bool:
        return not m.AssignmentRequest.objects.filter(pk__in=ids, state__in=m.RequestState.OPEN).exists()

    with contextlib.suppress(TimeoutError):  # what is left is reported as pending
        wait_until(settled, timeout=max(120.0, seconds))
    time.sleep(0.2)
    after = _scrape(server.base)

    return {
        "policy": "one-stage approval, approved through the API at once" if approval else "auto-approved",
        "rate_per_second": rate,
        "seconds": seconds,
        "requests": n,
        "submitted": len(sent),
        "errors": errors[:5],
        "error_count": len(errors),
        "sending_seconds": round(sending, 1),
        "sender_max_lag_seconds": round(late, 3),
        **_measure(sent, group, role, before, after),
    }


def _measure(
    sent: dict[str, float], group: Any, role: Any, before: dict[str, float], after: dict[str, float]
) -> dict[str, Any]:
    from governance import models as m

    ids = list(sent)
    requests = {
        str(r.pk): r
        for r in m.AssignmentRequest.objects.filter(pk__in=ids).only("id", "created_at", "target_id", "state")
    }
    granted: dict[Any, datetime] = dict(
        m.GroupMembership.objects.filter(group=group).values_list("user_id", "created_at")
    )
    server_side: list[float] = []  # request created_at -> membership created_at
    ours: list[float] = []  # our clock before the POST -> membership created_at
    for made, at in sent.items():
        request = requests.get(made)
        when = granted.get(request.target_id) if request else None
        if when is None:
            continue
        server_side.append((when - request.created_at).total_seconds())
        ours.append(when.timestamp() - at)
    pending = {
        "requests_open": m.AssignmentRequest.objects.filter(pk__in=ids, state__in=m.RequestState.OPEN).count(),
        "grants_pending": m.RoleGrant.objects.filter(resource_role=role, state__in=m.GrantState.WORK).count(),
    }
    histogram = histogram_quantiles(before, after, (0.5, 0.99))

    def figures(values: list[float]) -> dict[str, float]:
        if not values:
            return {}
        return {"p50": round(_pct(values, 0.5), 3), "p99": round(_pct(values, 0.99), 3), "max": round(max(values), 3)}

    own = figures(server_side)
    agree = {
        q: bool(own) and q in histogram and histogram[q][0] - 0.05 <= own[q] <= histogram[q][1] + 0.05
        for q in ("p50", "p99")
    }
    return {
        "granted": len(server_side),
        "submitted_to_granted": own,
        "client_clock": figures(ours),
        "metrics_histogram": histogram,
        "metrics_agree": agree,
        "pending_at_end": pending,
        "target": {"p50_seconds": 1.0, "p99_seconds": 3.0, "pending_at_end": 0},
    }


def bench_latency(rate: float, seconds: float) -> dict[str, Any]:
    """Both runs, one gunicorn and one worker."""
    with OneWorker() as worker, Gunicorn(worker.queue) as server:
        auto = run_once(rate, seconds, approval=False, server=server)
        approved = run_once(rate, seconds, approval=True, server=server)
    return {
        "auto": auto,
        "approval": approved,
        "server": "gunicorn 2 workers x 4 threads, DEBUG=0; one Celery worker (solo pool); built-in connector",
    }
