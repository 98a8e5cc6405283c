"""TLS on the listeners (`tls:`, `admin_tls:`) through the real binary: certificates made with the
openssl CLI, clients from Python's ssl module and curl, refusals (wrong CA, expired certificate,
TLS 1.1, plain HTTP, a stalled handshake), mTLS required and optional with the subject in
request.scope["client_cert"], resumption, ALPN, live rotation under load and a broken pair kept
out, and the metrics. The whole HTTP contract and the crash test also run over TLS: see the `_tls`
suites in tests/CMakeLists.txt."""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from inlet_harness import InletNode, parse_response, post_request, run_inlet
from tls_certs import TestCA, serial_of

GOOD = b'{"a": 1}'
SERVER_SERIAL = 0x1001


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca = TestCA(folder)
    pki = {
        "ca": ca,
        "server": ca.server("server", SERVER_SERIAL),
        "server2": ca.server("server2", 0x1002),
        "expired": ca.server("expired", 0x1003, days=-1),
        "client": ca.client("client", 0x2001, common_name="orders-client"),
        "expired_client": ca.client("expired-client", 0x2002, days=-1),
        "other_ca": TestCA(folder / "other", name="other-ca"),
    }
    pki["stranger"] = pki["other_ca"].client("stranger", 0x3001, common_name="stranger")
    return pki


def tls_config(pki, pair="server", **extra):
    cert, key = pki[pair]
    return {"cert_file": cert, "key_file": key, **extra}


def https(node, context, body=GOOD, headers=None, timeout=10, port=None):
    """One POST on a fresh TLS connection; returns (status, body bytes, serial served)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port or node.port, timeout=timeout, context=context)
    try:
        conn.request("POST", "/", body=body, headers=headers or {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read(), serial_of(conn.sock)
    finally:
        conn.close()


def metric(node, name, context):
    """{labels text: value} of one metric family, scraped over the admin listener."""
    conn = http.client.HTTPSConnection("127.0.0.1", node.admin_port, timeout=10, context=context)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    values = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, _, value = line.rpartition(" ")
            values[labels[len(name):]] = float(value)
    return values


def user_echo_authenticator():
    return ("def authenticator(*, context, request, **kwargs):\n"
            "    from starlette.authentication import AuthCredentials, SimpleUser\n"
            "    if request.url.scheme != 'https' or request.scope['scheme'] != 'https':\n"
            "        raise RuntimeError('not https: ' + str(request.url))\n"
            "    return AuthCredentials(['tls']), SimpleUser(request.scope['client_cert'] or 'anonymous')\n")


@pytest.fixture
def node(tmp_path, pki):
    with InletNode(tmp_path, {"tls": tls_config(pki), "admin_tls": {},
                              "limits": {"header_timeout_ms": 1000}}) as n:
        yield n


# --- serving, and what clients refuse ----------------------------------------------------------

def test_python_ssl_and_curl_get_answers_over_tls(node, pki):
    status, body, serial = https(node, pki["ca"].client_context())
    assert status == 200 and serial == SERVER_SERIAL, body
    curl = subprocess.run(["curl", "-sS", "--cacert", pki["ca"].cert, "-H", "Content-Type: application/json",
                           "--data-binary", '{"via": "curl"}', f"https://localhost:{node.port}/"],
                          capture_output=True, timeout=30)
    assert curl.returncode == 0, curl.stderr
    assert len(json.loads(curl.stdout)["tracking_id"]) == 32
    assert [m["body"] for m in node.read_queue()] == [{"a": 1}, {"via": "curl"}]


def test_the_request_url_is_https(tmp_path, pki):
    with InletNode(tmp_path, {"tls": tls_config(pki), "authenticator": {"inline": user_echo_authenticator()}}) as n:
        status, body, _ = https(n, pki["ca"].client_context())
        assert status == 200, body
        assert n.read_queue()[0]["user"] == "anonymous"


def test_a_client_with_another_ca_refuses_the_server(node, pki):
    with pytest.raises(ssl.SSLCertVerificationError):
        https(node, pki["other_ca"].client_context())
    curl = subprocess.run(["curl", "-sS", "--cacert", pki["other_ca"].cert, "--data-binary", "{}",
                           f"https://localhost:{node.port}/"], capture_output=True, timeout=30)
    assert curl.returncode == 60, curl  # curl: peer certificate cannot be authenticated
    assert https(node, pki["ca"].client_context())[0] == 200


def test_an_expired_certificate_is_refused_by_clients_and_logged(tmp_path, pki):
    with InletNode(tmp_path, {"tls": tls_config(pki, "expired")}) as n:
        with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
            https(n, pki["ca"].client_context())
        assert any(e["event"] == "tls_certificate_expired" for e in n.log_events()), n.logs()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")  # we ask for them on purpose
def test_tls_1_1_and_older_are_refused(node, pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(pki["ca"].cert)
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
    with pytest.raises(ssl.SSLError):
        https(node, context)
    assert metric(node, "inlet_tls_handshakes_total", pki["ca"].client_context())[
        '{listener="webhook",result="protocol"}'] == 1
    assert https(node, pki["ca"].client_context())[0] == 200


def test_plain_http_on_the_tls_port_gets_a_400_in_the_clear_and_is_closed(node, pki):
    with socket.create_connection(("127.0.0.1", node.port), timeout=5) as sock:
        sock.sendall(post_request(GOOD))
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    response, rest = parse_response(data)
    assert response.status == 400 and rest == b"", data
    assert response.json() == {"detail": "plain HTTP sent to a TLS port: use https://"}
    assert response.header("connection") == "close"
    values = metric(node, "inlet_tls_handshakes_total", pki["ca"].client_context())
    assert values['{listener="webhook",result="plain_http"}'] == 1
    assert https(node, pki["ca"].client_context())[0] == 200


def test_a_stalled_handshake_is_closed_at_the_header_timeout(node, pki):
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        sock.sendall(b"\x16\x03\x01\x00\xc8\x01")  # the start of a ClientHello, then nothing
        started = time.monotonic()
        assert sock.recv(100) == b""
        waited = time.monotonic() - started
    assert 0.8 <= waited < 5, waited  # header_timeout_ms: 1000, swept every 100 ms or so
    assert metric(node, "inlet_tls_handshakes_total", pki["ca"].client_context())[
        '{listener="webhook",result="timeout"}'] == 1


def test_an_idle_keep_alive_connection_ends_with_close_notify(tmp_path, pki):
    with InletNode(tmp_path, {"tls": tls_config(pki), "limits": {"idle_timeout_ms": 300}}) as n:
        sock = pki["ca"].client_context().wrap_socket(socket.create_connection(("127.0.0.1", n.port), timeout=5),
                                                     server_hostname="localhost")
        with sock:
            sock.sendall(post_request(GOOD))
            response, _ = parse_response(sock.recv(65536))
            assert response.status == 200
            # A clean TLS end reads as b"" here; a bare TCP close would raise SSLEOFError.
            assert sock.recv(100) == b""


def test_resumption_and_alpn(node, pki):
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        context = pki["ca"].client_context()
        context.maximum_version = version
        context.set_alpn_protocols(["h2", "http/1.1"])
        session = None
        for attempt in range(2):
            raw = socket.create_connection(("127.0.0.1", node.port), timeout=5)
            with context.wrap_socket(raw, server_hostname="localhost", session=session) as sock:
                assert sock.selected_alpn_protocol() == "http/1.1"
                sock.sendall(post_request(GOOD))  # TLS 1.3 tickets arrive with the first answer
                response, _ = parse_response(sock.recv(65536))
                assert response.status == 200
                if attempt == 1:
                    assert sock.session_reused, version
                session = sock.session


# --- mTLS ------------------------------------------------------------------------------------

def mtls_node(tmp_path, pki, client_auth):
    return InletNode(tmp_path, {"tls": tls_config(pki, ca_file=pki["ca"].cert, client_auth=client_auth),
                                "authenticator": {"inline": user_echo_authenticator()}})


def test_mtls_required(tmp_path, pki):
    ca = pki["ca"]
    with mtls_node(tmp_path, pki, "require") as n:
        status, body, _ = https(n, ca.client_context(*pki["client"]))
        assert status == 200, body
        assert n.read_queue()[0]["user"] == "CN=orders-client,O=Inlet Tests"
        for refused in (ca.client_context(), ca.client_context(*pki["expired_client"]),
                        ca.client_context(*pki["stranger"])):
            with pytest.raises((ssl.SSLError, ConnectionError)):
                https(n, refused)
        assert len(n.read_queue()) == 1
        assert https(n, ca.client_context(*pki["client"]))[0] == 200


def test_mtls_optional(tmp_path, pki):
    ca = pki["ca"]
    with mtls_node(tmp_path, pki, "optional") as n:
        assert https(n, ca.client_context())[0] == 200
        assert https(n, ca.client_context(*pki["client"]))[0] == 200
        assert [m["user"] for m in n.read_queue()] == ["anonymous", "CN=orders-client,O=Inlet Tests"]
        with pytest.raises((ssl.SSLError, ConnectionError)):  # one sent must still verify
            https(n, ca.client_context(*pki["stranger"]))


# --- rotation --------------------------------------------------------------------------------

def install(folder, pki, pair, version):
    """A Kubernetes Secret volume's layout: tls.crt and tls.key are links through `..data`, and an
    update points `..data` at a new folder in one rename."""
    cert, key = pki[pair]
    data = folder / f"..{version}"
    data.mkdir()
    shutil.copy(cert, data / "tls.crt")
    shutil.copy(key, data / "tls.key")
    link = folder / "..data_tmp"
    os.symlink(data.name, link)
    os.replace(link, folder / "..data")
    for name in ("tls.crt", "tls.key"):
        if not (folder / name).is_symlink():
            os.symlink(f"..data/{name}", folder / name)


def wait_for_serial(node, context, serial, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if https(node, context)[2] == serial:
            return True
        time.sleep(0.1)
    return False


def test_rotation_under_load_fails_no_request(tmp_path, pki):
    secret = tmp_path / "secret"
    secret.mkdir()
    install(secret, pki, "server", 1)
    context = pki["ca"].client_context()
    with InletNode(tmp_path, {"tls": {"cert_file": str(secret / "tls.crt"), "key_file": str(secret / "tls.key")},
                              "admin_tls": {}}) as n:
        # A keep-alive connection made before the rotation keeps its certificate.
        before = http.client.HTTPSConnection("127.0.0.1", n.port, timeout=10, context=context)
        before.request("POST", "/", body=GOOD, headers={"Content-Type": "application/json"})
        assert before.getresponse().read() and serial_of(before.sock) == SERVER_SERIAL

        stop = threading.Event()
        results, failures = [], []

        def load():
            while not stop.is_set():
                try:
                    status, _, serial = https(n, context)
                    results.append((status, serial))
                except Exception as e:  # noqa: BLE001 -- every failure is reported below
                    failures.append(repr(e))

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        install(secret, pki, "server2", 2)
        assert wait_for_serial(n, context, 0x1002), n.logs()
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        assert failures == []
        assert {status for status, _ in results} == {200}
        serials = [serial for _, serial in results]
        assert SERVER_SERIAL in serials and 0x1002 in serials
        # Once the new certificate shows, it stays: no connection went back to the old one.
        assert 0x1002 not in serials[:serials.index(0x1002)] and SERVER_SERIAL not in serials[
            len(serials) - serials[::-1].index(SERVER_SERIAL):]

        before.request("POST", "/", body=GOOD, headers={"Content-Type": "application/json"})
        assert before.getresponse().status == 200 and serial_of(before.sock) == SERVER_SERIAL
        before.close()
        events = [e for e in n.log_events() if e["event"] == "reloaded"]
        assert events and events[-1]["trigger"] == "tls_file_changed"
        expiry = metric(n, "inlet_tls_certificate_expiry_seconds", context)
        assert list(expiry) == ['{listener="webhook",serial="1002"}', '{listener="admin",serial="1002"}']


def test_a_broken_pair_is_refused_and_the_old_one_kept(tmp_path, pki):
    folder = tmp_path / "certs"
    folder.mkdir()
    shutil.copy(pki["server"][0], folder / "tls.crt")
    shutil.copy(pki["server"][1], folder / "tls.key")
    context = pki["ca"].client_context()
    with InletNode(tmp_path, {"tls": {"cert_file": str(folder / "tls.crt"), "key_file": str(folder / "tls.key")}}) as n:
        assert https(n, context)[2] == SERVER_SERIAL
        shutil.copy(pki["server2"][0], folder / "tls.crt.new")
        os.replace(folder / "tls.crt.new", folder / "tls.crt")  # the new cert, but the old key
        deadline = time.monotonic() + 10
        while not any(e["event"] == "reload_failed" for e in n.log_events()):
            assert time.monotonic() < deadline, n.logs()
            time.sleep(0.1)
        failed = [e for e in n.log_events() if e["event"] == "reload_failed"][0]
        assert "tls.key_file" in failed["error"] and "does not match" in failed["error"], failed
        assert https(n, context)[2] == SERVER_SERIAL
        # The matching key arrives: the next poll loads the pair. SIGHUP would do the same.
        shutil.copy(pki["server2"][1], folder / "tls.key.new")
        os.replace(folder / "tls.key.new", folder / "tls.key")
        assert wait_for_serial(n, context, 0x1002), n.logs()


def test_sighup_reloads_the_certificate(tmp_path, pki):
    folder = tmp_path / "certs"
    folder.mkdir()
    cert, key = folder / "tls.crt", folder / "tls.key"
    shutil.copy(pki["server"][0], cert)
    shutil.copy(pki["server"][1], key)
    context = pki["ca"].client_context()
    with InletNode(tmp_path, {"tls": {"cert_file": str(cert), "key_file": str(key)}}) as n:
        stamp = os.stat(cert)
        shutil.copy(pki["server2"][0], cert)
        shutil.copy(pki["server2"][1], key)
        os.utime(cert, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # a change polling cannot see
        os.utime(key, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        n.signal(signal.SIGHUP)
        assert wait_for_serial(n, context, 0x1002, timeout=5), n.logs()


def test_tls_turns_on_and_off_with_a_reload(tmp_path, pki):
    with InletNode(tmp_path) as n:
        assert n.post(GOOD)[0] == 200
        n.config["tls"] = tls_config(pki)
        n.write_config()
        deadline = time.monotonic() + 10
        while sum(e["event"] == "reloaded" for e in n.log_events()) < 1:
            assert time.monotonic() < deadline, n.logs()
            time.sleep(0.1)
        assert https(n, pki["ca"].client_context())[0] == 200
        status, _, _ = n.post(GOOD)  # plain HTTP now meets the TLS port
        assert status == 400
        del n.config["tls"]
        n.write_config()
        while sum(e["event"] == "reloaded" for e in n.log_events()) < 2:
            assert time.monotonic() < deadline + 10, n.logs()
            time.sleep(0.1)
        assert n.post(GOOD)[0] == 200


# --- admin and config ------------------------------------------------------------------------

def test_admin_over_tls_with_the_handshake_and_expiry_metrics(node, pki):
    context = pki["ca"].client_context()
    conn = http.client.HTTPSConnection("127.0.0.1", node.admin_port, timeout=10, context=context)
    conn.request("GET", "/healthz")
    assert conn.getresponse().read() == b'{"status":"ok"}'
    conn.close()
    with pytest.raises(ssl.SSLError):
        http.client.HTTPSConnection("127.0.0.1", node.admin_port, timeout=10,
                                    context=pki["other_ca"].client_context()).request("GET", "/healthz")
    https(node, context)
    values = metric(node, "inlet_tls_handshakes_total", context)
    assert values['{listener="webhook",result="ok"}'] == 1
    assert values['{listener="admin",result="ok"}'] >= 1
    assert values['{listener="admin",result="peer_alert"}'] == 1  # the client refused our CA
    not_after = subprocess.run(["openssl", "x509", "-in", pki["server"][0], "-noout", "-enddate"],
                               capture_output=True, text=True, check=True).stdout.strip().split("=", 1)[1]
    expected = time.mktime(time.strptime(not_after, "%b %d %H:%M:%S %Y %Z")) - time.timezone
    expiry = metric(node, "inlet_tls_certificate_expiry_seconds", context)
    assert expiry['{listener="webhook",serial="1001"}'] == pytest.approx(expected, abs=1)


def test_check_names_the_certificate_each_listener_would_serve(tmp_path, pki):
    config = tmp_path / "node.yaml"
    config.write_text(json.dumps({"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0",
                                  "tls": tls_config(pki, ca_file=pki["ca"].cert),
                                  "admin_tls": {"cert_file": pki["expired"][0], "key_file": pki["expired"][1]}}))
    result = run_inlet("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[1] == "  listen: TLS with CN=localhost (serial 1001), expires in 29 days, client certificates required"
    assert lines[2] == "  admin_listen: TLS with CN=localhost (serial 1003), EXPIRED"


@pytest.mark.parametrize("tls, error", [
    ({"cert_file": "missing.crt", "key_file": "missing.key"}, "tls.cert_file: cannot load the certificate chain"),
    ({"key_file": "x.key"}, "tls.cert_file: is required"),
    ({"cert_file": "CERT", "key_file": "CERT"}, "tls.key_file: cannot load the private key"),
    ({"cert_file": "CERT", "key_file": "OTHER_KEY"}, "tls.key_file: the key in"),
    ({"cert_file": "CERT", "key_file": "KEY", "client_auth": "require"}, "tls.client_auth: needs ca_file"),
    ({"cert_file": "CERT", "key_file": "KEY", "client_auth": "sometimes"}, "tls.client_auth: must be one of"),
    ({"cert_file": "CERT", "key_file": "KEY", "ciphers": "x"}, "tls.ciphers"),
])
def test_bad_tls_config_is_refused_by_check_naming_the_key(tmp_path, pki, tls, error):
    names = {"CERT": pki["server"][0], "KEY": pki["server"][1], "OTHER_KEY": pki["server2"][1]}
    tls = {k: names.get(v, v) for k, v in tls.items()}
    config = tmp_path / "node.yaml"
    config.write_text(json.dumps({"listen": "127.0.0.1:0", "tls": tls}))
    result = run_inlet("check", "--config", str(config))
    assert result.returncode == 1, result
    assert error in result.stderr.decode(), result.stderr.decode()
    assert str(config) in result.stderr.decode()
