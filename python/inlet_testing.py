"""Test an inlet authenticator from your own pytest suite, through inlet's real pipeline.

    from inlet_testing import run_authenticator

    def test_accepts_the_right_token():
        result = run_authenticator("auth.py", body={"ref": "main"},
                                   headers={"X-Token": "s3cret"}, config={"token": "s3cret"})
        assert result.status == 200
        assert result.user == "ci"

    def test_rejects_a_wrong_token():
        result = run_authenticator("auth.py", headers={"X-Token": "nope"}, config={"token": "s3cret"})
        assert (result.status, result.detail) == (403, "bad token")

Each call writes a small node config into a temporary directory and runs `inlet test` (the binary
from the `binary` argument, else $INLET_BINARY, else `inlet` on PATH). That is the same code the
node runs for a request, in the same embedded interpreter, with no socket and no queue write.
Every call starts a fresh process, so `context` starts empty each time.

API
---
run_authenticator(source, body=b"{}", headers=None, *, config=None, requirements=(),
                  timeout_ms=2000, none_means="accept", function=None, target="/",
                  node="inlet-testing", tenant=None, content_type="application/json",
                  binary=None) -> AuthResult

    source        a path to a .py file (str or pathlib.Path), or the source text itself. With
                  `function`, the file's folder is used as a library and `function` picks the
                  file `<function>.py` in it (the `library:` + `function:` config).
    body          bytes, str, or any JSON-serialisable object (dumped for you). It is the raw
                  request body: to test a compressed request, pass the compressed bytes and a
                  Content-Encoding header.
    headers       a dict of request headers; Content-Type defaults to `content_type`.
    config        a dict that becomes `context.config`.
    requirements  pip specifiers checked before the function loads.
    timeout_ms, none_means   as in the `authenticator:` config section.
    target        the request target, with a query string: "/?as=bot".
    node, tenant  `context.node` and `context.tenant`.

AuthResult (what `inlet test` printed), attributes:
    status     the HTTP status the node would answer (200, 403, 500, 503, ...)
    detail     the answer's detail ("ok" on success)
    accepted   status == 200
    user, identity, scopes   what the message would carry (None, None, [] when rejected)
    message    the message the node would queue (dict with tracking_id, received_at, node,
               message_type, content_type, body) or None when rejected
    logs       the node's JSON log lines from this run, as dicts (context.logger records have
               event "authenticator_log"; tracebacks of 500s are there too)
    output     the raw JSON `inlet test` printed, as a dict

InletTestError is raised when the authenticator cannot run at all: bad source (the message has
file:line), unmet requirements, bad config, or no inlet binary.
"""

import json
import os
import shutil
import subprocess
import tempfile

__all__ = ["AuthResult", "InletTestError", "run_authenticator"]


class InletTestError(RuntimeError):
    """`inlet test` could not run the authenticator (bad source, unmet requirement, bad config)."""


class AuthResult:
    """One request's outcome as `inlet test` reported it; see the module docstring."""

    def __init__(self, output, logs):
        self.output = output
        self.logs = logs
        self.status = output["status"]
        self.detail = output.get("detail")
        self.user = output.get("user")
        self.identity = output.get("identity")
        self.scopes = output.get("scopes", [])
        self.message = output.get("message")

    @property
    def accepted(self):
        return self.status == 200

    def __repr__(self):
        return f"AuthResult(status={self.status}, detail={self.detail!r}, user={self.user!r}, scopes={self.scopes!r})"


def _binary(binary):
    found = binary or os.environ.get("INLET_BINARY") or shutil.which("inlet")
    if not found:
        raise InletTestError("inlet binary not found: pass binary=, set INLET_BINARY or put inlet on PATH")
    return found


def _yaml(value):
    # JSON is valid YAML (1.2, and yaml-cpp reads it), so every value is written as JSON.
    return json.dumps(value)


def _parse_logs(text):
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            pass
    return lines


def run_authenticator(
    source,
    body=b"{}",
    headers=None,
    *,
    config=None,
    requirements=(),
    timeout_ms=2000,
    none_means="accept",
    function=None,
    target="/",
    node="inlet-testing",
    tenant=None,
    content_type="application/json",
    binary=None,
):
    """Runs one request through the authenticator with `inlet test`; returns an AuthResult."""
    headers = dict(headers or {})
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = content_type
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, (bytes, bytearray)):
        body = json.dumps(body).encode()
    source = os.fspath(source) if isinstance(source, os.PathLike) else source

    with tempfile.TemporaryDirectory(prefix="inlet-test-") as tmp:
        if "\n" not in source and os.path.isfile(source):
            path = os.path.abspath(source)
            if function:
                where = f"  library: {_yaml(os.path.dirname(path))}\n  function: {_yaml(function)}\n"
            else:
                where = f"  file: {_yaml(path)}\n"
        else:
            where = f"  inline: {_yaml(source)}\n"
        node_section = f"  name: {_yaml(node)}\n" + (f"  tenant: {_yaml(tenant)}\n" if tenant else "")
        config_path = os.path.join(tmp, "node.yaml")
        with open(config_path, "w", encoding="utf-8") as f:
            f.write(
                f"node:\n{node_section}"
                "listen: 127.0.0.1:0\n"
                "authenticator:\n"
                f"{where}"
                f"  config: {_yaml(config or {})}\n"
                f"  requirements: {_yaml(list(requirements))}\n"
                f"  timeout_ms: {int(timeout_ms)}\n"
                f"  none_means: {_yaml(none_means)}\n"
                "edges:\n"
                f"  - name: main\n    queue: {{type: log, dir: {_yaml(os.path.join(tmp, 'queue'))}}}\n"
            )
        body_path = os.path.join(tmp, "body")
        with open(body_path, "wb") as f:
            f.write(body)
        command = [_binary(binary), "test", "--config", config_path, "--body", body_path, "--target", target]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60 + timeout_ms / 1000)
    try:
        output = json.loads(done.stdout)
    except json.JSONDecodeError:
        reason = done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}"
        raise InletTestError(f"inlet test failed: {reason}") from None
    return AuthResult(output, _parse_logs(done.stderr))
