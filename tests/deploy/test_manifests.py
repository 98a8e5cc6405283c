"""The deployment artefacts under deploy/: the kustomize overlays as kubectl renders them, checked
for the invariants a production node needs and against the Kubernetes API schemas, their node
configs through `inlet check`, and the Dockerfile against the package lists it must install."""

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
SOURCE_DIR = Path(os.environ.get("INLET_SOURCE_DIR", HERE.parents[1]))
DEPLOY = SOURCE_DIR / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ["log", "kafka", "redis", "nats", "tls"]
STATELESS = ["kafka", "redis", "nats"]
LOG_BASED = ["log", "tls"]  # the tls overlay is the log overlay with TLS on both listeners
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}
COMMON_LABELS = {
    "app.kubernetes.io/name": "inlet",
    "app.kubernetes.io/component": "webhook-ingest",
    "app.kubernetes.io/part-of": "webhook-pipeline",
}
# How long a request admitted before SIGTERM may still take after the drain delay, beyond the
# authenticator and the edge: reading the rest of the body, writing the answer, closing.
IN_FLIGHT_MARGIN_MS = 5000
# Per queue type, how long the node may wait for the edge to acknowledge a message it holds, with
# the defaults of runtime/queue/*_queue.h when the config leaves them out.
EDGE_ACK_BUDGET_MS = {
    "log": lambda q: 1000,  # one group commit's fdatasync, far below a second
    "kafka": lambda q: int(q.get("delivery_timeout_ms", 30000)),
    "redis": lambda q: int(q.get("retry_budget_ms", 5000)),
    # The budget, and the last try's wait for its PubAck.
    "nats": lambda q: int(q.get("retry_budget_ms", 8000)) + int(q.get("ack_timeout_ms", 1000)),
}


def node_python():
    # Debian's interpreter sees python3-starlette; a pyenv one first on PATH does not.
    return "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


@cache
def render(overlay):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is needed to render the overlays (kubectl kustomize)")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    assert objects, f"overlay {overlay} rendered nothing"
    return objects


def kinds(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def workload(overlay):
    found = [o for o in render(overlay) if o["kind"] in WORKLOAD_KINDS]
    assert len(found) == 1, f"{overlay}: expected one workload, got {[o['kind'] for o in found]}"
    return found[0]


def pod_spec(overlay):
    return workload(overlay)["spec"]["template"]["spec"]


def inlet_container(overlay):
    containers = pod_spec(overlay)["containers"]
    assert [c["name"] for c in containers] == ["inlet"], f"{overlay}: unexpected containers"
    return containers[0]


def node_config(overlay):
    (config_map,) = [c for c in kinds(render(overlay), "ConfigMap") if c["metadata"]["name"] == "inlet-config"]
    return yaml.safe_load(config_map["data"]["node.yaml"]), config_map["data"]["node.yaml"]


def quantity_bytes(value):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    value = str(value)
    return int(value[:-2]) * units[value[-2:]] if value[-2:] in units else int(value)


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def container_port(container, name):
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == name]
    return port


def mounts(overlay):
    return {m["mountPath"]: m for m in inlet_container(overlay)["volumeMounts"]}


def volumes(overlay):
    return {v["name"]: v for v in pod_spec(overlay).get("volumes", [])}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_the_objects_a_node_needs(overlay):
    names = {(o["kind"], o["metadata"]["name"]) for o in render(overlay)}
    for needed in [("Service", "inlet"), ("ConfigMap", "inlet-config"), ("Secret", "inlet-secrets"),
                   ("PodDisruptionBudget", "inlet")]:
        assert needed in names, f"{overlay} lacks {needed}"
    expected_workload = "StatefulSet" if overlay in LOG_BASED else "Deployment"
    assert workload(overlay)["kind"] == expected_workload


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_carries_the_common_labels(overlay):
    for obj in render(overlay):
        labels = obj["metadata"].get("labels", {})
        for key, value in COMMON_LABELS.items():
            assert labels.get(key) == value, f"{overlay} {obj['kind']}/{obj['metadata']['name']}: {key}"
        assert labels.get("app.kubernetes.io/instance") == f"inlet-{overlay}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_selectors_match_the_pods(overlay):
    objects = render(overlay)
    pod_labels = workload(overlay)["spec"]["template"]["metadata"]["labels"]

    def matches(selector):
        return selector and all(pod_labels.get(k) == v for k, v in selector.items())

    assert matches(workload(overlay)["spec"]["selector"]["matchLabels"])
    for service in kinds(objects, "Service"):
        assert matches(service["spec"]["selector"]), f"Service {service['metadata']['name']}"
    for pdb in kinds(objects, "PodDisruptionBudget"):
        assert matches(pdb["spec"]["selector"]["matchLabels"])
        # minAvailable on a one-replica StatefulSet would block every cluster node drain.
        assert "minAvailable" not in pdb["spec"] and pdb["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_and_container_ports_match_the_node_config(overlay):
    config, _ = node_config(overlay)
    container = inlet_container(overlay)
    assert container_port(container, "ingest") == port_of(config["listen"]) == 8080
    assert container_port(container, "admin") == port_of(config["admin_listen"]) == 9090
    # Probes and Prometheus come from other pods' network namespaces: loopback would not do.
    assert config["admin_listen"].startswith("0.0.0.0:")
    (service,) = [s for s in kinds(render(overlay), "Service") if s["metadata"]["name"] == "inlet"]
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["ingest"]["port"] == 8080 and ports["ingest"]["targetPort"] == "ingest"
    assert ports["admin"]["port"] == 9090 and ports["admin"]["targetPort"] == "admin"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_hit_health_and_readiness_on_the_admin_port(overlay):
    container = inlet_container(overlay)
    liveness = container["livenessProbe"]["httpGet"]
    readiness = container["readinessProbe"]["httpGet"]
    assert liveness["path"] == "/healthz" and liveness["port"] in ("admin", 9090)
    assert readiness["path"] == "/readyz" and readiness["port"] in ("admin", 9090)
    if "startupProbe" in container:
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_container_runs_locked_down(overlay):
    pod = pod_spec(overlay)
    sc = inlet_container(overlay)["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 10001
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
    assert sc.get("privileged", False) is False
    seccomp = sc.get("seccompProfile") or pod["securityContext"]["seccompProfile"]
    assert seccomp["type"] == "RuntimeDefault"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["fsGroup"] == 10001  # so the non-root user can write its volume
    assert pod.get("automountServiceAccountToken") is False
    assert not pod.get("hostNetwork") and not pod.get("hostPID")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_container_has_requests_and_limits(overlay):
    resources = inlet_container(overlay)["resources"]
    for kind in ("cpu", "memory"):
        assert kind in resources["requests"] and kind in resources["limits"], kind

    def cpu(v):
        v = str(v)
        return float(v[:-1]) / 1000 if v.endswith("m") else float(v)

    assert cpu(resources["requests"]["cpu"]) <= cpu(resources["limits"]["cpu"])
    assert quantity_bytes(resources["requests"]["memory"]) <= quantity_bytes(resources["limits"]["memory"])
    # threads: 0 means one per host core, far more than the CPU limit allows.
    config, _ = node_config(overlay)
    assert 0 < config["threads"] <= max(1, round(cpu(resources["limits"]["cpu"])))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_tmp_is_a_writable_empty_dir(overlay):
    tmp = mounts(overlay)["/tmp"]
    assert not tmp.get("readOnly")
    assert "emptyDir" in volumes(overlay)[tmp["name"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grace_period_outlasts_drain_and_in_flight_work(overlay):
    config, _ = node_config(overlay)
    drain_ms = int(config["drain_delay_ms"])
    assert drain_ms >= 1000, "a drain delay under a second races the endpoint removal"
    auth_ms = int(config.get("authenticator", {}).get("timeout_ms", 2000))
    edge_ms = max(EDGE_ACK_BUDGET_MS[e["queue"].get("type", "log")](e["queue"]) for e in config["edges"])
    grace_ms = pod_spec(overlay)["terminationGracePeriodSeconds"] * 1000
    assert grace_ms >= drain_ms + auth_ms + edge_ms + IN_FLIGHT_MARGIN_MS, (
        f"{overlay}: grace {grace_ms} ms < drain {drain_ms} + auth {auth_ms} + edge {edge_ms} + margin")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_prestop_hook_because_the_node_delays_itself(overlay):
    assert "preStop" not in inlet_container(overlay).get("lifecycle", {})
    text = (K8S / ("overlays/log/statefulset.yaml" if overlay in LOG_BASED else "components/stateless/deployment.yaml")).read_text()
    assert "No preStop hook" in text and "drain_delay_ms" in text


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_node_starts_with_the_mounted_config(overlay):
    container = inlet_container(overlay)
    args = container.get("args") or []
    assert args == ["serve", "--config", "/etc/inlet/node.yaml"]
    config_mount = mounts(overlay)["/etc/inlet"]
    assert config_mount.get("readOnly") is True
    # A subPath mount would never see ConfigMap edits, and reload-on-edit depends on them.
    assert "subPath" not in config_mount
    sources = volumes(overlay)[config_mount["name"]]["projected"]["sources"]
    (cm,) = [s["configMap"] for s in sources if "configMap" in s]
    assert cm["name"] == "inlet-config"
    assert {"key": "node.yaml", "path": "node.yaml"} in cm["items"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_file_is_mounted_from_the_secret(overlay):
    config, _ = node_config(overlay)
    secret_files = [v["secret_file"] for v in config.get("verifiers", []) if "secret_file" in v]
    assert secret_files, f"{overlay}: the template should show a verifier reading a secret file"
    config_mount = mounts(overlay)["/etc/inlet"]
    sources = volumes(overlay)[config_mount["name"]]["projected"]["sources"]
    (secret_source,) = [s["secret"] for s in sources if "secret" in s and s["secret"]["name"] == "inlet-secrets"]
    mounted = {f"/etc/inlet/{item['path']}": item["key"] for item in secret_source["items"]}
    (secret,) = [s for s in kinds(render(overlay), "Secret") if s["metadata"]["name"] == secret_source["name"]]
    keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    for path in secret_files:
        assert path in mounted, f"{overlay}: {path} is not mounted"
        assert mounted[path] in keys, f"{overlay}: Secret has no key {mounted[path]}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_tls_files_come_from_a_renewable_secret_and_probes_match_the_admin_scheme(overlay):
    config, _ = node_config(overlay)
    container = inlet_container(overlay)
    schemes = {container[p]["httpGet"].get("scheme", "HTTP")
               for p in ("startupProbe", "livenessProbe", "readinessProbe") if p in container}
    assert schemes == {"HTTPS" if "admin_tls" in config else "HTTP"}
    if overlay != "tls":
        assert "tls" not in config
        return
    assert config["admin_tls"] == {}  # the listener's certificate
    config_mount = mounts(overlay)["/etc/inlet"]
    sources = volumes(overlay)[config_mount["name"]]["projected"]["sources"]
    (tls_secret,) = [s["secret"] for s in sources if "secret" in s and s["secret"]["name"] == "inlet-tls"]
    mounted = {f"/etc/inlet/{item['path']}": item["key"] for item in tls_secret["items"]}
    # The keys cert-manager writes into a kubernetes.io/tls Secret.
    assert mounted[config["tls"]["cert_file"]] == "tls.crt"
    assert mounted[config["tls"]["key_file"]] == "tls.key"
    certificate = yaml.safe_load((K8S / "overlays" / "tls" / "certificate.yaml").read_text())
    assert certificate["kind"] == "Certificate" and certificate["spec"]["secretName"] == tls_secret["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_persistent_volume_only_where_the_log_lives(overlay):
    config, _ = node_config(overlay)
    obj = workload(overlay)
    types = {e["queue"].get("type", "log") for e in config["edges"]}
    claims = obj["spec"].get("volumeClaimTemplates", [])
    if overlay in LOG_BASED:
        assert types == {"log"}
        assert obj["kind"] == "StatefulSet" and claims
        claim_mounts = {m["mountPath"] for m in mounts(overlay).values() if m["name"] in {c["metadata"]["name"] for c in claims}}
        assert claim_mounts == {"/var/lib/inlet"}
        for edge in config["edges"]:
            assert Path(edge["queue"]["dir"]).is_relative_to("/var/lib/inlet"), edge["name"]
        assert claims[0]["spec"]["accessModes"] == ["ReadWriteOnce"]
        # With no retention, a stopped consumer lets the log fill the volume and the node 503s.
        volume_bytes = quantity_bytes(claims[0]["spec"]["resources"]["requests"]["storage"])
        retained = sum(int(e["queue"].get("retention_bytes", 0)) for e in config["edges"])
        assert 0 < retained <= 0.9 * volume_bytes, f"retention {retained} vs volume {volume_bytes}"
        assert obj["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Retain"
    else:
        assert types == {overlay}, f"{overlay}: edges of type {types}"
        assert not claims and obj["kind"] == "Deployment"
        assert not kinds(render(overlay), "PersistentVolumeClaim")
        assert "/var/lib/inlet" not in mounts(overlay)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscaler_only_for_stateless_overlays(overlay):
    hpas = kinds(render(overlay), "HorizontalPodAutoscaler")
    if overlay not in STATELESS:
        assert not hpas, "each log pod owns its log: an autoscaler scaling in would strand it"
        return
    (hpa,) = hpas
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", workload(overlay)["metadata"]["name"])
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    # Utilization is a share of the request, so the request must be there (checked above too).
    assert "cpu" in inlet_container(overlay)["resources"]["requests"]
    assert "replicas" not in workload(overlay)["spec"], "a fixed replicas: fights the autoscaler"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_inline_authenticator_is_the_platform_template_and_runs(overlay):
    config, _ = node_config(overlay)
    source = config["authenticator"]["inline"]
    tree = ast.parse(source)
    (fn,) = tree.body
    assert isinstance(fn, ast.FunctionDef) and fn.name == "authenticator"
    assert [a.arg for a in fn.args.kwonlyargs] == ["context", "request"] and fn.args.kwarg.arg == "kwargs"
    # Run it in Debian's interpreter, where the node finds starlette too.
    probe = source + (
        "\ncreds, user = authenticator(context=None, request=None)\n"
        "print(user.display_name, user.is_authenticated, list(creds.scopes))\n")
    result = subprocess.run([node_python(), "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["foobar", "True", "[]"]


def node_modules_dir():
    """tests/deploy/node_modules when present, else a cache keyed by the lock file, filled by npm ci."""
    if (HERE / "node_modules" / "kubernetes-models").is_dir():
        return HERE
    lock = (HERE / "package-lock.json").read_bytes()
    cache_root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "inlet-deploy-tests"
    work = cache_root / hashlib.sha256(lock + (HERE / "package.json").read_bytes()).hexdigest()[:16]
    if not (work / "node_modules" / "kubernetes-models").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install kubernetes-models for schema validation")
        work.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(HERE / name, work / name)
        result = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                                cwd=work, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"npm ci failed:\n{result.stderr[-3000:]}"
    shutil.copy(HERE / "validate.mjs", work / "validate.mjs")
    return work


def validate_with_schemas(objects):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed for schema validation")
    work = node_modules_dir()
    result = subprocess.run([node, str(work / "validate.mjs")], input=json.dumps(objects),
                            capture_output=True, text=True, timeout=120, cwd=work)
    verdicts = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(verdicts) == len(objects), result.stderr
    return result.returncode, verdicts


def test_schema_validator_rejects_a_broken_object():
    # Without this, a validator that accepts everything would pass the real check below.
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
              "spec": {"selector": {}, "template": {"spec": {"containers": [
                  {"name": "c", "ports": [{"containerPort": "eighty"}]}]}}}}
    unknown = {"apiVersion": "v1", "kind": "NoSuchKind", "metadata": {"name": "y"}}
    rc, verdicts = validate_with_schemas([broken, unknown])
    assert rc == 1
    assert not verdicts[0]["ok"] and "containerPort" in verdicts[0]["error"]
    assert not verdicts[1]["ok"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_the_kubernetes_schemas(overlay):
    objects = render(overlay)
    rc, verdicts = validate_with_schemas(objects)
    bad = [v for v in verdicts if not v["ok"]]
    assert rc == 0 and not bad, bad


def inlet_binary():
    binary = os.environ.get("INLET_BINARY")
    if not binary or not Path(binary).is_file():
        pytest.skip(f"INLET_BINARY unset or missing ({binary!r}): build the inlet target to run `inlet check`")
    return binary


def config_texts():
    texts = {f"overlay {o}": node_config(o)[1] for o in OVERLAYS}
    texts["image default"] = (DEPLOY / "docker" / "node.yaml").read_text()
    return texts


@pytest.mark.parametrize("which", [f"overlay {o}" for o in OVERLAYS] + ["image default"])
def test_inlet_check_accepts_each_shipped_config(which, tmp_path):
    binary = inlet_binary()
    text = config_texts()[which]
    # The secrets live at /etc/inlet/secrets in the pod; give `check` readable stand-ins here.
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for path in set(re.findall(r"/etc/inlet/secrets/([\w.-]+)", text)):
        (secrets / path).write_text("test-secret\n")
    text = text.replace("/etc/inlet/secrets/", f"{secrets}/")
    if "/etc/inlet/tls/" in text:  # the certificate cert-manager would mount: a test CA's here
        sys.path.insert(0, str(HERE.parent))
        from tls_certs import TestCA
        cert, key = TestCA(tmp_path / "pki").server("server", serial=1)
        text = text.replace("/etc/inlet/tls/tls.crt", cert).replace("/etc/inlet/tls/tls.key", key)
    config = tmp_path / "node.yaml"
    config.write_text(text)
    result = subprocess.run([binary, "check", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"inlet check rejected the {which} config:\n{result.stdout}{result.stderr}"


def package_list(name):
    lines = (DEPLOY / f"packages-{name}.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def dockerfile_stages():
    """[(stage name, base image, [(instruction, argument)])], continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text()
    logical = re.sub(r"\\\n", " ", text)
    stages = []
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, argument = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            parts = argument.split()
            stages.append((parts[2] if len(parts) > 2 else "", parts[0], []))
        else:
            assert stages, f"{instruction} before FROM"
            stages[-1][2].append((instruction, argument.strip()))
    return stages


def test_dockerfile_is_multi_stage_on_bookworm_slim():
    stages = dockerfile_stages()
    assert [s[0] for s in stages] == ["build", "runtime"]
    for _, image, _ in stages:
        assert image == "debian:bookworm-slim"


def installs_list(instructions, name):
    copied = any(i == "COPY" and f"deploy/packages-{name}.txt" in a for i, a in instructions)
    installed = any(i == "RUN" and f"packages-{name}.txt" in a and "xargs apt-get install" in a
                    and "--no-install-recommends" in a and "apt-get update" in a
                    and "rm -rf /var/lib/apt/lists" in a for i, a in instructions)
    return copied and installed


def test_dockerfile_installs_exactly_the_package_lists():
    (_, _, build), (_, _, runtime) = dockerfile_stages()
    assert installs_list(build, "build")
    assert installs_list(runtime, "runtime")
    runtime_text = json.dumps(runtime)
    assert "packages-build" not in runtime_text and "packages-test" not in runtime_text
    # No package named by hand beside the lists: apt-get install only ever reads from xargs.
    for _, argument in build + runtime:
        for command in re.split(r"&&|\|", argument):
            if "apt-get install" in command:
                assert command.strip().startswith("xargs apt-get install"), command
    # The same filter install-deps.sh applies must give the list the tests read.
    for name in ("build", "runtime"):
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c",
             f"grep -v '^\\s*#' {DEPLOY}/packages-{name}.txt | grep -v '^\\s*$'"],
            capture_output=True, text=True, check=True)
        assert result.stdout.split() == package_list(name)


def test_dockerfile_builds_only_the_inlet_target():
    (_, _, build), _ = dockerfile_stages()
    runs = " ".join(a for i, a in build if i == "RUN")
    for flag in ("-DCMAKE_BUILD_TYPE=Release", "-DINLET_BUILD_TESTS=OFF", "-DINLET_BUILD_BENCH=OFF",
                 "--target inlet", "/usr/local/bin/inlet"):
        assert flag in runs, flag
    assert re.search(r"add_executable\(inlet\b", (SOURCE_DIR / "runtime" / "CMakeLists.txt").read_text())
    assert "build/runtime/inlet" in runs  # where runtime/CMakeLists.txt puts it


def test_dockerfile_runtime_stage_is_non_root_and_runs_serve():
    _, (_, _, runtime) = dockerfile_stages()
    users = [a for i, a in runtime if i == "USER"]
    assert users and users[-1].split(":")[0] == "10001"
    runs = " ".join(a for i, a in runtime if i == "RUN")
    assert "--uid 10001" in runs and re.search(r"install -d -o 10001 -g 10001 .*/var/lib/inlet", runs)
    assert ("COPY", "--from=build /usr/local/bin/inlet /usr/local/bin/inlet") in runtime
    expose = " ".join(a for i, a in runtime if i == "EXPOSE").split()
    assert sorted(expose) == ["8080", "9090"]
    (entrypoint,) = [a for i, a in runtime if i == "ENTRYPOINT"]
    (cmd,) = [a for i, a in runtime if i == "CMD"]
    assert json.loads(entrypoint) == ["inlet"]
    assert json.loads(cmd) == ["serve", "--config", "/etc/inlet/node.yaml"]
    copied = [a for i, a in runtime if i == "COPY" and a.endswith("/etc/inlet/node.yaml")]
    assert copied and (SOURCE_DIR / copied[0].split()[0]).is_file()


def test_dockerfile_avoids_common_lint_findings():
    text = (DEPLOY / "Dockerfile").read_text()
    for _, image, instructions in dockerfile_stages():
        assert ":" in image and not image.endswith(":latest")  # DL3006/DL3007
        for instruction, argument in instructions:
            assert instruction != "ADD", "use COPY"  # DL3020
            if instruction == "RUN":
                assert "sudo " not in argument  # DL3004
                assert not re.search(r"(^|&&)\s*cd ", argument), "use WORKDIR"  # DL3003
                if "apt-get install" in argument:
                    assert "-y" in argument  # DL3014
            if instruction == "WORKDIR":
                assert argument.startswith("/")  # DL3000
    # Pipes in RUN must fail the build when grep or apt fails half way (DL4006).
    assert 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]' in text
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert ".git" in ignore and "build*" in ignore


def test_runtime_packages_provide_every_library_the_binary_links():
    binary = inlet_binary()
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libraries = sorted({m for m in re.findall(r"=>\s*(/\S+)", ldd)})
    assert libraries
    owners = {}
    for library in libraries:
        real = os.path.realpath(library)
        for candidate in (library, real, re.sub(r"^/lib/", "/usr/lib/", real)):
            found = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if found.returncode == 0:
                owners[library] = found.stdout.split(":")[0]
                break
        else:
            pytest.fail(f"{library} belongs to no Debian package: a runtime image would lack it")
    closure = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
         "--no-breaks", "--no-replaces", "--no-enhances", "--installed",
         *package_list("runtime"), "libc6", "libstdc++6", "libgcc-s1"],
        capture_output=True, text=True, check=True).stdout
    provided = {line.strip().split(":")[0] for line in closure.splitlines() if not line.startswith(" ")}
    missing = {lib: pkg for lib, pkg in owners.items() if pkg not in provided}
    assert not missing, f"libraries from packages outside deploy/packages-runtime.txt: {missing}"


def test_the_consumers_overlay_runs_a_consumer_only_node_beside_the_webhook_node(tmp_path):
    objects = render("consumers")
    (deployment,) = kinds(objects, "Deployment")
    assert not kinds(objects, "Service") and not kinds(objects, "StatefulSet")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["serve", "--config", "/etc/inlet/node.yaml"]
    assert [p["name"] for p in container["ports"]] == ["admin"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["requests"] and container["resources"]["limits"]
    # Its own instance label: the webhook overlays' Service and PodDisruptionBudget never select it.
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/instance"] == "inlet-consumers"
    assert deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] == "inlet-consumers"
    (hpa,) = kinds(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    (config_map,) = kinds(objects, "ConfigMap")
    config = yaml.safe_load(config_map["data"]["node.yaml"])
    assert "listen" not in config and "edges" not in config and config["nodes"]
    # It reads what the redis overlay's webhook node writes.
    webhook, _ = node_config("redis")
    (written,) = [e["queue"] for e in webhook["edges"]]
    (read,) = [n["input"]["queue"] for n in config["nodes"]]
    assert (read["url"], read["stream"]) == (written["url"], written["stream"])
    rc, verdicts = validate_with_schemas(objects)
    assert rc == 0 and not [v for v in verdicts if not v["ok"]]
    path = tmp_path / "node.yaml"
    path.write_text(config_map["data"]["node.yaml"])
    result = subprocess.run([inlet_binary(), "check", "--config", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "consumers only" in result.stdout


def test_the_nats_cluster_overlay_is_a_jetstream_cluster_the_nats_overlay_points_at(tmp_path):
    objects = render("nats-cluster")
    (statefulset,) = kinds(objects, "StatefulSet")
    spec = statefulset["spec"]
    assert spec["replicas"] == 3 and spec["podManagementPolicy"] == "Parallel"
    assert all(o["metadata"].get("namespace") == "nats" for o in objects if o["kind"] != "Namespace")
    # Its own labels: inlet's Service and PodDisruptionBudget (name: inlet) never select a server.
    labels = spec["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "nats" and spec["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "inlet-nats-cluster"}
    (claim,) = spec["volumeClaimTemplates"]
    (container,) = spec["template"]["spec"]["containers"]
    assert {m["mountPath"]: m["name"] for m in container["volumeMounts"]}["/data"] == claim["metadata"]["name"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["requests"] and container["resources"]["limits"]
    (service,) = kinds(objects, "Service")
    assert service["spec"]["clusterIP"] == "None" and spec["serviceName"] == service["metadata"]["name"]
    (pdb,) = kinds(objects, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1 and pdb["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]
    (config_map,) = kinds(objects, "ConfigMap")
    conf = config_map["data"]["nats.conf"]
    pods = [f"nats-{i}.nats.nats.svc.cluster.local" for i in range(3)]
    assert "jetstream" in conf and all(f"nats://{pod}:6222" in conf for pod in pods)
    assert "/data/jetstream" in conf
    # inlet's edge names every server, with the stream at R3.
    webhook, _ = node_config("nats")
    (queue,) = [e["queue"] for e in webhook["edges"]]
    assert queue["servers"] == [f"nats://{pod}:4222" for pod in pods] and queue["replicas"] == 3
    rc, verdicts = validate_with_schemas(objects)
    assert rc == 0 and not [v for v in verdicts if not v["ok"]]
    # The server itself accepts the config (-t: check it and exit).
    server = shutil.which("nats-server")
    if server is None:
        pytest.skip("nats-server not installed: the config's own check is skipped")
    path = tmp_path / "nats.conf"
    path.write_text(conf.replace("/data/jetstream", str(tmp_path / "js")).replace("/var/run/nats", str(tmp_path)))
    result = subprocess.run([server, "--config", str(path), "-t"], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "POD_NAME": "nats-0"})
    assert result.returncode == 0, result.stderr + result.stdout
