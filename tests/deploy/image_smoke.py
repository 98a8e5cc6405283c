#!/usr/bin/env python3
"""Smoke test of a built inlet image, inside the image's own filesystem (the .ci/run image stage).

    tests/deploy/image_smoke.py IMAGE [--commit SHA]

Mounts the image's root filesystem read-only, with only the data volume (/var/lib/inlet), /tmp
and the config folder writable or mounted, as deploy/k8s runs it, and runs the image's inlet
in it (chroot, as the image's user) on the host's network. Checks that:
  - the image's user is 10001 and the node process runs as uid 10001;
  - the default config serves a POST with 200 and /readyz with ok, and `inlet queue read` inside
    the image shows the message, with the queue's files owned by 10001;
  - a Python authenticator importing fastapi and starlette runs;
  - `inlet --version` names the commit.
Needs root (mount, chroot) and buildah/podman with the image in local storage (vfs).
"""
import argparse
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONDONTWRITEBYTECODE": "1",
       "HOME": "/var/lib/inlet", "LANG": "C.UTF-8"}
UID = 10001

AUTH_CONFIG = """\
node: {name: smoke}
listen: 127.0.0.1:18080
admin_listen: 127.0.0.1:19090
edges: [{name: default, queue: {type: log, dir: /var/lib/inlet/auth-queue, ack: fsync}}]
authenticator:
  inline: |
    def authenticator(*, context, request, **kwargs):
        from fastapi import HTTPException
        from starlette.authentication import AuthCredentials, SimpleUser
        if request.headers.get("x-token") != "t0k3n":
            raise HTTPException(status_code=401, detail="bad token")
        return AuthCredentials(["smoke"]), SimpleUser("image-user")
"""


def run(*args, check=True, **kwargs):
    if args[0] in ("buildah", "podman"):  # the storage deploy/build-image.sh builds into
        args = (args[0], "--storage-driver", "vfs", *args[1:])
    result = subprocess.run(list(args), capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def step(message):
    print(f"image-smoke: {message}", flush=True)


def port_free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def request(port, method, path, body=None, headers=None, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(port, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"inlet exited with {proc.returncode}: {proc.stderr.read()}")
        with contextlib.suppress(OSError):
            if request(port, "GET", "/readyz")[0] == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"/readyz on {port} did not answer 200 in {timeout}s")


class ImageRoot:
    """The image's root filesystem, mounted read-only, with the writable mounts of deploy/k8s."""

    def __init__(self, image):
        self.image = image
        self.mounts = []

    def __enter__(self):
        self.container = run("buildah", "from", "--pull=never", self.image).stdout.strip()
        rootfs = run("buildah", "mount", self.container).stdout.strip()
        self.root = tempfile.mkdtemp(prefix="inlet-image-root-")
        self.data = tempfile.mkdtemp(prefix="inlet-image-data-")
        self.config = tempfile.mkdtemp(prefix="inlet-image-config-")
        os.chown(self.data, UID, UID)
        os.chmod(self.config, 0o755)
        self.mount("--bind", rootfs, self.root)
        self.mount("-o", "remount,bind,ro", self.root)
        self.mount("--bind", self.data, self.root + "/var/lib/inlet")
        self.mount("-t", "tmpfs", "-o", "mode=1777", "tmpfs", self.root + "/tmp")
        self.mount("-t", "proc", "proc", self.root + "/proc")
        self.mount("--rbind", "/dev", self.root + "/dev")
        return self

    def mount(self, *args):
        run("mount", *args)
        self.mounts.append(args[-1])

    def use_config(self, text):
        """Mounts a folder holding `text` as node.yaml over /etc/inlet, as the ConfigMap is."""
        with open(os.path.join(self.config, "node.yaml"), "w") as f:
            f.write(text)
        os.chmod(os.path.join(self.config, "node.yaml"), 0o644)
        self.mount("--bind", self.config, self.root + "/etc/inlet")

    def inlet(self, *args, background=False):
        command = ["chroot", f"--userspec={UID}:{UID}", self.root, "/usr/local/bin/inlet", *args]
        if background:
            return subprocess.Popen(command, env=ENV, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
        return subprocess.run(command, env=ENV, cwd="/", capture_output=True, text=True, timeout=60)

    def __exit__(self, *exc):
        for path in reversed(self.mounts):
            subprocess.run(["umount", "-l", path], capture_output=True)
        run("buildah", "umount", self.container, check=False)
        run("buildah", "rm", self.container, check=False)


def serve(root, port):
    proc = root.inlet("serve", "--config", "/etc/inlet/node.yaml", background=True)
    wait_ready(port, proc)
    return proc


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("inlet did not drain and exit within 20 s of SIGTERM")
    assert proc.returncode == 0, f"inlet exited {proc.returncode}: {proc.stderr.read()}"


def uid_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise AssertionError("no Uid line")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("image")
    parser.add_argument("--commit", help="the commit `inlet --version` must name")
    args = parser.parse_args()
    started = time.monotonic()
    user = run("podman", "image", "inspect", "--format", "{{.Config.User}}", args.image).stdout.strip()
    assert user == f"{UID}:{UID}", f"the image's user is {user!r}, not {UID}:{UID}"
    step(f"the image runs as {user}")
    for port in (8080, 9090, 18080, 19090):
        assert port_free(port), f"port {port} is in use on this machine; the default config listens on it"

    with ImageRoot(args.image) as root:
        version = root.inlet("--version")
        assert version.returncode == 0, version.stderr
        if args.commit:
            assert f"commit {args.commit}" in version.stdout, version.stdout
        step(f"inlet --version: {version.stdout.strip()}")

        proc = serve(root, 9090)
        try:
            assert uid_of(proc.pid) == UID or uid_of(_child_pid(proc.pid)) == UID
            status, body = request(8080, "POST", "/", b'{"from": "the image"}', {"Content-Type": "application/json"})
            assert status == 200, (status, body)
            tracking_id = json.loads(body)["tracking_id"]
            step(f"the default config answered 200 {tracking_id} on a read-only root")
        finally:
            stop(proc)
        read = root.inlet("queue", "read", "--dir", "/var/lib/inlet/queue")
        lines = [json.loads(line) for line in read.stdout.splitlines()]
        assert [m["tracking_id"] for m in lines] == [tracking_id], read.stdout + read.stderr
        assert lines[0]["body"] == {"from": "the image"}
        owners = {os.stat(os.path.join(d, f)).st_uid for d, _, fs in os.walk(root.data) for f in fs}
        assert owners == {UID}, f"files in the data volume belong to {owners}"
        step("inlet queue read inside the image shows it; the queue's files belong to 10001")

        root.use_config(AUTH_CONFIG)
        proc = serve(root, 19090)
        try:
            denied = request(18080, "POST", "/", b"{}", {"Content-Type": "application/json"})
            assert denied[0] == 401 and json.loads(denied[1]) == {"detail": "bad token"}, denied
            status, body = request(18080, "POST", "/", b"{}", {"Content-Type": "application/json", "X-Token": "t0k3n"})
            assert status == 200, (status, body)
        finally:
            stop(proc)
        step("a Python authenticator importing fastapi and starlette runs in the image")
    step(f"ok in {time.monotonic() - started:.0f} s")


def _child_pid(pid):
    """chroot execs inlet in place; this is for a chroot that forks instead."""
    children = open(f"/proc/{pid}/task/{pid}/children").read().split()
    return int(children[0]) if children else pid


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"image-smoke: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
