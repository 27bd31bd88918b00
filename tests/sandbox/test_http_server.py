"""The sandbox's HTTP/1.1 server: kept-alive connections, request framing, and stopping.

A plain WSGI application stands behind the server here, so what is tested is the server's
framing alone (the AWS front behind it is tested through boto3 in test_server.py).
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from keyplane.sandbox.http_server import KeepAliveServer, serve


def echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Answers with what it was asked: method, path, query, body, and the client's port."""
    body = environ["wsgi.input"].read()
    doc = {"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"],
           "query": environ["QUERY_STRING"], "body": body.decode("latin-1"),
           "port": environ["REMOTE_PORT"], "target": environ.get("HTTP_X_AMZ_TARGET"),
           "underscored": environ.get("HTTP_X_UNDER_SCORE")}
    start_response("200 OK", [("Content-Type", "application/json"), ("Connection", "keep-alive")])
    return [json.dumps(doc).encode()]


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    srv, thread = serve("127.0.0.1", 0, echo, "test-keepalive")
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _ask(conn: http.client.HTTPConnection, method: str, path: str, body: bytes = b"",
         headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, dict[str, Any]]:
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    return resp, json.loads(resp.read())


def test_requests_on_one_connection_are_answered_over_that_connection(server: KeepAliveServer
                                                                       ) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    first, a = _ask(conn, "POST", "/", b'{"KeyId": "1"}', {"X-Amz-Target": "TrentService.X"})
    second, b = _ask(conn, "GET", "/a%20b?x=1")
    assert first.status == second.status == 200
    assert a["body"] == '{"KeyId": "1"}' and a["target"] == "TrentService.X"
    assert b["path"] == "/a b" and b["query"] == "x=1" and b["method"] == "GET"
    assert a["port"] == b["port"]  # the same client socket: the connection was kept
    assert first.getheader("Connection") is None  # the application's hop header is dropped
    assert int(first.getheader("Content-Length") or -1) > 0
    conn.close()


def test_a_chunked_body_is_read_whole(server: KeepAliveServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    conn.request("PUT", "/obj", body=iter([b"hello ", b"world"]),
                 headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
    resp = conn.getresponse()
    assert json.loads(resp.read())["body"] == "hello world"
    _, again = _ask(conn, "GET", "/after")  # the framing held: the next request is intact
    assert again["path"] == "/after"
    conn.close()


def test_an_unreadable_content_length_is_refused_and_the_connection_closed(
        server: KeepAliveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400")
    assert b"Connection: close" in data


def test_headers_with_underscores_are_dropped(server: KeepAliveServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    _, doc = _ask(conn, "GET", "/", headers={"X_Under_Score": "spoof"})
    assert doc["underscored"] is None  # WSGI cannot tell X_Under_Score from X-Under-Score
    conn.close()


def test_a_client_that_asks_to_close_gets_its_connection_closed(server: KeepAliveServer
                                                                ) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    resp, _ = _ask(conn, "GET", "/", headers={"Connection": "close"})
    assert resp.getheader("Connection") == "close"
    conn.close()


def test_stopping_the_server_ends_its_kept_alive_connections() -> None:
    srv, thread = serve("127.0.0.1", 0, echo, "test-keepalive-stop")
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_port, timeout=10)
    _ask(conn, "GET", "/")
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)
    # a stopped sandbox answers nothing, on the connection a client kept either
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/again")
        conn.getresponse().read()
    conn.close()
