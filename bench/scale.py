#!/usr/bin/env python
"""The figures of DESIGN §8 that need a million assignments: list pages and the CSV download.

Run with DATABASE_URL pointing at the scale database (bench/run.py does it):

  pages   p50/p95 over N runs (Django's test client, in-process, warmed up) and the query
          count of each page, beside a bare SQL query (psycopg, same database, same page of
          rows) measured in the same run; ratio = ours / baseline.
  csv     the download of every assignment through the real server (gunicorn, one worker,
          DEBUG=0), streamed with httpx, with the worker's RSS sampled every 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MS = 50.0  # DESIGN §8: list pages p95 < 50 ms
TARGET_RSS_MB = 150.0
EM = "/v1.0/identityGovernance/entitlementManagement"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def timed(call: Callable[[], Any], runs: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        samples.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    # CPU: this process's own time (Python, templates), without the database's or the wait
    # for a core on a busy machine.
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(percentile(samples, 0.95), 1),
        "cpu_p50_ms": round(statistics.median(cpu), 1),
    }


# --- Bare SQL: the same page of rows, without us --------------------------------------------

BASELINES = {
    "assignments": """
        SELECT a.id, a.state, a.start_at, a.end_at, a.created_at, u.display_name, u.username, u.email,
               p.display_name, pol.display_name,
               EXISTS (SELECT 1 FROM governance_rolegrant g WHERE g.assignment_id = a.id AND g.state = 'drifted')
        FROM governance_assignment a
        JOIN governance_user u ON u.id = a.target_id
        JOIN governance_accesspackage p ON p.id = a.package_id
        LEFT JOIN governance_assignmentpolicy pol ON pol.id = a.policy_id
        WHERE a.state = 'partiallyDelivered'
        ORDER BY a.created_at DESC, a.id DESC LIMIT 51""",
    "requests": """
        SELECT r.id, r.request_type, r.state, r.created_at, r.completed_at, t.display_name, t.email,
               q.display_name, p.display_name, pol.display_name,
               (SELECT count(*) FROM governance_deliveryattempt d
                 WHERE d.request_id = r.id AND d.outcome IN ('transient', 'permanent'))
        FROM governance_assignmentrequest r
        JOIN governance_user t ON t.id = r.target_id
        LEFT JOIN governance_user q ON q.id = r.requestor_id
        JOIN governance_accesspackage p ON p.id = r.package_id
        LEFT JOIN governance_assignmentpolicy pol ON pol.id = r.policy_id
        ORDER BY r.created_at DESC, r.id DESC LIMIT 51""",
    "request_detail": """
        SELECT r.*, t.display_name, q.display_name, p.display_name, c.display_name, pol.display_name,
               (SELECT count(*) FROM governance_deliveryattempt d
                 WHERE d.request_id = r.id AND d.outcome IN ('transient', 'permanent')),
               (SELECT json_agg(x) FROM (SELECT d.decision, d.approver_label, d.decided_at
                 FROM governance_approvaldecision d WHERE d.request_id = r.id ORDER BY d.stage_order) x)
        FROM governance_assignmentrequest r
        JOIN governance_user t ON t.id = r.target_id
        LEFT JOIN governance_user q ON q.id = r.requestor_id
        JOIN governance_accesspackage p ON p.id = r.package_id
        JOIN governance_catalog c ON c.id = p.catalog_id
        LEFT JOIN governance_assignmentpolicy pol ON pol.id = r.policy_id
        WHERE r.id = %(request)s""",
    "myaccess": """
        SELECT p.id, p.display_name, p.description, c.display_name
        FROM governance_accesspackage p JOIN governance_catalog c ON c.id = p.catalog_id
        WHERE NOT p.is_hidden AND c.state = 'published' AND p.id IN (
            SELECT package_id FROM governance_assignmentpolicy
            WHERE enabled AND allowed_target_scope IN ('allMemberUsers', 'allDirectoryUsers'))
        ORDER BY p.display_name, p.id LIMIT 25""",
    "api_assignments": """
        SELECT a.id, a.state, a.start_at, a.end_at, a.created_at, a.package_id, a.policy_id,
               u.id, u.display_name, u.email, u.user_principal_name
        FROM governance_assignment a JOIN governance_user u ON u.id = a.target_id
        WHERE a.state = 'partiallyDelivered'
        ORDER BY a.created_at DESC, a.id LIMIT %(top)s""",
}


def baseline(sql: str, params: dict[str, Any], runs: int, warmup: int) -> dict[str, float]:
    import psycopg

    with psycopg.connect(_libpq_url(os.environ["DATABASE_URL"])) as conn:
        cursor = conn.cursor()

        def call() -> None:
            cursor.execute(sql, params)
            assert cursor.fetchall()

        return timed(call, runs, warmup)


def _libpq_url(url: str) -> str:
    return re.sub(r"^postgres://", "postgresql://", url)


# --- The pages ----------------------------------------------------------------------------


def bench_pages(runs: int = 30, warmup: int = 3) -> dict[str, Any]:
    """p50/p95 and query counts of the five pages of DESIGN §8, beside their baselines."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.generate import ADMIN, REQUESTOR
    from governance import models as m
    from governance.services.api_clients import create_api_client

    admin = m.User.objects.get(username=ADMIN)
    requestor = m.User.objects.get(username=REQUESTOR)
    as_admin, as_requestor = Client(), Client()
    as_admin.force_login(admin)
    as_requestor.force_login(requestor)
    detail = (
        m.AssignmentRequest.objects.filter(
            state="partiallyDelivered", request_type="userAdd", policy__requires_approval=True
        )
        .order_by("-created_at")
        .values_list("pk", flat=True)
        .first()
    )
    one = m.Assignment.objects.filter(state="partiallyDelivered").select_related("target").first()
    assert detail is not None, "generate the data set first"
    assert one is not None, "generate the data set first"
    token = create_api_client(None, f"bench-{uuid.uuid4().hex[:8]}", role="global_admin")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token.token}"}
    api = Client()
    top = 100

    def expect(client: Client, url: str, marker: str, **extra: Any) -> Callable[[], Any]:
        def call() -> Any:
            response = client.get(url, **extra)
            assert response.status_code == 200, (url, response.status_code)
            assert marker in response.content.decode(), (url, marker)
            return response

        return call

    # page: the call with a full page, the same call with few rows (the query count must
    # not change), the baseline's parameters.
    person, shown = one.target.username, one.target.display_name
    pages: dict[str, dict[str, Any]] = {
        "assignments": {
            "label": "assignments list, Partially fulfilled (admin)",
            "call": expect(as_admin, "/governance/assignments/?status=partiallyDelivered", "Partially fulfilled"),
            "few": expect(as_admin, f"/governance/assignments/?status=partiallyDelivered&q={person}", shown),
        },
        "requests": {
            "label": "requests list (admin)",
            "call": expect(as_admin, "/governance/requests/", "Delivered"),
            "few": expect(as_admin, f"/governance/requests/?q={person}", shown),
        },
        "request_detail": {
            "label": "request detail (admin)",
            "call": expect(as_admin, f"/governance/requests/{detail}/", "Approved"),
            "params": {"request": detail},
        },
        "myaccess": {
            "label": f"My Access: Request access ({REQUESTOR}, 500 packages)",
            "call": expect(as_requestor, "/myaccess/", "Package"),
            "few": expect(as_requestor, "/myaccess/?q=Package+00040", "Package 00040"),
        },
        "api_assignments": {
            "label": "API assignments?$filter=state eq 'partiallyDelivered'",
            "call": expect(
                api,
                f"{EM}/assignments",
                '"partiallyDelivered"',
                QUERY_STRING=f"$filter=state%20eq%20'partiallyDelivered'&$top={top}",
                **bearer,
            ),
            "few": expect(
                api,
                f"{EM}/assignments",
                '"partiallyDelivered"',
                QUERY_STRING=f"$filter=state%20eq%20'partiallyDelivered'%20and%20target/objectId%20eq%20'{one.target_id}'",
                **bearer,
            ),
            "params": {"top": top + 1},
        },
    }
    results: dict[str, Any] = {}
    try:
        for name, page in pages.items():
            page["call"]()  # once before counting: a first call may do once-only work (a token's last use)
            with CaptureQueriesContext(connection) as full:
                page["call"]()
            counts = {"queries": len(full.captured_queries)}
            if "few" in page:
                with CaptureQueriesContext(connection) as few:
                    page["few"]()
                counts["queries_few_rows"] = len(few.captured_queries)
            ours = timed(page["call"], runs, warmup)
            bare = baseline(BASELINES[name], page.get("params", {}), runs, warmup)
            results[name] = {
                "key": name,
                "label": page["label"],
                **ours,
                **counts,
                "constant_queries": counts.get("queries_few_rows", counts["queries"]) == counts["queries"],
                "baseline_p50_ms": bare["p50_ms"],
                "baseline_p95_ms": bare["p95_ms"],
                "ratio": round(ours["p50_ms"] / max(bare["p50_ms"], 0.01), 1),
                "target_ms": TARGET_MS,
                "runs": runs,
            }
            print(f"  {name}: {json.dumps(results[name])}", flush=True)
    finally:
        m.ApiClient.objects.filter(pk=token.client.pk).delete()
    return results


# --- Deep pages: the API's first page vs a deep one and the last ----------------------------


def bench_deep_pages(runs: int = 30, warmup: int = 3, top: int = 100) -> dict[str, Any]:
    """`assignments?$top=100`: the first page, the page at half the rows ($skip=500000 at full
    size) and the last page, each as the keyset $skiptoken nextLink gives, beside the same
    deep page by offset (the old token, the cost keyset paging removes)."""
    from django.test import Client

    from governance import models as m
    from governance.api import keyset
    from governance.api.odata import encode_skiptoken
    from governance.services.api_clients import create_api_client

    total = m.Assignment.objects.count()
    assert total > 2 * top, "generate the data set first"
    order = ["-created_at", "pk"]
    rows = m.Assignment.objects.order_by(*order).only("pk", "created_at")
    deep, last = total // 2, max(total - top - 1, 0)
    token = create_api_client(None, f"bench-{uuid.uuid4().hex[:8]}", role="global_admin")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token.token}")

    def page(skiptoken: str | None) -> Callable[[], Any]:
        query = f"$top={top}" + (f"&$skiptoken={skiptoken}" if skiptoken else "")

        def call() -> Any:
            response = api.get(f"{EM}/assignments", QUERY_STRING=query)
            assert response.status_code == 200, response.status_code
            return response

        return call

    calls = {
        "first": page(None),
        "deep_keyset": page(keyset.encode(rows[deep - 1], order)),
        "last_keyset": page(keyset.encode(rows[last - 1], order)),
        "deep_offset": page(encode_skiptoken(deep)),
    }
    try:
        results: dict[str, Any] = {"rows": total, "top": top, "deep_at": deep, "last_at": last}
        for name, call in calls.items():
            results[name] = timed(call, runs, warmup)
        first = results["first"]["p50_ms"]
        for name in ("deep_keyset", "last_keyset", "deep_offset"):
            results[name]["ratio_to_first"] = round(results[name]["p50_ms"] / max(first, 0.01), 2)
        results["target_p95_ms"] = 50.0
    finally:
        m.ApiClient.objects.filter(pk=token.client.pk).delete()
    results["lists"] = bench_deep_list_pages(runs, warmup)
    print(f"  deep_pages: {json.dumps(results)}", flush=True)
    return results


# The admin portal's lists at page 10,000 (rows 499,951-500,000) and at their last page: each
# as its Next link reaches it (the key of the row before, views/listing.py), and page 10,000
# by number alone (?page=10000: an offset, what every page cost before keyset paging). Each as
# the pager's link loads it: an htmx swap of the table (the filter form above it is not
# rendered again, so the figure is the page of rows).
DEEP_LIST_PAGE = 10_000


def bench_deep_list_pages(runs: int, warmup: int) -> dict[str, Any]:
    from django.test import Client

    from bench.generate import ADMIN
    from governance import models as m

    client = Client()
    client.force_login(m.User.objects.get(username=ADMIN))
    # The list, its query string, its rows (the admin sees every catalog).
    lists = {
        "assignments": ("/governance/assignments/", "status=all", m.Assignment.objects.all()),
        "requests": ("/governance/requests/", "", m.AssignmentRequest.objects.all()),
    }
    results: dict[str, Any] = {}
    for name, (path, query, rows) in lists.items():
        results[name] = _deep_list(client, path, query, rows, runs, warmup)
        print(f"  deep list {name}: {json.dumps(results[name])}", flush=True)
    return results


def _deep_list(client: Any, path: str, query: str, rows: Any, runs: int, warmup: int) -> dict[str, Any]:
    from governance.api import keyset
    from governance.views.listing import PER_PAGE

    order = ["-created_at", "-pk"]  # the lists' order unless sorted
    total = rows.count()
    ordered = rows.order_by(*order).only("pk", "created_at")
    deep = (DEEP_LIST_PAGE - 1) * PER_PAGE
    if deep >= total:  # the small data set: half way
        deep = total // 2 // PER_PAGE * PER_PAGE
    last = max(total - PER_PAGE, 1)

    def url(extra: str) -> str:
        return f"{path}?{'&'.join(part for part in (query, extra) if part)}"

    def call(address: str) -> Callable[[], Any]:
        def get() -> Any:
            response = client.get(address, HTTP_HX_REQUEST="true")
            assert response.status_code == 200, (address, response.status_code)
            assert response.content.startswith(b'<div id="results">'), address  # the table alone
            return response

        return get

    pages = {
        "first": url(""),
        "deep_keyset": url(f"page={deep // PER_PAGE + 1}&after={keyset.encode(ordered[deep - 1], order)}"),
        "last_keyset": url(f"page={last // PER_PAGE + 1}&after={keyset.encode(ordered[last - 1], order)}"),
        "deep_offset": url(f"page={deep // PER_PAGE + 1}"),
    }
    figures: dict[str, Any] = {"rows": total, "deep_at": deep, "last_at": last}
    for page, address in pages.items():
        slow = page == "deep_offset"  # seconds a page: a few runs tell it
        figures[page] = {**timed(call(address), 3 if slow else runs, 1 if slow else warmup), "url": address}
    first = figures["first"]["p50_ms"]
    for page in ("deep_keyset", "last_keyset", "deep_offset"):
        figures[page]["ratio_to_first"] = round(figures[page]["p50_ms"] / max(first, 0.01), 2)
    return figures


# --- The CSV download through the real server ------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _worker_pid(master: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children")
        pids = children.read_text().split() if children.exists() else []
        if pids:
            return int(pids[0])
        time.sleep(0.1)
    raise TimeoutError("gunicorn started no worker")


def _session_cookie(username: str) -> str:
    """A signed-in session for ``username``, made the way the login view makes one."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from governance.models import User

    user = User.objects.get(username=username)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    assert session.session_key
    return session.session_key


CSV_BASELINE = """
    COPY (
        SELECT u.display_name, u.user_principal_name, u.email, p.display_name, pol.display_name, a.state,
               EXISTS (SELECT 1 FROM governance_rolegrant g WHERE g.assignment_id = a.id AND g.state = 'drifted'),
               a.start_at, a.end_at, a.created_at, a.id
        FROM governance_assignment a
        JOIN governance_user u ON u.id = a.target_id
        JOIN governance_accesspackage p ON p.id = a.package_id
        LEFT JOIN governance_assignmentpolicy pol ON pol.id = a.policy_id
        ORDER BY a.created_at DESC, a.id DESC
    ) TO STDOUT WITH (FORMAT csv, HEADER)"""


def csv_baseline() -> dict[str, Any]:
    """The same rows as CSV straight out of PostgreSQL (COPY), read by a client: the floor."""
    import psycopg

    rows, size = -1, 0
    start = time.perf_counter()
    with (
        psycopg.connect(_libpq_url(os.environ["DATABASE_URL"])) as conn,
        conn.cursor() as cursor,
        cursor.copy(CSV_BASELINE) as copy,
    ):
        for chunk in copy:
            size += len(chunk)
            rows += bytes(chunk).count(b"\n")
    return {"baseline_seconds": round(time.perf_counter() - start, 3), "baseline_rows": rows, "baseline_bytes": size}


def bench_csv(query: str = "status=all") -> dict[str, Any]:
    import httpx

    from bench.generate import ADMIN
    from governance.models import Assignment

    expected = Assignment.objects.count() if query == "status=all" else None
    cookie = _session_cookie(ADMIN)
    port = _free_port()
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "portal.wsgi:application",
            "--workers=1",
            f"--bind=127.0.0.1:{port}",
            "--timeout=600",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=env,
    )
    samples: list[tuple[float, int, int]] = []  # seconds, rows so far, RSS kB
    try:
        worker = _worker_pid(server.pid)
        base = f"http://127.0.0.1:{port}"
        headers = {"Cookie": f"sessionid={cookie}", "X-Forwarded-Proto": "https"}
        with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
            for _ in range(100):  # wait for the worker, and warm it with a small download
                try:
                    if client.get("/governance/assignments/download/?q=user000001").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            else:
                raise RuntimeError("the server did not answer")
            rss_before = _status_kb(worker, "VmRSS")
            rows = -1  # the header line
            size = 0
            stop = threading.Event()
            start = time.perf_counter()

            def sample() -> None:
                while not stop.is_set():
                    samples.append((time.perf_counter() - start, rows, _status_kb(worker, "VmRSS")))
                    stop.wait(0.05)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            with client.stream("GET", f"/governance/assignments/download/?{query}") as response:
                assert response.status_code == 200, response.status_code
                assert response.headers["content-type"].startswith("text/csv")
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    rows += chunk.count(b"\n")
            elapsed = time.perf_counter() - start
            stop.set()
            sampler.join()
            peak = _status_kb(worker, "VmHWM")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    if expected is not None:
        assert rows == expected, f"{rows} rows downloaded, {expected} assignments"
    # Growth: RSS once a tenth of the rows were out vs at the end (flat means it does not
    # grow with the rows).
    tenth = next((kb for _, n, kb in samples if n >= rows // 10), samples[0][2] if samples else 0)
    last = samples[-1][2] if samples else 0
    bare = csv_baseline()
    return {
        "rows": rows,
        "bytes": size,
        # Milliseconds count at the small scale (10,000 rows in a few tenths of a second).
        "seconds": round(elapsed, 3),
        **bare,
        "ratio": round(elapsed / max(bare["baseline_seconds"], 0.001), 1),
        "rows_per_second": round(rows / elapsed),
        "rss_before_mb": round(rss_before / 1024, 1),
        "peak_rss_mb": round(peak / 1024, 1),
        "rss_after_tenth_mb": round(tenth / 1024, 1),
        "rss_at_end_mb": round(last / 1024, 1),
        "target_rss_mb": TARGET_RSS_MB,
        "server": "gunicorn, 1 sync worker, DEBUG=0",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="generate,pages,deep_pages,csv")
    parser.add_argument("--scale", default="full", choices=["full", "small"])
    parser.add_argument("--force", action="store_true", help="regenerate the data set")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", help="write the results (JSON) here")
    for name in ("catalogs", "packages", "users", "assignments", "requests", "visible"):
        parser.add_argument(f"--{name}", type=int)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    # One key for this process and the server it starts, so the session made here is valid there.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    import django

    django.setup()
    from dataclasses import asdict, replace

    from django.core.management import call_command

    from bench.generate import Sizes, generate

    call_command("migrate", verbosity=0)
    sizes = Sizes.named(args.scale)
    sizes = replace(sizes, **{k: v for k, v in vars(args).items() if k in asdict(sizes) and v is not None})
    results: dict[str, Any] = {}
    only = args.only.split(",")
    if "generate" in only:
        print("… generate", flush=True)
        results["generate"] = generate(sizes, force=args.force)
    if "pages" in only:
        print("… pages", flush=True)
        results["pages"] = bench_pages(runs=args.runs)
    if "deep_pages" in only:
        print("… deep_pages", flush=True)
        results["deep_pages"] = bench_deep_pages(runs=args.runs)
    if "csv" in only:
        print("… csv", flush=True)
        results["csv"] = bench_csv()
        print(f"  csv: {json.dumps(results['csv'])}", flush=True)
    if "explain" in only:
        from bench.explain import bench_explain

        print("… explain", flush=True)
        results["explain"] = bench_explain(runs=args.runs)
        print(f"  explain: {json.dumps(results['explain'])}", flush=True)
    text = json.dumps(results, indent=2, default=str)
    if args.out:
        Path(args.out).write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
