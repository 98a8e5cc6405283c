"""The servers bench/run measures (inlet, nginx, the FastAPI peer) and the processes around them.

Every process is started in its own session, recorded in PROCESSES, and stopped by stop_all(),
which bench/run calls from a `finally` and from its signal handlers, so nothing outlives a run.
CPU and memory are read from /proc for the server's whole process tree (nginx's master and worker).
"""
import getpass
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from loopback_ports import free_port  # noqa: E402  (one definition for the suites and the benchmark)

PROCESSES = []
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class StartError(Exception):
    """A server did not come up; the message says why, with the tail of its log."""


def spawn(argv, log_path, cpus=None, env=None):
    if cpus:
        argv = ["taskset", "-c", cpus] + list(argv)
    log = open(log_path, "ab")
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True, env=env)
    log.close()
    PROCESSES.append(process)
    return process


def stop(process, sig=signal.SIGTERM, timeout=10.0):
    """Stops one process we started and everything in its session; returns its exit code."""
    if process.poll() is None:
        try:
            os.kill(process.pid, sig)
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the session's leftovers (workers), by our own pgid
    except (ProcessLookupError, PermissionError):
        pass
    try:
        code = process.wait(5)
    except subprocess.TimeoutExpired:
        code = None
    if process in PROCESSES:
        PROCESSES.remove(process)
    return code


def stop_all():
    for process in list(reversed(PROCESSES)):
        stop(process, timeout=3.0)


def process_tree(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pid):
    """utime + stime of the process tree rooted at pid (the taskset wrapper execs, so pid is the server)."""
    total = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total / CLOCK_TICKS


def wait_idle(pid, timeout=15.0, busy_fraction=0.05):
    """Waits until the server tree uses under 5% of a core, so leftovers of one run do not skew the next."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.2)
        if cpu_seconds(pid) - before <= 0.2 * busy_fraction:
            return True
    return False


def memory_kib(pid, field):
    """Sum of a /proc/<pid>/status field (VmRSS, VmHWM) over the process tree, in KiB."""
    total = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/status") as status:
                for line in status:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def log_tail(path, lines=8):
    try:
        text = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def make_certificate(folder):
    """A self-signed EC P-256 certificate for 127.0.0.1, made once per run: (certificate, key).
    wrk does not verify it; what is measured is the handshake and the record layer."""
    cert, key = folder / "bench.crt", folder / "bench.key"
    if not cert.exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                        "-days", "2", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
    return cert, key


def send_raw(port, request, timeout=10.0, tls=False):
    """Sends one raw request and returns (status, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as plain:
        connection = plain
        if tls:
            import ssl
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            connection = context.wrap_socket(plain)
        connection.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1."):
            return 0, data[:200]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = connection.recv(65536)
            if not chunk:
                break
            body += chunk
        return int(head.split()[1]), body


class Server:
    """One running server: its process, port and log. Subclasses write the config and the argv."""

    kind = "server"

    def __init__(self, workdir, scenario, cpus):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.scenario = scenario
        self.cpus = cpus
        self.port = free_port()
        self.log = self.workdir / "server.log"
        self.process = None
        self.exit_code = None
        self.tls_files = None  # (certificate, key) when the scenario measures TLS

    def use_tls(self, files):
        self.tls_files = files

    def argv(self):
        raise NotImplementedError

    def start(self, timeout=20.0):
        self.process = spawn(self.argv(), self.log, self.cpus)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StartError(f"{self.kind} exited with code {self.process.returncode} at start\n"
                                 f"{log_tail(self.log)}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise StartError(f"{self.kind} did not listen on 127.0.0.1:{self.port} within {timeout:.0f} s\n"
                         f"{log_tail(self.log)}")

    @property
    def pid(self):
        return self.process.pid

    def stop(self):
        if self.process is not None:
            self.exit_code = stop(self.process, self.stop_signal())
        return self.exit_code

    def tls_directives(self):
        if not self.tls_files:
            return ""
        cert, key = self.tls_files
        # The same as inlet's: TLS 1.2 and 1.3, a session cache, tickets on (nginx's default).
        return (f"    ssl_certificate {cert};\n    ssl_certificate_key {key};\n"
                "    ssl_protocols TLSv1.2 TLSv1.3;\n"
                "    ssl_session_cache shared:SSL:10m;\n    ssl_session_timeout 5m;\n")

    def stop_signal(self):
        return signal.SIGTERM


class NginxServer(Server):
    """nginx-light, one worker, answering POST / with a fixed 200 after reading and dropping the body.
    With `id_log`, it also writes each request's X-Inlet-Tracking-Id to that file, one per line (the
    delivery scenario counts what arrived)."""

    kind = "nginx"

    def __init__(self, workdir, scenario, cpus, id_log=None):
        super().__init__(workdir, scenario, cpus)
        self.id_log = id_log

    def argv(self):
        prefix = self.workdir
        user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
        temp = "".join(f"  {name}_temp_path {prefix}/{name};\n"
                       for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (prefix / "nginx.conf").write_text(f"""{user}worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
  access_log off;
{self.id_log_directives()}{temp}  client_max_body_size 16m;
  client_body_buffer_size 16m;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {{
    listen 127.0.0.1:{self.port} backlog=4096{" ssl" if self.tls_files else ""};
{self.tls_directives()}    location = / {{
{"      access_log " + str(self.id_log) + " ids buffer=256k;" + chr(10) if self.id_log else ""}      default_type application/json;
      return 200 '{{"tracking_id":"0"}}';
    }}
  }}
}}
""")
        return ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]

    def id_log_directives(self):
        return "  log_format ids '$http_x_inlet_tracking_id';\n" if self.id_log else ""

    def stop_signal(self):
        return signal.SIGQUIT  # graceful: the master waits for its worker (and flushes the log)


class FastApiServer(Server):
    """bench/peers/fastapi_node.py under uvicorn (one worker, uvloop, httptools)."""

    kind = "fastapi"

    def __init__(self, workdir, scenario, cpus, peer_path, auth_source):
        super().__init__(workdir, scenario, cpus)
        self.peer_path = peer_path
        self.auth_source = auth_source

    def argv(self):
        argv = ["/usr/bin/python3", str(self.peer_path), "--port", str(self.port),
                "--queue", str(self.workdir / "queue.log"), "--ack", self.scenario.ack,
                "--max-body-bytes", str(self.scenario.max_body_bytes)]
        if self.auth_source:
            path = self.workdir / "authenticator.py"
            path.write_text(self.auth_source)
            argv += ["--auth-file", str(path)]
        if self.scenario.auth == "github":
            from payloads import GITHUB_SECRET
            argv += ["--github-secret", GITHUB_SECRET]
        return argv


class RedisServer(Server):
    kind = "redis"

    def argv(self):
        return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.workdir), "--protected-mode", "no"]


class InletServer(Server):
    """The inlet node under test, configured per CONTRACT.md section 4."""

    kind = "inlet"

    def __init__(self, workdir, scenario, cpus, binary, auth_source, edge_server=None):
        super().__init__(workdir, scenario, cpus)
        self.binary = binary
        self.auth_source = auth_source
        self.edge_server = edge_server  # RedisServer or tests/nats_cluster.NatsCluster
        self.admin_port = free_port()
        self.config_path = self.workdir / "node.yaml"
        self.write_config()

    def write_config(self):
        scenario = self.scenario
        if scenario.edge == "log":
            queue = {"type": "log", "dir": str(self.workdir / "queue"), "ack": scenario.ack}
        elif scenario.edge == "redis":
            queue = {"type": "redis", "url": f"redis://127.0.0.1:{self.edge_server.port}", "stream": "bench",
                     "maxlen": 100000}
        elif scenario.edge.startswith("nats-r"):
            queue = {"type": "nats", "servers": self.edge_server.urls, "stream": "BENCH", "subject": "bench.in",
                     "replicas": self.edge_server.size, "max_age": "10m"}
        elif scenario.edge == "kafka":
            queue = {"type": "kafka", "brokers": "unused", "topic": "t",
                     "properties": {"test.mock.num.brokers": "1"}}
        else:
            raise ValueError(scenario.edge)
        config = {
            "node": {"name": "bench"},
            "listen": f"127.0.0.1:{self.port}",
            "admin_listen": f"127.0.0.1:{self.admin_port}",
            "threads": scenario.threads,
            "edges": [{"name": "main", "queue": queue}],
        }
        if scenario.max_body_bytes != 1048576:
            config["limits"] = {"max_body_bytes": scenario.max_body_bytes}
        if scenario.pipeline == "processor":
            config["nodes"] = [{
                "name": "copy", "kind": "processor", "input": "main", "concurrency": 64,
                "processor": {"inline": "def processor(*, context, message, source, **kwargs):\n"
                                        "    return message\n"},
                "edges": [{"name": "out", "queue": {"type": "log", "dir": str(self.workdir / "out"),
                                                    "ack": scenario.ack}}]}]
        if scenario.dedup:
            config["dedup"] = {"key": "header:X-Bench-Key", "dir": str(self.workdir / "dedup"),
                               "ack": scenario.ack}
        if self.auth_source:
            config["authenticator"] = {"inline": self.auth_source}
        if scenario.auth == "github":
            from payloads import GITHUB_SECRET
            config["verifiers"] = [{"type": "github", "secret": GITHUB_SECRET}]
        if self.tls_files:
            config["tls"] = {"cert_file": str(self.tls_files[0]), "key_file": str(self.tls_files[1])}
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def use_tls(self, files):
        super().use_tls(files)
        self.write_config()

    def check(self):
        """Runs `inlet check`; returns None when the config is accepted, else the reason."""
        try:
            result = subprocess.run([str(self.binary), "check", "--config", str(self.config_path)],
                                    capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return "`inlet check` timed out"
        if result.returncode == 0:
            return None
        text = (result.stderr.strip() or result.stdout.strip() or f"exit code {result.returncode}")
        return text.splitlines()[0][:300]

    def argv(self):
        return [str(self.binary), "serve", "--config", str(self.config_path)]

    def start(self, timeout=20.0):
        super().start(timeout)
        # Once /readyz exists on admin_listen, wait for it too; until then the listening port is enough.
        deadline = time.monotonic() + 5
        request = b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        while time.monotonic() < deadline:
            try:
                status, _ = send_raw(self.admin_port, request, timeout=1)
            except OSError:
                return
            if status == 200:
                return
            time.sleep(0.05)


def inlet_status(binary):
    """Returns None when `binary` looks like a working inlet, else why it is not available."""
    if binary is None:
        return "no binary"
    path = Path(binary)
    if not path.is_file() or not os.access(path, os.X_OK):
        return f"{path} does not exist"
    try:
        result = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`{path} --version` failed: {error}"
    if result.returncode != 0 or not (result.stdout.strip() or result.stderr.strip()):
        return f"`{path} --version` printed nothing (exit {result.returncode}): the server is not built yet"
    return None


def build_inlet(source_dir, build_dir, log_path):
    """Configures (Release) if needed and builds only the `inlet` target; returns None or the reason."""
    build_dir = Path(build_dir)
    with open(log_path, "ab") as log:
        if not (build_dir / "CMakeCache.txt").exists():
            result = subprocess.run(["cmake", "-S", str(source_dir), "-B", str(build_dir),
                                     "-DCMAKE_BUILD_TYPE=Release"], stdout=log, stderr=subprocess.STDOUT)
            if result.returncode != 0:
                return f"cmake configure failed (see {log_path})"
        result = subprocess.run(["cmake", "--build", str(build_dir), "--target", "inlet", "-j2"],
                                stdout=log, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            return f"building target inlet failed (see {log_path})"
    return None
