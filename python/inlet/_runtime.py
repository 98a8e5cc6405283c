"""The Python side of inlet's embedded interpreter.

This file is compiled into the inlet binary and executed as module ``inlet._runtime`` on the
interpreter thread. It validates and loads authenticator sources, checks requirements, provides the
``Context`` object, adds the lazily built Starlette-like attributes to ``inlet._native.Request``
and runs the asyncio loop that receives jobs from the I/O threads.
"""

import ast
import asyncio
import builtins
import collections.abc
import importlib
import inspect
import json
import logging
import sys
import threading
import traceback

from inlet import _native

# Validation and loading


def _describe(node):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return "an import (imports go inside the function)"
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        return "an assignment"
    if isinstance(node, ast.ClassDef):
        return f"a class {node.name!r}"
    if isinstance(node, ast.Expr):
        return "an expression"
    return f"a {type(node).__name__} statement"


def validate(source, filename, names, keywords=("context", "request")):
    """Returns None when `source` holds exactly one top-level def named one of `names` (plus an
    optional docstring) that accepts `keywords`, else (line, reason)."""
    function = names[0]
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as e:
        return (e.lineno or 1, f"syntax error: {e.msg}")
    body = list(tree.body)
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body.pop(0)
    found = None
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if found is not None:
                return (node.lineno, f"only one function is allowed, found a second def {node.name!r}")
            if node.name not in names:
                return (node.lineno, f"the function must be named {function!r}, found {node.name!r}")
            if node.decorator_list:
                return (node.decorator_list[0].lineno, "decorators are not allowed")
            found = node
            continue
        return (
            node.lineno,
            f"only the def {function!r} is allowed at top level, found {_describe(node)}",
        )
    if found is None:
        return (1, f"no function {function!r} defined")
    problem = _signature_problem(found.args, keywords)
    if problem:
        return (found.lineno, problem)
    return None


def _signature_problem(args, required):
    """What load() would refuse in the def's signature, read from the source, so that `inlet
    check` refuses what `inlet serve` does without running anything."""
    if args.kwarg is not None:
        return None
    keywords = {a.arg for a in args.kwonlyargs} | {a.arg for a in args.args}
    for name in required:
        if name not in keywords:
            return f"the function must accept the keyword argument {name!r}"
    return None


def _accepts_keywords(fn, required):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    params = sig.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    for name in required:
        p = params.get(name)
        if p is None or p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
            return f"the function must accept the keyword argument {name!r}"
    return None


def load(source, filename, names, line_offset, keywords=("context", "request")):
    """Compiles the (validated) source and returns (fn, is_async) or raises ValueError(line, reason)."""
    tree = ast.parse(source, filename)
    if line_offset:
        ast.increment_lineno(tree, line_offset)
    code = compile(tree, filename, "exec")
    namespace = {"__name__": "inlet_authenticator", "__file__": filename, "__builtins__": builtins}
    exec(code, namespace)
    fn = next(namespace[name] for name in names if name in namespace)
    problem = _accepts_keywords(fn, keywords)
    if problem:
        raise ValueError(fn.__code__.co_firstlineno, problem)
    _import_ahead(tree)
    return fn, inspect.iscoroutinefunction(fn)


def _import_ahead(tree):
    """Imports the modules the function imports, now, while the node starts.

    Imports go inside the function (the contract), so without this the first call pays for them
    under its deadline: `import fastapi` alone takes 100-250 ms here, past a short timeout_ms, and
    the first request after every start answered 503. An import that fails here is left for the
    call to raise, where the user's traceback shows it."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            try:
                importlib.import_module(name)
            except (Exception, SystemExit):  # noqa: BLE001 - reported by the call itself
                pass


def use_site_packages(path):
    """Puts the node-local directory `inlet requirements install` fills first on sys.path, so its
    packages win over the system's, and the requirement check sees them."""
    if path not in sys.path:
        sys.path.insert(0, path)
        importlib.invalidate_caches()


def check_requirements(requirements):
    """Returns None when every pip specifier is satisfied, else a message naming the package."""
    if not requirements:
        return None
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    for spec in requirements:
        try:
            req = Requirement(spec)
        except InvalidRequirement as e:
            return f"requirement {spec!r} is not a valid pip specifier: {e}"
        if req.marker is not None and not req.marker.evaluate():
            continue
        wanted = str(req.specifier) or "any version"
        try:
            found = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            return f"requirement {spec!r}: {req.name} is not installed (required {wanted})"
        if req.specifier and not req.specifier.contains(found, prereleases=True):
            return f"requirement {spec!r}: {req.name} {found} is installed, required {wanted}"
    return None


def format_exception(exc):
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()


# Context


class _SinkHandler(logging.Handler):
    def __init__(self, sink):
        super().__init__(logging.DEBUG)
        self._sink = sink

    def emit(self, record):
        try:
            self._sink(record.levelno, self.format(record))
        except Exception:
            self.handleError(record)


class Context:
    """One per node, alive as long as the node: config, logger, node, tenant, a lock, and any
    attribute the authenticator wants to keep across calls."""

    def __init__(self, config, node, tenant, sink):
        self.config = config
        self.node = node
        self.tenant = tenant
        # Not registered in logging's manager, so each node (and each test) gets its own.
        self.logger = logging.Logger(node or "inlet", logging.DEBUG)
        self._handler = _SinkHandler(sink)
        self.logger.addHandler(self._handler)
        self._lock = threading.Lock()

    def acquire(self, blocking=True, timeout=-1):
        return self._lock.acquire(blocking, timeout)

    def release(self):
        self._lock.release()

    def locked(self):
        return self._lock.locked()

    def __enter__(self):
        self._lock.acquire()
        return self

    def __exit__(self, *exc):
        self._lock.release()
        return False

    def _close(self):
        self.logger.removeHandler(self._handler)
        self._handler._sink = lambda level, message: None

    def __repr__(self):
        return f"<inlet Context node={self.node!r} tenant={self.tenant!r}>"


def make_context(config_json, node, tenant, sink):
    return Context(json.loads(config_json), node, tenant, sink)


# Request: lazily built attributes on top of the native view.

_Request = _native.Request


def _cached(name):
    def decorate(build):
        def getter(self):
            d = self.__dict__
            value = d.get(name)
            if value is None:
                value = d[name] = build(self)
            return value

        getter.__name__ = build.__name__
        getter.__doc__ = build.__doc__
        return property(getter)

    return decorate


def _split_target(target):
    path, _, query = target.partition("?")
    return path, query


def _scheme_and_host(self):
    """The URL the client used: a trusted proxy's X-Forwarded-Proto/-Host (trusted_proxies), else
    http and the Host header."""
    scheme, host = self._origin
    return scheme, host or self.headers.get("host") or "localhost"


@_cached("_url")
def _url(self):
    from starlette.datastructures import URL

    scheme, host = _scheme_and_host(self)
    return URL(f"{scheme}://{host}{self._target}")


@_cached("_base_url")
def _base_url(self):
    from starlette.datastructures import URL

    scheme, host = _scheme_and_host(self)
    return URL(f"{scheme}://{host}/")


@_cached("_query_params")
def _query_params(self):
    from starlette.datastructures import QueryParams

    return QueryParams(_split_target(self._target)[1])


@_cached("_path_params")
def _path_params(self):
    return {}


@_cached("_cookies")
def _cookies(self):
    from starlette.requests import cookie_parser

    header = self.headers.get("cookie")
    return cookie_parser(header) if header else {}


@_cached("_client_address")
def _client_prop(self):
    from starlette.datastructures import Address

    host, port = self._client
    return Address(host, port)


@_cached("_scope")
def _scope(self):
    from urllib.parse import unquote

    path, query = _split_target(self._target)
    host, port = self._client
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": self.method,
        "scheme": self._origin[0],
        "path": unquote(path),
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": self.headers.raw,
        "client": (host, port),
        "server": None,
        "path_params": {},
        # The subject of the client's TLS certificate (tls.client_auth), e.g. "CN=client,O=Acme";
        # None without one.
        "client_cert": self._client_cert,
    }


@_cached("_state")
def _state(self):
    from starlette.datastructures import State

    return State()


async def _body(self):
    return self._body_bytes()


async def _json(self):
    d = self.__dict__
    if "_json" not in d:
        d["_json"] = json.loads(self._body_bytes())
    return d["_json"]


async def _stream(self):
    yield self._body_bytes()
    yield b""


async def _form(self, *, max_files=1000, max_fields=1000):
    """The form-encoded body (a `form_param` node's request) as Starlette's FormData."""
    from urllib.parse import parse_qsl

    from starlette.datastructures import FormData

    d = self.__dict__
    if "_form" not in d:
        text = self._body_bytes().decode("utf-8", "replace")
        d["_form"] = FormData(parse_qsl(text, keep_blank_values=True, max_num_fields=max_fields))
    return d["_form"]


_Request.url = _url
_Request.base_url = _base_url
_Request.query_params = _query_params
_Request.path_params = _path_params
_Request.cookies = _cookies
_Request.client = _client_prop
_Request.scope = _scope
_Request.state = _state
_Request.body = _body
_Request.json = _json
_Request.stream = _stream
_Request.form = _form
_Request.get = lambda self, key, default=None: self.scope.get(key, default)
_Request.__getitem__ = lambda self, key: self.scope[key]

# The loop

# Async authenticators' coroutines are wrapped so the watchdog sees each step (interpreter.h).
collections.abc.Coroutine.register(_native.WatchedCoroutine)

loop = None


def _on_timeout(task, call):
    _native._answer_timeout(call)
    task.cancel()


def start_async(coro, call, timeout):
    """Runs an async function's coroutine; `call` (inlet._native.Call) takes its answer."""
    task = loop.create_task(coro)
    handle = loop.call_later(timeout, _on_timeout, task, call)

    def done(t):
        handle.cancel()
        _native._finish_task(call, t)

    task.add_done_callback(done)


def run(wake_fd):
    global loop
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.add_reader(wake_fd, _native._drain)
    while True:
        try:
            loop.run_forever()
        except BaseException:  # noqa: B036 - nothing may stop the loop (SystemExit from a callback)
            traceback.print_exc()
