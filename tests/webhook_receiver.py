"""A real webhook receiver for the delivery tests: an HTTP/1.1 (or HTTPS) server on a free loopback
port that records every request, checks its signature with Python's own `hmac` (an implementation
independent of inlet's), and answers as the test scripts it.

    with Receiver(verify=("standard_webhooks", "whsec_...")) as receiver:
        receiver.script("500", "429 retry-after=1", "200")   # the next three requests, in order
        ... deliver ...
        receiver.wait_for(3)
        assert all(r.signature_ok for r in receiver.requests)

Actions (after the script runs out, `default` answers):
    "200", "410", "500 ..."     that status, with an optional `retry-after=V` header
    "stall S"                  read the request, answer nothing for S seconds, then close
    "reset"                    read the request, then close with a TCP reset (SO_LINGER 0)
    "endless"                  answer 200 with a chunked body that never ends
    a callable(request)        returns one of the above, per request
"""
import base64
import collections
import hashlib
import hmac
import socket
import socketserver
import ssl
import struct
import threading
import time

# The Standard Webhooks specification's published test vector (standard-webhooks/spec, and the
# reference libraries' tests): this secret, id, timestamp and payload sign to this value.
STANDARD_WEBHOOKS_VECTOR = {
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "timestamp": "1614265330",
    "payload": b'{"test": 2432232314}',
    "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}


def standard_webhooks_signature(secret, message_id, timestamp, body):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def check_signature(scheme, secret, headers, body):
    """Whether `headers` carry a valid `scheme` signature of `body` under `secret`, and why not."""
    if scheme == "servo":
        want = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        return hmac.compare_digest(headers.get("x-servo-signature", ""), want), "x-servo-signature"
    if scheme == "github":
        want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(headers.get("x-hub-signature-256", ""), want), "x-hub-signature-256"
    if scheme == "standard_webhooks":
        message_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        if not message_id or not timestamp.isdigit():
            return False, "webhook-id / webhook-timestamp"
        want = standard_webhooks_signature(secret, message_id, timestamp, body)
        # The header may list several space-separated signatures (key rotation): one must match.
        given = headers.get("webhook-signature", "").split()
        return any(hmac.compare_digest(g, want) for g in given), "webhook-signature"
    if isinstance(scheme, tuple) and scheme[0] == "hmac":  # ("hmac", header, prefix)
        _, header, prefix = scheme
        want = prefix + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(headers.get(header, ""), want), header
    raise ValueError(f"unknown scheme {scheme!r}")


class Request:
    def __init__(self, method, target, headers, body, at, connection):
        self.method, self.target, self.headers, self.body = method, target, headers, body
        self.at = at                  # time.monotonic() when the request had arrived whole
        self.connection = connection  # a number per TCP connection: equal numbers, one kept-alive socket
        self.signature_ok = None      # True/False when the receiver verifies, else None
        self.action = None

    @property
    def tracking_id(self):
        return self.headers.get("x-inlet-tracking-id")

    def __repr__(self):
        return f"<{self.method} {self.target} {self.tracking_id} -> {self.action}>"


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        receiver = self.server.receiver
        sock = self.request
        if receiver.tls_context is not None:
            try:
                sock = receiver.tls_context.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError) as e:
                receiver.handshake_errors.append(str(e))
                return
        with receiver.lock:
            receiver.connections += 1
            connection = receiver.connections
        reader = sock.makefile("rb")
        try:
            while self.serve_one(receiver, sock, reader, connection):
                pass
        except (OSError, ValueError):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def serve_one(self, receiver, sock, reader, connection):
        line = reader.readline(65536)
        if not line:
            return False
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers = {}
        while True:
            field = reader.readline(65536)
            if field in (b"\r\n", b"\n", b""):
                break
            name, _, value = field.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = reader.read(int(headers.get("content-length", "0")))
        request = Request(method, target, headers, body, time.monotonic(), connection)
        if receiver.verify is not None:
            request.signature_ok, _ = check_signature(*receiver.verify, headers, body)
        action = receiver.next_action(request)
        request.action = action
        with receiver.lock:
            receiver.requests.append(request)
            receiver.arrived.notify_all()
        if receiver.delay:
            time.sleep(receiver.delay)
        word, _, rest = action.partition(" ")
        if word == "stall":
            time.sleep(float(rest))
            return False
        if word == "reset":
            raw = sock if not isinstance(sock, ssl.SSLSocket) else sock
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if word == "endless":
            sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n%s\r\n" % (16384, b"x" * 16384)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not receiver.closed:
                sock.sendall(chunk)  # raises once the client hangs up
            return False
        status = int(word)
        extra = ""
        for option in rest.split():
            key, _, value = option.partition("=")
            if key == "retry-after":
                extra += f"Retry-After: {value}\r\n"
        answer = b'{"received": true}' if status < 300 else b'{"error": "scripted"}'
        sock.sendall((f"HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\n{extra}"
                      f"Content-Length: {len(answer)}\r\n\r\n").encode() + answer)
        return headers.get("connection", "").lower() != "close"


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Receiver:
    """The server; a context manager that starts it on enter and stops it on exit."""

    def __init__(self, verify=None, tls=None, default="200", delay=0.0):
        """verify: (scheme, secret), see check_signature. tls: (cert_file, key_file). delay: seconds
        to wait before answering each request (a slow endpoint)."""
        self.verify, self.default, self.delay = verify, default, delay
        self.tls_context = None
        if tls is not None:
            self.tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_context.load_cert_chain(*tls)
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.requests = []
        self.handshake_errors = []
        self.connections = 0
        self.closed = False
        self._script = collections.deque()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self.port = self._server.server_address[1]
        self._thread = None

    @property
    def url(self):
        scheme = "https" if self.tls_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}/hooks"

    def script(self, *actions):
        with self.lock:
            self._script.extend(actions)

    def next_action(self, request):
        with self.lock:
            action = self._script.popleft() if self._script else self.default
        return action(request) if callable(action) else action

    def wait_for(self, count, timeout=20, predicate=None):
        """Waits until `count` requests (that match `predicate`, when given) have arrived."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                matching = [r for r in self.requests if predicate is None or predicate(r)]
                if len(matching) >= count:
                    return matching
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {count} requests; got {self.requests}")
                self.arrived.wait(left)

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.closed = True
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
