"""A small threaded HTTP/1.1 WSGI server that keeps connections alive.

werkzeug's development server (what moto's server uses) closes the connection after every
response and does the TLS handshake on its accept loop. SDK clients pool connections, so reusing
them saves a TCP (and TLS) handshake and a new server thread per call: the emulator answers
noticeably more calls per second. The emulator app always reads the whole request body and always
answers with a Content-Length, which is what makes keep-alive safe here.

An app that sets ``environ[DROP_CONNECTION]`` has its answer thrown away and the connection closed with nothing
sent: the client sees the connection reset, as when a server or a network path fails mid-call.
"""

from __future__ import annotations

import http.server
import io
import json
import logging
import socket
import socketserver
import ssl
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
IDLE_TIMEOUT = 120.0
MAX_LINE = 65536
# The largest request body read (firmware uploads included); a larger one is refused with 413.
MAX_BODY = 512 * 1024 * 1024
DROP_CONNECTION = "iotfleet.drop_connection"


class BadRequest(Exception):
    """A request whose framing cannot be read; answered with ``status`` and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "iotfleet-emulator"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    server: EmulatorHTTPServer

    def handle_one_request(self) -> None:
        # What an error answer needs, before the request line is known (parse_request sets them).
        self.command, self.requestline, self.request_version = "", "", self.default_request_version
        try:
            self.raw_requestline = self.rfile.readline(MAX_LINE + 1)
        except (TimeoutError, ConnectionError, ssl.SSLError):
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > MAX_LINE:
            self.send_error(414)
            return
        if not self.parse_request():  # sends its own error; answers "Expect: 100-continue"
            return
        try:
            self._run_wsgi()
        except (ConnectionError, TimeoutError, ssl.SSLError):
            self.close_connection = True
        except Exception:  # the server boundary: a request that breaks the server still gets an answer
            log.exception("error serving %s %s", self.command, self.path)
            self.send_error(500, "the iotfleet emulator could not handle this request")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors the server answers itself (a malformed request line or header) as JSON, like the app's."""
        reason = self.responses.get(code, ("Error", ""))[0]
        body = json.dumps({"__type": reason.replace(" ", ""), "message": message or reason}).encode("utf-8")
        self.close_connection = True
        if self.request_version == "HTTP/0.9":
            # An unreadable (or unread) request line: still answer with a status line and headers.
            self.request_version = "HTTP/1.0"
        try:
            self.send_response(code, reason)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except (ConnectionError, TimeoutError, ssl.SSLError):
            return  # the client is gone

    def _read_body(self) -> bytes:
        """The request body, or :class:`BadRequest` for a framing this server cannot read safely."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(MAX_LINE + 1)
                try:
                    size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                except ValueError:
                    raise BadRequest(400, "a chunk size is not a hexadecimal number") from None
                if size < 0:
                    raise BadRequest(400, "a chunk size is negative")
                total += size
                if total > MAX_BODY:
                    raise BadRequest(413, f"the body is larger than {MAX_BODY} bytes")
                if size == 0:
                    while self.rfile.readline(MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                part = self.rfile.read(size)
                if len(part) < size:
                    raise BadRequest(400, f"a chunk ended after {len(part)} of its {size} bytes")
                parts.append(part)
                self.rfile.readline(MAX_LINE + 1)
        header = (self.headers.get("Content-Length") or "0").strip()
        if not header.isdigit():
            raise BadRequest(400, f"Content-Length {header!r} is not a whole number of bytes")
        length = int(header)
        if length > MAX_BODY:
            raise BadRequest(413, f"the body is larger than {MAX_BODY} bytes")
        body = self.rfile.read(length) if length > 0 else b""
        if len(body) < length:
            # The client went away mid-request (killed, say): what arrived is not the request it meant.
            raise BadRequest(400, f"the body ended after {len(body)} of its {length} bytes")
        return body

    def _environ(self, body: bytes) -> dict[str, Any]:
        target = self.path
        path, _, query = target.partition("?")
        if "://" in path:  # absolute-form request target
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        server = self.server
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": target,
            "REQUEST_URI": target,
            "SERVER_NAME": server.server_name,
            "SERVER_PORT": str(server.server_port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0] if self.client_address else "",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if server.ssl_context is not None else "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        preserved: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            if "_" in name:
                if server.underscore_headers is None or not server.underscore_headers.keep(name):
                    continue  # a header spelled with "_" must not stand in for one spelled with "-"
                preserved[f"HTTP_{key}"] = name
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                if key == "CONTENT_TYPE":
                    environ[key] = value
                continue
            key = f"HTTP_{key}"
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        if preserved and server.underscore_headers is not None:
            environ[server.underscore_headers.environ_key] = preserved
        return environ

    def _run_wsgi(self) -> None:
        try:
            body = self._read_body()
        except BadRequest as bad:
            self.send_error(bad.status, bad.message)
            return
        environ = self._environ(body)
        response: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            response["status"] = status
            response["headers"] = headers
            return lambda data: None

        result = self.server.app(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if environ.get(DROP_CONNECTION):
            self.close_connection = True
            log.debug("dropped the connection of %s %s without an answer", self.command, self.path)
            return
        if (self.headers.get("Connection") or "").lower() == "close" or self.request_version != "HTTP/1.1":
            self.close_connection = True
        lines = [f"HTTP/1.1 {response['status']}\r\n"]
        names = set()
        for name, value in response["headers"]:
            names.add(name.lower())
            lines.append(f"{name}: {value}\r\n")
        if "content-length" not in names:
            lines.append(f"Content-Length: {len(content)}\r\n")
        if "date" not in names:
            lines.append(f"Date: {self.date_time_string()}\r\n")
        if self.close_connection:
            lines.append("Connection: close\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        if self.command == "HEAD":
            self.wfile.write(head)
        else:
            self.wfile.write(head + content)
        self.wfile.flush()
        if self.server.access_log:
            self.log_request(response["status"].split(" ", 1)[0], len(content))

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


@dataclass(frozen=True)
class UnderscoreHeaders:
    """Which header names containing ``_`` to pass on (others are dropped, as WSGI servers do), and the
    environ key under which their original spelling is recorded for the app."""

    keep: Callable[[str], bool]
    environ_key: str


class EmulatorHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """Threaded HTTP/1.1 (optionally TLS) server for one WSGI app; ``serve_forever()``/``shutdown()``."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        host: str,
        port: int,
        app: WsgiApp,
        *,
        ssl_context: ssl.SSLContext | None = None,
        access_log: bool = False,
        underscore_headers: UnderscoreHeaders | None = None,
    ) -> None:
        self.app = app
        self.underscore_headers = underscore_headers
        self._connections: set[Any] = set()
        self._connections_lock = threading.Lock()
        self.ssl_context = ssl_context
        self.access_log = access_log
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn), which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Runs on the connection's own thread, so a slow TLS handshake never blocks accepting others."""
        with self._connections_lock:
            self._connections.add(request)
        try:
            if self.ssl_context is None:
                super().finish_request(request, client_address)
                return
            try:
                secure = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.debug("TLS handshake with %s failed: %s", client_address, exc)
                return
            with self._connections_lock:
                self._connections.discard(request)
                self._connections.add(secure)
                request = secure
            try:
                super().finish_request(secure, client_address)
            finally:
                secure.close()
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def server_close(self) -> None:
        """Stop listening and end the kept-alive connections, so no client reaches the app afterwards."""
        super().server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue  # already closed by the client

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("error serving %s", client_address)
