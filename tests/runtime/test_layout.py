"""The dependency arrows of ARCHITECTURE.md, checked on the sources: which folder may include which.
A new include against an arrow fails here, with the file and the line."""
import os
import re
from pathlib import Path

SOURCE = Path(os.environ.get("INLET_SOURCE_DIR", Path(__file__).resolve().parents[2]))
INCLUDE = re.compile(r'^\s*#include\s+"((?:codecs|auth|python|runtime)/[^"]+)"')

# Each part, and the parts it may include (besides itself). runtime/ is split into its
# sub-folders; "runtime/base" is its top-level library files (log, message, metrics, reject) and
# "runtime/entry" the command line (cli, main), which may use everything.
ALLOWED = {
    "codecs": set(),
    "auth": {"codecs"},
    "python": {"auth", "codecs"},
    "runtime/base": {"codecs"},
    "runtime/route": {"runtime/base", "codecs"},
    "runtime/queue": {"runtime/base", "codecs"},
    "runtime/config": {"runtime/route", "runtime/queue", "runtime/base", "auth", "python", "codecs"},
    "runtime/delivery": {"runtime/config", "runtime/route", "runtime/base", "auth", "codecs"},
    "runtime/node": {"runtime/delivery", "runtime/config", "runtime/route", "runtime/queue", "runtime/base", "auth", "python",
                     "codecs"},
    "runtime/server": {"runtime/delivery", "runtime/node", "runtime/config", "runtime/route", "runtime/queue", "runtime/base",
                       "auth", "python", "codecs"},
    "runtime/entry": {"runtime/server", "runtime/delivery", "runtime/node", "runtime/config", "runtime/route", "runtime/queue", "runtime/base",
                      "auth", "python", "codecs"},
}
ENTRY = {"cli.h", "cli.cc", "main.cc"}


def part_of(relative):
    parts = Path(relative).parts
    if parts[0] != "runtime":
        return parts[0]
    if len(parts) == 2:
        return "runtime/entry" if parts[1] in ENTRY else "runtime/base"
    return f"runtime/{parts[1]}"


def test_includes_follow_the_dependency_arrows():
    violations = []
    for top in ("codecs", "auth", "python", "runtime"):
        for path in sorted((SOURCE / top).rglob("*")):
            if path.suffix not in (".h", ".cc"):
                continue
            source = part_of(path.relative_to(SOURCE))
            for number, line in enumerate(path.read_text().splitlines(), 1):
                match = INCLUDE.match(line)
                if not match:
                    continue
                target = part_of(match.group(1))
                if target != source and target not in ALLOWED[source]:
                    violations.append(f"{path.relative_to(SOURCE)}:{number}: {source} -> {target}")
    assert not violations, "includes against the arrows of ARCHITECTURE.md:\n" + "\n".join(violations)
