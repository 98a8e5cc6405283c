"""Deterministic, realistic webhook payloads for the tests and the benchmarks.

The suites must pass on a bare clone, so they cannot depend on third-party payloads. This writes
our own: push, pull-request, check-run, payment and chat events, 100 B to 64 KB, with nested
objects and arrays, non-ASCII text and every JSON escape, numbers of every JSON form (negative,
zero, fractions, exponents, 64-bit integers), long strings, and both minified and indented layouts.
The same seed always gives the same bytes, so a failure names a file that can be made again.

    python3 tests/payload_generator.py OUT_DIR     # writes OUT_DIR/<shape>-<size>-<n>.json

`check_run-completed.json` has fixed values that tests/runtime/filter_test.cc relies on.
"""
import hashlib
import json
import random
import sys
from pathlib import Path

SEED = 20261201
SIZES = (100, 300, 1_000, 4_000, 16_000, 64_000)

WORDS = ("fix", "flaky", "widget", "pipeline", "merge", "branch", "release", "cache", "retry",
         "timeout", "parser", "docs", "bump", "refactor", "queue", "webhook", "deliver", "edge")
# Text that exercises UTF-8 of every length and the escapes a JSON writer must produce.
TEXTS = ("naïve café", "Grüße aus Köln", "日本語のコミット", "emoji 🚀🔥✅", "Ελληνικά", "עברית",
         "tab\there", "line\nbreak", 'quote " and backslash \\', "control \x01\x1f", "nul \x00 byte",
         "slash / and </script>", "\u2028 line separator \u2029", "💩 outside the BMP 𝄞")


class Writer:
    """A seeded source of JSON values; every method is deterministic given the seed."""

    def __init__(self, seed):
        self.random = random.Random(seed)

    def word(self):
        return self.random.choice(WORDS)

    def sentence(self, words):
        return " ".join(self.word() for _ in range(words))

    def text(self):
        return self.random.choice(TEXTS) + " " + self.sentence(self.random.randint(1, 6))

    def sha(self):
        return hashlib.sha1(str(self.random.random()).encode()).hexdigest()

    def number(self):
        """Every JSON number form: ints of each size, zero, negatives, fractions, exponents."""
        return self.random.choice((
            0, -0.0, 1, -1, 42, 2**31, -(2**31), 2**53, 2**63 - 1, 2**64 - 1, -(2**63),
            3.5, -2.25, 0.1, 1e-7, 6.02214076e23, -1.5e-300, 1.7976931348623157e308,
            self.random.randint(-10**9, 10**9), round(self.random.uniform(-1000, 1000), 3)))

    def timestamp(self):
        day = self.random.randint(1, 28)
        return f"2026-11-{day:02d}T{self.random.randint(0, 23):02d}:{self.random.randint(0, 59):02d}:00Z"

    def user(self):
        login = self.word() + str(self.random.randint(1, 999))
        return {"login": login, "id": self.random.randint(1, 10**8), "node_id": "U_" + self.sha()[:12],
                "type": "User", "site_admin": False, "name": self.random.choice(TEXTS),
                "avatar_url": f"https://avatars.example.com/u/{login}?v=4"}

    def repository(self):
        name = self.word() + "-" + self.word()
        return {"id": self.random.randint(1, 10**9), "name": name, "full_name": "acme/" + name,
                "private": self.random.random() < 0.3, "owner": self.user(), "license": None,
                "topics": [self.word() for _ in range(self.random.randint(0, 4))],
                "stargazers_count": self.random.randint(0, 10**5), "score": self.number(),
                "description": self.text(), "default_branch": "main", "fork": False}

    def commit(self):
        return {"id": self.sha(), "tree_id": self.sha(), "distinct": self.random.random() < 0.8,
                "message": self.text() + "\n\n" + self.sentence(12), "timestamp": self.timestamp(),
                "author": {"name": self.random.choice(TEXTS), "email": "dev@example.com"},
                "added": [f"src/{self.word()}.cc" for _ in range(self.random.randint(0, 3))],
                "removed": [], "modified": [f"docs/{self.word()}.md", f"src/{self.word()}.h"]}


def push(w, size, fits):
    if size < 1000:
        return small(w, size, fits, {"ref": "refs/heads/" + w.word(), "after": w.sha()[:12]})
    body = {"ref": "refs/heads/main", "before": w.sha(), "after": w.sha(), "created": False,
            "deleted": False, "forced": w.random.random() < 0.1, "repository": w.repository(),
            "pusher": {"name": w.word(), "email": None}, "sender": w.user(), "commits": []}
    fill(body["commits"], w.commit, lambda: fits(body))
    body["head_commit"] = body["commits"][-1]
    return body


def pull_request(w, size, fits):
    if size < 1000:
        return small(w, size, fits, {"action": "opened", "number": w.random.randint(1, 5000)})
    body = {"action": w.random.choice(("opened", "synchronize", "closed", "labeled")),
            "number": w.random.randint(1, 5000),
            "pull_request": {"title": w.text(), "body": "", "state": "open", "draft": False,
                             "labels": [], "requested_reviewers": [], "user": w.user(),
                             "additions": w.random.randint(0, 5000), "merged": None,
                             "head": {"ref": w.word(), "sha": w.sha()},
                             "base": {"ref": "main", "sha": w.sha(), "repo": w.repository()}},
            "repository": w.repository(), "sender": w.user()}
    fill(body["pull_request"]["requested_reviewers"], w.user, lambda: fits(body, 2))
    # The rest is one long string, as pull-request descriptions are.
    text = body["pull_request"]
    while not fits(body):
        text["body"] += w.sentence(40) + "\n"
    return body


def payment(w, size, fits):
    if size < 1000:
        return small(w, size, fits, {"id": "evt_" + w.sha()[:24], "type": "charge.refunded"})
    body = {"id": "evt_" + w.sha()[:24], "object": "event", "api_version": "2026-10-01",
            "created": w.random.randint(1.7e9, 1.8e9), "livemode": False, "pending_webhooks": 1,
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_" + w.sha()[:24], "amount": w.random.randint(50, 10**7),
                                "currency": "eur", "metadata": {}, "charges": {"data": []},
                                "description": w.text(), "fee_ratio": w.number()}}}
    charges = body["data"]["object"]["charges"]["data"]
    fill(charges, lambda: {"id": "ch_" + w.sha()[:24], "amount": w.number(), "paid": True,
                           "outcome": {"risk_score": w.random.randint(0, 99), "reason": None},
                           "billing": {"name": w.random.choice(TEXTS), "city": w.word()}},
         lambda: fits(body))
    return body


def chat(w, size, fits):
    if size < 1000:
        return small(w, size, fits, {"type": "event_callback", "data": {"step": {"id": w.word()}}})
    body = {"token": w.sha()[:24], "team_id": "T" + w.sha()[:8].upper(), "api_app_id": "A0TEST",
            "type": "event_callback", "event_id": "Ev" + w.sha()[:10].upper(),
            "event_time": w.random.randint(1.7e9, 1.8e9),
            "event": {"type": "message", "user": "U" + w.sha()[:8].upper(), "text": w.text(),
                      "ts": f"{w.random.randint(1.7e9, 1.8e9)}.{w.random.randint(0, 999999):06d}",
                      "blocks": []},
            "data": {"step": {"id": w.word(), "index": w.random.randint(0, 9)}}}
    fill(body["event"]["blocks"], lambda: {"type": "rich_text", "block_id": w.sha()[:5],
                                            "elements": [{"type": "text", "text": w.text()},
                                                         {"type": "emoji", "name": "rocket"}]},
         lambda: fits(body))
    return body


def check_run_completed():
    """A fixed check_run event; tests/runtime/filter_test.cc asserts on these values."""
    return {"action": "completed",
            "check_run": {"id": 128620228, "name": "Octocoders-linter", "status": "completed",
                          "conclusion": "success", "output": {"title": "Lint", "annotations_count": 0},
                          "pull_requests": [{"number": 2, "id": 279147437,
                                             "head": {"ref": "changes", "sha": "ec26c3e5"},
                                             "base": {"ref": "master",
                                                      "repo": {"id": 186853002, "name": "Hello"}}}]},
            "repository": {"id": 186853002, "full_name": "Codertocat/Hello-World", "private": False,
                           "license": None},
            "sender": {"login": "Codertocat", "id": 21031067, "site_admin": False}}


def small(w, size, fits, head):
    """A short event (100 B to 1 KB): a few typed fields, then short values until it fits."""
    body = dict(head, ok=True, missing=None, n=w.number())
    values = []
    body["values"] = values
    fill(values, lambda: w.random.choice((w.number(), w.word(), w.random.choice(TEXTS), [], {})),
         lambda: fits(body))
    return body


def fill(items, make, full):
    """Appends made items until full() (at least one item)."""
    while True:
        items.append(make())
        if full():
            return


def encoder(indent, ascii_only):
    """ensure_ascii=False keeps multi-byte UTF-8 as bytes; ascii_only writes \\uXXXX escapes."""
    def encode(body):
        return json.dumps(body, indent=2 if indent else None, ensure_ascii=ascii_only,
                          separators=None if indent else (",", ":")).encode()
    return encode


SHAPES = {"push": push, "pull_request": pull_request, "payment": payment, "chat": chat}


def generate(seed=SEED):
    """Returns [(file name, body bytes)], in name order."""
    out = [("check_run-completed.json", encoder(True, False)(check_run_completed()))]
    for shape, make in SHAPES.items():
        for size in SIZES:
            for n in range(2):
                w = Writer(f"{seed}/{shape}/{size}/{n}")
                encode = encoder(indent=n == 1, ascii_only=(size // 100 + n) % 3 == 2)
                # fits(body, k): the body's bytes reach size / k
                text = encode(make(w, size, lambda body, k=1: len(encode(body)) * k >= size * 0.95))
                if n == 1:
                    text = b" \n" + text + b"\n\t "  # whitespace around the value is valid JSON
                out.append((f"{shape}-{size}-{n}.json", text))
    return sorted(out)


def write(directory, seed=SEED):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    payloads = generate(seed)
    names = {name for name, _ in payloads}
    for stale in directory.glob("*.json"):
        if stale.name not in names:
            stale.unlink()
    for name, body in payloads:
        path = directory / name
        if not path.exists() or path.read_bytes() != body:
            path.write_bytes(body)
    return [directory / name for name, _ in payloads]


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) == 2 else 2)
    files = write(sys.argv[1])
    total = sum(f.stat().st_size for f in files)
    print(f"payload_generator: {len(files)} payloads, {total} bytes in {sys.argv[1]}")
