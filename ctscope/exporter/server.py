"""Background refresh + HTTP endpoint.

A refresh thread asks every target's reader child for a snapshot every ``refresh``
seconds and polls the kernel log; the HTTP server (prometheus-client's threaded WSGI
server) renders the last snapshots on each scrape, so a scrape costs microseconds of
rendering and never touches the kernel.
"""
from __future__ import annotations

import threading
import time

import socket
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, ProcessCollector, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from ..errors import InputError
from .kmsglog import TableFullLog
from .metrics import ConntrackCollector


def parse_listen(text: str) -> tuple[str, int]:
    """'127.0.0.1:9465', '[::1]:9465', ':9465' (all IPv4 addresses) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InputError(f"expected HOST:PORT, got {text!r}", "--listen")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):     # noqa: A002 -- no log line per scrape
        pass


def serve(host: str, port: int, registry) -> ThreadingWSGIServer:
    """prometheus-client's WSGI app on a threaded server with a listen backlog of 256
    (socketserver's default of 5 drops SYNs under a burst of scrapes: +1 s retries)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]

    class Server(ThreadingWSGIServer):
        address_family = family
        request_queue_size = 256

    httpd = make_server(host, port, make_wsgi_app(registry), Server, handler_class=_QuietHandler)
    threading.Thread(target=httpd.serve_forever, name="ctscope-http", daemon=True).start()
    return httpd


class Exporter:
    """Targets + refresh thread + HTTP server; ``start()``/``stop()`` or ``with``."""

    def __init__(self, targets, refresh: float = 10.0, listen: str = "127.0.0.1:9465",
                 kmsg: str | None = "/dev/kmsg"):
        if refresh <= 0:
            raise InputError("must be positive", "--refresh")
        self.targets = list(targets)
        self.refresh = refresh
        self.host, self.port = parse_listen(listen)
        self.kmsg = TableFullLog(kmsg) if kmsg else None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ConntrackCollector(self.targets, self.kmsg))
        if all(t.label is None for t in self.targets):     # labelled mode: every series has netns
            ProcessCollector(registry=self.registry)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.httpd = None
        self.refreshes = 0

    def refresh_once(self) -> None:
        for t in self.targets:
            t.refresh()
        if self.kmsg is not None:
            self.kmsg.poll()
        self.refreshes += 1

    def _loop(self) -> None:
        next_at = time.monotonic() + self.refresh
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.refresh
            self.refresh_once()
            if next_at < time.monotonic():      # a read took longer than the interval
                next_at = time.monotonic() + self.refresh

    def start(self) -> "Exporter":
        """First read (so the first scrape has data), then serve and refresh."""
        self.refresh_once()
        try:
            self.httpd = serve(self.host, self.port, self.registry)
        except OSError as exc:
            self.close_targets()
            raise InputError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}", "--listen") from None
        self.port = self.httpd.server_port
        self._thread = threading.Thread(target=self._loop, name="ctscope-refresh", daemon=True)
        self._thread.start()
        return self

    def close_targets(self) -> None:
        for t in self.targets:
            t.stop()
        if self.kmsg is not None:
            self.kmsg.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, 2 * self.refresh))
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        self.close_targets()

    def wait(self) -> None:
        """Block until ``stop()`` (or Ctrl-C in the caller)."""
        while not self._stop.wait(3600):
            pass

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
