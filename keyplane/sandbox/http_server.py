"""The sandbox's HTTP/1.1 server: a WSGI application behind kept-alive connections.

Werkzeug's development server closes the connection after every response (its handler
cannot drain a request body it did not read). Clients of the sandbox are botocore clients,
which keep a connection pool per client: with the connection closed after each answer,
every request paid a TCP connect, a new server thread and a 10 ms drain wait, and the
sandbox, not keyplane, became what a large post-apply run measured.

This server keeps connections open. It can, because it reads every request body in full
(Content-Length, or chunked transfer encoding) before the application sees it, and it sends
every response with a Content-Length (the application's output is buffered: the sandbox's
answers are small JSON and XML documents). A request whose framing it cannot read gets 400
and the connection is closed, as HTTP/1.1 requires.
"""

from __future__ import annotations

import contextlib
import io
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["KeepAliveServer", "serve"]

# Idle kept-alive connections are closed after this many seconds (a client's pool reconnects).
IDLE_TIMEOUT_S = 30.0
# Larger than any request the sandbox answers (S3 evidence objects included).
MAX_BODY_BYTES = 256 << 20
# Hop-by-hop headers: never passed on from the application's response.
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length",
                  "proxy-authenticate", "proxy-authorization", "te", "trailers", "upgrade"})

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _BadFraming(Exception):
    """A request body whose length cannot be read: answered 400, connection closed."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # kept-alive unless the client says otherwise
    timeout = IDLE_TIMEOUT_S
    # An answer is headers then body on a kept-alive connection: with Nagle's algorithm the
    # body would wait for the client's delayed ACK of the headers (40 ms on Linux).
    disable_nagle_algorithm = True
    server: KeepAliveServer

    def log_message(self, format: str, *args: Any) -> None:
        """No log line per request (the sandbox prints its own)."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise _BadFraming(f"Content-Length {raw!r} is not a number") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise _BadFraming(f"Content-Length {length} is out of range")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadFraming("a chunk size is not hexadecimal") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers: read and dropped
                return bytes(out)
            if len(out) + size > MAX_BODY_BYTES:
                raise _BadFraming("the chunked body is too large")
            out += self.rfile.read(size)
            self.rfile.readline(2)

    def _environ(self, body: bytes) -> dict[str, Any]:
        url = urlsplit(self.path)
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "REQUEST_METHOD": self.command, "SCRIPT_NAME": "",
            "PATH_INFO": unquote(url.path, "latin-1"), "QUERY_STRING": url.query,
            "REQUEST_URI": self.path, "RAW_URI": self.path,
            "SERVER_NAME": str(host), "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0], "REMOTE_PORT": self.client_address[1],
            "CONTENT_LENGTH": str(len(body)),
        }
        for key, value in self.headers.items():
            if "_" in key:  # WSGI cannot tell X_Foo from X-Foo: dropped, as werkzeug does
                continue
            name = key.upper().replace("-", "_")
            if name in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                continue
            if name == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
                continue
            name = f"HTTP_{name}"
            environ[name] = f"{environ[name]},{value}" if name in environ else value
        return environ

    def _answer(self) -> None:
        try:
            body = self._read_body()
        except _BadFraming as exc:
            self.close_connection = True
            self.send_error(400, str(exc))
            return
        status: list[str] = []
        headers: list[tuple[str, str]] = []

        def start_response(st: str, hs: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[:] = [st]
            headers[:] = hs
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        result = self.server.app(self._environ(body), start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        payload = b"".join(chunks)
        code, _, reason = (status[0] if status else "500 Internal Server Error").partition(" ")
        head_only = self.command == "HEAD" or int(code) in (204, 304) or int(code) < 200
        lines = [f"{self.protocol_version} {int(code)} {reason}",
                 f"Server: {self.version_string()}", f"Date: {self.date_time_string()}"]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in _HOP]
        if not head_only:
            lines.append(f"Content-Length: {len(payload)}")
        if self.close_connection:
            lines.append("Connection: close")
        # status, headers and body in one write
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if head_only else head + payload)

    def handle_one_request(self) -> None:
        """One request; a client that went away or idled past the timeout ends the loop."""
        try:
            super().handle_one_request()
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # every method goes to the application
            return self._answer
        raise AttributeError(name)


class KeepAliveServer(ThreadingHTTPServer):
    """A thread per connection (not per request), daemon threads, the WSGI `app`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: WsgiApp) -> None:
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve one connection, remembered so that closing the server closes it too."""
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def server_close(self) -> None:
        """Stop listening and end every kept-alive connection: a stopped sandbox answers
        nothing, on new connections or old ones."""
        super().server_close()
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)



def serve(host: str, port: int, app: WsgiApp, name: str) -> tuple[KeepAliveServer,
                                                                    threading.Thread]:
    """Bind `app` on host:port and serve it from a daemon thread; (server, thread)."""
    server = KeepAliveServer((host, port), app)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name=name)
    thread.start()
    return server, thread
