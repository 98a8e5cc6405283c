#!/usr/bin/python3
"""The inlet node's request path written the way the managed platform does it: FastAPI + uvicorn.

bench/run measures it next to inlet as the "platform's own stack" baseline. It does the same work
per request as CONTRACT.md: POST / only, content-type check (415), content-encoding check and
decode with limits (415/413/400), json.loads (400), the same Python authenticator (or a GitHub
X-Hub-Signature-256 check), then appends the message with its attributes to a file (ack=write) or
appends and fdatasyncs with group commit (ack=fsync), and answers 200 {"tracking_id": ...}.

Run: fastapi_node.py --port P --queue FILE [--ack write|fsync] [--auth-file F] [--github-secret S]
"""
import argparse
import asyncio
import datetime
import hashlib
import hmac
import json
import logging
import os
import re
import threading
import uuid
import zlib

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

try:
    import brotli
except ImportError:  # br then answers 415, as a node without brotli would
    brotli = None

JSON_TYPE = re.compile(r"^\s*[a-z0-9!#$&^_.+-]+/([a-z0-9!#$&^_.-]+\+)?json\s*(;.*)?$", re.I)
ENCODINGS = {"identity", "gzip", "x-gzip", "deflate", "br"}


class TooLarge(Exception):
    pass


class Context:
    """What the authenticator sees as `context`: one per node, with a lock and free attributes."""

    def __init__(self, node, config):
        self.config = config
        self.node = node
        self.tenant = ""
        self.logger = logging.getLogger(f"inlet.{node}")
        self._lock = threading.Lock()

    def acquire(self, *args, **kwargs):
        return self._lock.acquire(*args, **kwargs)

    def release(self):
        self._lock.release()

    def locked(self):
        return self._lock.locked()

    def __enter__(self):
        self._lock.acquire()
        return self

    def __exit__(self, *exc):
        self._lock.release()


class Writer:
    """Appends records to one file; with fsync, one fdatasync covers every record written before it."""

    def __init__(self, path, fsync):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.fsync = fsync
        self.waiters = []
        self.syncing = False

    async def append(self, record):
        os.write(self.fd, record)
        if not self.fsync:
            return
        future = asyncio.get_running_loop().create_future()
        self.waiters.append(future)
        if not self.syncing:
            self.syncing = True
            asyncio.get_running_loop().create_task(self._sync_loop())
        await future

    async def _sync_loop(self):
        loop = asyncio.get_running_loop()
        try:
            while self.waiters:
                batch, self.waiters = self.waiters, []
                await loop.run_in_executor(None, os.fdatasync, self.fd)
                for future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self.syncing = False


def decode(body, encoding, max_decoded):
    for name in [part.strip().lower() for part in encoding.split(",") if part.strip()]:
        if name == "identity":
            continue
        if name in ("gzip", "x-gzip"):
            decoder = zlib.decompressobj(wbits=31)
        elif name == "deflate":
            decoder = zlib.decompressobj(wbits=15 if body[:1] and (body[0] & 0x0F) == 8 else -15)
        elif name == "br":
            out = brotli.decompress(body)  # python3-brotli 1.0.9 has no output limit; checked after
            if len(out) > max_decoded:
                raise TooLarge()
            body = out
            continue
        out = decoder.decompress(body, max_decoded + 1)
        if len(out) > max_decoded:
            raise TooLarge()
        if not decoder.eof:
            raise zlib.error("truncated stream")
        body = out
    return body


def detail(status, text, headers=None):
    return JSONResponse({"detail": text}, status_code=status, headers=headers)


def make_app(args):
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    writer = Writer(args.queue, args.ack == "fsync")
    context = Context(args.node, {})
    authenticator = None
    if args.auth_file:
        namespace = {}
        with open(args.auth_file) as source:
            exec(compile(source.read(), args.auth_file, "exec"), namespace)
        authenticator = namespace["authenticator"]
    is_async = asyncio.iscoroutinefunction(authenticator)
    github_secret = args.github_secret.encode() if args.github_secret else None

    @app.post("/")
    async def ingest(request: Request):
        headers = request.headers
        content_type = headers.get("content-type", "")
        if not JSON_TYPE.match(content_type):
            return detail(415, "content-type must be application/json or */*+json")
        encoding = headers.get("content-encoding", "identity")
        if any(part.strip().lower() not in ENCODINGS for part in encoding.split(",")):
            return detail(415, "unsupported content-encoding")
        if "br" in encoding.lower() and brotli is None:
            return detail(415, "unsupported content-encoding")
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > args.max_body_bytes:
            return detail(413, "body too large")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > args.max_body_bytes:
                return detail(413, "body too large")
            chunks.append(chunk)
        raw = b"".join(chunks)
        try:
            body = decode(raw, encoding, args.max_decoded_bytes)
        except TooLarge:
            return detail(413, "decoded body too large")
        except Exception:
            return detail(400, "body does not decode")
        try:
            json.loads(body)
        except ValueError as error:
            return detail(400, f"invalid JSON: {error}")
        request._body = body  # what `await request.body()` gives an authenticator: the decoded body

        attributes = {}
        if github_secret is not None:
            signature = headers.get("x-hub-signature-256", "")
            expected = "sha256=" + hmac.new(github_secret, raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(signature.encode(), expected.encode()):
                return detail(403, "bad signature")
        if authenticator is not None:
            try:
                if is_async:
                    result = await asyncio.wait_for(
                        authenticator(context=context, request=request), args.auth_timeout)
                else:
                    result = authenticator(context=context, request=request)
            except asyncio.TimeoutError:
                return detail(503, "authenticator timed out")
            except Exception as error:
                status = getattr(error, "status_code", None)
                if isinstance(status, int):
                    return detail(status, str(getattr(error, "detail", "")),
                                  getattr(error, "headers", None))
                logging.exception("authenticator failed")
                return detail(500, "authenticator failed")
            if result is not None:
                try:
                    credentials, user = result
                except (TypeError, ValueError):
                    return detail(500, "authenticator failed")
                if not getattr(user, "is_authenticated", False):
                    return detail(403, "not authenticated")
                attributes["user"] = user.display_name
                if getattr(user, "identity", None) is not None:
                    attributes["identity"] = user.identity
                attributes["scopes"] = list(getattr(credentials, "scopes", []))

        tracking_id = uuid.uuid4().hex
        attributes.update({
            "tracking_id": tracking_id,
            "message_type": "echo.json",
            "received_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="microseconds").replace("+00:00", "Z"),
            "node": args.node,
            "content_type": content_type,
            "length": len(body),
        })
        await writer.append(json.dumps(attributes).encode() + b"\n" + body + b"\n")
        return JSONResponse({"tracking_id": tracking_id})

    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--queue", required=True, help="file the messages are appended to")
    parser.add_argument("--ack", choices=["write", "fsync"], default="write")
    parser.add_argument("--auth-file", help="Python source holding `def authenticator(...)`")
    parser.add_argument("--auth-timeout", type=float, default=2.0)
    parser.add_argument("--github-secret")
    parser.add_argument("--node", default="bench")
    parser.add_argument("--max-body-bytes", type=int, default=1048576)
    parser.add_argument("--max-decoded-bytes", type=int, default=8388608)
    args = parser.parse_args()
    uvicorn.run(make_app(args), host=args.host, port=args.port, workers=1, loop="uvloop",
                http="httptools", log_level="warning", access_log=False, backlog=4096)


if __name__ == "__main__":
    main()
