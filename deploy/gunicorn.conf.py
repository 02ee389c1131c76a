"""gunicorn settings for Portcullis (README "Production"): `gunicorn -c deploy/gunicorn.conf.py portal.wsgi`.

Every value can be overridden from the environment file the systemd unit reads.
"""

import multiprocessing
import os

# Behind the reverse proxy on the same host; the proxy faces clients (deploy/nginx/).
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers: each holds one PostgreSQL connection (CONN_MAX_AGE) and serves one request
# at a time. 2 x CPUs + 1 is gunicorn's rule of thumb; the web processes are stateless, so
# more hosts behind the proxy add capacity the same way.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
# Longer than the slowest page (a CSV export streams, so it is not one long wait), shorter
# than the proxy's proxy_read_timeout (60 s), so gunicorn answers before nginx gives up.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# A worker is replaced after this many requests (with jitter), so a slow leak never grows.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
# X-Forwarded-Proto is believed only from the proxy (the settings trust it as https).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
# Access log on stdout (journald) with the request id the application logs under.
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
errorlog = "-"
