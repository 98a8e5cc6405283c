"""Authenticators written for the managed platform, run unchanged (CONTRACT.md section 2, "What
unchanged takes") through the real binary: library functions named the platform's way, users
without display_name, a detail of any JSON type, bodiless statuses, `inlet check` refusing what
`inlet serve` refuses, the tenant-level config, and the system functions echo.basic, echo.bearer
and echo.x-hub-signature."""
import base64
import hashlib
import hmac
import json
import textwrap

import pytest

from inlet_harness import InletNode, RawConnection, post_request, run_inlet

JSON = {"Content-Type": "application/json"}


def combined_output(result):
    return result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")


def inline(source, **settings):
    return {"authenticator": {"inline": textwrap.dedent(source), **settings}}


API_KEY = """\
def authenticator(*, context, request, **kwargs):
    from fastapi import HTTPException
    from starlette.authentication import AuthCredentials, SimpleUser

    if request.headers.get("x-api-key") != context.config["key"]:
        raise HTTPException(status_code=401, detail="bad api key")
    return AuthCredentials(["api"]), SimpleUser("api-client")
"""


@pytest.mark.parametrize("name", ["acme.api-key", "echo:api key_v2", "by_token"])
def test_a_library_function_named_the_platforms_way_has_a_def_named_authenticator(tmp_path, name):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / f"{name}.py").write_text(API_KEY)
    config = {"authenticator": {"library": "lib", "function": name, "config": {"key": "k1"}}}
    node = InletNode(tmp_path, config, start=False)
    assert run_inlet("check", "--config", str(node.config_path)).returncode == 0
    node.start()
    with node:
        assert node.post(b"{}", {**JSON, "X-Api-Key": "k1"})[0] == 200
        assert node.post(b"{}", {**JSON, "X-Api-Key": "nope"})[0] == 401


def test_a_library_may_still_name_the_def_after_an_identifier_function(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "by_token.py").write_text(API_KEY.replace("def authenticator", "def by_token"))
    config = {"authenticator": {"library": "lib", "function": "by_token", "config": {"key": "k1"}}}
    with InletNode(tmp_path, config) as node:
        assert node.post(b"{}", {**JSON, "X-Api-Key": "k1"})[0] == 200


@pytest.mark.parametrize("command", ["check", "serve"])
@pytest.mark.parametrize("name, expected", [("a.", "is not a function name"), ("a/b.c", "is not a function name"),
                                            ("acme.missing", "the library has no function 'acme.missing'")])
def test_bad_library_function_names_are_refused(tmp_path, command, name, expected):
    (tmp_path / "lib").mkdir()
    node = InletNode(tmp_path, {"authenticator": {"library": "lib", "function": name}}, start=False)
    result = run_inlet(command, "--config", str(node.config_path), timeout=30)
    assert result.returncode != 0
    assert expected in combined_output(result), combined_output(result)


def test_a_user_with_only_is_authenticated_and_identity_is_accepted(tmp_path):
    source = """\
    def authenticator(*, context, request, **kwargs):
        from starlette.authentication import AuthCredentials, BaseUser

        class ServiceUser(BaseUser):
            @property
            def is_authenticated(self):
                return True

            @property
            def identity(self):
                return "svc-billing"

        return AuthCredentials(["billing"]), ServiceUser()
    """
    with InletNode(tmp_path, inline(source)) as node:
        status, _, body = node.post(b'{"n": 1}', JSON)
        assert status == 200, body
        [message] = node.read_queue()
        assert (message["user"], message["identity"], message["scopes"]) == ("svc-billing", "svc-billing", ["billing"])


RAISES = """\
def authenticator(*, context, request, **kwargs):
    import json
    from fastapi import HTTPException

    kind = request.headers.get("x-kind")
    if kind == "dict":
        raise HTTPException(403, detail={"error": "bad_sig", "retry": False})
    if kind == "list":
        raise HTTPException(422, detail=[{"loc": ["body"], "msg": "nope"}])
    if kind == "number":
        raise HTTPException(409, detail=42)
    if kind == "204":
        raise HTTPException(204)
    if kind == "304":
        raise HTTPException(304, headers={"ETag": '"v1"'})
    return None
"""


@pytest.fixture(scope="module")
def raising_node(tmp_path_factory):
    with InletNode(tmp_path_factory.mktemp("raises"), inline(RAISES)) as node:
        yield node


@pytest.mark.parametrize("kind, status, detail", [
    ("dict", 403, {"error": "bad_sig", "retry": False}),
    ("list", 422, [{"loc": ["body"], "msg": "nope"}]),
    ("number", 409, 42),
])
def test_a_detail_of_any_json_type_is_answered_as_fastapi_does(raising_node, kind, status, detail):
    answer = raising_node.post(b"{}", {**JSON, "X-Kind": kind})
    assert answer[0] == status
    assert json.loads(answer[2]) == {"detail": detail}


@pytest.mark.parametrize("kind, status", [("204", 204), ("304", 304)])
def test_bodiless_statuses_are_answered_without_a_body(raising_node, kind, status):
    with RawConnection(raising_node.port) as conn:
        conn.send(post_request(b"{}", extra_headers=[f"X-Kind: {kind}"]))
        response = conn.read_response()
        assert response.status == status
        assert response.header("content-length") is None and response.body == b"", response
        # The connection is still in step: the next request on it is answered normally.
        conn.send(post_request(b'{"next": true}'))
        assert conn.read_response().status == 200
    if kind == "304":
        assert raising_node.post(b"{}", {**JSON, "X-Kind": "304"})[1]["etag"] == '"v1"'


def test_inlet_test_prints_a_json_detail_as_json(tmp_path):
    node = InletNode(tmp_path, inline(RAISES), start=False)
    body = tmp_path / "body.json"
    body.write_text("{}")
    result = run_inlet("test", "--config", str(node.config_path), "--body", str(body), "-H", "X-Kind: dict")
    printed = json.loads(result.stdout)
    assert (printed["status"], printed["detail"]) == (403, {"error": "bad_sig", "retry": False})


@pytest.mark.parametrize("signature", ["*, context, conn", "*, request", "context, /, request"])
def test_check_refuses_the_signatures_serve_refuses(tmp_path, signature):
    source = f"def authenticator({signature}):\n    return None\n"
    node = InletNode(tmp_path, {"authenticator": {"inline": source}}, start=False)
    for command in ("check", "serve"):
        result = run_inlet(command, "--config", str(node.config_path), timeout=30)
        assert result.returncode != 0, (command, combined_output(result))
        assert "must accept the keyword argument" in combined_output(result), (command, combined_output(result))


def test_context_config_is_the_tenants_config_under_the_nodes(tmp_path):
    source = """\
    def authenticator(*, context, request, **kwargs):
        from fastapi import HTTPException
        raise HTTPException(418, detail={"config": context.config, "tenant": context.tenant, "node": context.node})
    """
    config = {"node": {"name": "orders", "tenant": "acme",
                       "tenant_config": {"region": "eu", "plan": "free", "limits": {"rps": 5}}},
              **inline(source, config={"plan": "pro", "key": "k1"})}
    with InletNode(tmp_path, config) as node:
        answer = node.post(b"{}", JSON)
    assert answer[0] == 418
    assert json.loads(answer[2])["detail"] == {
        "config": {"region": "eu", "plan": "pro", "limits": {"rps": 5}, "key": "k1"},
        "tenant": "acme", "node": "orders"}


def test_a_tenant_config_that_is_not_a_mapping_is_refused_with_its_key(tmp_path):
    node = InletNode(tmp_path, {"node": {"tenant_config": [1, 2]}}, start=False)
    result = run_inlet("check", "--config", str(node.config_path))
    assert result.returncode != 0
    assert "node.tenant_config" in combined_output(result), combined_output(result)


def sha256_hex(text):
    return hashlib.sha256(text.encode()).hexdigest()


def basic(user, password):
    return {**JSON, "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_system_function_echo_basic_reads_the_platforms_realms(tmp_path):
    config = {"authenticator": {"function": "echo.basic", "config": {
        "realms": ["staff", "bots"],
        "staff": {"alice": sha256_hex("wonderland")},
        "bots": {"ci": sha256_hex("beep")}}}}
    with InletNode(tmp_path, config) as node:
        assert node.post(b"{}", basic("alice", "wonderland"))[0] == 200
        assert node.post(b"{}", basic("ci", "beep"))[0] == 200
        status, headers, _ = node.post(b"{}", basic("alice", "beep"))
        assert status == 401 and headers["www-authenticate"] == 'Basic realm="staff"'
        assert node.post(b"{}", JSON)[0] == 401
        users = [m["user"] for m in node.read_queue()]
    assert users == ["alice", "ci"]


def test_system_functions_echo_bearer_and_echo_x_hub_signature(tmp_path):
    (tmp_path / "bearer").mkdir()
    with InletNode(tmp_path / "bearer", {"authenticator": {"function": "echo.bearer",
                                                           "config": {"tokens": ["t0k3n"]}}}) as node:
        assert node.post(b"{}", {**JSON, "Authorization": "Bearer t0k3n"})[0] == 200
        assert node.post(b"{}", {**JSON, "Authorization": "Bearer nope"})[0] == 401
    (tmp_path / "hub").mkdir()
    body = b'{"zen": "Keep it logically awesome."}'
    signature = "sha256=" + hmac.new(b"hub-secret", body, hashlib.sha256).hexdigest()
    with InletNode(tmp_path / "hub", {"authenticator": {"function": "echo.x-hub-signature",
                                                        "config": {"secret": "hub-secret"}}}) as node:
        assert node.post(body, {**JSON, "X-Hub-Signature-256": signature})[0] == 200
        assert node.post(body + b" ", {**JSON, "X-Hub-Signature-256": signature})[0] == 403


@pytest.mark.parametrize("command", ["check", "serve"])
@pytest.mark.parametrize("section, path", [
    ({"function": "echo.nope"}, "authenticator.function"),
    ({"function": "echo.basic", "config": {"realms": "staff"}}, "authenticator.config.staff"),
    ({"function": "echo.basic", "config": {"realms": "staff", "staff": {"alice": "not-hex"}}},
     "authenticator.config.staff.alice"),
    ({"function": "echo.bearer", "config": {}}, "authenticator.config.tokens"),
])
def test_system_function_config_errors_name_the_key(tmp_path, command, section, path):
    node = InletNode(tmp_path, {"authenticator": section}, start=False)
    result = run_inlet(command, "--config", str(node.config_path), timeout=30)
    assert result.returncode != 0
    assert path in combined_output(result), combined_output(result)


ECHO_ORIGIN = """\
def authenticator(*, context, request, **kwargs):
    from fastapi import HTTPException
    raise HTTPException(418, detail={"url": str(request.url), "client": request.client.host,
                                     "scheme": request.scope["scheme"]})
"""


@pytest.mark.parametrize("trusted, expected", [
    (["127.0.0.1", "10.0.0.0/8"], {"url": "https://hooks.example.com/?x=1", "client": "198.51.100.2",
                                   "scheme": "https"}),
    (["10.0.0.0/8"], None),  # the node's peer (127.0.0.1) is no trusted proxy: headers ignored
])
def test_behind_a_trusted_proxy_request_url_and_client_are_the_originals(tmp_path, trusted, expected):
    with InletNode(tmp_path, {"trusted_proxies": trusted, **inline(ECHO_ORIGIN)}) as node:
        headers = {**JSON, "X-Forwarded-For": "198.51.100.2, 10.0.0.5", "X-Forwarded-Proto": "https",
                   "X-Forwarded-Host": "hooks.example.com"}
        answer = node.post(b"{}", headers, path="/?x=1")
        if expected is None:
            expected = {"url": f"http://127.0.0.1:{node.port}/?x=1", "client": "127.0.0.1", "scheme": "http"}
    assert answer[0] == 418
    assert json.loads(answer[2])["detail"] == expected


def test_a_bad_trusted_proxy_is_refused_with_its_key(tmp_path):
    node = InletNode(tmp_path, {"trusted_proxies": ["10.0.0.0/33"]}, start=False)
    result = run_inlet("check", "--config", str(node.config_path))
    assert result.returncode != 0
    assert "trusted_proxies[0]" in combined_output(result), combined_output(result)


def write_wheel(folder, name, version, module_source):
    """A pure-Python wheel built by hand (a zip with its metadata and RECORD): no index, no build
    tools, so the test runs where pip can reach nothing."""
    import zipfile
    files = {f"{name}/__init__.py": module_source.encode(),
             f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: inlet-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
              for path, data in files.items()] + [f"{name}-{version}.dist-info/RECORD,,"]
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
        wheel.writestr(f"{name}-{version}.dist-info/RECORD", "\n".join(record) + "\n")


USES_THE_PACKAGE = """\
def authenticator(*, context, request, **kwargs):
    import inlet_demo_pkg
    from fastapi import HTTPException
    raise HTTPException(418, detail=inlet_demo_pkg.VALUE)
"""


def test_requirements_install_fills_the_node_local_directory_the_node_then_uses(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write_wheel(wheels, "inlet_demo_pkg", "1.2.0", "VALUE = 42\n")
    node = InletNode(tmp_path, inline(USES_THE_PACKAGE, requirements=["inlet_demo_pkg>=1.1"]), start=False)
    # Before the install the node refuses to start, naming the package.
    refused = run_inlet("serve", "--config", str(node.config_path), timeout=30)
    assert refused.returncode != 0 and "inlet_demo_pkg is not installed" in combined_output(refused)
    installed = run_inlet("requirements", "install", "--config", str(node.config_path),
                          "--", "--no-index", "--find-links", str(wheels), timeout=120)
    assert installed.returncode == 0, combined_output(installed)
    assert (tmp_path / ".inlet" / "site-packages" / "inlet_demo_pkg" / "__init__.py").exists()
    assert run_inlet("check", "--config", str(node.config_path)).returncode == 0
    node.start()
    with node:
        answer = node.post(b"{}", JSON)
    assert (answer[0], json.loads(answer[2])) == (418, {"detail": 42})


def test_requirements_install_reports_pips_failure(tmp_path):
    node = InletNode(tmp_path, inline(USES_THE_PACKAGE, requirements=["inlet_demo_pkg>=9"]), start=False)
    result = run_inlet("requirements", "install", "--config", str(node.config_path),
                       "--", "--no-index", "--find-links", str(tmp_path), timeout=120)
    assert result.returncode == 1
    assert "pip failed" in combined_output(result), combined_output(result)


@pytest.mark.parametrize("source, expected", [
    ("def authenticator(*, context, request, limit=1 // 0):\n    return None\n", "ZeroDivisionError"),
    ("def authenticator(*, context, request, **kwargs) -> Missing:\n    return None\n", "NameError"),
])
def test_check_refuses_a_def_that_fails_when_it_is_defined(tmp_path, source, expected):
    node = InletNode(tmp_path, {"authenticator": {"inline": source}}, start=False)
    for command in ("check", "serve"):
        result = run_inlet(command, "--config", str(node.config_path), timeout=30)
        assert result.returncode != 0, (command, combined_output(result))
        assert expected in combined_output(result), (command, combined_output(result))
