"""Real NATS servers for the suites and the benchmark: a cluster of nats-server children with
JetStream on free loopback ports (routes between them, a store directory each), and a small client
of the NATS protocol, written from its documentation, to read a stream back through the JetStream
API. It shares no code with inlet's edge, so what it reads is what the servers hold. bench/run's
NATS scenarios start their servers with it too (it imports only tests/loopback_ports.py)."""
import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.request

from loopback_ports import free_port

AVAILABLE = shutil.which("nats-server") is not None


class NatsCluster:
    """`size` nats-server processes with JetStream, clustered by routes when size > 1; kill(i) is
    kill -9, start(i) brings server i back on the same ports and store."""

    def __init__(self, directory, size=3, name="inlet-test", extra_args=()):
        self.directory = directory
        self.size = size
        self.name = name
        self.extra_args = list(extra_args)  # for every server: TLS, users
        self.client_ports = [free_port() for _ in range(size)]
        self.route_ports = [free_port() for _ in range(size)]
        self.monitor_ports = [free_port() for _ in range(size)]
        self.procs = [None] * size
        for i in range(size):
            self.start(i, wait=False)
        for i in range(size):
            self.wait_healthy(i)

    @property
    def urls(self):
        return [f"nats://127.0.0.1:{port}" for port in self.client_ports]

    def start(self, i, wait=True):
        store = self.directory / f"n{i}"
        store.mkdir(parents=True, exist_ok=True)
        args = ["nats-server", "-a", "127.0.0.1", "-p", str(self.client_ports[i]), "-m", str(self.monitor_ports[i]),
                "-js", "-sd", str(store), "--server_name", f"n{i}", "-l", str(store / "server.log")]
        args += self.extra_args
        if self.size > 1:
            routes = ",".join(f"nats://127.0.0.1:{port}" for j, port in enumerate(self.route_ports) if j != i)
            args += ["--cluster_name", self.name, "--cluster", f"nats://127.0.0.1:{self.route_ports[i]}",
                     "--routes", routes]
        self.procs[i] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait:
            self.wait_healthy(i)

    def wait_healthy(self, i, timeout=30):
        """Until the server's monitor says it is healthy (JetStream up; in a cluster, a meta leader known)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[i].poll() is not None:
                raise RuntimeError(f"nats-server n{i} exited with {self.procs[i].returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_ports[i]}/healthz",
                                            timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"nats-server n{i} did not become healthy")

    def kill(self, i):
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def stop(self):
        for i in range(self.size):
            self.kill(i)

    def live(self):
        return [i for i, proc in enumerate(self.procs) if proc is not None and proc.poll() is None]

    def jetstream_messages(self, i=None):
        """How many messages the server's JetStream holds, from its monitoring port (/jsz): works
        whatever the client port asks for (TLS, credentials)."""
        i = self.live()[0] if i is None else i
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_ports[i]}/jsz", timeout=5) as response:
            return json.load(response)["messages"]

    def client(self, timeout=10):
        """A client on the first live server."""
        return NatsClient(self.client_ports[self.live()[0]], timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class NatsClient:
    """The NATS text protocol on one socket: CONNECT, SUB, PUB and request/reply, enough for the
    JetStream API."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        info = self.file.readline()
        assert info.startswith(b"INFO "), info
        connect = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True, "protocol": 1,
                   "name": "inlet-test-reader", "lang": "python", "version": "0"}
        self.sock.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        self._until_pong()
        self.next_sid = 1

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _until_pong(self):
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("nats-server closed the connection")
            if line.startswith(b"PONG"):
                return
            if line.startswith(b"-ERR"):
                raise RuntimeError(line.decode().strip())

    def request(self, subject, payload=b""):
        """Publishes with a fresh inbox as reply and returns (headers bytes or None, payload)."""
        sid = self.next_sid
        self.next_sid += 1
        inbox = f"_INBOX.inlet_test.{sid}"
        if isinstance(payload, str):
            payload = payload.encode()
        self.sock.sendall(f"SUB {inbox} {sid}\r\nUNSUB {sid} 1\r\nPUB {subject} {inbox} {len(payload)}\r\n".encode()
                          + payload + b"\r\n")
        return self._reply(sid)

    def publish(self, subject, payload, headers):
        """A JetStream publish with headers (HPUB), as any client would send it; returns the PubAck."""
        sid = self.next_sid
        self.next_sid += 1
        inbox = f"_INBOX.inlet_test.{sid}"
        block = ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
        self.sock.sendall(f"SUB {inbox} {sid}\r\nUNSUB {sid} 1\r\n".encode()
                          + f"HPUB {subject} {inbox} {len(block)} {len(block) + len(payload)}\r\n".encode()
                          + block + payload + b"\r\n")
        return json.loads(self._reply(sid)[1])

    def _reply(self, sid):
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("nats-server closed the connection")
            if line.startswith(b"PING"):
                self.sock.sendall(b"PONG\r\n")
                continue
            if line.startswith(b"-ERR"):
                raise RuntimeError(line.decode().strip())
            parts = line.split()
            if parts and parts[0] == b"MSG":
                return None, self.file.read(int(parts[-1]) + 2)[:-2]
            if parts and parts[0] == b"HMSG":
                header_len, total = int(parts[-2]), int(parts[-1])
                data = self.file.read(total + 2)[:-2]
                return data[:header_len], data[header_len:]

    def api(self, subject, body=None):
        headers, data = self.request("$JS.API." + subject, json.dumps(body).encode() if body is not None else b"")
        if headers is not None and b" 503" in headers.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"no responders for $JS.API.{subject}")
        reply = json.loads(data)
        if "error" in reply:
            raise RuntimeError(f"$JS.API.{subject}: {reply['error']}")
        return reply

    def stream_info(self, stream):
        return self.api(f"STREAM.INFO.{stream}")

    def messages(self, stream):
        """Every message of the stream, oldest first: {"seq", "subject", "headers" (dict), "data"}."""
        state = self.stream_info(stream)["state"]
        out = []
        if state["messages"] == 0:
            return out
        seq = state["first_seq"]
        while seq <= state["last_seq"]:
            try:
                message = self.api(f"STREAM.MSG.GET.{stream}", {"seq": seq})["message"]
            except RuntimeError as e:
                if "no message found" in str(e):
                    seq += 1
                    continue
                raise
            out.append({"seq": message["seq"], "subject": message["subject"],
                        "headers": parse_headers(base64.b64decode(message.get("hdrs", ""))),
                        "data": base64.b64decode(message.get("data", ""))})
            seq += 1
        return out


def parse_headers(block):
    """NATS/1.0 header block -> dict of name -> value (last wins)."""
    headers = {}
    for line in block.decode().split("\r\n")[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip()] = value.strip()
    return headers


def stream_messages(cluster, stream, attempts=20):
    """The stream's messages from any live server, retried while its leader is being elected."""
    last = None
    for _ in range(attempts):
        try:
            with cluster.client() as client:
                return client.messages(stream)
        except (RuntimeError, OSError) as e:
            last = e
            time.sleep(0.5)
    raise RuntimeError(f"could not read stream {stream}: {last}")
