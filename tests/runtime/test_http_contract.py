"""The node's HTTP contract (CONTRACT.md section 1) through the real binary over real sockets: every
row of the table of checks, in order, with exact statuses and bodies; the payloads POSTed with every
content encoding and read back from the log byte for byte; and the HTTP/1.1 mechanics (keep-alive,
pipelining, chunked bodies, 100-continue, smuggling, timeouts, the connection limit)."""
import gzip
import json
import os
import re
import socket
import time
import zlib

import brotli
import pytest
import zstandard

from inlet_harness import (TLS, InletNode, RawConnection, connect, free_port, payload_files, parse_responses, post_request,
                           raw_exchange, read_log_records)

MAX_BODY = 64 * 1024
MAX_DECODED = 256 * 1024
MAX_HEADER = 4096

DETAIL = {
    404: "not found: inlet accepts POST /",
    405: "method not allowed: use POST",
    431: "request headers too large",
    "media": "unsupported media type: use application/json or */*+json",
    "encoding": "unsupported content encoding: use identity or one that Accept-Encoding lists",
    413: "request body too large",
    "bad_encoding": "body does not decode with its Content-Encoding",
    "decoded": "decoded body too large",
}
TRACKING_ID = re.compile(r"^[0-9a-f]{32}$")
RECEIVED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
GOOD = b'{"action": "opened", "number": 1}'
ACCEPTED = set()  # every tracking_id the main node answered 200 in this module


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    limits = {"max_body_bytes": MAX_BODY, "max_decoded_bytes": MAX_DECODED, "max_header_bytes": MAX_HEADER}
    with InletNode(tmp_path_factory.mktemp("contract"), {"limits": limits}) as n:
        yield n
        assert n.proc.poll() is None, "the node died during the tests:\n" + n.logs()


@pytest.fixture(scope="module")
def slow_node(tmp_path_factory):
    """Short timeouts and a connection limit of 5, apart from the main node so neither disturbs the other."""
    limits = {"header_timeout_ms": 300, "body_timeout_ms": 300, "idle_timeout_ms": 500, "max_connections": 5}
    with InletNode(tmp_path_factory.mktemp("slow"), {"limits": limits}) as n:
        yield n


def queue_size(node):
    return len(read_log_records(node.queue_dir))


def stored_ids(node):
    return [attributes["tracking_id"] for _, attributes, _ in read_log_records(node.queue_dir)]


def exchange(node, request, **kwargs):
    """Sends raw request bytes on a fresh connection, returns the one response."""
    with RawConnection(node.port) as conn:
        conn.send(request)
        return conn.read_response(**kwargs)


def assert_detail(response, status, detail):
    assert response.status == status, response
    assert response.header("content-type") == "application/json", response
    assert response.json() == {"detail": detail}, response


def assert_accepted(response):
    assert response.status == 200, response
    body = response.json()
    assert list(body) == ["tracking_id"] and TRACKING_ID.match(body["tracking_id"]), body
    ACCEPTED.add(body["tracking_id"])
    return body["tracking_id"]


def assert_still_serving(node):
    assert_accepted(exchange(node, post_request(GOOD)))


@pytest.fixture
def nothing_stored(node):
    """Asserts that the test stores nothing it was not answered 200 for: rejects never reach the queue."""
    before = queue_size(node)
    yield
    new = stored_ids(node)[before:]
    assert set(new) <= ACCEPTED, "a rejected request was stored"


# --- the table of checks, row by row ---------------------------------------------------------------

@pytest.mark.parametrize("path", ["/x", "//", "/x/", "/%2F", "//?a=1", "/x?a=1", "*"])
def test_row1_path_other_than_slash_is_404(node, nothing_stored, path):
    assert_detail(exchange(node, post_request(GOOD, path=path)), 404, DETAIL[404])


def test_row1_path_is_checked_before_everything_else(node, nothing_stored):
    # wrong method, wrong media type, wrong encoding: the path answers first
    request = post_request(b"zz", content_type="text/plain", path="/hooks", method="GET",
                           extra_headers=["Content-Encoding: compress"])
    assert_detail(exchange(node, request), 404, DETAIL[404])


def test_row1_query_string_is_allowed_on_slash(node):
    before = queue_size(node)
    tracking_id = assert_accepted(exchange(node, post_request(GOOD, path="/?source=github&x=1")))
    records = read_log_records(node.queue_dir)
    assert len(records) == before + 1 and records[-1][1]["tracking_id"] == tracking_id


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_row2_method_other_than_post_is_405_with_allow(node, nothing_stored, method):
    response = exchange(node, post_request(GOOD, method=method))
    assert_detail(response, 405, DETAIL[405])
    assert response.header("allow") == "POST"


def test_row2_get_without_body_is_405(node, nothing_stored):
    response = exchange(node, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_detail(response, 405, DETAIL[405])
    assert response.header("allow") == "POST"


def test_row2_method_is_checked_before_media_type_and_encoding(node, nothing_stored):
    request = post_request(b"zz", content_type="text/plain", method="PUT", extra_headers=["Content-Encoding: compress"])
    assert exchange(node, request).status == 405


def test_row3_headers_over_the_limit_are_431(node, nothing_stored):
    pad = "X-Pad: " + "a" * (MAX_HEADER + 100)
    assert_detail(exchange(node, post_request(GOOD, extra_headers=[pad])), 431, DETAIL[431])
    # many small headers add up too
    many = [f"X-H{i}: {'b' * 60}" for i in range(MAX_HEADER // 60 + 5)]
    assert_detail(exchange(node, post_request(GOOD, extra_headers=many)), 431, DETAIL[431])
    assert_still_serving(node)


def test_row3_headers_just_under_the_limit_are_fine(node):
    pad = "X-Pad: " + "a" * (MAX_HEADER - 400)
    assert_accepted(exchange(node, post_request(GOOD, extra_headers=[pad])))


def test_row3_path_and_method_answer_before_the_header_limit(node, nothing_stored):
    pad = "X-Pad: " + "a" * (MAX_HEADER + 100)
    assert_detail(exchange(node, post_request(GOOD, path="/x", extra_headers=[pad])), 404, DETAIL[404])
    response = exchange(node, post_request(GOOD, method="PUT", extra_headers=[pad]))
    assert_detail(response, 405, DETAIL[405])
    assert response.header("allow") == "POST"
    # the header limit comes before the media type
    assert_detail(exchange(node, post_request(GOOD, content_type="text/plain", extra_headers=[pad])),
                  431, DETAIL[431])


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/jsonx", "application/xml",
                                          "json", "application/+json", "text/json; x", ""])
def test_row4_non_json_media_type_is_415(node, nothing_stored, content_type):
    assert_detail(exchange(node, post_request(GOOD, content_type=content_type)), 415, DETAIL["media"])


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "APPLICATION/JSON", "Application/Json;charset=UTF-8",
                                          "application/vnd.github+json", "application/cloudevents+JSON"])
def test_row4_json_media_types_are_accepted(node, content_type):
    tracking_id = assert_accepted(exchange(node, post_request(GOOD, content_type=content_type)))
    record = read_log_records(node.queue_dir)[-1]
    assert record[1]["tracking_id"] == tracking_id
    assert record[1]["content_type"] == content_type


def test_row4_media_type_is_checked_before_encoding(node, nothing_stored):
    request = post_request(GOOD, content_type="text/plain", extra_headers=["Content-Encoding: compress"])
    assert_detail(exchange(node, request), 415, DETAIL["media"])


@pytest.mark.parametrize("encoding", ["compress", "x-zstd", "gzip, compress", "x-compress", "chunked", "gzip;q=1",
                                      "zstd;level=3"])
def test_row5_unknown_content_encoding_is_415_naming_the_known_ones(node, nothing_stored, encoding):
    request = post_request(gzip.compress(GOOD), extra_headers=[f"Content-Encoding: {encoding}"])
    response = exchange(node, request)
    assert_detail(response, 415, DETAIL["encoding"])
    # RFC 9110 §12.5.3: a 415 for the coding lists the ones the server accepts.
    assert response.header("accept-encoding") == "gzip, deflate, br, zstd", response


@pytest.mark.parametrize("encoding,encode", [
    ("identity", lambda b: b), ("IDENTITY", lambda b: b), ("gzip", gzip.compress), ("GZip", gzip.compress),
    ("x-gzip", gzip.compress), ("deflate", zlib.compress), ("br", brotli.compress), ("BR", brotli.compress),
    ("zstd", lambda b: zstandard.ZstdCompressor(write_checksum=True).compress(b)),
    ("ZSTD", lambda b: zstandard.ZstdCompressor(write_content_size=False).compress(b)),
    ("gzip, zstd", lambda b: zstandard.ZstdCompressor().compress(gzip.compress(b))),
])
def test_row5_known_content_encodings_are_accepted(node, encoding, encode):
    tracking_id = assert_accepted(exchange(node, post_request(encode(GOOD), extra_headers=[f"Content-Encoding: {encoding}"])))
    record = read_log_records(node.queue_dir)[-1]
    assert record[1]["tracking_id"] == tracking_id and record[2] == GOOD


def test_row5_encoding_is_checked_before_body_size(node, nothing_stored):
    request = post_request(b"x" * (MAX_BODY + 1), extra_headers=["Content-Encoding: compress"])
    assert_detail(exchange(node, request), 415, DETAIL["encoding"])


def test_row6_content_length_over_the_limit_is_413_before_the_body_arrives(node, nothing_stored):
    with RawConnection(node.port) as conn:
        head = post_request(b"", extra_headers=[])[:-len(b"Content-Length: 0\r\n\r\n")]
        conn.send(head + f"Content-Length: {MAX_BODY + 1}\r\n\r\n".encode())
        assert_detail(conn.read_response(timeout=3), 413, DETAIL[413])
    assert_still_serving(node)


def test_row6_body_exactly_at_the_limit_is_accepted(node):
    body = b'{"pad": "' + b"a" * (MAX_BODY - 11) + b'"}'
    assert len(body) == MAX_BODY
    assert_accepted(exchange(node, post_request(body)))
    assert read_log_records(node.queue_dir)[-1][2] == body


def test_row6_chunked_body_over_the_limit_is_413_as_it_streams(node, nothing_stored):
    with RawConnection(node.port) as conn:
        conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"[" + b"1," * 4000
        sent = 0
        response = None
        # never send the last chunk: the limit must answer while the body streams in
        while sent <= MAX_BODY + len(chunk):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        response = conn.read_response(timeout=3)
        assert_detail(response, 413, DETAIL[413])
    assert_still_serving(node)


def test_row6_compressed_size_counts_not_decoded_size(node):
    # a body that decodes to more than max_body_bytes but fits compressed is fine (up to max_decoded)
    body = json.dumps({"pad": "a" * (MAX_BODY * 2)}).encode()
    tracking_id = assert_accepted(exchange(node, post_request(gzip.compress(body), extra_headers=["Content-Encoding: gzip"])))
    assert read_log_records(node.queue_dir)[-1][1]["tracking_id"] == tracking_id


@pytest.mark.parametrize("encoding,data", [
    ("gzip", b"\x1f\x8b\x08\x00garbage-not-deflate"),
    ("gzip", gzip.compress(GOOD)[:-6]),                       # truncated stream
    ("gzip", gzip.compress(GOOD)[:-4] + b"\x00\x00\x00\x00"),  # wrong ISIZE / CRC trailer
    ("deflate", b"\x78\x9c\xff\xff\xff\xff"),
    ("deflate", zlib.compress(GOOD)[:-3]),
    ("br", b"\xff\xff\xff\xff\xff\xff"),
    ("br", brotli.compress(GOOD)[:-2]),
    ("zstd", b"\x28\xb5\x2f\xfd\x00garbage"),
    ("zstd", zstandard.ZstdCompressor(write_checksum=True).compress(GOOD)[:-2]),
    ("zstd", zstandard.ZstdCompressor(write_checksum=True).compress(GOOD) + b"x"),  # trailing bytes
    ("gzip", GOOD),                                           # plain JSON labelled gzip
    ("gzip, br", gzip.compress(GOOD)),                        # only one of the two layers
])
def test_row7_corrupt_encoded_body_is_400(node, nothing_stored, encoding, data):
    request = post_request(data, extra_headers=[f"Content-Encoding: {encoding}"])
    assert_detail(exchange(node, request), 400, DETAIL["bad_encoding"])


def test_row7_body_size_is_checked_before_decoding(node, nothing_stored):
    request = post_request(b"\x1f\x8bnot gzip" * (MAX_BODY // 8), extra_headers=["Content-Encoding: gzip"])
    assert_detail(exchange(node, request), 413, DETAIL[413])


@pytest.mark.parametrize("encoding,encode", [
    ("gzip", gzip.compress), ("deflate", zlib.compress), ("br", brotli.compress),
    ("gzip, br", lambda b: brotli.compress(gzip.compress(b))),
    ("zstd", lambda b: zstandard.ZstdCompressor(write_content_size=False).compress(b)),
])
def test_row8_decoded_body_over_the_limit_is_413(node, nothing_stored, encoding, encode):
    bomb = encode(b" " * (64 * 1024 * 1024))  # 64 MiB of spaces; valid JSON would not matter
    assert len(bomb) < MAX_BODY
    started = time.monotonic()
    assert_detail(exchange(node, post_request(bomb, extra_headers=[f"Content-Encoding: {encoding}"])),
                  413, DETAIL["decoded"])
    assert time.monotonic() - started < 2, "decoding must stop at the limit, not inflate the whole bomb"


def test_row8_decoded_limit_comes_before_json_validation(node, nothing_stored):
    body = b'{"a": "' + b"x" * MAX_DECODED + b'"} trailing'
    request = post_request(gzip.compress(body), extra_headers=["Content-Encoding: gzip"])
    assert_detail(exchange(node, request), 413, DETAIL["decoded"])


def test_row8_decoded_body_exactly_at_the_limit_is_accepted(node):
    body = b'{"pad": "' + b"a" * (MAX_DECODED - 11) + b'"}'
    assert len(body) == MAX_DECODED
    assert_accepted(exchange(node, post_request(gzip.compress(body), extra_headers=["Content-Encoding: gzip"])))
    assert read_log_records(node.queue_dir)[-1][2] == body


@pytest.mark.parametrize("body,where", [
    (b'{"a": 1} x', "byte 9"),
    (b'{"a": 1}\n{"b": 2}', "byte 9"),
    (b'{"a": "\xff"}', "byte 7"),
    (b'{"a": "\xc3"}', "byte 7"),
    (b'{"a": [1, 2,]}', "line 1"),
    (b"", "empty body"),
    (b"   \n ", ""),
    (b'{"a": 1', ""),
    (b"\xef\xbb\xbf{}", "byte 0"),
    (b"{'a': 1}", "line 1 column 2"),
])
def test_row9_invalid_json_is_400_and_the_detail_says_where(node, nothing_stored, body, where):
    response = exchange(node, post_request(body))
    assert response.status == 400, response
    detail = response.json()["detail"]
    assert list(response.json()) == ["detail"]
    assert detail.startswith("invalid JSON"), detail
    assert where in detail, detail
    assert re.search(r"byte \d+|empty body|end of", detail) or "line" in detail, detail


def test_row9_invalid_json_in_a_compressed_body_is_400(node, nothing_stored):
    response = exchange(node, post_request(gzip.compress(b'{"a": 1} x'), extra_headers=["Content-Encoding: gzip"]))
    assert response.status == 400 and "byte 9" in response.json()["detail"], response


@pytest.mark.parametrize("body", [b"1", b'"s"', b"null", b"[]", b' \t\r\n{"a": "\xc3\xa9\xf0\x9f\x98\x80"} \n'])
def test_row9_any_single_json_value_with_whitespace_is_accepted(node, body):
    tracking_id = assert_accepted(exchange(node, post_request(body)))
    record = read_log_records(node.queue_dir)[-1]
    assert record[1]["tracking_id"] == tracking_id and record[2] == body


def test_row10_authenticator_rejection_is_403_after_json_checks(tmp_path):
    verifiers = [{"type": "bearer", "tokens": ["s3cret-token"]}]
    with InletNode(tmp_path, {"verifiers": verifiers}) as n:
        # the bearer verifier answers a missing token 401 with a challenge, a wrong one 403
        response = exchange(n, post_request(GOOD))
        assert response.status == 401 and list(response.json()) == ["detail"], response
        assert response.header("www-authenticate", ) == 'Bearer realm="inlet"'
        response = exchange(n, post_request(GOOD, extra_headers=["Authorization: Bearer wrong"]))
        assert response.status in (401, 403) and list(response.json()) == ["detail"], response
        # invalid JSON answers 400 before the authenticator runs
        assert exchange(n, post_request(b"{")).status == 400
        assert exchange(n, post_request(GOOD, path="/x")).status == 404
        assert_accepted(exchange(n, post_request(GOOD, extra_headers=["Authorization: Bearer s3cret-token"])))
        assert len(read_log_records(n.queue_dir)) == 1


def test_row11_edge_that_cannot_store_is_503_with_retry_after(tmp_path):
    dead = free_port()  # nothing listens there
    edges = [{"name": "down", "queue": {"type": "redis", "url": f"redis://127.0.0.1:{dead}", "stream": "s",
                                        "retry_budget_ms": 100}}]
    with InletNode(tmp_path, {"edges": edges}) as n:
        response = exchange(n, post_request(GOOD))
        assert response.status == 503, response
        assert response.header("retry-after") == "1"
        assert list(response.json()) == ["detail"] and response.json()["detail"]
        # the earlier checks still answer first
        assert exchange(n, post_request(b"{")).status == 400


def test_success_is_200_with_a_tracking_id_and_a_distinct_id_each_time(node):
    ids = {assert_accepted(exchange(node, post_request(GOOD))) for _ in range(20)}
    assert len(ids) == 20
    for tracking_id in ids:
        assert tracking_id[12] == "4" and tracking_id[16] in "89ab"  # uuid4 as 32 hex characters


# --- the payloads, every encoding, read back byte for byte -------------------------------------------

def raw_deflate(data):
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


ENCODINGS = [
    (None, lambda b: b),
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", raw_deflate),
    ("br", lambda b: brotli.compress(b, quality=4)),
    ("gzip, br", lambda b: brotli.compress(gzip.compress(b), quality=4)),
]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
                 "application/vnd.github+json"]


def test_payloads_with_every_encoding_are_stored_byte_for_byte(node):
    files = payload_files()
    assert len(files) >= 49  # the generated ones; the GitHub corpus adds 273 where present
    start = queue_size(node)
    sent = {}  # tracking_id -> (body, content_type)
    rejected = []
    with RawConnection(node.port, timeout=10) as conn:  # one keep-alive connection for all of it
        for index, path in enumerate(files):
            with open(path, "rb") as f:
                body = f.read()
            for variant, (encoding, encode) in enumerate(ENCODINGS):
                content_type = CONTENT_TYPES[(index + variant) % len(CONTENT_TYPES)]
                extra = [f"Content-Encoding: {encoding}"] if encoding else []
                conn.send(post_request(encode(body), content_type=content_type, extra_headers=extra))
                response = conn.read_response()
                if response.status != 200:
                    rejected.append((path, encoding, response))
                    continue
                sent[assert_accepted(response)] = (body, content_type)
    assert not rejected, rejected[:5]
    assert len(sent) == len(files) * len(ENCODINGS)

    # the raw log: bodies byte for byte, attributes, nothing else
    records = read_log_records(node.queue_dir)[start:]
    assert len(records) == len(sent)
    assert [r[0] for r in records] == list(range(start, start + len(sent)))
    for offset, attributes, body in records:
        expected_body, content_type = sent[attributes["tracking_id"]]
        assert body == expected_body, f"record {offset} differs from what was sent"
        assert attributes["message_type"] == "echo.json"
        assert attributes["node"] == "test-node"
        assert attributes["content_type"] == content_type
        assert RECEIVED_AT.match(attributes["received_at"]), attributes

    # `inlet queue read` agrees: same ids, same offsets, the bodies minified
    lines = node.read_queue(start=start)
    assert len(lines) == len(sent)
    by_offset = {r[0]: r for r in records}
    for line in lines:
        expected_body, content_type = sent[line["tracking_id"]]
        assert by_offset[line["offset"]][1]["tracking_id"] == line["tracking_id"]
        assert line["body"] == json.loads(expected_body)
        assert line["message_type"] == "echo.json" and line["node"] == "test-node"
        assert line["content_type"] == content_type
        assert RECEIVED_AT.match(line["received_at"])
        assert line["user"] is None and line["scopes"] == []
    assert len({line["tracking_id"] for line in lines}) == len(lines)


def test_log_records_carry_a_valid_crc(tmp_path):
    # checks this file's reader of the log format against the binary's CRC-32C
    with InletNode(tmp_path) as n:
        bodies = [GOOD, b"[]", b'{"unicode": "\xc3\xa9"}']
        for body in bodies:
            exchange(n, post_request(body, content_type="application/json"))
        assert [r[2] for r in read_log_records(n.queue_dir, verify_crc=True)] == bodies


# --- HTTP/1.1 mechanics ----------------------------------------------------------------------------

def test_keep_alive_serves_many_requests_on_one_connection(node):
    with RawConnection(node.port) as conn:
        ids = set()
        for i in range(200):
            conn.send(post_request(json.dumps({"i": i}).encode()))
            response = conn.read_response()
            ids.add(assert_accepted(response))
            assert response.header("connection") != "close"
    assert len(ids) == 200


def test_pipelined_requests_are_answered_in_order(node):
    start = queue_size(node)
    bodies = [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']
    data = b"".join(post_request(b) for b in bodies)
    with RawConnection(node.port) as conn:
        conn.send(data)  # one write
        ids = [assert_accepted(conn.read_response()) for _ in bodies]
    records = read_log_records(node.queue_dir)[start:]
    assert [(r[1]["tracking_id"], r[2]) for r in records] == list(zip(ids, bodies))


def test_pipelined_bad_request_between_good_ones(node):
    data = post_request(b'{"n": 1}') + post_request(b"{", content_type="application/json") + post_request(b'{"n": 3}')
    with RawConnection(node.port) as conn:
        conn.send(data)
        assert_accepted(conn.read_response())
        assert conn.read_response().status == 400
        assert_accepted(conn.read_response())


@pytest.mark.parametrize("bad", [post_request(GOOD, content_type="text/plain"), post_request(GOOD, path="/x"),
                                 post_request(GOOD, method="PUT"), post_request(b"")])
def test_pipelined_request_after_a_rejected_one_is_answered_or_the_connection_is_closed(node, bad):
    with RawConnection(node.port) as conn:
        conn.send(bad + post_request(GOOD))
        first = conn.read_response()
        assert first.status in (400, 404, 405, 415)
        if first.header("connection") == "close":
            assert conn.wait_closed(3) and parse_responses(conn.pending) == []
        else:
            assert_accepted(conn.read_response())


def test_chunked_request_body(node):
    body = b'{"chunked": true, "items": [1, 2, 3]}'
    pieces = [body[:5], body[5:6], body[6:30], body[30:]]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    with RawConnection(node.port) as conn:
        conn.send(head)
        for i in range(0, len(chunked), 7):  # in small writes
            conn.send(chunked[i:i + 7])
            time.sleep(0.002)
        tracking_id = assert_accepted(conn.read_response())
        # and the connection is still usable
        conn.send(post_request(GOOD))
        assert_accepted(conn.read_response())
    record = [r for r in read_log_records(node.queue_dir) if r[1]["tracking_id"] == tracking_id][0]
    assert record[2] == body


def test_chunked_gzip_body_with_trailers(node):
    body = b'{"a": "gzip in chunks"}'
    data = gzip.compress(body)
    chunked = b"%x\r\n%s\r\n" % (len(data), data) + b"0\r\nX-Trailer: 1\r\n\r\n"
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    tracking_id = assert_accepted(exchange(node, head + chunked))
    assert read_log_records(node.queue_dir)[-1][1:] == (read_log_records(node.queue_dir)[-1][1], body)
    assert read_log_records(node.queue_dir)[-1][1]["tracking_id"] == tracking_id


def test_expect_100_continue_gets_100_before_the_body(node):
    head = post_request(GOOD, extra_headers=["Expect: 100-continue"])[:-len(GOOD)]
    with RawConnection(node.port) as conn:
        conn.send(head)
        interim = conn.read_response(timeout=3)
        assert interim.status == 100 and interim.body == b""
        conn.send(GOOD)
        tracking_id = assert_accepted(conn.read_response())
    assert read_log_records(node.queue_dir)[-1][1]["tracking_id"] == tracking_id


def test_expect_100_continue_on_a_rejected_head_gets_the_final_answer_without_100(node, nothing_stored):
    head = post_request(GOOD, content_type="text/plain", extra_headers=["Expect: 100-continue"])[:-len(GOOD)]
    with RawConnection(node.port) as conn:
        conn.send(head)
        response = conn.read_response(timeout=3)
        assert_detail(response, 415, DETAIL["media"])
        assert b"100 Continue" not in conn.pending
    # also for a body that is too large
    with RawConnection(node.port) as conn:
        conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % (MAX_BODY + 1))
        assert_detail(conn.read_response(timeout=3), 413, DETAIL[413])


@pytest.mark.parametrize("framing", [
    ["Content-Length: 8", "Transfer-Encoding: chunked"],
    ["Transfer-Encoding: chunked", "Content-Length: 8"],
    ["Content-Length: 8", "Content-Length: 8"],
    ["Content-Length: 8", "Content-Length: 9"],
    ["Content-Length: 8, 8"],
    ["Content-Length: 5, 5"],
    ["Transfer-Encoding: gzip, chunked", "Content-Length: 8"],
    ["Transfer-Encoding: identity"],
    ["Transfer-Encoding: chunked, identity"],
    ["Content-Length: -1"],
    ["Content-Length: 8x"],
])
def test_smuggling_and_bad_framing_is_400(node, nothing_stored, framing):
    head = "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + "".join(f"{h}\r\n" for h in framing)
    data = head.encode() + b"\r\n" + b"8\r\n{\"a\": 1}\r\n0\r\n\r\n"
    with RawConnection(node.port) as conn:
        conn.send(data)
        response = conn.read_response(timeout=3)
        assert response.status == 400, response
        assert list(response.json()) == ["detail"]
        assert response.header("connection") == "close"
        assert conn.wait_closed(3), "a connection with broken framing must be closed"
    assert_still_serving(node)


@pytest.mark.parametrize("garbage", [b"NOT HTTP AT ALL\r\n\r\n", b"POST / HTTP/9.9\r\n\r\n",
                                     b"POST / HTTP/1.1\r\nBad Header\r\n\r\n", b"\x00\x01\x02\r\n\r\n"])
def test_malformed_requests_are_400_and_the_node_keeps_serving(node, nothing_stored, garbage):
    answer = raw_exchange(node.port, garbage, until_closed=True)
    responses = parse_responses(answer)
    assert len(responses) == 1 and responses[0].status == 400, answer
    assert_still_serving(node)


def test_header_timeout_closes_a_stalled_head(slow_node):
    with RawConnection(slow_node.port) as conn:
        conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
        started = time.monotonic()
        assert conn.wait_closed(3)
        assert 0.2 < time.monotonic() - started < 1.5
    assert_still_serving(slow_node)


def test_header_timeout_is_not_reset_by_a_trickle(slow_node):
    with RawConnection(slow_node.port) as conn:
        started = time.monotonic()
        conn.send(b"POST / HTTP/1.1\r\n")
        closed = False
        for i in range(30):
            try:
                conn.send(b"X-Slow-%d: 1\r\n" % i)
            except OSError:
                closed = True
                break
            if conn.wait_closed(0.05):
                closed = True
                break
        assert closed and time.monotonic() - started < 1.5


def test_body_timeout_closes_a_stalled_body(slow_node):
    with RawConnection(slow_node.port) as conn:
        conn.send(post_request(b'{"a": 1, "b": 2}')[:-6])
        started = time.monotonic()
        assert conn.wait_closed(3)
        assert 0.2 < time.monotonic() - started < 1.5
        assert b"200" not in conn.pending


def test_idle_keep_alive_timeout_closes_a_quiet_connection(slow_node):
    with RawConnection(slow_node.port) as conn:
        conn.send(post_request(GOOD))
        assert_accepted(conn.read_response())
        started = time.monotonic()
        assert conn.wait_closed(3)
        assert 0.35 < time.monotonic() - started < 2


def test_idle_timeout_applies_before_the_first_request(slow_node):
    with RawConnection(slow_node.port) as conn:
        started = time.monotonic()
        assert conn.wait_closed(3)
        assert 0.35 < time.monotonic() - started < 2
        assert conn.pending == b""


def test_idle_connection_within_the_timeout_stays_open(slow_node):
    with RawConnection(slow_node.port) as conn:
        for _ in range(3):
            conn.send(post_request(GOOD))
            assert_accepted(conn.read_response())
            time.sleep(0.2)  # under idle_timeout_ms 500


def test_max_connections_refuses_the_sixth_then_recovers(slow_node):
    conns = []
    try:
        for _ in range(5):
            conn = RawConnection(slow_node.port)
            conn.send(post_request(GOOD))
            assert_accepted(conn.read_response())
            conns.append(conn)
        extra = RawConnection(slow_node.port)
        try:
            extra.send(post_request(GOOD))
        except OSError:
            pass
        try:
            response = extra.read_response(timeout=2)
            assert response.status == 503, response
            assert response.header("retry-after") == "1"
            assert response.json() == {"detail": "too many connections"}
        except ConnectionError:
            pass  # closed without an answer: also a refusal
        assert extra.wait_closed(2)
        extra.close()
        # the 5 held connections still work
        for conn in conns:
            conn.send(post_request(GOOD))
            assert_accepted(conn.read_response())
        for conn in conns[:2]:
            conn.close()
        conns = conns[2:]
        time.sleep(0.1)
        # room again for two
        for _ in range(2):
            conn = RawConnection(slow_node.port)
            conns.append(conn)
            conn.send(post_request(GOOD))
            assert_accepted(conn.read_response())
    finally:
        for conn in conns:
            conn.close()


def test_response_headers_and_connection_close(node):
    with RawConnection(node.port) as conn:
        conn.send(post_request(GOOD, extra_headers=["Connection: close"]))
        response = conn.read_response()
        assert_accepted(response)
        assert response.header("connection") == "close"
        assert int(response.header("content-length")) == len(response.body)
        assert conn.wait_closed(2)


def test_http_1_0_request_is_served_and_closed(node):
    data = b"POST / HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(GOOD), GOOD)
    with RawConnection(node.port) as conn:
        conn.send(data)
        assert_accepted(conn.read_response())
        assert conn.wait_closed(2)


def test_client_that_disconnects_mid_body_does_not_hurt_the_node(node, nothing_stored):
    for _ in range(20):
        sock = connect(node.port)
        sock.sendall(post_request(b'{"a": "' + b"x" * 1000 + b'"}')[:-300])
        sock.close()
    assert_still_serving(node)


# --- HTTP/1.1 framing by RFC 9112: each class of defect, and nothing smuggled behind it ------------

CHUNKED_BODY = b"8\r\n{\"a\": 1}\r\n0\r\n\r\n"


def smuggled_request():
    """A valid POST with a unique body: if it is ever answered or stored, it was smuggled."""
    marker = os.urandom(8).hex()
    return marker, post_request(b'{"smuggled": "%s"}' % marker.encode())


def assert_nothing_behind(node, data, status, detail=None):
    """Sends `data` then a valid request on one connection: exactly one answer (`status`, with
    Connection: close), the connection closes, and the request behind it is neither answered nor
    stored."""
    marker, behind = smuggled_request()
    answer = raw_exchange(node.port, data + behind, until_closed=True, read_timeout=3)
    responses = parse_responses(answer)
    assert len(responses) == 1, answer
    assert responses[0].status == status, responses[0]
    if detail is not None:
        assert responses[0].json() == {"detail": detail}, responses[0]
    assert responses[0].header("connection") == "close", responses[0]
    assert not [b for _, _, b in read_log_records(node.queue_dir) if marker.encode() in b], "smuggled"
    assert_still_serving(node)


def chunked_head(transfer_encoding_lines, version="1.1", host="Host: x"):
    lines = [f"POST / HTTP/{version}".encode(), host.encode(), b"Content-Type: application/json"]
    lines += [b"Transfer-Encoding: " + value for value in transfer_encoding_lines]
    return b"\r\n".join(lines) + b"\r\n\r\n"


# 1. A Transfer-Encoding whose final coding is not exactly the token `chunked` (RFC 9112 §6.3).
@pytest.mark.parametrize("value", [
    b"chunked\xff", b"chunked abc", b"chunked\r\n  abc", b"chunked\x80", b"chunked\xa0", b"\xa0chunked",
    b"chunked\tx", b"chunked x", b"chunkedx", b"xchunked", b"chunked;", b"chunked;a", b'chunked, "x"',
    b"chunked\x0b", b"chunked/1", b"chunk ed", b'"chunked"', b"chunked, chunked", b"chunked;q=1",
])
def test_framing1_transfer_encoding_not_exactly_chunked_is_400_and_nothing_behind_it_runs(
        node, nothing_stored, value):
    assert_nothing_behind(node, chunked_head([value]) + CHUNKED_BODY, 400)


@pytest.mark.parametrize("lines", [[b"chunked\xff"], [b"chunked", b"x"], [b"chunked", b""], [b""], [b","]])
def test_framing1_final_coding_across_several_lines_must_be_chunked(node, nothing_stored, lines):
    assert_nothing_behind(node, chunked_head(lines) + CHUNKED_BODY, 400)


@pytest.mark.parametrize("value", [b"chunked", b"CHUNKED", b"Chunked", b" chunked ", b"\tchunked", b",chunked",
                                   b"chunked,", b", ,chunked"])
def test_framing1_exact_chunked_token_with_list_whitespace_is_accepted(node, value):
    with RawConnection(node.port) as conn:
        conn.send(chunked_head([value]) + CHUNKED_BODY)
        assert_accepted(conn.read_response())


def test_framing1_transfer_encoding_in_http_1_0_is_400(node, nothing_stored):
    assert_nothing_behind(node, chunked_head([b"chunked"], version="1.0") + CHUNKED_BODY, 400)


# 2. Connection: close and HTTP/1.0 end the connection after any answer (RFC 9112 §9.6).
@pytest.mark.parametrize("request_bytes,status", [
    (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405),
    (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n", 405),
    (b"GET / HTTP/1.1\r\nHost: x\r\nconnection: CLOSE\r\n\r\n", 405),
    (b"GET / HTTP/1.0\r\n\r\n", 405),
    (b"GET /x HTTP/1.0\r\nHost: x\r\n\r\n", 404),
    (b"POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 404),
    (b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\n"
     b"Content-Length: 0\r\n\r\n", 415),
    (b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
     b"Content-Length: 2\r\n\r\n[}", 400),
    (b"POST / HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[}", 400),
])
def test_framing2_connection_close_and_http_1_0_end_the_connection_after_a_refusal(
        node, nothing_stored, request_bytes, status):
    assert_nothing_behind(node, request_bytes, status)


def test_framing2_connection_close_after_a_success_ends_the_connection_too(node):
    marker, behind = smuggled_request()
    data = post_request(GOOD, extra_headers=["Connection: close"]) + behind
    responses = parse_responses(raw_exchange(node.port, data, until_closed=True, read_timeout=3))
    assert len(responses) == 1 and responses[0].status == 200, responses
    assert_accepted(responses[0])
    assert not [b for _, _, b in read_log_records(node.queue_dir) if marker.encode() in b]


def test_framing2_http_1_0_keep_alive_refusal_keeps_the_connection(node):
    with RawConnection(node.port) as conn:
        conn.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + post_request(GOOD))
        refused = conn.read_response()
        assert refused.status == 405 and refused.header("connection") != "close", refused
        assert_accepted(conn.read_response())


# 3. Transfer codings before chunked are not implemented (RFC 9112 §6.1): 501, never stored raw.
@pytest.mark.parametrize("lines", [[b"deflate, chunked"], [b"gzip, chunked"], [b"deflate", b"chunked"],
                                   [b"x-custom, chunked"], [b"compress,chunked"], [b"gzip;level=1, chunked"],
                                   [b"identity, chunked"]])
def test_framing3_transfer_codings_before_chunked_are_501(node, nothing_stored, lines):
    deflated = zlib.compress(GOOD)
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(deflated), deflated)
    assert_nothing_behind(node, chunked_head(lines) + body, 501)


# 4. Host: required once in HTTP/1.1, and well formed (RFC 9112 §3.2).
@pytest.mark.parametrize("hosts,detail", [
    ([], "missing Host header"),
    (["Host: x", "Host: x"], "more than one Host header"),
    (["Host: a", "Host: b"], "more than one Host header"),
    (["Host: exa mple.com"], "invalid Host header"),
    (["Host: x:port"], "invalid Host header"),
    (["Host: [::1"], "invalid Host header"),
    (["Host: user@x"], "invalid Host header"),
    (["Host: x/y"], "invalid Host header"),
    (["Host: x:80:81"], "invalid Host header"),
])
def test_framing4_missing_duplicate_or_invalid_host_is_400(node, nothing_stored, hosts, detail):
    head = [b"POST / HTTP/1.1"] + [h.encode() for h in hosts] + [
        b"Content-Type: application/json", b"Content-Length: %d" % len(GOOD)]
    assert_nothing_behind(node, b"\r\n".join(head) + b"\r\n\r\n" + GOOD, 400, detail)


def test_framing4_two_hosts_in_http_1_0_are_400_and_none_is_fine(node, nothing_stored):
    body = b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(GOOD), GOOD)
    assert_nothing_behind(node, b"POST / HTTP/1.0\r\nHost: a\r\nHost: a\r\n" + body, 400)
    responses = parse_responses(raw_exchange(node.port, b"POST / HTTP/1.0\r\n" + body, until_closed=True))
    assert [r.status for r in responses] == [200]
    assert_accepted(responses[0])


@pytest.mark.parametrize("host", ["example.com:8080", "[::1]:80", "127.0.0.1", "", "xn--bcher-kva.example",
                                  "a-b_c~d.e%41", "[v1.fe80::a+en1]"])
def test_framing4_valid_hosts_are_accepted(node, host):
    assert_accepted(exchange(node, post_request(GOOD).replace(b"Host: 127.0.0.1", f"Host: {host}".encode())))


# 5. The absolute form is accepted (RFC 9112 §3.2.2); the path check applies to its path.
@pytest.mark.parametrize("target", ["http://x/", "http://x", "HTTP://X:8080/?a=1", "https://example.com/",
                                    "http://x?a=1", "http://[::1]:9/"])
def test_framing5_absolute_form_of_slash_is_accepted(node, target):
    assert_accepted(exchange(node, post_request(GOOD, path=target)))


@pytest.mark.parametrize("target", ["http://x/other", "http://x//", "ftp://x/", "http:/x/", "x/"])
def test_framing5_absolute_form_of_another_path_is_404(node, nothing_stored, target):
    assert_detail(exchange(node, post_request(GOOD, path=target)), 404, DETAIL[404])


def test_framing5_absolute_form_authority_is_the_request_host(tmp_path):
    source = ("def authenticator(*, context, request, **kwargs):\n"
              "    from fastapi import HTTPException\n"
              "    raise HTTPException(409, str(request.url) + ' ' + request.headers['host'])\n")
    with InletNode(tmp_path, {"authenticator": {"inline": source}}) as n:
        response = exchange(n, post_request(GOOD, path="http://public.example:8443/?a=1"))
        assert response.status == 409, response
        # request.url's scheme is the connection's (as uvicorn's scope), not the target's.
        scheme = "https" if TLS else "http"
        assert response.json() == {"detail": f"{scheme}://public.example:8443/?a=1 public.example:8443"}


def test_queue_holds_only_accepted_messages(node):
    # runs last: every record in the module's queue was answered 200 to some test, no reject was stored
    records = read_log_records(node.queue_dir)
    lines = node.read_queue()
    assert [line["offset"] for line in lines] == [r[0] for r in records] == list(range(len(records)))
    ids = [attributes["tracking_id"] for _, attributes, _ in records]
    assert set(ids) <= ACCEPTED and len(set(ids)) == len(ids)
    for offset, attributes, body in records:
        json.loads(body)
