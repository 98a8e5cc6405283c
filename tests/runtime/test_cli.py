"""The command line (CONTRACT.md section 4) through the real binary: --help, --version, usage errors,
`check` on good and bad configs, `serve` refusing a bad config, `test` (one request without a
socket, writing nothing), and `queue read --from`."""
import gzip
import json
import os
import re
import subprocess

import pytest

from inlet_harness import InletNode, run_inlet

GOOD_CONFIG = """\
node:
  name: cli-node
listen: 127.0.0.1:0
edges:
  - name: main
    queue: {type: log, dir: ./queue}
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def run(*args, cwd=None):
    result = run_inlet(*args) if cwd is None else _run_in(cwd, *args)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def _run_in(cwd, *args):
    import subprocess
    from inlet_harness import BINARY
    return subprocess.run([os.path.abspath(BINARY), *args], capture_output=True, timeout=60, cwd=cwd)


def test_help_lists_every_command_and_exits_0():
    for flag in ("--help", "-h"):
        code, out, _ = run(flag)
        assert code == 0
        for command in ("serve", "check", "test", "queue read", "requirements install", "--version"):
            assert command in out, command


def test_version_prints_the_version_and_exits_0():
    code, out, _ = run("--version")
    assert code == 0
    assert re.match(r"^inlet \d+\.\d+\.\d+ \(commit [0-9a-f]{12}|unknown", out), out
    source = os.environ.get("INLET_SOURCE_DIR")
    head = subprocess.run(["git", "-C", source, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True).stdout.strip() if source else ""
    if head:  # a checkout: the binary names a commit of it (the one it was configured at)
        commit = re.search(r"commit ([0-9a-f]{12})", out).group(1)
        assert subprocess.run(["git", "-C", source, "cat-file", "-e", commit + "^{commit}"]).returncode == 0, out


def test_no_command_prints_usage_and_exits_2():
    code, out, _ = run()
    assert code == 2 and "serve" in out


@pytest.mark.parametrize("args", [["bogus"], ["serve"], ["check"], ["queue"], ["queue", "write", "--dir", "."],
                                  ["queue", "read"], ["check", "--config"],
                                  ["queue", "read", "--dir", ".", "--from", "x"],
                                  ["queue", "read", "--dir", ".", "--from", "-1"]])
def test_usage_errors_exit_2_with_a_reason(args):
    code, out, err = run(*args)
    assert code == 2, (code, out, err)
    assert err.startswith("inlet: ") and "--help" in err, err
    assert out == ""


def test_unknown_command_is_named():
    code, _, err = run("frobnicate")
    assert code == 2 and "unknown command 'frobnicate'" in err


def test_check_accepts_a_good_config(tmp_path):
    config = write(tmp_path, "node.yaml", GOOD_CONFIG)
    code, out, err = run("check", "--config", config)
    assert code == 0, err
    assert out.startswith(f"{config}: ok") and "1 edge" in out
    assert not (tmp_path / "queue").exists(), "check must not create the queue"


@pytest.mark.parametrize("text,expected", [
    ("node:\n  name: a\n  colour: blue\n", r"node\.yaml:3: node\.colour: unknown key"),
    ("node:\n  name: a\nlisten: 127.0.0.1:0\nextra: 1\n", r"node\.yaml:4: extra: unknown key"),
    ("node:\n  name: a\nlimits:\n  max_body_bytes: 100\n  max_bdy_bytes: 5\n",
     r"node\.yaml:5: limits\.max_bdy_bytes: unknown key"),
    ("node:\n  name: a\nlimits:\n  max_body_bytes: -5\n", r"node\.yaml:4: limits\.max_body_bytes: must be between"),
    ("node:\n  name: a\nlimits:\n  max_body_bytes: lots\n", r"node\.yaml:4: limits\.max_body_bytes: "),
    ("node:\n  name: a\nlisten: nowhere\n", r"node\.yaml:3: listen: must be host:port"),
    ("node:\n  name: a\nedges:\n  - name: e\n    queue: {type: carrier-pigeon}\n", r"node\.yaml:5: edges\[0\]\.queue\.type"),
    ("node:\n  name: a\nedges:\n  - name: e\n    queue: {type: log, ack: maybe}\n", r"node\.yaml:5: edges\[0\]\.queue\.ack"),
    ("node:\n  name: a\nedges:\n  - queue: {type: log}\n", r"node\.yaml:\d+: edges\[0\]\.name"),
    ("node: [1\n", r"node\.yaml:\d+: invalid YAML"),
    ("unrouted: sometimes\n", r"node\.yaml:1: unrouted: "),
])
def test_check_refuses_a_bad_config_with_file_line_key_and_reason(tmp_path, text, expected):
    config = write(tmp_path, "node.yaml", text)
    code, out, err = run("check", "--config", config)
    assert code == 1, (out, err)
    assert re.search(expected, err), err
    assert out == ""


def test_check_on_a_missing_file_exits_1(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    code, _, err = run("check", "--config", missing)
    assert code == 1
    assert missing in err and "cannot read" in err


def test_check_refuses_authenticator_source_with_more_than_the_def(tmp_path):
    write(tmp_path, "auth.py", "def authenticator(*, context, request, **kwargs):\n    return None\nx = 1\n")
    config = write(tmp_path, "node.yaml", "node:\n  name: a\nauthenticator:\n  file: auth.py\n")
    code, _, err = run("check", "--config", config, cwd=tmp_path)
    assert code == 1
    assert re.search(r"auth\.py:3: .*only the def", err), err
    inline = ("node:\n  name: a\nauthenticator:\n  inline: |\n    import os\n"
              "    def authenticator(*, context, request, **kwargs):\n        return None\n")
    config = write(tmp_path, "inline.yaml", inline)
    code, _, err = run("check", "--config", config, cwd=tmp_path)
    assert code == 1 and re.search(r":\d+: .*import", err), err


def test_serve_refuses_a_bad_config_and_exits_1(tmp_path):
    config = write(tmp_path, "node.yaml", "node:\n  name: a\n  colour: blue\n")
    code, _, err = run("serve", "--config", config)
    assert code == 1
    assert "node.yaml:3: node.colour: unknown key" in err
    code, _, err = run("serve", "--config", str(tmp_path / "absent.yaml"))
    assert code == 1 and "cannot read" in err


def test_serve_refuses_a_port_in_use(tmp_path):
    import socket
    with socket.socket() as holder:  # a plain listener without SO_REUSEPORT holds the port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = write(tmp_path, "node.yaml", f"node:\n  name: b\nlisten: 127.0.0.1:{port}\n"
                       "edges:\n  - name: main\n    queue: {type: log, dir: ./q}\n")
        code, _, err = run("serve", "--config", config, cwd=tmp_path)
        assert code == 1 and str(port) in err, err


def test_test_command_runs_the_pipeline_and_writes_nothing(tmp_path):
    config = write(tmp_path, "node.yaml", GOOD_CONFIG)
    body = write(tmp_path, "body.json", b'{"action": "opened",\n "number": 7}\n')
    code, out, err = run("test", "--config", config, "--body", body, "-H", "X-GitHub-Event: pull_request",
                         cwd=tmp_path)
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == 200 and result["detail"] == "ok"
    assert result["user"] is None and result["scopes"] == [] and result["edges"] == ["main"]
    message = result["message"]
    assert re.match(r"^[0-9a-f]{32}$", message["tracking_id"])
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", message["received_at"])
    assert message["message_type"] == "echo.json" and message["node"] == "cli-node"
    assert message["content_type"] == "application/json"
    assert message["body"] == {"action": "opened", "number": 7}
    assert sorted(os.listdir(tmp_path)) == ["body.json", "node.yaml"], "test must write nothing"


def test_test_command_decodes_and_uses_the_headers_given(tmp_path):
    config = write(tmp_path, "node.yaml", GOOD_CONFIG)
    body = write(tmp_path, "body.gz", gzip.compress(b'{"a": [1, 2]}'))
    code, out, err = run("test", "--config", config, "--body", body, "-H", "Content-Encoding: gzip",
                         "--header", "Content-Type: application/vnd.github+json", cwd=tmp_path)
    assert code == 0, err
    message = json.loads(out)["message"]
    assert message["body"] == {"a": [1, 2]} and message["content_type"] == "application/vnd.github+json"


def test_test_command_reports_the_user_from_a_verifier(tmp_path):
    config = write(tmp_path, "node.yaml", GOOD_CONFIG + "verifiers:\n  - type: bearer\n    tokens:\n"
                   "      - {value: tok-123, user: ci}\n")
    body = write(tmp_path, "body.json", b"{}")
    code, out, _ = run("test", "--config", config, "--body", body, "-H", "Authorization: Bearer tok-123",
                       cwd=tmp_path)
    assert code == 0 and json.loads(out)["user"] == "ci"
    code, out, _ = run("test", "--config", config, "--body", body, cwd=tmp_path)
    result = json.loads(out)
    assert code == 1 and result["status"] == 401 and "message" not in result


@pytest.mark.parametrize("data,where", [(b'{"a": 1} x', "byte 9"), (b'{"a": "\xff"}', "byte 7"),
                                        (b"", "empty body"), (b'{\n  "a": tru\n}', "line 2")])
def test_test_command_on_invalid_json_prints_400_with_a_location(tmp_path, data, where):
    config = write(tmp_path, "node.yaml", GOOD_CONFIG)
    body = write(tmp_path, "body.json", data)
    code, out, _ = run("test", "--config", config, "--body", body, cwd=tmp_path)
    assert code == 1
    result = json.loads(out)
    assert result["status"] == 400 and result["detail"].startswith("invalid JSON") and where in result["detail"], result


@pytest.mark.parametrize("headers,status", [(["Content-Type: text/plain"], 415), (["Content-Encoding: compress"], 415),
                                            (["Content-Encoding: gzip"], 400)])
def test_test_command_applies_the_head_checks(tmp_path, headers, status):
    config = write(tmp_path, "node.yaml", GOOD_CONFIG)
    body = write(tmp_path, "body.json", b'{"a": 1}')
    args = [a for h in headers for a in ("-H", h)]
    code, out, _ = run("test", "--config", config, "--body", body, *args, cwd=tmp_path)
    assert code == 1 and json.loads(out)["status"] == status, out


def test_test_command_without_body_or_with_a_missing_file(tmp_path):
    config = write(tmp_path, "node.yaml", GOOD_CONFIG)
    code, _, err = run("test", "--config", config)
    assert code == 2 and "--body" in err
    code, _, err = run("test", "--config", config, "--body", str(tmp_path / "absent.json"))
    assert code == 1 and "absent.json" in err


def test_queue_read_from_an_offset(tmp_path):
    with InletNode(tmp_path) as node:
        ids = []
        for i in range(6):
            status, _, answer = node.post(json.dumps({"i": i, "s": " spaced "}).encode())
            assert status == 200
            ids.append(json.loads(answer)["tracking_id"])
        code, out, err = run("queue", "read", "--dir", node.queue_dir, "--from", "4")
        assert code == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        assert [(line["offset"], line["tracking_id"]) for line in lines] == [(4, ids[4]), (5, ids[5])]
        assert list(lines[0]) == ["offset", "tracking_id", "received_at", "message_type", "node", "tenant", "content_type",
                                  "user", "identity", "error", "attempts", "endpoint", "status", "scopes",
                                  "prev_tracking_ids", "body"]
        assert lines[0]["body"] == {"i": 4, "s": " spaced "}
        assert '"body":{"i":4,"s":" spaced "}' in out.splitlines()[0], "the body is printed minified"
        code, out, _ = run("queue", "read", "--dir", node.queue_dir)
        assert code == 0 and [json.loads(line)["tracking_id"] for line in out.splitlines()] == ids
        code, out, _ = run("queue", "read", "--dir", node.queue_dir, "--from", "6")
        assert code == 0 and out == ""
        code, out, _ = run("queue", "read", "--dir", node.queue_dir, "--from", "1000")
        assert code == 0 and out == ""


def test_queue_read_on_a_missing_dir_exits_1(tmp_path):
    code, _, err = run("queue", "read", "--dir", str(tmp_path / "absent"))
    assert code == 1 and "absent" in err
