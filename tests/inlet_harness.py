"""Starts the real `inlet` binary for integration tests and talks HTTP to it over real sockets.

    with InletNode(tmp_path, {"limits": {"max_body_bytes": 1000}}) as node:
        status, headers, body = node.post(b'{"a": 1}')
        assert status == 200
        assert node.read_queue()[0]["body"] == {"a": 1}

With INLET_TEST_TLS=1 (the suites registered again as `*_tls` in tests/CMakeLists.txt) every node
serves `listen` over TLS with a test CA's certificate, and every connection made here (`post`,
`connection`, RawConnection, raw_exchange, connect) speaks TLS to it: the same tests then check
the same contract over TLS.
"""
import copy
import http.client
import json
import os
import signal as signals
import socket
import ssl
import subprocess
import tempfile
import time

import yaml

from loopback_ports import free_port  # noqa: F401  (the suites import it from here)

BINARY = os.environ.get("INLET_BINARY", "build/runtime/inlet")
CORPUS_DIR = os.environ.get("INLET_CORPUS_DIR", os.path.join(os.path.dirname(__file__), "..", "..",
                                                              "shared", "corpus", "github-webhooks"))
GENERATED_PAYLOAD_DIR = os.environ.get("INLET_GENERATED_PAYLOAD_DIR")
TLS = os.environ.get("INLET_TEST_TLS") == "1"
_tls_files = None


def tls_files():
    """(CA certificate, server certificate, server key) for TLS mode, made once per process."""
    global _tls_files
    if _tls_files is None:
        import tls_certs
        ca = tls_certs.TestCA(tempfile.mkdtemp(prefix="inlet-tls-"))
        _tls_files = (ca.cert, *ca.server("server", serial=0x5EED))
    return _tls_files


def client_tls_context():
    return ssl.create_default_context(cafile=tls_files()[0])


def connect(port, timeout=5.0):
    """A connection to a node's port: TCP, or TLS in TLS mode (handshake done)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if TLS:
        sock = client_tls_context().wrap_socket(sock, server_hostname="localhost")
    return sock


def wait_for(predicate, timeout=20, what="the condition"):
    """Polls `predicate` every 50 ms until it returns something true, and returns that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def payload_files():
    """The generated payloads (tests/payload_generator.py), then the GitHub corpus where it exists
    beside the checkout. A bare clone has only the first, and every suite passes on it."""
    global GENERATED_PAYLOAD_DIR
    if GENERATED_PAYLOAD_DIR is None:  # run outside ctest: generate them once
        import tempfile
        import payload_generator
        GENERATED_PAYLOAD_DIR = tempfile.mkdtemp(prefix="inlet-payloads-")
        payload_generator.write(GENERATED_PAYLOAD_DIR)
    files = [os.path.join(GENERATED_PAYLOAD_DIR, f) for f in sorted(os.listdir(GENERATED_PAYLOAD_DIR))
             if f.endswith(".json")]
    assert files, f"no generated payloads in {GENERATED_PAYLOAD_DIR}: re-run cmake"
    if os.path.isdir(CORPUS_DIR):
        files += sorted(os.path.join(CORPUS_DIR, f) for f in os.listdir(CORPUS_DIR) if f.endswith(".json"))
    return files


def payload_bodies():
    bodies = []
    for path in payload_files():
        with open(path, "rb") as f:
            bodies.append(f.read())
    return bodies


def merge(base, override):
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def run_inlet(*args, input=None, timeout=60):
    return subprocess.run([BINARY, *args], input=input, capture_output=True, timeout=timeout)


class InletNode:
    """One `inlet serve` process on a free port with a queue under tmp_path (ack: write by default)."""

    def __init__(self, tmp_path, overrides=None, start=True):
        self.tmp_path = tmp_path
        self.port = free_port()
        self.admin_port = free_port()
        self.queue_dir = str(tmp_path / "queue")
        config = {
            "node": {"name": "test-node"},
            "listen": f"127.0.0.1:{self.port}",
            "admin_listen": f"127.0.0.1:{self.admin_port}",
            "threads": 1,
            "edges": [{"name": "main", "queue": {"type": "log", "dir": self.queue_dir, "ack": "write"}}],
        }
        if TLS:
            _, cert, key = tls_files()
            config["tls"] = {"cert_file": cert, "key_file": key}
        self.config = merge(config, copy.deepcopy(overrides or {}))
        self.config_path = tmp_path / "node.yaml"
        self.log_path = tmp_path / "inlet.log"
        self.proc = None
        self.write_config()
        if start:
            self.start()

    def write_config(self, config=None):
        self.config_path.write_text(yaml.safe_dump(config or self.config, sort_keys=False))

    def start(self, timeout=30):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BINARY, "serve", "--config", str(self.config_path)],
                                     stdout=self.log_file, stderr=subprocess.STDOUT, cwd=self.tmp_path)
        # Every listener the config has: the admin one opens just after the main one, and a test
        # that asks /readyz first met it closed (CI, under ASan). A consumers-only process (no
        # listen:) answers on its admin port alone.
        ports = [self.port] if "listen" in self.config else []
        if "admin_listen" in self.config or not ports:
            ports.append(self.admin_port)
        deadline = time.monotonic() + timeout
        while ports and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"inlet exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                socket.create_connection(("127.0.0.1", ports[0]), timeout=0.2).close()
                ports.pop(0)
            except OSError:
                time.sleep(0.05)
        if ports:
            raise RuntimeError(f"inlet did not listen on {ports[0]}:\n{self.logs()}")
        return self

    def logs(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_events(self):
        events = []
        for line in self.logs().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
        return events

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=None, timeout=30):
        sig = signals.SIGTERM if sig is None else sig
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.stop()
        finally:
            if getattr(self, "log_file", None):
                self.log_file.close()

    def connection(self, timeout=10):
        if TLS:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=client_tls_context())
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def post(self, body, headers=None, path="/", method="POST", timeout=10):
        """One request on a fresh connection; returns (status, headers dict lower-cased, body bytes)."""
        if headers is None:
            headers = {"Content-Type": "application/json"}
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def admin_get(self, path, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def metric(self, name, **labels):
        """The value of one sample on /metrics (labels must match exactly those given), or None."""
        _, text = self.admin_get("/metrics")
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for line in text.decode().splitlines():
            series, _, value = line.rpartition(" ")
            if series == (f"{name}{{{want}}}" if want else name):
                return float(value)
        return None

    def read_queue(self, queue_dir=None, start=0):
        result = run_inlet("queue", "read", "--dir", queue_dir or self.queue_dir, "--from", str(start))
        if result.returncode != 0:
            raise RuntimeError(f"inlet queue read failed: {result.stderr.decode()}")
        # JSON Lines end at "\n" only: str.splitlines() would also split inside strings that hold
        # U+2028, U+0085 and the like, which JSON allows raw.
        return [json.loads(line) for line in result.stdout.decode().split("\n") if line.strip()]


def raw_exchange(port, data, read_timeout=5.0, until_closed=False):
    """Sends raw bytes and returns everything the server answers (until it closes or goes quiet)."""
    with connect(port, timeout=read_timeout) as sock:
        sock.sendall(data)
        chunks = []
        sock.settimeout(0.5 if not until_closed else read_timeout)
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except ssl.SSLEOFError:  # TLS mode: a close without close_notify is still a close
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def read_log_records(queue_dir, verify_crc=False):
    """Parses the log queue's segment files directly (format in runtime/queue/log_queue.h) and
    returns [(offset, attributes dict, raw body bytes)], stopping at a torn or zeroed tail."""
    import struct
    records = []
    names = sorted(n for n in os.listdir(queue_dir)
                   if len(n) == 24 and n.endswith(".log") and n[:20].isdigit())
    for name in names:
        offset = int(name[:20])
        with open(os.path.join(queue_dir, name), "rb") as f:
            data = f.read()
        pos = 0
        while pos + 12 <= len(data):
            length, crc, attributes_length = struct.unpack_from("<III", data, pos)
            if length < 4 or pos + 8 + length > len(data):
                break
            payload = data[pos + 8:pos + 8 + length]
            if verify_crc and crc32c(payload) != crc:
                raise ValueError(f"{name}: record {offset} at byte {pos}: CRC mismatch")
            attributes = json.loads(payload[4:4 + attributes_length])
            records.append((offset, attributes, payload[4 + attributes_length:]))
            offset += 1
            pos += 8 + length
    return records


_CRC32C_TABLE = []


def crc32c(data):
    """CRC-32C (Castagnoli), pure Python: fine for a few records, slow for megabytes."""
    if not _CRC32C_TABLE:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            _CRC32C_TABLE.append(c)
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class RawResponse:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"RawResponse({self.status}, {self.headers}, {self.body!r})"


def parse_response(data):
    """Parses one HTTP/1.1 response (Content-Length framed) from the front of `data`.
    Returns (RawResponse, rest) or (None, data) when `data` does not hold a whole response yet."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None, data
    lines = data[:end].decode("latin-1").split("\r\n")
    version, status, *reason = lines[0].split(" ", 2)
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP response: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    length = int(headers.get("content-length", "0"))
    if len(data) < end + 4 + length:
        return None, data
    body = data[end + 4:end + 4 + length]
    return RawResponse(int(status), reason[0] if reason else "", headers, body), data[end + 4 + length:]


def parse_responses(data):
    """Every whole response in `data`, in order."""
    responses = []
    while data:
        response, data = parse_response(data)
        if response is None:
            break
        responses.append(response)
    return responses


class RawConnection:
    """One TCP connection to send raw bytes and read whole responses, for HTTP/1.1 mechanics."""

    def __init__(self, port, timeout=5.0):
        self.sock = connect(port, timeout)
        self.timeout = timeout
        self.pending = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_response(self, timeout=None):
        """The next whole response; raises TimeoutError, or ConnectionError if the peer closed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            response, self.pending = parse_response(self.pending)
            if response is not None:
                return response
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no whole response within the timeout; have {self.pending!r}")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError(f"no whole response within the timeout; have {self.pending!r}")
            except ssl.SSLEOFError:
                chunk = b""
            if not chunk:
                raise ConnectionError(f"connection closed; have {self.pending!r}")
            self.pending += chunk

    def wait_closed(self, timeout):
        """True if the server closes (EOF or reset) within `timeout` seconds; data is discarded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionError, ssl.SSLEOFError):
                return True
            if not chunk:
                return True
            self.pending += chunk
        return False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def post_request(body, content_type="application/json", path="/", extra_headers=(), method="POST"):
    """The bytes of one HTTP/1.1 request with a Content-Length body."""
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if content_type is not None:
        head.append(f"Content-Type: {content_type}")
    head.extend(extra_headers)
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
