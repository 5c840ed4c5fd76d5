"""Fake HTTP upstreams for tests: http.server in a daemon thread, quiet when a client drops its connection."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that prints no traceback when a client resets a connection.

    nginx keeps upstream connections alive, so a handler thread is often still reading one when nginx stops. The
    reset is expected there. The handler threads are daemons, so such a traceback could come while the test
    process exits, over the run's last lines. Any other error in a handler is still printed.
    """

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self.shutdown()
        self.server_close()


def start(handler: type[BaseHTTPRequestHandler]) -> FakeHTTPServer:
    """Serve `handler` on a free loopback port in a daemon thread (`stop()` it when done)."""
    server = FakeHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, name="fake-http", daemon=True).start()
    return server
