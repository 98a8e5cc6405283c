"""The timestamped-HMAC verifiers (auth/timestamped_hmac_verifier.h) through the real binary:
Standard Webhooks under both its header names and Svix's, Stripe and Slack, each signing the body
as its sender does. The unit tests (tests/auth/*_verifier_test.cc) cover every refusal; this shows
the config keys, the chain and the answers on the wire."""
import base64
import hashlib
import hmac
import json
import time

import pytest

from inlet_harness import InletNode

BODY = b'{"type": "invoice.paid", "id": "evt_1"}'
WHSEC = "whsec_" + base64.b64encode(b"k" * 24).decode()
STRIPE_SECRET = "whsec_stripe_test_secret"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def standard_webhooks_headers(prefix, body=BODY, secret=WHSEC, timestamp=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, b"msg_1." + timestamp.encode() + b"." + body, hashlib.sha256).digest()
    return {"Content-Type": "application/json", f"{prefix}-id": "msg_1", f"{prefix}-timestamp": timestamp,
            f"{prefix}-signature": "v1," + base64.b64encode(mac).decode()}


def stripe_headers(body=BODY, timestamp=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(STRIPE_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "Stripe-Signature": f"t={timestamp},v1={mac}"}


def slack_headers(body=BODY, timestamp=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(SLACK_SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": "v0=" + mac}


def detail(response):
    return json.loads(response[2])["detail"]


@pytest.fixture(scope="module")
def standard_webhooks_node(tmp_path_factory):
    verifiers = [{"type": "standard_webhooks", "secrets": [WHSEC], "tolerance_seconds": 60}]
    with InletNode(tmp_path_factory.mktemp("sw"), {"verifiers": verifiers}) as node:
        yield node


@pytest.mark.parametrize("prefix", ["webhook", "svix"])
def test_standard_webhooks_accepts_both_header_names(standard_webhooks_node, prefix):
    status, _, body = standard_webhooks_node.post(BODY, standard_webhooks_headers(prefix))
    assert status == 200, body
    tracking_id = json.loads(body)["tracking_id"]
    stored = [m for m in standard_webhooks_node.read_queue() if m["tracking_id"] == tracking_id]
    assert len(stored) == 1 and stored[0]["body"] == json.loads(BODY)


@pytest.mark.parametrize("prefix", ["webhook", "svix"])
def test_standard_webhooks_refuses_a_tampered_body_a_stale_timestamp_and_a_missing_header(
        standard_webhooks_node, prefix):
    node = standard_webhooks_node
    tampered = node.post(BODY.replace(b"paid", b"void"), standard_webhooks_headers(prefix))
    assert (tampered[0], detail(tampered)) == (403, "invalid signature")
    stale = node.post(BODY, standard_webhooks_headers(prefix, timestamp=int(time.time()) - 600))
    assert (stale[0], detail(stale)) == (403, "timestamp outside tolerance")
    headers = standard_webhooks_headers(prefix)
    del headers[f"{prefix}-id"]
    missing = node.post(BODY, headers)
    assert (missing[0], detail(missing)) == (401, "missing webhook-id")


def test_stripe_and_slack_through_the_binary(tmp_path):
    for verifier, sign, name in [({"type": "stripe", "secrets": [STRIPE_SECRET]}, stripe_headers, "Stripe-Signature"),
                                 ({"type": "slack", "secret": SLACK_SECRET}, slack_headers, "X-Slack-Signature")]:
        (tmp_path / verifier["type"]).mkdir()
        with InletNode(tmp_path / verifier["type"], {"verifiers": [verifier]}) as node:
            assert node.post(BODY, sign())[0] == 200
            wrong = node.post(BODY + b" ", sign())
            assert (wrong[0], detail(wrong)) == (403, "invalid signature")
            stale = node.post(BODY, sign(timestamp=int(time.time()) - 3600))
            assert (stale[0], detail(stale)) == (403, "timestamp outside tolerance")
            headers = sign()
            del headers[name]
            missing = node.post(BODY, headers)
            assert (missing[0], detail(missing)) == (401, f"missing {name}")
