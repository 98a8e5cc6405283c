"""Request bodies for bench/run: tiny, real (the GitHub corpus where it exists beside the checkout,
else the payloads of tests/payload_generator.py; rotating) and large, in each encoding.

Every request is written once as a complete raw HTTP/1.1 request file, so wrk (bench/lua/post.lua)
and the open-loop load generator (bench/loadgen.cc) send exactly the same bytes to every server,
and compression and signing cost nothing during a run.
"""
import gzip
import hashlib
import hmac
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import payload_generator  # noqa: E402  (tests/, shared with the test suites)

try:
    import brotli
except ImportError:
    brotli = None

TINY = (b'{"action":"ping","hook_id":987654,"zen":"Keep it logically awesome.",'
        b'"repository":{"full_name":"acme/widgets","id":1296269},"sender":{"login":"octocat"}}')
LARGE_BYTES = 1_000_000
GITHUB_SECRET = "bench-github-secret"
USER_AGENT = "GitHub-Hookshot/bench"


def corpus_dir(source_dir):
    return Path(source_dir).resolve().parent / "shared" / "corpus" / "github-webhooks"


def real_corpus(source_dir):
    """(description, [(event name, body)]): the GitHub corpus when present, else the generated one."""
    directory = corpus_dir(source_dir)
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if files:
        return (f"GitHub corpus ({len(files)} payloads, {directory})",
                [(f.name.split("__")[0], f.read_bytes()) for f in files])
    generated = payload_generator.generate()
    return (f"generated payloads ({len(generated)}, tests/payload_generator.py; no corpus at {directory})",
            [(name.split("-")[0], body) for name, body in generated])


def large_body():
    """About 1 MB of push-event-like JSON: many commits, each a realistic object."""
    commits = []
    size = 0
    index = 0
    while size < LARGE_BYTES - 600:
        commit = {
            "id": hashlib.sha1(str(index).encode()).hexdigest(),
            "tree_id": hashlib.sha1(str(-index).encode()).hexdigest(),
            "distinct": index % 3 != 0,
            "message": f"Fix flaky test number {index} in the widget pipeline\n\nSigned-off-by: octocat",
            "timestamp": "2024-05-01T12:00:00Z",
            "url": f"https://github.com/acme/widgets/commit/{index:040x}",
            "author": {"name": "Mona Lisa Octocat", "email": "mona@example.com", "username": "octocat"},
            "added": [f"src/widget_{index}.cc"],
            "removed": [],
            "modified": ["CHANGELOG.md", f"tests/widget_{index}_test.cc"],
        }
        encoded = json.dumps(commit, separators=(",", ":"))
        size += len(encoded) + 1
        commits.append(commit)
        index += 1
    body = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "acme/widgets"},
                       "commits": commits}, separators=(",", ":")).encode()
    return body


def bodies(payload, source_dir):
    """Returns [(event_name, body bytes)] for a payload kind."""
    if payload == "tiny":
        return [("ping", TINY)]
    if payload == "large":
        return [("push", large_body())]
    if payload == "real":
        return real_corpus(source_dir)[1]
    raise ValueError(payload)


def encode(body, encoding):
    if encoding == "identity":
        return body
    if encoding == "gzip":
        return gzip.compress(body, compresslevel=6, mtime=0)
    if encoding == "br":
        if brotli is None:
            raise RuntimeError("python3-brotli is not installed")
        return brotli.compress(body, quality=5)
    raise ValueError(encoding)


def raw_request(body, encoding, event, signed):
    head = [
        "POST / HTTP/1.1",
        "Host: 127.0.0.1",
        f"User-Agent: {USER_AGENT}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"X-GitHub-Event: {event}",
    ]
    if encoding != "identity":
        head.append(f"Content-Encoding: {encoding}")
    if signed:
        digest = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
        head.append(f"X-Hub-Signature-256: sha256={digest}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class RequestSets:
    """Builds each (payload, encoding, signed) request set once and hands out its manifest path."""

    def __init__(self, root, source_dir):
        self.root = Path(root)
        self.source_dir = source_dir
        self.manifests = {}
        self.stats = {}

    def manifest(self, payload, encoding, signed):
        key = (payload, encoding, signed)
        if key in self.manifests:
            return self.manifests[key]
        directory = self.root / f"{payload}-{encoding}{'-signed' if signed else ''}"
        directory.mkdir(parents=True, exist_ok=True)
        paths, decoded, sent = [], 0, 0
        for index, (event, body) in enumerate(bodies(payload, self.source_dir)):
            wire = encode(body, encoding)
            path = directory / f"{index:04d}.http"
            path.write_bytes(raw_request(wire, encoding, event, signed))
            paths.append(str(path))
            decoded += len(body)
            sent += len(wire)
        manifest = directory / "manifest.txt"
        manifest.write_text("\n".join(paths) + "\n")
        self.manifests[key] = str(manifest)
        self.stats[key] = {"requests": len(paths), "mean_body_bytes": decoded // len(paths),
                           "mean_wire_bytes": sent // len(paths)}
        return str(manifest)


def have_brotli():
    return brotli is not None

