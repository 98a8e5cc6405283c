"""Reads the sanitizer reports of a CI run (ASAN_OPTIONS/UBSAN_OPTIONS log_path=DIR/...) and fails
on every one, but for one kind: a direct leak whose allocation was made by libpython itself (frame
#1 is in libpython3.11.so), which is CPython's own memory in an interpreter that is never
finalized, and what only such blocks point to (indirect leaks in a report with no other direct
leak). A leak allocated by our code keeps its own frame #1 and fails, even when Python called that
code. Run the suites with PYTHONMALLOC=malloc, so that LeakSanitizer sees into Python's objects
(pymalloc's arenas are not scanned, and everything they point to would look leaked).

    python3 tests/sanitizers/check_reports.py DIR      # exit 0 when nothing is left, else 1
"""
import re
import sys
from pathlib import Path

LEAK = re.compile(r"^(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\) allocated from:$")
FRAME = re.compile(r"^\s*#(\d+) 0x[0-9a-f]+ (.*)$")


def leak_blocks(text):
    """[(header, [frames])] of a LeakSanitizer report."""
    blocks, current = [], None
    for line in text.splitlines():
        if LEAK.match(line):
            current = (line, [])
            blocks.append(current)
        elif current is not None and FRAME.match(line):
            current[1].append(line.strip())
        elif current is not None and not line.strip():
            current = None
    return blocks


def forgiven(frames):
    return len(frames) > 1 and "libpython3" in frames[1]


def main(directory):
    failures, forgiven_bytes, files = [], 0, sorted(Path(directory).glob("*"))
    for path in files:
        text = path.read_text(errors="replace")
        if "LeakSanitizer" in text and "ERROR: AddressSanitizer" not in text and "runtime error" not in text:
            blocks = leak_blocks(text)
            ours = [(h, f) for h, f in blocks if h.startswith("Direct") and not forgiven(f)]
            for header, frames in blocks:
                if ours and header.startswith("Indirect") or (header.startswith("Direct") and not forgiven(frames)):
                    failures.append(f"{path.name}: {header}\n    " + "\n    ".join(frames[:12]))
                else:
                    forgiven_bytes += int(LEAK.match(header).group(2))
        elif text.strip():
            failures.append(f"{path.name}:\n{text[:6000]}")
    for failure in failures:
        print(failure, end="\n\n")
    print(f"sanitizers: {len(files)} report files; {forgiven_bytes} bytes of leaks allocated by libpython "
          f"itself forgiven; {len(failures)} reports against inlet")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.strip())
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
