"""The Python authenticator through the real `inlet` binary (CONTRACT.md section 2): HTTP answers,
queued messages, the node's log, `inlet check`, `inlet test`, and inlet_testing.py.

Every misbehaving authenticator below also has a well-behaved branch (header `X-Ok`), so each test
can show that the node still answers a normal request normally after the bad one.
"""
import base64
import gzip
import json
import os
import textwrap
import threading
import time

import pytest

import inlet_testing
from inlet_harness import InletNode, run_inlet

JSON = {"Content-Type": "application/json"}
OK = {**JSON, "X-Ok": "1"}


def inline(source, **settings):
    return {"authenticator": {"inline": textwrap.dedent(source), **settings}}


def assert_still_serving(node, count=3):
    """A well-behaved request right after a bad one gets its normal answer, several times over."""
    for _ in range(count):
        status, _, body = node.post(b'{"ok": true}', OK)
        assert status == 200, body
        assert len(json.loads(body)["tracking_id"]) == 32


def queue_is_empty(queue_dir):
    """No record was written: every file of the log is still empty."""
    if not os.path.isdir(queue_dir):
        return True
    return all(os.path.getsize(os.path.join(queue_dir, f)) == 0 for f in os.listdir(queue_dir))


def combined_output(result):
    return result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")


# The managed platform's template, unchanged.
PLATFORM_TEMPLATE = """\
def authenticator(*, context, request, **kwargs):
    from fastapi.security import HTTPBasic  # noqa: F401  (platform templates import from fastapi)
    from starlette.authentication import AuthCredentials, SimpleUser

    return AuthCredentials(), SimpleUser("foobar")
"""


def test_platform_template_accepts_and_the_queued_message_carries_the_user(tmp_path):
    with InletNode(tmp_path, {"authenticator": {"inline": PLATFORM_TEMPLATE}}) as node:
        status, _, body = node.post(b'{"a": [1, 2]}', JSON)
        assert status == 200, body
        tracking_id = json.loads(body)["tracking_id"]
        [message] = node.read_queue()
        assert message["tracking_id"] == tracking_id
        assert message["user"] == "foobar"
        assert message["scopes"] == []
        assert message["node"] == "test-node"
        assert message["body"] == {"a": [1, 2]}


def test_scopes_and_identity_reach_the_message(tmp_path):
    source = """\
    def authenticator(*, context, request, **kwargs):
        from starlette.authentication import AuthCredentials, BaseUser

        class User(BaseUser):
            is_authenticated = True
            display_name = "Ada"
            identity = "user-42"

        return AuthCredentials(["push", "admin"]), User()
    """
    with InletNode(tmp_path, inline(source)) as node:
        status, _, body = node.post(b"{}", JSON)
        assert status == 200, body
        [message] = node.read_queue()
        assert (message["user"], message["scopes"]) == ("Ada", ["push", "admin"])
        raw = run_inlet("queue", "read", "--dir", node.queue_dir).stdout.decode()
        assert '"user":"Ada"' in raw and '"scopes":["push","admin"]' in raw


BASIC_AUTH = """\
def authenticator(*, context, request, **kwargs):
    import base64
    import binascii
    import hashlib

    from fastapi import HTTPException
    from starlette.authentication import AuthCredentials, SimpleUser

    challenge = {"WWW-Authenticate": 'Basic realm="inlet"'}
    header = request.headers.get("Authorization")
    if header is None or not header.startswith("Basic "):
        raise HTTPException(status_code=400, detail="missing basic credentials", headers=challenge)
    try:
        user, sep, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise HTTPException(400, "malformed basic credentials", headers=challenge)
    with context:
        cache = getattr(context, "verified", None)
        if cache is None:
            cache = context.verified = {}
        key = (user, password)
        if key not in cache:
            digest = hashlib.sha256(password.encode()).hexdigest()
            cache[key] = context.config["users"].get(user) == digest
            context.logger.info("verified %s (cache size %d)", user, len(cache))
        good = cache[key]
    if not good:
        raise HTTPException(403, detail="bad credentials", headers={**challenge, "X-Reason": "password"})
    return AuthCredentials(["basic"]), SimpleUser(user)
"""


def basic(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {**JSON, "Authorization": "Basic " + token}


def test_basic_auth_raises_http_exceptions_with_headers_and_caches_on_the_context(tmp_path):
    import hashlib

    users = {"alice": hashlib.sha256(b"s3cret").hexdigest()}
    config = {"authenticator": {"inline": BASIC_AUTH, "config": {"users": users}}}
    with InletNode(tmp_path, config) as node:
        status, headers, body = node.post(b"{}", JSON)
        assert (status, json.loads(body)) == (400, {"detail": "missing basic credentials"})
        assert headers["www-authenticate"] == 'Basic realm="inlet"'
        assert headers["content-type"].startswith("application/json")

        status, headers, body = node.post(b"{}", {**JSON, "Authorization": "Basic !!!"})
        assert (status, json.loads(body)) == (400, {"detail": "malformed basic credentials"})

        status, headers, body = node.post(b"{}", basic("alice", "wrong"))
        assert (status, json.loads(body)) == (403, {"detail": "bad credentials"})
        assert headers["www-authenticate"] == 'Basic realm="inlet"'
        assert headers["x-reason"] == "password"

        for _ in range(3):
            status, _, body = node.post(b'{"n": 1}', basic("alice", "s3cret"))
            assert status == 200, body
        messages = node.read_queue()
        assert [(m["user"], m["scopes"]) for m in messages] == [("alice", ["basic"])] * 3

        # Verified once per distinct credential: the context kept the cache across calls.
        verified = [e["message"] for e in node.log_events() if e.get("event") == "authenticator_log"]
        assert verified == ["verified alice (cache size 1)", "verified alice (cache size 2)"], verified


def test_starlette_and_duck_typed_http_exceptions_count(tmp_path):
    source = """\
    def authenticator(*, context, request, **kwargs):
        kind = request.headers.get("x-kind")
        if kind == "starlette":
            from starlette.exceptions import HTTPException
            raise HTTPException(status_code=401, detail="starlette says no", headers={"X-From": "starlette"})
        if kind == "duck":
            class Nope(Exception):
                status_code = 429
                detail = "slow down"
                headers = {"Retry-After": "7"}
            raise Nope()
        return None
    """
    with InletNode(tmp_path, inline(source)) as node:
        status, headers, body = node.post(b"{}", {**JSON, "X-Kind": "starlette"})
        assert (status, json.loads(body), headers["x-from"]) == (401, {"detail": "starlette says no"}, "starlette")
        status, headers, body = node.post(b"{}", {**JSON, "X-Kind": "duck"})
        assert (status, json.loads(body), headers["retry-after"]) == (429, {"detail": "slow down"}, "7")
        assert_still_serving(node)


def test_async_authenticators_that_await_run_concurrently(tmp_path):
    source = """\
    async def authenticator(*, context, request, **kwargs):
        import asyncio
        from starlette.authentication import AuthCredentials, SimpleUser

        await asyncio.sleep(0.1)
        return AuthCredentials(), SimpleUser(request.headers["x-user"])
    """
    count = 100
    with InletNode(tmp_path, inline(source)) as node:
        connections = [node.connection(timeout=10) for _ in range(count)]
        for conn in connections:
            conn.connect()
        results = [None] * count
        barrier = threading.Barrier(count + 1)

        def one(i):
            barrier.wait()
            connections[i].request("POST", "/", body=b"{}", headers={**JSON, "X-User": f"u{i}"})
            response = connections[i].getresponse()
            results[i] = (response.status, response.read())

        threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        barrier.wait()
        start = time.monotonic()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        for conn in connections:
            conn.close()
        assert [status for status, _ in results] == [200] * count, results
        # One after another this would take 10 s; concurrently it is one sleep plus overhead.
        assert elapsed < 0.8, f"{count} concurrent async requests took {elapsed:.2f} s"
        users = sorted(m["user"] for m in node.read_queue())
        assert users == sorted(f"u{i}" for i in range(count))


def test_user_that_is_not_authenticated_is_403(tmp_path):
    source = """\
    def authenticator(*, context, request, **kwargs):
        from starlette.authentication import AuthCredentials, SimpleUser, UnauthenticatedUser
        if request.headers.get("x-ok"):
            return AuthCredentials(), SimpleUser("ok")
        return AuthCredentials(), UnauthenticatedUser()
    """
    with InletNode(tmp_path, inline(source)) as node:
        status, _, body = node.post(b"{}", JSON)
        assert status == 403
        assert set(json.loads(body)) == {"detail"}
        assert_still_serving(node)
        assert [m["user"] for m in node.read_queue()] == ["ok"] * 3


def test_other_exceptions_are_500_without_internals_and_the_traceback_is_logged(tmp_path):
    source = """\
    def authenticator(*, context, request, **kwargs):
        if request.headers.get("x-ok"):
            return None
        secret = "hunter2"
        raise ValueError("db password is " + secret)
    """
    with InletNode(tmp_path, inline(source)) as node:
        status, _, body = node.post(b"{}", JSON)
        assert status == 500
        assert json.loads(body) == {"detail": "internal error"}
        assert_still_serving(node)
        errors = [e for e in node.log_events() if e.get("event") == "authenticator_log" and e["level"] == "error"]
        assert len(errors) == 1, node.logs()
        assert errors[0]["node"] == "test-node"
        message = errors[0]["message"]
        assert "Traceback (most recent call last)" in message
        assert "ValueError: db password is hunter2" in message
        assert f'File "{node.config_path}", line ' in message and "in authenticator" in message


@pytest.mark.parametrize(
    "returned",
    ["42", "'foobar'", "(1, 2, 3)", "[None]", "(None, object())"],
)
def test_returning_anything_else_is_500(tmp_path, returned):
    source = f"""\
    def authenticator(*, context, request, **kwargs):
        if request.headers.get("x-ok"):
            return None
        return {returned}
    """
    with InletNode(tmp_path, inline(source)) as node:
        status, _, body = node.post(b"{}", JSON)
        assert (status, json.loads(body)) == (500, {"detail": "internal error"})
        assert_still_serving(node, count=1)
        errors = [e for e in node.log_events() if e.get("event") == "authenticator_log" and e["level"] == "error"]
        assert errors, node.logs()


def test_none_accepts_without_a_user_and_none_means_reject_is_403(tmp_path):
    source = "def authenticator(*, context, request, **kwargs):\n    return None\n"
    (tmp_path / "accept").mkdir()
    with InletNode(tmp_path / "accept", inline(source)) as node:
        status, _, _ = node.post(b"{}", JSON)
        assert status == 200
        [message] = node.read_queue()
        assert message["user"] is None and message["scopes"] == []
    (tmp_path / "reject").mkdir()
    with InletNode(tmp_path / "reject", inline(source, none_means="reject")) as node:
        status, _, body = node.post(b"{}", JSON)
        assert (status, json.loads(body)) == (403, {"detail": "Forbidden"})
        assert queue_is_empty(node.queue_dir)


SPIN_SYNC = """\
def authenticator(*, context, request, **kwargs):
    if not request.headers.get("x-ok"):
        while True:
            pass
    return None
"""

SPIN_ASYNC = """\
async def authenticator(*, context, request, **kwargs):
    import asyncio
    await asyncio.sleep(0)
    if not request.headers.get("x-ok"):
        while True:
            pass
    return None
"""

SPIN_SWALLOWING = """\
def authenticator(*, context, request, **kwargs):
    if not request.headers.get("x-ok"):
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
    return None
"""


@pytest.mark.parametrize("source", [SPIN_SYNC, SPIN_ASYNC, SPIN_SWALLOWING], ids=["sync", "async", "swallows"])
def test_endless_loop_answers_503_at_the_timeout_and_the_node_keeps_serving(tmp_path, source):
    with InletNode(tmp_path, {"authenticator": {"inline": source, "timeout_ms": 200}}) as node:
        for _ in range(2):
            start = time.monotonic()
            status, headers, body = node.post(b"{}", JSON)
            elapsed = time.monotonic() - start
            assert status == 503, body
            assert "retry-after" in headers
            assert "detail" in json.loads(body)
            assert 0.15 < elapsed < 2, elapsed
            assert_still_serving(node)

        # A good request sent while a bad one is spinning waits its turn, then is served (or, if
        # the spin used up its own budget, answered 503): it never hangs.
        results = {}

        def spin():
            results["spin"] = node.post(b"{}", JSON)[0]

        spinner = threading.Thread(target=spin)
        spinner.start()
        time.sleep(0.05)
        start = time.monotonic()
        status, _, _ = node.post(b'{"ok": true}', OK)
        assert status in (200, 503)
        assert time.monotonic() - start < 2
        spinner.join()
        assert results["spin"] == 503
        assert_still_serving(node)
        warnings = [e for e in node.log_events() if e.get("event") == "authenticator_log" and e["level"] == "warn"]
        assert any("timed out after 200 ms" in e["message"] for e in warnings), node.logs()


def test_slow_async_authenticator_is_cancelled_at_the_timeout(tmp_path):
    source = """\
    async def authenticator(*, context, request, **kwargs):
        import asyncio
        if not request.headers.get("x-ok"):
            await asyncio.sleep(30)
        return None
    """
    with InletNode(tmp_path, inline(source, timeout_ms=200)) as node:
        start = time.monotonic()
        status, headers, _ = node.post(b"{}", JSON)
        assert status == 503 and "retry-after" in headers
        assert time.monotonic() - start < 2
        assert_still_serving(node)


def write_inline_config(tmp_path, source, extra=""):
    """A config with a block-scalar inline source, so lines in the file are predictable."""
    body = textwrap.indent(textwrap.dedent(source), "    ")
    path = tmp_path / "node.yaml"
    path.write_text(
        "node: {name: test-node}\n"
        "listen: 127.0.0.1:0\n"
        f"edges: [{{name: main, queue: {{type: log, dir: {tmp_path / 'queue'}, ack: write}}}}]\n"
        "authenticator:\n"
        f"{extra}"
        "  inline: |\n"
        f"{body}"
    )
    return path


@pytest.mark.parametrize("command", ["check", "serve"])
def test_code_outside_the_def_fails_check_and_serve_with_file_and_line(tmp_path, command):
    auth = tmp_path / "auth.py"
    auth.write_text(
        '"""A docstring is fine."""\n'
        "# so are comments\n"
        "def authenticator(*, context, request, **kwargs):\n"
        "    return None\n"
        "\n"
        "CACHE = {}\n"
    )
    node = InletNode(tmp_path, {"authenticator": {"file": "auth.py"}}, start=False)
    result = run_inlet(command, "--config", str(node.config_path), timeout=30)
    assert result.returncode == 1, combined_output(result)
    assert f"{auth}:6: " in combined_output(result)
    assert "assignment" in combined_output(result)


@pytest.mark.parametrize("command", ["check", "serve"])
def test_inline_code_outside_the_def_is_reported_at_its_line_in_the_config(tmp_path, command):
    config = write_inline_config(
        tmp_path,
        """\
        import os

        def authenticator(*, context, request, **kwargs):
            return None
        """,
    )
    result = run_inlet(command, "--config", str(config), timeout=30)
    assert result.returncode == 1, combined_output(result)
    # `inline: |` is line 5 of the file, so the source's first line is line 6.
    assert f"{config}:6: " in combined_output(result), combined_output(result)
    assert "import" in combined_output(result)


def test_inline_tracebacks_point_at_the_config_file_line(tmp_path):
    config = write_inline_config(
        tmp_path,
        """\
        def authenticator(*, context, request, **kwargs):
            raise ValueError("boom")
        """,
    )
    body = tmp_path / "body.json"
    body.write_text("{}")
    result = run_inlet("test", "--config", str(config), "--body", str(body))
    assert json.loads(result.stdout)["status"] == 500
    [logged] = [json.loads(line)["message"] for line in result.stderr.decode().splitlines() if "boom" in line]
    assert f'File "{config}", line 7, in authenticator\n    raise ValueError("boom")' in logged


def test_check_accepts_a_good_authenticator(tmp_path):
    node = InletNode(tmp_path, {"authenticator": {"inline": PLATFORM_TEMPLATE}}, start=False)
    result = run_inlet("check", "--config", str(node.config_path))
    assert result.returncode == 0, combined_output(result)


@pytest.mark.parametrize(
    "requirement, expected",
    [
        ("surely-not-installed-pkg>=1.0", "surely-not-installed-pkg is not installed"),
        ("starlette>=999", "starlette 0."),
        ("fastapi<0.1", "fastapi 0."),
    ],
)
@pytest.mark.parametrize("command", ["check", "serve"])
def test_unmet_requirements_stop_the_node_naming_the_package(tmp_path, requirement, expected, command):
    node = InletNode(
        tmp_path, {"authenticator": {"inline": PLATFORM_TEMPLATE, "requirements": [requirement]}}, start=False
    )
    result = run_inlet(command, "--config", str(node.config_path), timeout=30)
    assert result.returncode != 0
    assert expected in combined_output(result), combined_output(result)


def test_met_requirements_start_the_node(tmp_path):
    config = {"authenticator": {"inline": PLATFORM_TEMPLATE, "requirements": ["starlette>=0.20", "fastapi"]}}
    with InletNode(tmp_path, config) as node:
        assert node.post(b"{}", JSON)[0] == 200


SURFACE = """\
async def authenticator(*, context, request, **kwargs):
    import json
    from fastapi import HTTPException

    body = await request.body()
    seen = {
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
        "url": str(request.url),
        "query_params": dict(request.query_params),
        "multi": request.query_params.getlist("tag"),
        "mixed_case": request.headers["X-MiXeD-CaSe"],
        "lower_get": request.headers.get("x-mixed-case"),
        "missing": request.headers.get("x-missing", "fallback"),
        "contains": "X-MIXED-CASE" in request.headers,
        "getlist": request.headers.getlist("x-repeat"),
        "content_encoding": request.headers.get("content-encoding"),
        "header_names": sorted(k for k, _ in request.headers.items() if k.startswith("x-")),
        "cookies": request.cookies,
        "client": [request.client.host, request.client.port],
        "body": body.decode(),
        "json": await request.json(),
        "path_params": request.path_params,
        "scope_type": request.scope["type"],
        "node": context.node,
        "tenant": context.tenant,
        "config": context.config,
    }
    context.logger.info("surface ok for %s", request.client.host)
    raise HTTPException(418, detail=json.dumps(seen))
"""


def test_request_and_context_surface_seen_from_inside_the_authenticator(tmp_path):
    config = inline(SURFACE, config={"limit": 5, "names": ["a", "b"], "flag": True})
    config["node"] = {"name": "surface-node", "tenant": "acme"}
    with InletNode(tmp_path, config) as node:
        decoded = b'{"event": "push", "n": [1, 2, 3]}'
        conn = node.connection()
        conn.connect()
        client_port = conn.sock.getsockname()[1]
        conn.putrequest("POST", "/?tag=a&tag=b&x=1", skip_accept_encoding=True)
        for name, value in [
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
            ("X-MiXeD-CaSe", "Value"),
            ("X-Repeat", "one"),
            ("X-Repeat", "two"),
            ("Cookie", "session=abc; theme=dark"),
        ]:
            conn.putheader(name, value)
        compressed = gzip.compress(decoded)
        conn.putheader("Content-Length", str(len(compressed)))
        conn.endheaders(compressed)
        response = conn.getresponse()
        status, body = response.status, response.read()
        conn.close()
        assert status == 418, body
        seen = json.loads(json.loads(body)["detail"])
        assert seen == {
            "method": "POST",
            "path": "/",
            "query": "tag=a&tag=b&x=1",
            "url": f"http://127.0.0.1:{node.port}/?tag=a&tag=b&x=1",
            "query_params": {"tag": "b", "x": "1"},
            "multi": ["a", "b"],
            "mixed_case": "Value",
            "lower_get": "Value",
            "missing": "fallback",
            "contains": True,
            "getlist": ["one", "two"],
            "content_encoding": "gzip",
            "header_names": ["x-mixed-case", "x-repeat", "x-repeat"],
            "cookies": {"session": "abc", "theme": "dark"},
            "client": ["127.0.0.1", client_port],
            "body": decoded.decode(),
            "json": {"event": "push", "n": [1, 2, 3]},
            "path_params": {},
            "scope_type": "http",
            "node": "surface-node",
            "tenant": "acme",
            "config": {"limit": 5, "names": ["a", "b"], "flag": True},
        }
        [line] = [e for e in node.log_events() if e.get("event") == "authenticator_log"]
        assert line["node"] == "surface-node"
        assert line["python_level"] == "INFO" and line["level"] == "info"
        assert line["message"] == "surface ok for 127.0.0.1"
        assert "time" in line


def test_logger_lines_are_json_in_the_node_log_at_their_levels(tmp_path):
    source = """\
    def authenticator(*, context, request, **kwargs):
        context.logger.warning("careful: %s", request.headers.get("x-who"))
        context.logger.error("bad thing", extra={"ignored": 1})
        try:
            1 / 0
        except ZeroDivisionError:
            context.logger.exception("caught")
        return None
    """
    with InletNode(tmp_path, inline(source)) as node:
        assert node.post(b"{}", {**JSON, "X-Who": "bob"})[0] == 200
        lines = [json.loads(line) for line in node.logs().splitlines() if "authenticator_log" in line]
        assert [(e["level"], e["python_level"], e["message"].splitlines()[0]) for e in lines] == [
            ("warn", "WARNING", "careful: bob"),
            ("error", "ERROR", "bad thing"),
            ("error", "ERROR", "caught"),
        ]
        assert all(e["node"] == "test-node" for e in lines)
        assert "ZeroDivisionError" in lines[2]["message"]


def test_library_folder_with_a_chosen_function(tmp_path):
    library = tmp_path / "functions"
    library.mkdir()
    (library / "by_token.py").write_text(
        "def by_token(*, context, request, **kwargs):\n"
        "    from fastapi import HTTPException\n"
        "    from starlette.authentication import AuthCredentials, SimpleUser\n"
        "    if request.headers.get('x-token') != context.config['token']:\n"
        "        raise HTTPException(401, 'bad token')\n"
        "    return AuthCredentials(['lib']), SimpleUser('from-library')\n"
    )
    (library / "other.py").write_text("def other(*, context, request, **kwargs):\n    return None\n")
    (library / "broken.py").write_text("import os\n")  # other files of the library are not loaded
    config = {"authenticator": {"library": "functions", "function": "by_token", "config": {"token": "t0k"}}}
    with InletNode(tmp_path, config) as node:
        assert node.post(b"{}", {**JSON, "X-Token": "nope"})[0] == 401
        assert node.post(b"{}", {**JSON, "X-Token": "t0k"})[0] == 200
        [message] = node.read_queue()
        assert (message["user"], message["scopes"]) == ("from-library", ["lib"])


def test_library_without_the_function_fails_to_start(tmp_path):
    (tmp_path / "functions").mkdir()
    node = InletNode(tmp_path, {"authenticator": {"library": "functions", "function": "absent"}}, start=False)
    result = run_inlet("check", "--config", str(node.config_path))
    assert result.returncode == 1
    assert "absent" in combined_output(result)


def test_file_source_relative_to_the_config(tmp_path):
    (tmp_path / "auth.py").write_text(PLATFORM_TEMPLATE)
    with InletNode(tmp_path, {"authenticator": {"file": "auth.py"}}) as node:
        assert node.post(b"{}", JSON)[0] == 200
        assert node.read_queue()[0]["user"] == "foobar"


def test_inlet_test_prints_the_outcome_and_writes_nothing(tmp_path):
    node = InletNode(tmp_path, {"authenticator": {"inline": BASIC_AUTH_PLAIN}}, start=False)
    body = tmp_path / "body.json"
    body.write_text('{"hello":  "world"}')
    token = base64.b64encode(b"alice:pw").decode()
    result = run_inlet("test", "--config", str(node.config_path), "--body", str(body), "-H",
                       f"Authorization: Basic {token}")
    assert result.returncode == 0, combined_output(result)
    printed = json.loads(result.stdout)
    assert (printed["status"], printed["user"], printed["scopes"]) == (200, "alice", ["basic"])
    assert printed["message"]["body"] == {"hello": "world"}
    assert printed["message"]["node"] == "test-node"
    assert len(printed["message"]["tracking_id"]) == 32

    result = run_inlet("test", "--config", str(node.config_path), "--body", str(body))
    printed = json.loads(result.stdout)
    assert (printed["status"], printed["detail"]) == (401, "missing credentials")

    assert queue_is_empty(node.queue_dir)


BASIC_AUTH_PLAIN = """\
def authenticator(*, context, request, **kwargs):
    import base64
    from fastapi import HTTPException
    from starlette.authentication import AuthCredentials, SimpleUser
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        raise HTTPException(401, "missing credentials", headers={"WWW-Authenticate": "Basic"})
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    if password != "pw":
        raise HTTPException(status_code=403, detail="bad password")
    return AuthCredentials(["basic"]), SimpleUser(user)
"""


# inlet_testing.py, used the way an authenticator's author would from their own test suite.


@pytest.fixture
def token_auth(tmp_path):
    path = tmp_path / "token_auth.py"
    path.write_text(
        "def authenticator(*, context, request, **kwargs):\n"
        "    import hmac\n"
        "    from fastapi import HTTPException\n"
        "    from starlette.authentication import AuthCredentials, SimpleUser\n"
        "    token = request.headers.get('x-token', '')\n"
        "    if not hmac.compare_digest(token, context.config['token']):\n"
        "        context.logger.warning('rejected a token')\n"
        "        raise HTTPException(403, 'bad token', headers={'X-Why': 'token'})\n"
        "    return AuthCredentials(['push']), SimpleUser(request.query_params.get('as', 'ci'))\n"
    )
    return path


def test_inlet_testing_accepts_a_good_token(token_auth):
    result = inlet_testing.run_authenticator(
        token_auth, body={"ref": "main"}, headers={"X-Token": "s3cret"}, config={"token": "s3cret"}, target="/?as=bot"
    )
    assert result.status == 200
    assert result.accepted
    assert (result.user, result.scopes) == ("bot", ["push"])
    assert result.message["body"] == {"ref": "main"}


def test_inlet_testing_rejects_a_bad_token(token_auth):
    result = inlet_testing.run_authenticator(token_auth, headers={"X-Token": "nope"}, config={"token": "s3cret"})
    assert (result.status, result.detail, result.accepted) == (403, "bad token", False)
    assert result.user is None and result.message is None
    assert any("rejected a token" in line["message"] for line in result.logs)


def test_inlet_testing_takes_source_text_and_reports_bad_source(tmp_path):
    assert inlet_testing.run_authenticator(PLATFORM_TEMPLATE).user == "foobar"
    with pytest.raises(inlet_testing.InletTestError, match=r"only the def"):
        inlet_testing.run_authenticator("import os\n" + PLATFORM_TEMPLATE)
    with pytest.raises(inlet_testing.InletTestError, match=r"not-a-package"):
        inlet_testing.run_authenticator(PLATFORM_TEMPLATE, requirements=["not-a-package"])


def test_inlet_testing_reports_500_and_timeouts(tmp_path):
    result = inlet_testing.run_authenticator(
        "def authenticator(*, context, request, **kwargs):\n    raise KeyError('x')\n"
    )
    assert result.status == 500
    assert any("KeyError" in line["message"] for line in result.logs)
    result = inlet_testing.run_authenticator(SPIN_SYNC, timeout_ms=100)
    assert result.status == 503


def test_the_node_survives_a_parade_of_bad_authenticator_calls(tmp_path):
    source = """\
    async def authenticator(*, context, request, **kwargs):
        import asyncio, sys
        mode = request.headers.get("x-mode", "ok")
        if mode == "exit":
            sys.exit(3)
        if mode == "keyboard":
            raise KeyboardInterrupt
        if mode == "recursion":
            def f(): return f()
            f()
        if mode == "memory":
            raise MemoryError
        if mode == "bad-status":
            class E(Exception):
                status_code = 9999
            raise E()
        if mode == "bad-headers":
            from fastapi import HTTPException
            raise HTTPException(401, "x", headers=42)
        if mode == "gen":
            return (x for x in ())
        if mode == "cancel":
            raise asyncio.CancelledError()
        if mode == "late-request":
            context.kept = request
            return None
        if mode == "read-late":
            return context.kept.headers.get("x-mode")
        return None
    """
    expected = {
        "exit": 500, "keyboard": 500, "recursion": 500, "memory": 500, "bad-status": 500,
        "bad-headers": 401, "gen": 500, "late-request": 200, "read-late": 500,
    }
    with InletNode(tmp_path, inline(source, timeout_ms=500)) as node:
        for mode, status in expected.items():
            got, _, body = node.post(b"{}", {**JSON, "X-Mode": mode})
            assert got == status, (mode, body)
            assert b"Traceback" not in body
            assert_still_serving(node, count=1)
        got, _, _ = node.post(b"{}", {**JSON, "X-Mode": "cancel"})
        assert got in (500, 503)
        assert_still_serving(node)
        assert node.proc.poll() is None
