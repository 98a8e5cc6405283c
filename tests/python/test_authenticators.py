"""The Python authenticator through the real `inlet` binary: HTTP answers, messages, logs, check."""
import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor

from inlet_harness import InletNode, run_inlet

JSON = {"Content-Type": "application/json"}

PLATFORM_TEMPLATE = """\
def authenticator(*, context, request, **kwargs):
    from starlette.authentication import AuthCredentials, SimpleUser
    return AuthCredentials(["push"]), SimpleUser("foobar")
"""

BASIC_AUTH = """\
def authenticator(*, context, request, **kwargs):
    import base64
    from fastapi import HTTPException
    from starlette.authentication import AuthCredentials, SimpleUser
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        raise HTTPException(401, "missing credentials", headers={"WWW-Authenticate": "Basic"})
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    if context.config["users"].get(user) != password:
        context.logger.warning("bad password for %s", user)
        raise HTTPException(status_code=403, detail="bad password")
    return AuthCredentials(), SimpleUser(user)
"""


def basic(user, password):
    return {**JSON, "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_platform_template_accepts_and_the_message_carries_the_user(tmp_path):
    with InletNode(tmp_path, {"authenticator": {"inline": PLATFORM_TEMPLATE}}) as node:
        status, _, body = node.post(b'{"a": 1}', JSON)
        assert status == 200, body
        assert len(json.loads(body)["tracking_id"]) == 32
        [message] = node.read_queue()
        assert message["user"] == "foobar"
        assert message["scopes"] == ["push"]
        assert message["body"] == {"a": 1}


def test_http_exceptions_answer_with_their_status_detail_and_headers(tmp_path):
    config = {"authenticator": {"inline": BASIC_AUTH, "config": {"users": {"alice": "s3cret"}}}}
    with InletNode(tmp_path, config) as node:
        status, headers, body = node.post(b"{}", JSON)
        assert (status, json.loads(body)) == (401, {"detail": "missing credentials"})
        assert headers["www-authenticate"] == "Basic"
        status, _, body = node.post(b"{}", basic("alice", "wrong"))
        assert (status, json.loads(body)) == (403, {"detail": "bad password"})
        status, _, _ = node.post(b"{}", basic("alice", "s3cret"))
        assert status == 200
        events = [e for e in node.log_events() if e.get("event") == "authenticator_log"]
        assert any("bad password for alice" in e.get("message", "") for e in events), node.logs()


def test_other_exceptions_are_500_without_internals(tmp_path):
    source = "def authenticator(*, context, request, **kwargs):\n    raise ValueError('db password is hunter2')\n"
    with InletNode(tmp_path, {"authenticator": {"inline": source}}) as node:
        status, _, body = node.post(b"{}", JSON)
        assert status == 500
        assert b"hunter2" not in body
        assert "ValueError" in node.logs()


def test_none_means_reject_answers_403(tmp_path):
    source = "def authenticator(*, context, request, **kwargs):\n    return None\n"
    with InletNode(tmp_path, {"authenticator": {"inline": source, "none_means": "reject"}}) as node:
        status, _, _ = node.post(b"{}", JSON)
        assert status == 403


def test_spinning_authenticator_answers_503_and_the_node_keeps_serving(tmp_path):
    source = """\
def authenticator(*, context, request, **kwargs):
    if request.headers.get("x-spin"):
        while True:
            pass
    return None
"""
    with InletNode(tmp_path, {"authenticator": {"inline": source, "timeout_ms": 300}}) as node:
        start = time.monotonic()
        status, _, _ = node.post(b"{}", {**JSON, "X-Spin": "1"})
        assert status == 503
        assert time.monotonic() - start < 3
        status, _, _ = node.post(b"{}", JSON)
        assert status == 200


def test_async_authenticators_run_concurrently(tmp_path):
    source = """\
async def authenticator(*, context, request, **kwargs):
    import asyncio
    await asyncio.sleep(0.2)
    return None
"""
    with InletNode(tmp_path, {"authenticator": {"inline": source}}) as node:
        start = time.monotonic()
        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(lambda _: node.post(b"{}", JSON)[0], range(20)))
        assert statuses == [200] * 20
        assert time.monotonic() - start < 2


def test_check_reports_code_outside_the_def_with_file_and_line(tmp_path):
    auth = tmp_path / "auth.py"
    auth.write_text("import os\n\ndef authenticator(*, context, request, **kwargs):\n    return None\n")
    node = InletNode(tmp_path, {"authenticator": {"file": "auth.py"}}, start=False)
    result = run_inlet("check", "--config", str(node.config_path))
    assert result.returncode == 1
    assert f"{auth}:1:" in result.stderr.decode() + result.stdout.decode()


def test_missing_requirement_stops_the_node(tmp_path):
    node = InletNode(
        tmp_path,
        {"authenticator": {"inline": PLATFORM_TEMPLATE, "requirements": ["nonexistent-pkg==1.0"]}},
        start=False,
    )
    result = run_inlet("check", "--config", str(node.config_path))
    assert result.returncode != 0
    assert "nonexistent-pkg" in result.stderr.decode() + result.stdout.decode()
