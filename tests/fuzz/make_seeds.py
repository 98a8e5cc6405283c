"""Seed inputs for the fuzz targets of tests/fuzz, made by code (nothing third-party is copied).

    python3 tests/fuzz/make_seeds.py OUT_DIR     # writes OUT_DIR/<target>/<n>

Each target's seeds are valid inputs of its format, and a few classic broken ones, so libFuzzer
starts from the interesting shapes instead of discovering HTTP or gzip from nothing.
"""
import gzip
import struct
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import payload_generator  # noqa: E402
from inlet_harness import crc32c  # noqa: E402

try:
    import brotli
except ImportError:  # python3-brotli is in deploy/packages-test.txt; without it, no br seeds
    brotli = None
try:
    import zstandard
except ImportError:  # python3-zstandard is in deploy/packages-test.txt; without it, no zstd seeds
    zstandard = None


def small_payloads():
    return [body for name, body in payload_generator.generate() if "-64000-" not in name][:24]


def raw_deflate(data):
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def decoder_seeds():
    # The target's first byte picks the codings (codecs/codings.cc's order): byte % 4 is the first
    # applied, 0 gzip, 1 deflate, 2 br, 3 zstd; with bit 7 set, (byte >> 3) % 4 is applied on top.
    def two(first, second):
        return bytes([0x80 | (second << 3) | first])

    seeds = []
    for body in small_payloads()[:8]:
        seeds += [b"\x00" + gzip.compress(body, mtime=0), b"\x01" + zlib.compress(body), b"\x01" + raw_deflate(body)]
        if brotli:
            seeds.append(b"\x02" + brotli.compress(body))
            seeds.append(two(1, 2) + brotli.compress(zlib.compress(body)))
        if zstandard:
            seeds.append(b"\x03" + zstandard.ZstdCompressor(write_checksum=True).compress(body))
            seeds.append(two(0, 3) + zstandard.ZstdCompressor().compress(gzip.compress(body, mtime=0)))
    seeds.append(b"\x00" + gzip.compress(b"\x00" * 200000, mtime=0))  # past the target's limit
    return seeds


def json_seeds():
    bodies = small_payloads()
    return bodies + [b[: len(b) // 2] for b in bodies[:6]] + [b"", b"[", b'{"a":"\\ud800"}', b"\xff", b"1e999"]


def request_head_seeds():
    body = b'{"a": 1}'
    chunked = b"8\r\n" + body + b"\r\n0\r\n\r\n"
    heads = [
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n" + body,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked,
        b"POST /?a=1 HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n" + body,
        b"POST http://x:80/ HTTP/1.1\r\nHost: y\r\nContent-Type: text/plain\r\nContent-Encoding: gzip, br\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip;q=\"a\\\"b\", chunked\r\n\r\n" + chunked,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\xff\r\n\r\n" + chunked,
        # once disagreed with the reference: a ';' and obs-text inside a quoted parameter value
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip1;q=\";\x8b a\\\"b\", chunked\r\n\r\n" + chunked,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n  abc\r\n\r\n" + chunked,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nContent-Length: 8\r\n\r\n" + body,
        b"POST / HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 0\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 00000000000000000000018446744073709551615\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 8\r\n\r\n",
    ]
    return heads


def filter_seeds():
    filters = [
        b"json_key_equals: {key: action, value: opened}",
        b"json_key_in: {key: check_run.id, values: [1, 128620228, '2', null, true]}",
        b"json_key_exists: data.step.id",
        b"all: [{json_key_exists: a}, {not: {json_key_equals: {key: b.0.c, value: 3.5e1}}}]",
        b"any: [{json_key_exists: nope}, {json_key_in: {key: n, values: [0x1f, 18446744073709551615]}}]",
    ]
    bodies = small_payloads()
    return [f + b"\0" + bodies[i % len(bodies)] for i, f in enumerate(filters)]


def config_seeds():
    root = HERE.parent.parent / "deploy"
    seeds = [p.read_bytes() for p in sorted((root / "examples").glob("*.yaml"))]
    seeds.append((root / "docker" / "node.yaml").read_bytes())
    seeds.append(b"""node: {name: n, tenant: t}
listen: 127.0.0.1:8080
limits: {max_body_bytes: 1000, max_decoded_bytes: 2000, header_timeout_ms: 5}
verifiers:
  - {type: github, secret: s}
  - {type: standard_webhooks, secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, tolerance_s: 300}
authenticator: {inline: "def authenticator(*, context, request, **kwargs):\\n    return None\\n", timeout_ms: 50}
unrouted: reject
edges:
  - {name: a, filter: {json_key_exists: x}, queue: {type: log, dir: /tmp/q, ack: fsync}}
  - {name: b, queue: {type: redis, url: "redis://127.0.0.1:1", stream: s}}
""")
    return seeds


def record(attributes, body):
    payload = struct.pack("<I", len(attributes)) + attributes + body
    return struct.pack("<II", len(payload), crc32c(payload)) + payload


def log_reader_seeds():
    # The target's first byte sets where the input splits into two segments, the second byte the
    # second segment's base offset.
    records = [record(b'{"tracking_id":"%032x","node":"n"}' % i, body) for i, body in enumerate(small_payloads()[:6])]
    whole = b"".join(records)
    torn = whole + records[0][: len(records[0]) // 2]
    bad_crc = bytearray(whole)
    bad_crc[5] ^= 0xFF
    return [b"\xff\x00" + whole, b"\x80\x03" + whole, b"\xff\x00" + torn, b"\xff\x00" + bytes(bad_crc),
            b"\xff\x00" + whole + b"\x00" * 64, b"\xff\x00" + struct.pack("<II", 0xFFFFFFF0, 0)]


SEEDS = {
    "codecs_decoder_fuzz": decoder_seeds,
    "codecs_json_fuzz": json_seeds,
    "runtime_request_head_fuzz": request_head_seeds,
    "runtime_filter_fuzz": filter_seeds,
    "runtime_config_fuzz": config_seeds,
    "runtime_log_reader_fuzz": log_reader_seeds,
}


def write(out):
    for target, make in SEEDS.items():
        directory = Path(out) / target
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.iterdir():
            old.unlink()
        for n, seed in enumerate(make()):
            (directory / f"{n:03d}").write_bytes(seed)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.strip())
        sys.exit(2)
    write(sys.argv[1])
