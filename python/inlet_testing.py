"""Run an authenticator through inlet's real pipeline from your own pytest suite.

    from inlet_testing import run_authenticator

    def test_rejects_missing_token(tmp_path):
        result = run_authenticator("auth.py", body=b'{"a": 1}', headers={"X-Token": "nope"})
        assert result["status"] == 403

`source_or_path` is a path to a .py file or the source text itself. Each call writes a small node
config into a temporary directory and runs `inlet test` (the binary from $INLET_BINARY, else
`inlet` on PATH), which prints one JSON object: status, detail, user, scopes, message. Nothing is
stored and no socket is opened.
"""

import json
import os
import shutil
import subprocess
import tempfile

__all__ = ["InletTestError", "run_authenticator"]


class InletTestError(RuntimeError):
    """`inlet test` failed to run (bad config, bad source, missing requirement)."""


def _binary():
    binary = os.environ.get("INLET_BINARY") or shutil.which("inlet")
    if not binary:
        raise InletTestError("inlet binary not found: set INLET_BINARY or put inlet on PATH")
    return binary


def _yaml_string(text):
    # JSON strings are valid YAML scalars.
    return json.dumps(text)


def run_authenticator(
    source_or_path,
    body=b"{}",
    headers=None,
    *,
    config=None,
    requirements=(),
    timeout_ms=2000,
    none_means="accept",
    function=None,
    content_type="application/json",
    binary=None,
):
    """Returns the JSON `inlet test` printed, as a dict (status, detail, user, scopes, message)."""
    headers = dict(headers or {})
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = content_type
    with tempfile.TemporaryDirectory(prefix="inlet-test-") as tmp:
        if os.path.isfile(str(source_or_path)):
            source_path = os.path.abspath(str(source_or_path))
            if function:
                source_line = (
                    f"  library: {_yaml_string(os.path.dirname(source_path))}\n"
                    f"  function: {_yaml_string(function)}\n"
                )
            else:
                source_line = f"  file: {_yaml_string(source_path)}\n"
        else:
            source_line = f"  inline: {_yaml_string(str(source_or_path))}\n"
        config_path = os.path.join(tmp, "node.yaml")
        with open(config_path, "w", encoding="utf-8") as f:
            f.write(
                "node:\n  name: inlet-testing\n"
                "listen: 127.0.0.1:0\n"
                "authenticator:\n"
                + source_line
                + f"  config: {json.dumps(config or {})}\n"
                + f"  requirements: {json.dumps(list(requirements))}\n"
                + f"  timeout_ms: {int(timeout_ms)}\n"
                + f"  none_means: {none_means}\n"
                + "edges:\n  - name: main\n    queue: {type: log, dir: "
                + _yaml_string(os.path.join(tmp, "queue"))
                + "}\n"
            )
        body_path = os.path.join(tmp, "body")
        with open(body_path, "wb") as f:
            f.write(body if isinstance(body, bytes) else body.encode())
        command = [binary or _binary(), "test", "--config", config_path, "--body", body_path]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        try:
            return json.loads(done.stdout)
        except json.JSONDecodeError:
            raise InletTestError(
                f"inlet test exited {done.returncode}: {done.stderr.strip() or done.stdout.strip()}"
            ) from None
