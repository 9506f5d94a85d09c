"""The AWS Lambda runtime: runs a function's handler from its deployment package in the sandbox.

moto stores Lambda functions but never runs their code without Docker (``invoke`` echoes the
payload). :func:`invoke` does what the Lambda service does, reading everything from the sandbox with
boto3 on **every** call (``get_function`` / ``get_alias``), so a change made with boto3 or the AWS CLI
acts at once:

* the qualifier (``$LATEST``, a version number, an alias) picks the configuration; an alias's
  ``RoutingConfig.AdditionalVersionWeights`` splits traffic with a random generator seeded from the
  sandbox seed (re-seeded by ``stacklab.reset()``); :attr:`Invocation.executed_version` is AWS's
  ``X-Amz-Executed-Version``. Weights are validated like AWS (0.0-1.0, at most one additional
  version, published versions only), which moto does not do;
* the deployment package is unpacked once per ``CodeSha256`` into a temporary directory (removed when
  the sandbox stops); versions are code snapshots, so ``publish_version`` then ``update_function_code``
  leaves the version running its old code;
* each (function, version, code, configuration) gets its own *execution environment*: the handler
  module (``Handler`` = ``module.function``, nested packages allowed) is imported once (a cold start,
  ``Init Duration`` in the REPORT line) and reused while warm, so module-level state survives between
  invocations as on AWS. The package's own modules are imported in isolation: they are kept out of
  ``sys.modules`` between invocations, so two functions (or two versions) that both have ``app.py``
  never see each other's module;
* the function's environment variables (``Environment.Variables`` plus AWS's reserved
  ``AWS_LAMBDA_FUNCTION_NAME`` …) are set only while the handler runs (and during its INIT) and
  restored afterwards; the context object has the fields of AWS's Python runtime (``memory_limit_in_mb``
  is a string there too, read from ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``);
* results and errors are shaped like AWS: ``StatusCode`` 200 and the JSON return value; an exception
  → ``FunctionError: Unhandled`` with ``errorMessage``/``errorType``/``requestId``/``stackTrace`` (paths
  shown as ``/var/task/...``); a return value that is not JSON → ``Runtime.MarshalError``; import
  problems → ``Runtime.ImportModuleError`` / ``Runtime.HandlerNotFound`` /
  ``Runtime.UserCodeSyntaxError``; timeout → ``Sandbox.Timedout`` "Task timed out after X.XX seconds";
  an unknown function → :class:`FunctionNotFoundError` (``ResourceNotFoundException``); a payload
  that is not JSON → :class:`InvalidRequestContentError`; more than 6 MB each way →
  ``RequestEntityTooLargeException`` / ``Function.ResponseSizeTooLarge``;
* ``InvocationType="Event"`` answers 202 (the handler runs *synchronously* before ``invoke`` returns,
  so a lesson can look at its effects on the next line; AWS queues it), ``"DryRun"`` answers 204
  without running anything;
* everything the handler prints (stdout and stderr) and logs with ``logging`` (root logger, AWS's
  ``[LEVEL]\\tTIME\\tREQUEST_ID\\tmessage`` format) goes to CloudWatch Logs, group ``/aws/lambda/NAME``,
  stream ``YYYY/MM/DD/[VERSION]<32 hex>`` (one stream per execution environment), between
  ``START`` / ``END`` / ``REPORT`` lines, timed by the sandbox clock. ``log_type="Tail"`` returns
  the last 4 KB base64-encoded, like ``LogResult``. The root logger's level is the function's own
  (a handler's ``logger.setLevel(logging.INFO)`` does not change the kernel's); as on AWS it starts
  at WARNING, so ``logger.info`` lines appear only after such a call.
* :func:`route_boto3_invoke` makes the learner's real call — boto3's ``lambda.invoke`` in the
  kernel, or ``!aws lambda invoke`` against the sandbox's server — run through this plane, with
  AWS's ``FunctionError``, ``ExecutedVersion``, ``LogResult`` and error responses.

Design (measured on the course machine, 2 shared cores: a warm invocation costs ~4-6 ms, ~8 ms
through an alias — three boto3 calls to moto, ``get_function`` [+ ``get_alias``] and
``put_log_events``, are almost all of it — and a cold start with a small package ~15-30 ms): handlers run
**in the kernel's process**, in a
worker thread, so their boto3 calls reach the same mocked account as the learner's (a subprocess
would need the moto server for that). The thread is joined with the function's ``Timeout``; a
handler that overruns is reported as timed out at once, but a Python thread cannot be killed, so it
is abandoned and finishes in the background (what it prints later is not captured). Durations in the
REPORT line are **simulated** so notebook outputs are stable: ``Duration`` is 1.00 ms plus any time
the handler moved the sandbox clock forward (a handler that calls ``stacklab.clock().advance(2)``
reports ~2000 ms and, past its ``Timeout``, times out as on AWS); ``Init Duration`` is a nominal
150.00 ms; ``Billed Duration`` is rounded up to the next millisecond and includes the INIT phase on a
cold start (AWS bills INIT for zip-packaged managed runtimes since 1 August 2025); ``Max Memory Used``
is a nominal 40 MB (at most the memory size). The real wall time is in
:attr:`Invocation.measured_ms`.

Isolation is by import bookkeeping, not by process: the package's top-level modules are imported
with its directory first on ``sys.path``, then moved out of ``sys.modules`` into the environment's
own table; a lazy ``import helpers`` inside the handler body is answered from that table by a
meta-path finder that knows which environment the running thread belongs to. A package that ships a
module named like one the kernel already uses (``json.py``) gets its own in its module-level
imports; a lazy import of that name in the handler body gets the kernel's. Invocations
run one at a time (a handler may invoke another function; that nested call runs at once).

Other simplifications: no concurrency limits or throttling, no layers, no extensions, no
``INIT_START`` line, no retries or destinations for ``Event`` invocations, no ``Event`` payload
limit (only the 6 MB synchronous one); the function's role is not assumed (handlers use the
sandbox's credentials). The code is taken from moto's store (the
``Code.Location`` URL that ``get_function`` returns is not served by moto); its SHA-256 is checked
against the ``CodeSha256`` that ``get_function`` reported.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from stacklab._validate import require_choice, require_str
from stacklab.errors import InputError, StackLabError

__all__ = [
    "FunctionError",
    "FunctionNotFoundError",
    "Invocation",
    "InvalidRequestContentError",
    "LambdaContext",
    "api_gateway_proxy_v1_event",
    "api_gateway_proxy_v2_event",
    "authorizer_request_event",
    "authorizer_token_event",
    "clear",
    "invoke",
    "method_arn",
    "package",
    "route_boto3_invoke",
    "validate_routing",
    "websocket_event",
]

#: Synchronous request and response payload limit (AWS Lambda quotas: 6 MB each way).
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
#: How much of the log ``LogResult`` returns (the last 4 KB).
LOG_TAIL_BYTES = 4096
#: Simulated timings of the REPORT line (see the module docstring).
NOMINAL_DURATION_MS = 1.0
NOMINAL_INIT_MS = 150.0
NOMINAL_MEMORY_USED_MB = 40
_INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
_LOG_TYPES = ("None", "Tail")
#: The fixed timestamp of every entry of a :func:`package` zip (the earliest a zip can hold).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class FunctionNotFoundError(StackLabError):
    """The function (or the version/alias asked for) does not exist: AWS's ResourceNotFoundException."""

    code = "ResourceNotFoundException"


class InvalidRequestContentError(InputError):
    """The payload is not JSON: AWS's InvalidRequestContentException (HTTP 400)."""

    code = "InvalidRequestContentException"


class FunctionError(StackLabError):
    """The function's configuration cannot be run (bad alias weights, payload too large, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


# ------------------------------------------------------------------------------------ results


@dataclass
class Invocation:
    """What one invocation returned, shaped like boto3's ``invoke`` response."""

    status_code: int
    payload: bytes
    function_name: str
    executed_version: str | None
    request_id: str
    function_error: str | None = None
    logs: list[str] = field(default_factory=list)
    log_tail: str | None = None
    log_group: str = ""
    log_stream: str = ""
    duration_ms: float = 0.0
    billed_duration_ms: int = 0
    init_duration_ms: float | None = None
    measured_ms: float = 0.0
    invocation_type: str = "RequestResponse"

    def json(self) -> Any:
        """The payload decoded from JSON (``None`` for an empty payload)."""
        if not self.payload:
            return None
        return json.loads(self.payload)

    @property
    def ok(self) -> bool:
        """True when the function ran (or was accepted) without a function error."""
        return self.function_error is None and self.status_code in (200, 202, 204)

    def as_response(self) -> dict[str, Any]:
        """The same result as a boto3 ``invoke`` response dict (Payload as bytes)."""
        resp: dict[str, Any] = {"StatusCode": self.status_code}
        if self.function_error:
            resp["FunctionError"] = self.function_error
        if self.log_tail is not None:
            resp["LogResult"] = self.log_tail
        if self.executed_version and self.invocation_type == "RequestResponse":
            resp["ExecutedVersion"] = self.executed_version
        resp["Payload"] = self.payload
        return resp

    def __repr__(self) -> str:
        err = f", function_error={self.function_error!r}" if self.function_error else ""
        return (
            f"Invocation(status_code={self.status_code}{err}, executed_version={self.executed_version!r}, "
            f"payload={self.payload[:200]!r})"
        )


class LambdaContext:
    """The context object of AWS's Python runtime (the handler's second argument)."""

    def __init__(
        self,
        *,
        function_name: str,
        function_version: str,
        invoked_function_arn: str,
        memory_limit_in_mb: str,
        aws_request_id: str,
        log_group_name: str,
        log_stream_name: str,
        timeout_s: float,
        identity: Any = None,
        client_context: Any = None,
    ) -> None:
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id
        self.log_group_name = log_group_name
        self.log_stream_name = log_stream_name
        self.identity = identity
        self.client_context = client_context
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout (wall time, as on AWS)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext(function_name={self.function_name!r}, function_version={self.function_version!r}, "
            f"aws_request_id={self.aws_request_id!r})"
        )


# ------------------------------------------------------------------------------------ state


@dataclass
class _Env:
    """One execution environment: the imported handler and its private modules."""

    key: tuple
    code_dir: Path
    names: frozenset[str]
    log_stream: str
    modules: dict[str, Any] = field(default_factory=dict)
    handler: Any = None
    init_error: dict[str, Any] | None = None
    init_logs: list[str] = field(default_factory=list)
    cold: bool = True
    root_level: int = logging.WARNING


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.import_lock = threading.RLock()
        self.run_lock = threading.RLock()
        self.rng: random.Random | None = None
        self.ids: random.Random | None = None
        self.code_root: Path | None = None
        self.code_dirs: dict[str, Path] = {}
        self.envs: dict[tuple, _Env] = {}
        self.clients: dict[tuple, Any] = {}
        self.hooks = False


_state = _State()
_current_env: contextvars.ContextVar[_Env | None] = contextvars.ContextVar("stacklab_lambda_env", default=None)
_in_handler = threading.local()


def _install_hooks() -> None:
    if _state.hooks:
        return
    from stacklab.sandbox import on_reset, on_stop

    on_reset(clear)
    on_stop(_on_stop)
    _state.hooks = True


def clear() -> None:
    """Forget every execution environment and re-seed the plane (``stacklab.reset()`` calls it)."""
    with _state.lock:
        for env in _state.envs.values():
            env.modules.clear()
        _state.envs.clear()
        _state.rng = None
        _state.ids = None
        _state.clients.clear()


def _on_stop() -> None:
    clear()
    with _state.lock:
        root, _state.code_root = _state.code_root, None
        _state.code_dirs.clear()
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


def _seed() -> int:
    from stacklab.sandbox import current

    return current().seed


def _rng() -> random.Random:
    with _state.lock:
        if _state.rng is None:
            _state.rng = random.Random(f"stacklab-functions-routing-{_seed()}")
        return _state.rng


def _new_id() -> str:
    with _state.lock:
        if _state.ids is None:
            _state.ids = random.Random(f"stacklab-functions-ids-{_seed()}")
        return str(uuid.UUID(int=_state.ids.getrandbits(128), version=4))


def _client(service: str) -> Any:
    import boto3

    from stacklab.sandbox import client, current

    key = (service, id(current()), id(boto3.DEFAULT_SESSION))
    with _state.lock:
        if key not in _state.clients:
            _state.clients = {k: v for k, v in _state.clients.items() if k[1:] == key[1:]}
            _state.clients[key] = client(service)
        return _state.clients[key]


# ------------------------------------------------------------------------------------ naming


def _split_name(function_name_or_arn: str, qualifier: str | None) -> tuple[str, str | None]:
    """(function name, qualifier) from a name, ``name:qualifier``, a partial or a full ARN."""
    text = function_name_or_arn.strip()
    derived: str | None = None
    if text.startswith("arn:"):
        parts = text.split(":")
        if len(parts) not in (7, 8) or parts[2] != "lambda" or parts[5] != "function":
            raise InputError(
                f"{function_name_or_arn!r} is not a Lambda function ARN: use "
                "arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] or just the function name."
            )
        name = parts[6]
        derived = parts[7] if len(parts) == 8 else None
    elif ":function:" in text:  # partial ARN ACCOUNT:function:NAME[:QUALIFIER]
        rest = text.split(":function:", 1)[1].split(":")
        name, derived = rest[0], (rest[1] if len(rest) > 1 else None)
    elif ":" in text:
        name, derived = text.split(":", 1)
    else:
        name = text
    if derived == "":
        raise InputError(
            f"{function_name_or_arn!r} ends in ':' with an empty qualifier (an unset stage variable?): put a "
            "version, an alias or $LATEST after the colon, or leave the colon out."
        )
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name):
        raise InputError(f"{name!r} is not a valid function name: 1-64 letters, digits, hyphens or underscores.")
    if derived is not None and qualifier is not None and derived != qualifier:
        raise FunctionError(
            "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the specified qualifier.",
        )
    return name, qualifier if qualifier is not None else derived


def _not_found(arn: str) -> FunctionNotFoundError:
    return FunctionNotFoundError(
        f"ResourceNotFoundException: Function not found: {arn}. Create it with "
        "lambda.create_function (check the name, the version or the alias)."
    )


def _function_arn(name: str, qualifier: str | None = None) -> str:
    from stacklab.sandbox import current

    box = current()
    arn = f"arn:aws:lambda:{box.region}:{box.account_id}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def validate_routing(alias: dict[str, Any]) -> dict[str, float]:
    """Check an alias's ``RoutingConfig`` like AWS and return its additional version weights."""
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    name = alias.get("Name", "?")
    if len(weights) > 1:
        raise FunctionError(
            "InvalidParameterValueException",
            f"Alias {name} routes to {len(weights)} additional versions; AWS allows at most one. "
            "Fix it with update_alias(RoutingConfig={'AdditionalVersionWeights': {VERSION: WEIGHT}}).",
        )
    primary = alias.get("FunctionVersion")
    for version, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
            raise FunctionError(
                "InvalidParameterValueException",
                f"Alias {name} gives version {version} the weight {weight!r}; a weight must be between "
                "0.0 and 1.0 (0.1 sends 10% of the traffic to it). Fix it with update_alias.",
            )
        if not str(version).isdigit() or primary == "$LATEST":
            raise FunctionError(
                "InvalidParameterValueException",
                f"Alias {name}: weighted routing works between published versions only "
                "(not $LATEST); publish_version first.",
            )
        if str(version) == primary:
            raise FunctionError(
                "InvalidParameterValueException",
                f"Alias {name}: the additional version {version} must differ from the primary version.",
            )
    return {str(k): float(v) for k, v in weights.items()}


def _resolve(name: str, qualifier: str | None) -> tuple[str, dict[str, Any]]:
    """(executed version, get_function response) for the qualifier, reading the sandbox with boto3."""
    from botocore.exceptions import ClientError

    lam = _client("lambda")
    version = qualifier or "$LATEST"
    try:
        if qualifier and qualifier != "$LATEST" and not qualifier.isdigit():
            alias = lam.get_alias(FunctionName=name, Name=qualifier)
            weights = validate_routing(alias)
            version = alias["FunctionVersion"]
            for extra, weight in weights.items():
                if _rng().random() < weight:
                    version = extra
        return version, lam.get_function(FunctionName=name, Qualifier=version)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("ResourceNotFoundException", "404"):
            raise _not_found(_function_arn(name, qualifier)) from None
        raise


# ------------------------------------------------------------------------------------ code


def _code_dir(function_name: str, version: str, config: dict[str, Any]) -> Path:
    """The unpacked deployment package (cached per CodeSha256)."""
    sha = config.get("CodeSha256") or ""
    with _state.lock:
        if sha in _state.code_dirs and _state.code_dirs[sha].is_dir():
            return _state.code_dirs[sha]
        if _state.code_root is None:
            _state.code_root = Path(tempfile.mkdtemp(prefix="stacklab-lambda-"))
        data = _code_bytes(function_name, version)
        actual = base64.b64encode(hashlib.sha256(data).digest()).decode()
        if actual != sha:
            raise StackLabError(
                f"The package of {function_name}:{version} in the sandbox does not match its CodeSha256 "
                f"({actual} != {sha}); redeploy it with update_function_code."
            )
        target = _state.code_root / hashlib.sha256(sha.encode()).hexdigest()[:16]
        tmp = target.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for info in zf.infolist():
                    dest = (tmp / info.filename).resolve()
                    if not str(dest).startswith(str(tmp.resolve())):
                        raise StackLabError(f"The package of {function_name} holds an unsafe path {info.filename!r}.")
                zf.extractall(tmp)
        except zipfile.BadZipFile:
            raise StackLabError(
                f"The deployment package of {function_name}:{version} is not a zip file; build one with "
                "stacklab.planes.functions.package(source) and pass it as Code={'ZipFile': ...}."
            ) from None
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        _state.code_dirs[sha] = target
        return target


def _code_bytes(function_name: str, version: str) -> bytes:
    """The zip moto stores for the function version (moto does not serve ``Code.Location``)."""
    from moto.awslambda.utils import get_backend  # the backend moto's own responses use

    from stacklab.sandbox import current

    box = current()
    backend = get_backend(box.account_id, box.region)
    fn = backend.get_function(function_name, None if version == "$LATEST" else version)
    data = getattr(fn, "code_bytes", b"") or b""
    if not data:
        raise StackLabError(
            f"{function_name}:{version} has no zip package (image functions are not run by the sandbox); "
            "create it with Code={'ZipFile': package(source)}."
        )
    return data


def _top_names(code_dir: Path) -> frozenset[str]:
    names = set()
    for entry in code_dir.iterdir():
        if entry.is_dir() and entry.name.isidentifier():
            names.add(entry.name)
        elif entry.suffix in (".py", ".pyc") or entry.name.endswith(".so"):
            names.add(entry.name.split(".", 1)[0])
    return frozenset(names)


def _is_private(mod_name: str, names: frozenset[str]) -> bool:
    return mod_name.split(".", 1)[0] in names


class _CachedLoader(importlib.abc.Loader):
    def __init__(self, module: Any) -> None:
        self.module = module

    def create_module(self, spec: Any) -> Any:
        return self.module

    def exec_module(self, module: Any) -> None:
        return None


class _EnvFinder(importlib.abc.MetaPathFinder):
    """Resolves a running handler's lazy imports of its own package's modules."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        env = _current_env.get()
        if env is None or not _is_private(fullname, env.names):
            return None
        if fullname in env.modules:
            module = env.modules[fullname]
            return importlib.util.spec_from_loader(
                fullname, _CachedLoader(module), is_package=hasattr(module, "__path__")
            )
        if path is None:
            return importlib.machinery.PathFinder.find_spec(fullname, [str(env.code_dir)])
        return None


_finder = _EnvFinder()


def _evict(env: _Env) -> None:
    """Move the package's modules out of sys.modules into the environment's own table."""
    for mod_name in [m for m in sys.modules if _is_private(m, env.names)]:
        module = sys.modules[mod_name]
        mod_file = getattr(module, "__file__", None) or ""
        mod_paths = list(getattr(module, "__path__", []) or [])
        if (
            mod_file.startswith(str(env.code_dir))
            or any(str(p).startswith(str(env.code_dir)) for p in mod_paths)
            or mod_name in env.modules
        ):
            env.modules[mod_name] = sys.modules.pop(mod_name)


def _load(env: _Env, handler: str, env_vars: dict[str, str]) -> None:
    """Import the handler in isolation (the INIT phase), filling env.handler or env.init_error."""
    module_name, _, func_name = handler.rpartition(".")
    with _state.import_lock:
        saved = {m: sys.modules.pop(m) for m in [m for m in sys.modules if _is_private(m, env.names)]}
        sys.path.insert(0, str(env.code_dir))
        importlib.invalidate_caches()
        token = _current_env.set(env)
        buffer: list[str] = []
        root = logging.getLogger()
        kernel_level = root.level
        root.setLevel(env.root_level)
        try:
            with _Capture(buffer, env, "INIT"), _environment(env_vars):
                try:
                    if not module_name:
                        raise _RuntimeFailure(
                            "Runtime.MalformedHandlerName",
                            f"Bad handler '{handler}': not enough values to unpack (expected 2, got 1)",
                        )
                    module = importlib.import_module(module_name)
                    fn = getattr(module, func_name, None)
                    if not callable(fn):
                        raise _RuntimeFailure(
                            "Runtime.HandlerNotFound", f"Handler '{func_name}' missing on module '{module_name}'"
                        )
                    env.handler = fn
                except _RuntimeFailure as failure:
                    env.init_error = {"errorMessage": failure.message, "errorType": failure.kind, "stackTrace": []}
                except SyntaxError as exc:
                    env.init_error = {
                        "errorMessage": f"Syntax error in module '{module_name}': {exc.msg} "
                        f"({_task_path(exc.filename or '', env)}, line {exc.lineno})",
                        "errorType": "Runtime.UserCodeSyntaxError",
                        "stackTrace": [],
                    }
                except ImportError as exc:
                    env.init_error = {
                        "errorMessage": f"Unable to import module '{module_name}': {exc}",
                        "errorType": "Runtime.ImportModuleError",
                        "stackTrace": [],
                    }
                except Exception as exc:  # noqa: BLE001 - the function's own init code failed
                    env.init_error = _error_payload(exc, env)
        finally:
            env.root_level = root.level  # the function's root logger level is its own, as on AWS
            root.setLevel(kernel_level)
            _current_env.reset(token)
            try:
                sys.path.remove(str(env.code_dir))
            except ValueError:
                pass
            _evict(env)
            for mod_name in [m for m in sys.modules if _is_private(m, env.names)]:
                if mod_name in saved:
                    continue
                env.modules.setdefault(mod_name, sys.modules.pop(mod_name))
            sys.modules.update(saved)
        env.init_logs = _split_lines("".join(buffer))


class _RuntimeFailure(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _task_path(path: str, env: _Env) -> str:
    return path.replace(str(env.code_dir), "/var/task")


def _error_payload(exc: BaseException, env: _Env, request_id: str | None = None) -> dict[str, Any]:
    """AWS's error shape, with only the function's own frames in the stack trace."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(str(env.code_dir))]
    stack = [_task_path(line, env) for line in traceback.format_list(frames)]
    payload: dict[str, Any] = {"errorMessage": str(exc), "errorType": type(exc).__name__}
    if request_id:
        payload["requestId"] = request_id
    payload["stackTrace"] = stack
    return payload


# ------------------------------------------------------------------------------------ capture


class _Router(io.TextIOBase):
    """Routes writes from handler threads to their buffers and everything else to the original."""

    def __init__(self, original: Any) -> None:
        self.original = original
        self.targets: dict[int, list[str]] = {}

    def write(self, text: str) -> int:
        target = self.targets.get(threading.get_ident())
        if target is None:
            return self.original.write(text)
        target.append(text)
        return len(text)

    def flush(self) -> None:
        if threading.get_ident() not in self.targets:
            self.original.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


class _LogHandler(logging.Handler):
    """AWS's Python runtime log format: ``[LEVEL]\\tTIME\\tREQUEST_ID\\tmessage``."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.targets: dict[int, tuple[list[str], str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        target = self.targets.get(record.thread or 0)
        if target is None:
            return
        buffer, request_id = target
        stamp = _stamp()
        buffer.append(f"[{record.levelname}]\t{stamp}\t{request_id}\t{record.getMessage()}\n")


def _stamp() -> str:
    from stacklab.sandbox import current

    return current().clock.now().strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"


_capture_lock = threading.RLock()
_capture_depth = [0]
_routers: dict[str, _Router] = {}
_log_handler = _LogHandler()


class _Capture:
    """Capture one thread's stdout/stderr/logging into a buffer (a context manager)."""

    def __init__(self, buffer: list[str], env: _Env, request_id: str, thread_id: int | None = None) -> None:
        self.buffer = buffer
        self.request_id = request_id
        self.thread_id = thread_id

    def __enter__(self) -> _Capture:
        with _capture_lock:
            if _capture_depth[0] == 0:
                for stream in ("stdout", "stderr"):
                    router = _Router(getattr(sys, stream))
                    _routers[stream] = router
                    setattr(sys, stream, router)
                logging.getLogger().addHandler(_log_handler)
            _capture_depth[0] += 1
        self.attach(self.thread_id or threading.get_ident())
        return self

    def attach(self, thread_id: int) -> None:
        self.thread_id = thread_id
        with _capture_lock:
            for router in _routers.values():
                router.targets[thread_id] = self.buffer
            _log_handler.targets[thread_id] = (self.buffer, self.request_id)

    def __exit__(self, *exc: Any) -> None:
        with _capture_lock:
            for router in _routers.values():
                router.targets.pop(self.thread_id or 0, None)
            _log_handler.targets.pop(self.thread_id or 0, None)
            _capture_depth[0] -= 1
            if _capture_depth[0] == 0:
                for stream, router in _routers.items():
                    if getattr(sys, stream) is router:
                        setattr(sys, stream, router.original)
                _routers.clear()
                logging.getLogger().removeHandler(_log_handler)


class _environment:
    """Set environment variables for the duration of a block, restoring the previous values."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self.values.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *exc: Any) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# ------------------------------------------------------------------------------------ invoke


def _check_size(raw: bytes) -> None:
    if len(raw) > MAX_SYNC_PAYLOAD:
        raise FunctionError(
            "RequestEntityTooLargeException",
            f"{len(raw)} byte payload is too large (limit {MAX_SYNC_PAYLOAD} bytes for synchronous "
            "invocations); pass a reference (e.g. an S3 key) instead.",
        )


def _payload_bytes(payload: dict | list | str | bytes | None) -> tuple[bytes, Any]:
    if payload is None:
        return b"", {}
    if isinstance(payload, (dict, list)):
        try:
            raw = json.dumps(payload).encode()
        except (TypeError, ValueError) as exc:
            raise InvalidRequestContentError(
                f"InvalidRequestContentException: Could not parse request body into json: {exc}. "
                "Pass JSON-serialisable data (dicts, lists, strings, numbers, booleans, None)."
            ) from None
        _check_size(raw)
        return raw, json.loads(raw)
    if isinstance(payload, str):
        payload = payload.encode()
    if not isinstance(payload, (bytes, bytearray)):
        raise InputError(
            f"payload must be a dict, a list, JSON text (str or bytes) or None, got {type(payload).__name__}."
        )
    raw = bytes(payload)
    _check_size(raw)
    if not raw.strip():
        return raw, {}
    try:
        return raw, json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContentError(
            "InvalidRequestContentException: Could not parse request body into json: Could not parse "
            f'payload into json: {exc}. Send a JSON document, e.g. \'{{"name": "Ada"}}\'.'
        ) from None


def invoke(
    function_name_or_arn: str,
    payload: dict | list | str | bytes | None = None,
    *,
    qualifier: str | None = None,
    invocation_type: str = "RequestResponse",
    log_type: str = "None",
    context_overrides: dict[str, Any] | None = None,
) -> Invocation:
    """Run the function's handler from its package in the sandbox, like ``lambda.invoke`` on AWS.

    ``function_name_or_arn`` is a name, ``name:qualifier``, or an ARN; ``qualifier`` is ``$LATEST``,
    a version or an alias. ``payload`` is the event (a dict/list, or JSON text). ``log_type="Tail"``
    fills :attr:`Invocation.log_tail`. ``context_overrides`` sets context attributes (e.g.
    ``identity``, ``client_context``). Raises :class:`FunctionNotFoundError` for an unknown function.
    """
    require_str("function_name_or_arn", function_name_or_arn)
    if qualifier is not None:
        require_str("qualifier", qualifier)
    require_choice("invocation_type", invocation_type, _INVOCATION_TYPES)
    require_choice("log_type", log_type, _LOG_TYPES)
    if context_overrides is not None and not isinstance(context_overrides, dict):
        raise InputError(f"context_overrides must be a dict of context attributes, got {context_overrides!r}.")
    _install_hooks()
    name, qualifier = _split_name(function_name_or_arn, qualifier)
    raw, event = _payload_bytes(payload)
    version, fn = _resolve(name, qualifier)
    config = fn["Configuration"]
    request_id = _new_id()
    if invocation_type == "DryRun":
        return Invocation(204, b"", name, None, request_id, invocation_type="DryRun")
    invoked_arn = _function_arn(name, qualifier)
    result = _run(name, version, config, event, request_id, invoked_arn, context_overrides or {})
    result.invocation_type = invocation_type
    if invocation_type == "Event":
        result.status_code, result.payload, result.function_error = 202, b"", None
    if log_type == "Tail" and invocation_type == "RequestResponse":
        text = "".join(result.logs).encode()
        result.log_tail = base64.b64encode(text[-LOG_TAIL_BYTES:]).decode()
    return result


def _env_key(name: str, version: str, config: dict[str, Any]) -> tuple:
    env_vars = (config.get("Environment") or {}).get("Variables") or {}
    return (
        name, version, config.get("CodeSha256"), config.get("Handler"), config.get("MemorySize"),
        config.get("Timeout"), json.dumps(env_vars, sort_keys=True), config.get("Runtime"),
    )  # fmt: skip


def _function_env(name: str, version: str, config: dict[str, Any], stream: str) -> dict[str, str]:
    from stacklab.sandbox import current

    region = current().region
    values = {str(k): str(v) for k, v in ((config.get("Environment") or {}).get("Variables") or {}).items()}
    values.update(
        AWS_LAMBDA_FUNCTION_NAME=name,
        AWS_LAMBDA_FUNCTION_VERSION=version,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(config.get("MemorySize", 128)),
        AWS_REGION=region,
        AWS_DEFAULT_REGION=region,
        AWS_EXECUTION_ENV=f"AWS_Lambda_{config.get('Runtime') or 'python3.12'}",
        AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{name}",
        AWS_LAMBDA_LOG_STREAM_NAME=stream,
        LAMBDA_TASK_ROOT="/var/task",
        _HANDLER=str(config.get("Handler") or ""),
    )
    return values


def _environment_for(name: str, version: str, config: dict[str, Any]) -> _Env:
    key = _env_key(name, version, config)
    with _state.lock:
        env = _state.envs.get(key)
        if env is not None:
            return env
        for old_key in [k for k in _state.envs if k[:2] == key[:2]]:
            del _state.envs[old_key]  # the configuration changed: AWS starts new environments
    from stacklab.sandbox import current

    code_dir = _code_dir(name, version, config)
    stream = current().clock.now().strftime("%Y/%m/%d/") + f"[{version}]" + _new_id().replace("-", "")
    env = _Env(key=key, code_dir=code_dir, names=_top_names(code_dir), log_stream=stream)
    handler = str(config.get("Handler") or "")
    _load(env, handler, _function_env(name, version, config, stream))
    with _state.lock:
        _state.envs[key] = env
    return env


def _run(
    name: str,
    version: str,
    config: dict[str, Any],
    event: Any,
    request_id: str,
    invoked_arn: str,
    overrides: dict[str, Any],
) -> Invocation:
    from stacklab.sandbox import current

    clock = current().clock
    started = time.perf_counter()
    nested = getattr(_in_handler, "active", False)
    timeout_s = float(config.get("Timeout") or 3)
    if not nested and not _state.run_lock.acquire(timeout=timeout_s + 30):
        raise StackLabError(f"{name} could not start: another invocation is still running; try again.")
    try:
        env = _environment_for(name, version, config)
        cold = env.cold
        env.cold = False
        group = f"/aws/lambda/{name}"
        lines: list[str] = list(env.init_logs) if cold else []
        start_clock = clock.now()
        lines.append(f"START RequestId: {request_id} Version: {version}\n")
        body: list[str] = []
        outcome: dict[str, Any] = {}
        timed_out = False
        if env.init_error is not None:
            error = dict(env.init_error)
            error["requestId"] = request_id
            outcome = {"error": error}
            body.append(f"[ERROR] {error['errorType']}: {error['errorMessage']}\n")
        else:
            context = LambdaContext(
                function_name=name,
                function_version=version,
                invoked_function_arn=invoked_arn,
                memory_limit_in_mb=str(config.get("MemorySize", 128)),  # a str, as in AWS's runtime
                aws_request_id=request_id,
                log_group_name=group,
                log_stream_name=env.log_stream,
                timeout_s=timeout_s,
            )
            for attr, value in overrides.items():
                if not isinstance(attr, str) or attr.startswith("_"):
                    raise InputError(f"context_overrides keys must be attribute names, got {attr!r}.")
                setattr(context, attr, value)
            capture = _Capture(body, env, request_id, thread_id=-1)
            worker = threading.Thread(
                target=_call_handler, args=(env, event, context, outcome, capture),
                name=f"lambda-{name}-{version}", daemon=True,
            )  # fmt: skip
            root = logging.getLogger()
            kernel_level = root.level
            root.setLevel(env.root_level)
            try:
                with capture, _environment(_function_env(name, version, config, env.log_stream)):
                    worker.start()
                    worker.join(timeout_s)
                    timed_out = worker.is_alive()
            finally:
                env.root_level = root.level
                root.setLevel(kernel_level)
        simulated = NOMINAL_DURATION_MS + (clock.now() - start_clock).total_seconds() * 1000
        if simulated > timeout_s * 1000:
            timed_out = True
        if timed_out:
            simulated = timeout_s * 1000
            message = f"Task timed out after {timeout_s:.2f} seconds"
            body.append(f"{_stamp()} {request_id} {message}\n")
            error = {"errorType": "Sandbox.Timedout", "errorMessage": f"RequestId: {request_id} Error: {message}"}
            outcome = {"error": error}
        status_code, data, function_error = 200, b"", None
        if "error" in outcome:
            data, function_error = json.dumps(outcome["error"]).encode(), "Unhandled"
            if not timed_out and "stackTrace" in outcome["error"] and env.init_error is None:
                err = outcome["error"]
                trace = "".join(err["stackTrace"])
                body.append(f"[ERROR] {err['errorType']}: {err['errorMessage']}\n")
                body.append(f"Traceback (most recent call last):\n{trace}")
        else:
            data, function_error = _marshal(outcome.get("result"), request_id)
            if function_error:
                body.append(f"[ERROR] Runtime.MarshalError: {json.loads(data)['errorMessage']}\n")
        lines.extend(_split_lines("".join(body)))
        lines.append(f"END RequestId: {request_id}\n")
        init_ms = NOMINAL_INIT_MS if cold else None
        billed = math.ceil(simulated + (init_ms or 0))
        memory = int(config.get("MemorySize", 128))
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {simulated:.2f} ms\tBilled Duration: {billed} ms\t"
            f"Memory Size: {memory} MB\tMax Memory Used: {min(memory, NOMINAL_MEMORY_USED_MB)} MB\t"
        )
        if init_ms is not None:
            report += f"Init Duration: {init_ms:.2f} ms\t"
        if timed_out:
            report += "Status: timeout"
        lines.append(report.rstrip("\t") + "\n")
        if timed_out:
            with _state.lock:  # the abandoned thread keeps the environment busy: start a fresh one
                _state.envs.pop(env.key, None)
        _write_logs(group, env.log_stream, lines)
        return Invocation(
            status_code=status_code, payload=data, function_name=name, executed_version=version,
            request_id=request_id, function_error=function_error, logs=lines, log_group=group,
            log_stream=env.log_stream, duration_ms=round(simulated, 2), billed_duration_ms=billed,
            init_duration_ms=init_ms, measured_ms=round((time.perf_counter() - started) * 1000, 3),
        )  # fmt: skip
    finally:
        if not nested:
            _state.run_lock.release()


def _call_handler(env: _Env, event: Any, context: LambdaContext, outcome: dict[str, Any], capture: _Capture) -> None:
    _current_env.set(env)
    _in_handler.active = True
    capture.attach(threading.get_ident())
    try:
        outcome["result"] = env.handler(event, context)
    except Exception as exc:  # noqa: BLE001 - the function's own error becomes its error payload
        outcome["error"] = _error_payload(exc, env, context.aws_request_id)
    finally:
        with _state.import_lock:
            _evict(env)


def _marshal(value: Any, request_id: str) -> tuple[bytes, str | None]:
    try:
        data = json.dumps(value).encode()
    except (TypeError, ValueError) as exc:
        error = {
            "errorMessage": f"Unable to marshal response: {exc}",
            "errorType": "Runtime.MarshalError",
            "requestId": request_id,
            "stackTrace": [],
        }
        return json.dumps(error).encode(), "Unhandled"
    if len(data) > MAX_SYNC_PAYLOAD:
        error = {
            "errorMessage": f"Response payload size ({len(data)} bytes) exceeded maximum allowed payload "
            f"size ({MAX_SYNC_PAYLOAD} bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
        return json.dumps(error).encode(), "Unhandled"
    return data, None


def _split_lines(text: str) -> list[str]:
    return [line + "\n" for line in text.splitlines()] if text else []


def _write_logs(group: str, stream: str, lines: list[str]) -> None:
    """Write the lines to CloudWatch Logs (creating the group and stream as Lambda does)."""
    from botocore.exceptions import ClientError

    from stacklab.sandbox import current

    logs = _client("logs")
    stamp = int(current().clock.time() * 1000)
    # CloudWatch Logs refuses empty messages (a blank line printed by the handler is not logged)
    events = [{"timestamp": stamp, "message": line.rstrip("\n")} for line in lines if line.strip()]
    try:
        resp = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        for create in (
            lambda: logs.create_log_group(logGroupName=group),
            lambda: logs.create_log_stream(logGroupName=group, logStreamName=stream),
        ):
            try:
                create()
            except ClientError as exc2:
                if exc2.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                    raise
        resp = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    rejected = resp.get("rejectedLogEventsInfo") or {}
    if rejected:
        # moto accepts events only within 14 days of the real clock; the sandbox clock is fixed in
        # the past, so store them directly in moto's log backend (the read APIs then return them).
        from moto.logs.models import logs_backends

        box = current()
        backend = logs_backends[box.account_id][box.region]
        backend.groups[group].put_log_events(stream, events)


# ------------------------------------------------------------------------------------ boto3 / CLI


_patched: dict[str, Any] = {}


def route_boto3_invoke(enabled: bool = True) -> None:
    """Make the real ``lambda.invoke`` call (boto3 in the kernel, ``!aws lambda invoke`` against the
    sandbox's server) run handlers through this plane instead of moto's echo; ``False`` undoes it.

    It replaces the ``invoke`` of moto's Docker-less Lambda backend, so the learner's code stays the
    AWS call: ``FunctionError``, ``ExecutedVersion`` and ``LogResult`` come back as AWS sends them,
    and an unknown function is a ``ResourceNotFoundException``.
    """
    from moto.awslambda_simple.models import LambdaSimpleBackend

    if not isinstance(enabled, bool):
        raise InputError(f"enabled must be True or False, got {enabled!r}.")
    from moto.awslambda.responses import LambdaResponse

    if enabled and "invoke" not in _patched:
        _patched["invoke"] = LambdaSimpleBackend.invoke
        _patched["response"] = LambdaResponse.invoke
        LambdaSimpleBackend.invoke = _moto_invoke  # type: ignore[method-assign]
        LambdaResponse.invoke = _response_invoke  # type: ignore[method-assign]
    elif not enabled and "invoke" in _patched:
        LambdaSimpleBackend.invoke = _patched.pop("invoke")  # type: ignore[method-assign]
        LambdaResponse.invoke = _patched.pop("response")  # type: ignore[method-assign]


_moto_qualifier: contextvars.ContextVar[str | None] = contextvars.ContextVar("stacklab_qualifier", default=None)


def _response_invoke(self: Any) -> Any:
    """moto's Invoke handler passes no ``Qualifier`` query parameter on to its backend: keep it."""
    token = _moto_qualifier.set(self.querystring.get("Qualifier", [None])[0])
    try:
        return _patched["response"](self)
    finally:
        _moto_qualifier.reset(token)


def _moto_invoke(
    self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
) -> bytes:
    """moto's backend ``invoke``, answered by the plane (errors become AWS's error responses)."""
    from moto.awslambda.exceptions import UnknownFunctionException
    from moto.core.exceptions import JsonRESTError

    qualifier = qualifier or _moto_qualifier.get()
    inv_type = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
    log_type = headers.get("X-Amz-Log-Type") or "None"
    if isinstance(body, str):
        body = body.encode()
    try:
        result = invoke(function_name, body or None, qualifier=qualifier, invocation_type=inv_type, log_type=log_type)
    except FunctionNotFoundError:
        name, qual = _split_name(function_name, qualifier)
        raise UnknownFunctionException(_function_arn(name, qual)) from None
    except InvalidRequestContentError as exc:
        raise JsonRESTError("InvalidRequestContentException", str(exc).split(": ", 1)[-1]) from None
    except FunctionError as exc:
        err = JsonRESTError(exc.code, str(exc).split(": ", 1)[-1])
        if exc.code == "RequestEntityTooLargeException":
            err.code = 413
        raise err from None
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    if result.executed_version and inv_type == "RequestResponse":
        response_headers["x-amz-executed-version"] = result.executed_version
    if result.log_tail is not None:
        response_headers["x-amz-log-result"] = result.log_tail
    return result.payload


# ------------------------------------------------------------------------------------ package


def package(source: str | dict[str, str]) -> bytes:
    """A deployment package (zip bytes) from Python source; byte-for-byte the same on every run.

    A string becomes ``lambda_function.py`` (handler ``lambda_function.lambda_handler``, the
    console's default); a dict maps relative paths (``"app.py"``, ``"pkg/util.py"``) to their text.
    """
    if isinstance(source, str):
        files = {"lambda_function.py": source}
    elif isinstance(source, dict) and source:
        files = source
    else:
        raise InputError(
            "package() needs Python source: a string (becomes lambda_function.py) or a dict "
            "{'app.py': '...', 'pkg/util.py': '...'}."
        )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(files):
            text = files[path]
            if (
                not isinstance(path, str)
                or not path
                or path.startswith("/")
                or "\\" in path
                or any(part in ("", ".", "..") for part in path.split("/"))
            ):
                raise InputError(f"{path!r} is not a relative file path: use e.g. 'app.py' or 'pkg/util.py'.")
            if not isinstance(text, str):
                raise InputError(f"The content of {path!r} must be a string of source, got {type(text).__name__}.")
            info = zipfile.ZipInfo(path, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)
    return buf.getvalue()


# ------------------------------------------------------------------------------------ events


def _when(time_: datetime | None) -> datetime:
    if time_ is None:
        from stacklab.clock import EPOCH
        from stacklab.sandbox import current, is_running

        return current().clock.now() if is_running() else EPOCH
    if not isinstance(time_, datetime) or time_.tzinfo is None:
        raise InputError(f"time must be a timezone-aware datetime, got {time_!r}.")
    return time_.astimezone(UTC)


def _region() -> str:
    from stacklab.sandbox import current, is_running

    return current().region if is_running() else "us-east-1"


def _req_id(*parts: Any) -> str:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _check_method(method: str) -> str:
    require_str("method", method)
    method = method.upper()
    require_choice("method", method, ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"))
    return method


def _check_path(path: str) -> str:
    require_str("path", path)
    if not path.startswith("/"):
        raise InputError(f"path must start with '/', got {path!r}.")
    return path


def _str_dict(name: str, value: dict[str, Any] | None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{name} must be a dict, got {type(value).__name__}.")
    return value


def _multi(values: dict[str, Any]) -> dict[str, list[str]]:
    return {k: [str(x) for x in v] if isinstance(v, (list, tuple)) else [str(v)] for k, v in values.items()}


def _last(values: dict[str, Any]) -> dict[str, str]:
    return {k: str(v[-1]) if isinstance(v, (list, tuple)) else str(v) for k, v in values.items()}


def _body(body: str | bytes | dict | list | None, is_base64: bool) -> tuple[str | None, bool]:
    if body is None:
        return None, is_base64
    if isinstance(body, (dict, list)):
        return json.dumps(body), is_base64
    if isinstance(body, bytes):
        return base64.b64encode(body).decode(), True
    if isinstance(body, str):
        return body, is_base64
    raise InputError(f"body must be str, bytes, a dict/list (sent as JSON) or None, got {type(body).__name__}.")


def api_gateway_proxy_v1_event(
    method: str = "GET",
    path: str = "/",
    *,
    resource: str | None = None,
    headers: dict[str, Any] | None = None,
    query: dict[str, Any] | None = None,
    path_parameters: dict[str, str] | None = None,
    stage_variables: dict[str, str] | None = None,
    body: str | bytes | dict | list | None = None,
    is_base64_encoded: bool = False,
    stage: str = "prod",
    api_id: str = "abc123defg",
    account_id: str = "123456789012",
    source_ip: str = "203.0.113.10",
    authorizer: dict[str, Any] | None = None,
    request_id: str | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy integration event, as API Gateway sends it.

    ``headers``/``query`` values may be lists (repeated keys): ``multiValue*`` keep them all, the
    single-value maps keep the last one, as AWS does. Empty maps are ``None``, as on AWS.
    """
    method, path = _check_method(method), _check_path(path)
    headers, query = _str_dict("headers", headers), _str_dict("query", query)
    path_parameters = _str_dict("path_parameters", path_parameters)
    stage_variables = _str_dict("stage_variables", stage_variables)
    when = _when(time)
    rid = request_id or _req_id("v1", method, path, headers, query, body, when.isoformat())
    text, b64 = _body(body, is_base64_encoded)
    resource = resource or path
    context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": f"{api_id}.execute-api.{_region()}.amazonaws.com",
        "domainPrefix": api_id,
        "extendedRequestId": rid[:16],
        "httpMethod": method,
        "identity": {
            "accessKey": None, "accountId": None, "caller": None, "cognitoAuthenticationProvider": None,
            "cognitoAuthenticationType": None, "cognitoIdentityId": None, "cognitoIdentityPoolId": None,
            "principalOrgId": None, "sourceIp": source_ip, "user": None,
            "userAgent": _last(headers).get("User-Agent", _last(headers).get("user-agent", "")), "userArn": None,
        },
        "path": f"/{stage}{path}",
        "protocol": "HTTP/1.1",
        "requestId": rid,
        "requestTime": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(when.timestamp() * 1000),
        "resourceId": hashlib.sha256(resource.encode()).hexdigest()[:6],
        "resourcePath": resource,
        "stage": stage,
    }  # fmt: skip
    if authorizer is not None:
        context["authorizer"] = _str_dict("authorizer", authorizer)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": _last(headers) or None,
        "multiValueHeaders": _multi(headers) or None,
        "queryStringParameters": _last(query) or None,
        "multiValueQueryStringParameters": _multi(query) or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": dict(stage_variables) or None,
        "requestContext": context,
        "body": text,
        "isBase64Encoded": b64,
    }


def api_gateway_proxy_v2_event(
    method: str = "GET",
    path: str = "/",
    *,
    route_key: str | None = None,
    headers: dict[str, Any] | None = None,
    query: dict[str, Any] | None = None,
    cookies: list[str] | None = None,
    path_parameters: dict[str, str] | None = None,
    stage_variables: dict[str, str] | None = None,
    body: str | bytes | dict | list | None = None,
    is_base64_encoded: bool = False,
    stage: str = "$default",
    api_id: str = "abc123defg",
    account_id: str = "123456789012",
    source_ip: str = "203.0.113.10",
    authorizer: dict[str, Any] | None = None,
    request_id: str | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """An HTTP API Lambda proxy event, payload format version 2.0.

    Header names are lower-cased; repeated headers and query parameters are joined with commas;
    ``Cookie`` headers become the ``cookies`` list; empty optional fields are left out, as on AWS.
    """
    method, path = _check_method(method), _check_path(path)
    headers, query = _str_dict("headers", headers), _str_dict("query", query)
    path_parameters = _str_dict("path_parameters", path_parameters)
    stage_variables = _str_dict("stage_variables", stage_variables)
    when = _when(time)
    rid = request_id or _req_id("v2", method, path, headers, query, body, when.isoformat())
    # A named stage is part of the path the function sees, in rawPath and http.path alike.
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    text, b64 = _body(body, is_base64_encoded)
    flat = {
        k.lower(): ",".join(str(x) for x in v) if isinstance(v, (list, tuple)) else str(v) for k, v in headers.items()
    }
    jar = list(cookies or [])
    if "cookie" in flat:
        jar.extend(c.strip() for c in flat.pop("cookie").replace(",", ";").split(";") if c.strip())
    route_key = route_key or "$default"
    raw_query = urlencode([(k, str(x)) for k, v in query.items() for x in (v if isinstance(v, (list, tuple)) else [v])])
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if jar:
        event["cookies"] = jar
    event["headers"] = flat
    if query:
        event["queryStringParameters"] = {
            k: ",".join(str(x) for x in v) if isinstance(v, (list, tuple)) else str(v) for k, v in query.items()
        }
    context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": f"{api_id}.execute-api.{_region()}.amazonaws.com",
        "domainPrefix": api_id,
        "http": {
            "method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
            "userAgent": flat.get("user-agent", ""),
        },
        "requestId": rid[:16],
        "routeKey": route_key,
        "stage": stage,
        "time": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(when.timestamp() * 1000),
    }  # fmt: skip
    if authorizer is not None:
        context["authorizer"] = _str_dict("authorizer", authorizer)
    event["requestContext"] = context
    if text is not None:
        event["body"] = text
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["isBase64Encoded"] = b64
    if stage_variables:
        event["stageVariables"] = dict(stage_variables)
    return event


def method_arn(
    api_id: str, stage: str, method: str, path: str, *, region: str = "us-east-1", account_id: str = "123456789012"
) -> str:
    """The ``execute-api`` ARN of a method: ``arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH``."""
    require_str("api_id", api_id)
    require_str("stage", stage)
    method = "*" if method == "*" else _check_method(method)
    path = _check_path(path)
    return f"arn:aws:execute-api:{region}:{account_id}:{api_id}/{stage}/{method}/{quote(path.lstrip('/'), safe='/*')}"


def authorizer_token_event(token: str, method_arn: str) -> dict[str, Any]:
    """A TOKEN Lambda authorizer event (REST APIs): the token from the identity source header."""
    require_str("token", token, allow_empty=True)
    require_str("method_arn", method_arn)
    if not method_arn.startswith("arn:aws:execute-api:"):
        raise InputError(f"method_arn must be an execute-api ARN (see method_arn()), got {method_arn!r}.")
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}


def authorizer_request_event(
    method: str = "GET",
    path: str = "/",
    *,
    payload_version: str = "1.0",
    headers: dict[str, Any] | None = None,
    query: dict[str, Any] | None = None,
    path_parameters: dict[str, str] | None = None,
    stage_variables: dict[str, str] | None = None,
    identity_source: list[str] | None = None,
    stage: str = "prod",
    api_id: str = "abc123defg",
    account_id: str = "123456789012",
    source_ip: str = "203.0.113.10",
    request_id: str | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """A REQUEST Lambda authorizer event: REST APIs (``payload_version="1.0"``, with ``methodArn``) or
    HTTP APIs (``"2.0"``: the v2 proxy event plus ``type``, ``routeArn`` and ``identitySource``)."""
    require_choice("payload_version", payload_version, ("1.0", "2.0"))
    if payload_version == "1.0":
        proxy = api_gateway_proxy_v1_event(
            method, path, headers=headers, query=query, path_parameters=path_parameters,
            stage_variables=stage_variables, stage=stage, api_id=api_id, account_id=account_id,
            source_ip=source_ip, request_id=request_id, time=time,
        )  # fmt: skip
        arn = method_arn(api_id, stage, method, path, account_id=account_id)
        event = {"type": "REQUEST", "methodArn": arn}
        for key in (
            "resource",
            "path",
            "httpMethod",
            "headers",
            "multiValueHeaders",
            "queryStringParameters",
            "multiValueQueryStringParameters",
            "pathParameters",
            "stageVariables",
            "requestContext",
        ):
            event[key] = proxy[key]
        return event
    route_key = f"{_check_method(method)} {path}"
    proxy = api_gateway_proxy_v2_event(
        method, path, route_key=route_key, headers=headers, query=query, path_parameters=path_parameters,
        stage_variables=stage_variables, stage=stage, api_id=api_id, account_id=account_id,
        source_ip=source_ip, request_id=request_id, time=time,
    )  # fmt: skip
    event = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": method_arn(api_id, stage, method, path, account_id=account_id),
        "identitySource": list(identity_source or []),
    }
    for key, value in proxy.items():
        if key not in ("version", "body", "isBase64Encoded"):
            event[key] = value
    return event


_WS_EVENT_TYPES = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}


def websocket_event(
    route_key: str,
    connection_id: str,
    *,
    body: str | dict | list | None = None,
    headers: dict[str, Any] | None = None,
    query: dict[str, Any] | None = None,
    stage: str = "production",
    api_id: str = "abc123defg",
    source_ip: str = "203.0.113.10",
    connected_at: datetime | None = None,
    disconnect_status_code: int = 1001,
    request_id: str | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """A WebSocket API Lambda proxy event: ``$connect`` (with headers and query string),
    ``$disconnect`` (with the close code) or a message route (``$default`` or a custom route, with
    the body)."""
    require_str("route_key", route_key)
    require_str("connection_id", connection_id)
    headers, query = _str_dict("headers", headers), _str_dict("query", query)
    when = _when(time)
    connected = _when(connected_at) if connected_at is not None else when
    rid = request_id or _req_id("ws", route_key, connection_id, body, when.isoformat())
    event_type = _WS_EVENT_TYPES.get(route_key, "MESSAGE")
    context: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": rid[:16],
        "requestTime": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "messageDirection": "IN",
        "stage": stage,
        "connectedAt": int(connected.timestamp() * 1000),
        "requestTimeEpoch": int(when.timestamp() * 1000),
        "identity": {"sourceIp": source_ip, "userAgent": _last(headers).get("User-Agent", "")},
        "requestId": rid[:16],
        "domainName": f"{api_id}.execute-api.{_region()}.amazonaws.com",
        "connectionId": connection_id,
        "apiId": api_id,
    }
    event: dict[str, Any] = {}
    if event_type == "CONNECT":
        event["headers"] = _last(headers)
        event["multiValueHeaders"] = _multi(headers)
        if query:
            event["queryStringParameters"] = _last(query)
            event["multiValueQueryStringParameters"] = _multi(query)
    elif event_type == "DISCONNECT":
        context["disconnectStatusCode"] = disconnect_status_code
        context["disconnectReason"] = ""
        event["headers"] = _last(headers)
        event["multiValueHeaders"] = _multi(headers)
    else:
        context["messageId"] = rid[16:32]
        text, _ = _body(body, False)
        event["body"] = text if text is not None else ""
    event["requestContext"] = context
    event["isBase64Encoded"] = False
    return event


sys.meta_path.insert(0, _finder)
