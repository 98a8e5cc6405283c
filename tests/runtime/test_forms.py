"""Form posts (CONTRACT.md section 1, `form_param`) through the real binary: GitHub's
form-encoded deliveries, as chat-bot webhook frameworks receive them, signed over the form as
sent; the message is the JSON of the field."""
import hashlib
import hmac
import json
import urllib.parse

import pytest

from inlet_harness import InletNode, payload_bodies

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SECRET = "form-secret"


def signed(body):
    return {**FORM, "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}


def push_payload():
    return next(b for b in payload_bodies() if b'"commits"' in b and b'"pusher"' in b)


AUTHENTICATOR = """\
async def authenticator(*, context, request, **kwargs):
    import json
    from fastapi import HTTPException
    form = await request.form()
    if "payload" not in form or json.loads(form["payload"]).get("ref") is None:
        raise HTTPException(403, detail="no ref in the payload")
    return None
"""


@pytest.fixture(scope="module")
def form_node(tmp_path_factory):
    config = {"form_param": "payload", "verifiers": [{"type": "github", "secret": SECRET}],
              "authenticator": {"inline": AUTHENTICATOR}}
    with InletNode(tmp_path_factory.mktemp("forms"), config) as node:
        yield node


def test_a_form_encoded_github_push_signed_as_sent_becomes_its_json(form_node):
    payload = push_payload()
    body = urllib.parse.urlencode({"payload": payload.decode()}).encode()
    status, _, answer = form_node.post(body, signed(body))
    assert status == 200, answer
    tracking_id = json.loads(answer)["tracking_id"]
    [message] = [m for m in form_node.read_queue() if m["tracking_id"] == tracking_id]
    assert message["body"] == json.loads(payload)
    assert message["content_type"] == "application/json"


def test_the_signature_covers_the_form_not_the_json(form_node):
    body = urllib.parse.urlencode({"payload": push_payload().decode()}).encode()
    json_signature = signed(push_payload())["X-Hub-Signature-256"]
    assert form_node.post(body, {**FORM, "X-Hub-Signature-256": json_signature})[0] == 403


@pytest.mark.parametrize("form, status, detail", [
    ({"other": "{}"}, 400, "form field 'payload' is missing"),
    ({"payload": "{not json"}, 400, "invalid JSON"),
    ({"payload": '{"no": "ref"}'}, 403, "no ref in the payload"),
])
def test_a_form_without_its_json_field_is_refused(form_node, form, status, detail):
    body = urllib.parse.urlencode(form).encode()
    answer = form_node.post(body, signed(body))
    assert answer[0] == status
    assert json.loads(answer[2])["detail"].startswith(detail), answer


def test_without_form_param_a_form_is_415(tmp_path):
    with InletNode(tmp_path) as node:
        answer = node.post(b"payload=%7B%7D", FORM)
    assert answer[0] == 415


def test_inlet_test_prints_the_json_of_a_form_post(tmp_path):
    from inlet_harness import run_inlet
    node = InletNode(tmp_path, {"form_param": "payload"}, start=False)
    body = tmp_path / "form.txt"
    body.write_bytes(urllib.parse.urlencode({"payload": '{"ref": "refs/heads/main"}'}).encode())
    result = run_inlet("test", "--config", str(node.config_path), "--body", str(body),
                       "-H", "Content-Type: application/x-www-form-urlencoded")
    printed = json.loads(result.stdout)
    assert printed["status"] == 200, printed
    assert printed["message"]["body"] == {"ref": "refs/heads/main"}
    assert printed["message"]["content_type"] == "application/json"
