"""Scale-out (DESIGN §8): two workers deliver >= 1.7x what one does against a target that
answers like a remote system.

The target is a signed-webhook receiver in this process that answers every call after a
fixed 20 ms (a threaded HTTP server: the wait is a sleep, so it costs no CPU of the two the
machine has). The same N grants are delivered once by one worker and once by two (separate
`celery worker` processes on the same queue); the figure is the ratio of the throughputs.
The claim takes grants with SKIP LOCKED and a worker that finds a full batch wakes one more
(governance.tasks.deliver), so the second worker joins without any help from the bench: it
gets one task, as a single commit would send.

LDAP is reported the same way, as measured: slapd runs on the same 2 CPUs as the workers and
PostgreSQL, so it shows what a second worker buys when the target is local and CPU-bound.

  bench/run.py --only two_workers               4,000 webhook grants, 2,000 LDAP grants
  bench/run.py --only two_workers --scale small 1,000 webhook grants, 1,000 LDAP grants
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness import OneWorker, seed, wait_until

LATENCY_SECONDS = 0.020


class Receiver:
    """A webhook receiver answering 204 after a fixed delay; counts the distinct changes
    (idempotency keys) it was sent."""

    def __init__(self, delay: float = LATENCY_SECONDS) -> None:
        self.delay = delay
        self.keys: set[str] = set()
        self.calls = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.calls += 1
                    receiver.keys.add(self.headers.get("Idempotency-Key", ""))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _deliver(role: Any, workers: int) -> float:
    """Seconds for ``workers`` worker processes to deliver every pending grant of ``role``
    (one wake-up task, as one commit sends)."""
    from governance import models as m
    from governance import tasks

    # Targets on this host: the workers may call loopback (refused by default).
    with OneWorker(OUTBOUND_ALLOW_LOOPBACK="1") as pool:
        for _ in range(workers - 1):
            pool.handle.start()
        start = time.perf_counter()
        tasks.deliver.delay()
        wait_until(lambda: not m.RoleGrant.objects.filter(resource_role=role, state__in=["pending"]).exists())
        elapsed = time.perf_counter() - start
    failed = m.RoleGrant.objects.filter(resource_role=role).exclude(state="granted").count()
    assert failed == 0, f"{failed} grants not granted"
    return elapsed


def _webhook_role(receiver: Receiver, label: str) -> Any:
    from governance import models as m

    tag = uuid.uuid4().hex[:6]
    catalog = m.Catalog.objects.create(display_name=f"Bench {label} {tag}")
    connector = m.Connector.objects.create(
        display_name=f"Bench webhook {tag}", kind="webhook", config={"url": receiver.url, "timeout": 10}
    )
    connector.store_secrets({"secret": uuid.uuid4().hex})
    connector.save(update_fields=["encrypted_secrets"])
    resource = m.Resource.objects.create(catalog=catalog, connector=connector, display_name=label, origin_id=label)
    return m.ResourceRole.objects.create(resource=resource)


def webhook_run(n: int, workers: int) -> dict[str, Any]:
    from governance import models as m

    with Receiver() as receiver:
        role = _webhook_role(receiver, f"hook{workers}")
        seed(n, role, assignment_state=m.AssignmentState.DELIVERING, grant_state=m.GrantState.PENDING)
        seconds = _deliver(role, workers)
        assert len(receiver.keys) == n, f"the receiver saw {len(receiver.keys)} of {n} changes"
        calls = receiver.calls
    return {
        "workers": workers,
        "grants": n,
        "seconds": round(seconds, 2),
        "grants_per_second": round(n / seconds, 1),
        "calls": calls,
    }


def ldap_run(slapd: Any, n: int, workers: int) -> dict[str, Any]:
    from governance import models as m
    from tests.ldap_server import ADMIN_PASSWORD, connector_config

    tag = uuid.uuid4().hex[:6]
    catalog = m.Catalog.objects.create(display_name=f"Bench LDAP x{workers} {tag}")
    connector = m.Connector.objects.create(
        display_name=f"Bench LDAP x{workers} {tag}", kind="ldap", config=connector_config(slapd)
    )
    connector.store_secrets({"password": ADMIN_PASSWORD})
    connector.save(update_fields=["encrypted_secrets"])
    dn = slapd.add_group(f"scale{workers}{tag}")
    resource = m.Resource.objects.create(catalog=catalog, connector=connector, display_name=dn, origin_id=dn)
    role = m.ResourceRole.objects.create(resource=resource)
    users = seed(n, role, assignment_state=m.AssignmentState.DELIVERING, grant_state=m.GrantState.PENDING).users
    slapd.add_people(u.username for u in users)
    seconds = _deliver(role, workers)
    assert len(slapd.members(dn)) == n
    return {"workers": workers, "grants": n, "seconds": round(seconds, 2), "grants_per_second": round(n / seconds, 1)}


def bench_two_workers(n: int, ldap_n: int) -> dict[str, Any]:
    from django.conf import settings

    from tests.ldap_server import start_slapd

    one = webhook_run(n, 1)
    two = webhook_run(n, 2)
    result: dict[str, Any] = {
        "target": f"signed webhook answering after {LATENCY_SECONDS * 1000:.0f} ms per call (one call per grant)",
        "batch_size": settings.DELIVERY_BATCH_SIZE,
        "one_worker": one,
        "two_workers": two,
        "ratio": round(two["grants_per_second"] / one["grants_per_second"], 2),
        "target_ratio": 1.7,
        "ideal_one_worker_grants_per_second": round(1 / LATENCY_SECONDS),
    }
    directory = Path(tempfile.mkdtemp(prefix="portcullis-bench-slapd-"))
    slapd = start_slapd(directory)
    try:
        ldap_one = ldap_run(slapd, ldap_n, 1)
        ldap_two = ldap_run(slapd, ldap_n, 2)
    finally:
        slapd.stop()
        shutil.rmtree(directory, ignore_errors=True)
    result["ldap"] = {
        "one_worker": ldap_one,
        "two_workers": ldap_two,
        "ratio": round(ldap_two["grants_per_second"] / ldap_one["grants_per_second"], 2),
        "note": "slapd, PostgreSQL and both workers share the machine's CPUs",
    }
    return result
