"""gunicorn settings for hwadmin (Procfile, deploy/hwadmin-web.service and `make serve` use it).

Every value can be overridden from the environment: HWADMIN_BIND, WEB_CONCURRENCY, HWADMIN_WEB_THREADS,
HWADMIN_WEB_TIMEOUT. With PROMETHEUS_MULTIPROC_DIR set, the request metrics of every gunicorn worker
are added up on /metrics; the folder must exist, be writable, and be emptied before each start
(scripts/serve and the systemd unit do it).
"""

import os

bind = os.environ.get("HWADMIN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("HWADMIN_WEB_THREADS", "4"))
timeout = int(os.environ.get("HWADMIN_WEB_TIMEOUT", "60"))
graceful_timeout = 30
# Access log on stdout with the time, the request and how long it took (microseconds).
accesslog = "-"
access_log_format = '%(t)s %(h)s "%(r)s" %(s)s %(b)s %(D)sus'
errorlog = "-"
# Requests from a proxy on this machine only may set X-Forwarded-* (HWADMIN_TRUSTED_PROXIES for Django).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# No control socket ($HOME/.gunicorn/gunicorn.ctl): two instances on one machine would share it, and
# systemd's ProtectHome leaves $HOME read-only. Reload with SIGHUP instead.
control_socket_disable = True


def child_exit(server, worker):
    """A gunicorn worker stopped: drop its live gauges from the multiprocess metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
