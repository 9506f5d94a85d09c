"""The mocked AWS account every notebook works in.

``start()`` replaces the kernel's AWS credentials, profiles, config files and endpoint variables
with fake ones, starts moto in-process, seeds its random IDs, installs a loopback-only network
guard, and (on request) serves the same state on 127.0.0.1 for AWS CLI cells. Nothing here can
reach a real AWS account unless the learner opts in with ``target="aws"``.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacklab import netguard
from stacklab._validate import require_bool, require_choice, require_number, require_str
from stacklab.clock import SandboxClock
from stacklab.errors import InputError, SandboxNotStartedError, StackLabError

#: moto's default account; the source notes' ARNs use the same one.
ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
DEFAULT_SEED = 42
#: Obviously fake credentials: moto accepts any, AWS would reject these.
FAKE_ACCESS_KEY = "STACKLABSANDBOXKEY01"
FAKE_SECRET_KEY = "stacklab-sandbox-secret-not-a-real-key"
#: Environment variables that are kept although they start with AWS_ (none carry credentials).
_KEEP_ENV: frozenset[str] = frozenset()
#: moto backends imported in the background at start so that no first call of a lesson is slow
#: (moto's EC2 backend parses ~100 JSON files on import; API Gateway loads an OpenAPI validator).
_WARM_MODULES = (
    "moto.ec2.models", "moto.elbv2.models", "moto.autoscaling.models", "moto.rds.models",
    "moto.apigateway.models", "moto.apigatewayv2.models", "moto.awslambda.models", "moto.cognitoidp.models",
    "moto.cloudfront.models", "moto.route53.models", "moto.s3control.models",
    "moto.appsync.models", "moto.elasticache.models", "psycopg", "fakeredis",
)  # fmt: skip

# jsonschema (pulled in by moto's API Gateway) imports rfc3987_syntax when it is installed (Jupyter
# installs it), which builds Lark grammars for ~3 s at import. The sandbox never validates IRI
# formats, so this kernel skips that optional module; jsonschema handles its absence by design.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

_REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1", "ap-northeast-1", "ap-northeast-2",
    "ap-southeast-1", "ap-southeast-2", "ap-south-1", "sa-east-1",
)  # fmt: skip


@dataclass
class Sandbox:
    """What ``start()`` set up; ``stacklab.sandbox()`` returns the running one."""

    target: str
    region: str
    seed: int
    clock: SandboxClock
    account_id: str = ACCOUNT_ID
    endpoint_url: str | None = None
    config_dir: Path | None = None
    _mock: Any = field(default=None, repr=False)
    _server: Any = field(default=None, repr=False)
    _saved_env: dict[str, str] = field(default_factory=dict, repr=False)
    _applied_env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def cli_enabled(self) -> bool:
        """True when a moto server on 127.0.0.1 answers AWS CLI cells."""
        return self.endpoint_url is not None

    def describe(self) -> str:
        """A short, deterministic description (no ports, no paths)."""
        if self.target == "aws":
            return f"REAL AWS target, region {self.region}: calls reach your AWS account and may cost money."
        lines = [
            f"Sandbox ready: mocked AWS account {self.account_id}, region {self.region}, IDs seeded ({self.seed}).",
            "Credentials: fake (your own AWS keys, profiles and config files are hidden from this kernel).",
            "Network: loopback only (anything trying to leave this machine is blocked).",
            f"Clock: {self.clock.now().isoformat()} (moves only when a lesson advances it).",
        ]
        if self.cli_enabled:
            lines.append("AWS CLI: `!aws ...` cells talk to the sandbox on 127.0.0.1 (AWS_ENDPOINT_URL is set).")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.describe()


_current: Sandbox | None = None
_lock = threading.RLock()
_reset_hooks: list[Any] = []
_stop_hooks: list[Any] = []


def current() -> Sandbox:
    """The running sandbox; raises if ``start()`` has not run in this kernel."""
    if _current is None:
        raise SandboxNotStartedError(
            "The sandbox is not running: run `import stacklab; stacklab.start()` first "
            "(it is the second cell of every notebook)."
        )
    return _current


def is_running() -> bool:
    """True when ``start()`` has run and ``stop()`` has not."""
    return _current is not None


def on_reset(callback: Any) -> Any:
    """Register ``callback()`` to run after every reset (local planes clear their state here)."""
    if not callable(callback):
        raise InputError(f"on_reset needs a callable, got {callback!r}.")
    if callback not in _reset_hooks:
        _reset_hooks.append(callback)
    return callback


def on_stop(callback: Any) -> Any:
    """Register ``callback()`` to run when the sandbox stops (planes stop their servers here)."""
    if not callable(callback):
        raise InputError(f"on_stop needs a callable, got {callback!r}.")
    if callback not in _stop_hooks:
        _stop_hooks.append(callback)
    return callback


def start(
    *,
    region: str = DEFAULT_REGION,
    seed: int = DEFAULT_SEED,
    cli: bool = False,
    fresh: bool = True,
    target: str = "sandbox",
    allow_real_aws: bool = False,
) -> Sandbox:
    """Start (or refresh) the mocked AWS account for this kernel and return it.

    Run it again and it starts from a fresh, re-seeded account (``fresh=False`` keeps what is
    there). ``cli=True`` also serves the account on 127.0.0.1 for ``!aws ...`` cells.
    ``target="aws"`` with ``allow_real_aws=True`` is the only way to reach real AWS.
    """
    require_choice("region", region, _REGIONS)
    require_number("seed", seed, minimum=0, integer=True)
    require_bool("cli", cli)
    require_bool("fresh", fresh)
    require_choice("target", target, ("sandbox", "aws"))
    require_bool("allow_real_aws", allow_real_aws)
    global _current
    with _lock:
        if target == "aws":
            return _start_real_aws(region, allow_real_aws)
        if _current is not None and _current.target == "aws":
            raise StackLabError(
                "This kernel is connected to REAL AWS; restart the kernel to go back to the sandbox."
            )
        if _current is None:
            _current = _start_sandbox(region, seed)
        elif _current.region != region:
            raise StackLabError(
                f"The sandbox already runs in {_current.region}; restart the kernel (or call "
                f"stacklab.stop()) before starting it in {region}."
            )
        else:
            # Variables set in the kernel since the first start (say os.environ["AWS_PROFILE"] = ...)
            # are hidden too, and come back with the others at stop().
            for key, value in _scrub_env().items():
                if _current._applied_env.get(key) != value:
                    _current._saved_env.setdefault(key, value)
            _apply_env(_current)
            if fresh:
                _current.seed = seed
                reset()
        _apply_env(_current)
        if cli and not _current.cli_enabled:
            _start_server(_current)
        return _current


def _start_sandbox(region: str, seed: int) -> Sandbox:
    from moto import mock_aws

    saved = _scrub_env()
    config_dir = Path(tempfile.mkdtemp(prefix="stacklab-aws-"))
    box = Sandbox(
        target="sandbox", region=region, seed=seed, clock=SandboxClock(), config_dir=config_dir,
        _saved_env=saved,
    )
    _write_aws_files(box)
    _apply_env(box)
    netguard.install()
    mock = mock_aws(config={"lambda": {"use_docker": False}, "core": {"reset_boto3_session": True}})
    mock.start()
    box._mock = mock
    _forget_backends()
    _seed(seed)
    _reset_default_session(box)
    _warm_up()
    atexit.register(stop)
    return box


def _start_real_aws(region: str, allow_real_aws: bool) -> Sandbox:
    global _current
    if not allow_real_aws:
        raise StackLabError(
            "target='aws' reaches your real AWS account and can cost money, so it needs an explicit "
            "opt-in: stacklab.start(target='aws', allow_real_aws=True). The course's lessons are written "
            "for the sandbox; leave target at its default to stay offline and free."
        )
    if _current is not None and _current.target == "sandbox":
        raise StackLabError(
            "The sandbox is running in this kernel; restart the kernel before switching to real AWS "
            "so that no mocked state or fake credentials are mixed with your account."
        )
    if _current is None:
        _current = Sandbox(target="aws", region=region, seed=0, clock=SandboxClock())
    return _current


def _scrub_env() -> dict[str, str]:
    """Remove every AWS_* variable from the kernel's environment, returning what was there."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("AWS_") and k not in _KEEP_ENV}
    for key in saved:
        del os.environ[key]
    return saved


def _write_aws_files(box: Sandbox) -> None:
    assert box.config_dir is not None
    (box.config_dir / "config").write_text(  # the plugin makes AWS_ENDPOINT_URL win for rds/sqs in us-east-1
        f"[default]\nregion = {box.region}\noutput = json\n\n[plugins]\nstacklab = stacklab.awscli_plugin\n"
    )
    (box.config_dir / "credentials").write_text(
        f"[default]\naws_access_key_id = {FAKE_ACCESS_KEY}\naws_secret_access_key = {FAKE_SECRET_KEY}\n"
    )


def _apply_env(box: Sandbox) -> None:
    """Point everything AWS-related in this kernel (and its subprocesses) at the sandbox."""
    for key in [k for k in os.environ if k.startswith("AWS_") and k not in _KEEP_ENV]:
        del os.environ[key]
    assert box.config_dir is not None
    os.environ.update(
        AWS_ACCESS_KEY_ID=FAKE_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=FAKE_SECRET_KEY,
        AWS_DEFAULT_REGION=box.region,
        AWS_REGION=box.region,
        AWS_CONFIG_FILE=str(box.config_dir / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(box.config_dir / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
    )
    if box.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = box.endpoint_url
    # `!aws` cells must find this environment's AWS CLI, not another one on the PATH.
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[:1] != [bindir]:
        os.environ["PATH"] = os.pathsep.join([bindir, *[p for p in path.split(os.pathsep) if p != bindir]])
    box._applied_env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}


def _forget_backends() -> None:
    """Drop every moto backend so each is re-created lazily, exactly as in a fresh kernel.

    moto's reset re-initialises backends eagerly, and some (Auto Scaling) create others (EC2,
    with its default VPC) while doing so; those would then use no random numbers after the
    re-seed, and a re-run notebook would get different IDs from a fresh one.
    """
    from moto.core.base_backend import BackendDict

    for name, module in sys.modules.copy().items():  # copies: the warm-up thread may be importing
        if not name.startswith("moto.") or module is None:
            continue
        for value in vars(module).copy().values():
            if isinstance(value, BackendDict):
                value.clear()
    BackendDict._instances.clear()


def _seed(seed: int) -> None:
    from moto.moto_api._internal import mock_random

    mock_random.seed(seed)


def _reset_default_session(box: Sandbox) -> None:
    """In-process boto3 goes straight to moto (ignoring AWS_ENDPOINT_URL, which is for the CLI)."""
    import boto3

    boto3.setup_default_session(region_name=box.region)
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION._session.set_config_variable("ignore_configured_endpoint_urls", True)
    for service in _PLANES_FOR_SERVICE:
        boto3.DEFAULT_SESSION.events.register(f"before-call.{service}", _load_planes)


#: The planes that extend moto's control plane for a service, imported before its first call.
_PLANES_FOR_SERVICE: dict[str, tuple[str, ...]] = {
    "api-gateway": ("gateway", "http_apis", "openapi"),
    "apigatewayv2": ("gateway", "http_apis", "openapi", "websocket"),
    "apigatewaymanagementapi": ("websocket",),
    "appsync": ("graphql", "graphql_merge", "graphql_auth"),
    "cognito-idp": ("gateway",),  # records when tokens are issued, so they expire on the sandbox clock
    "rds": ("sql",),
    "rds-data": ("sql",),
    "elasticache": ("cache",),
}


def _load_planes(event_name: str = "", **_: Any) -> None:
    """Before a call to a service: make sure the planes that wrap moto's backend for it are in place.

    They extend moto's backends when imported (deployment snapshots, canaries, HTTP API quick create,
    OpenAPI import/export, WebSocket connections, AppSync resolvers, ...). Importing them here, on first
    use, rather than in the warm-up keeps the warm-up from competing with a lesson's first cells.
    """
    service = event_name.split(".")[1] if event_name.count(".") >= 1 else ""
    for name in _PLANES_FOR_SERVICE.get(service, ()):
        module = f"stacklab.planes.{name}"
        if module not in sys.modules:
            importlib.import_module(module)


#: Set while no notebook cell runs (always, outside IPython): the warm-up imports only then.
_idle = threading.Event()
_idle.set()
_cell_events_registered = False


def _watch_cells() -> None:
    """Clear :data:`_idle` while an IPython cell runs, so the warm-up never competes with a cell."""
    global _cell_events_registered
    shell = None
    if "IPython" in sys.modules:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None or not hasattr(shell, "events"):
        return
    _idle.clear()  # start() itself runs inside a cell
    if not _cell_events_registered:
        shell.events.register("pre_run_cell", lambda *_: _idle.clear())
        shell.events.register("post_run_cell", lambda *_: _idle.set())
        _cell_events_registered = True


def _warm_up() -> None:
    """Import heavy moto modules in the background while the learner reads (never during a cell).

    A module a cell needs while it is being imported here is simply waited for; the next one starts
    only after the cell ends and the kernel stayed idle for a moment (a scripted run goes straight
    to the next cell, so it gets no competition).
    """
    _watch_cells()

    def work() -> None:
        import importlib
        import time

        for name in _WARM_MODULES:
            while True:
                _idle.wait()
                time.sleep(0.15)
                if _idle.is_set():
                    break
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - warming is best effort only
                pass

    threading.Thread(target=work, name="stacklab-warm-up", daemon=True).start()


#: moto server's service names that differ from boto3's event names.
_SERVER_NAMES = {"apigateway": "api-gateway", "rdsdata": "rds-data"}


def _load_planes_in_server() -> None:
    """Import a service's planes before moto's server builds its app, so a kernel whose first call is an
    ``!aws`` command (no boto3 call yet) still gets the behaviour the planes add to moto."""
    from moto.moto_server import threaded_moto_server

    create = threaded_moto_server.create_backend_app
    if getattr(create, "_stacklab", False):
        return

    def create_with_planes(service: str) -> Any:
        _load_planes(f"before-call.{_SERVER_NAMES.get(service, service)}")
        return create(service)

    create_with_planes._stacklab = True  # type: ignore[attr-defined]
    threaded_moto_server.create_backend_app = create_with_planes


def _start_server(box: Sandbox) -> None:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    _load_planes_in_server()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server._server.server_port  # the OS picked a free port
    box._server = server
    box.endpoint_url = f"http://127.0.0.1:{port}"
    os.environ["AWS_ENDPOINT_URL"] = box.endpoint_url


def reset() -> Sandbox:
    """Wipe every resource in the sandbox, re-seed IDs and rewind the clock."""
    with _lock:
        box = current()
        if box.target != "sandbox":
            raise StackLabError("reset() only wipes the sandbox; it never deletes anything in a real account.")
        box._mock.reset()
        box._mock._enable_patching(reset=False)  # moto's reset() drops its in-process URL handlers
        _forget_backends()
        _seed(box.seed)
        box.clock.reset()
        _reset_default_session(box)
        for hook in list(_reset_hooks):
            hook()
        return box


def stop() -> None:
    """Stop everything ``start()`` started and restore the kernel's environment (runs at exit)."""
    global _current
    with _lock:
        box = _current
        if box is None:
            return
        _current = None
        for hook in list(_stop_hooks):
            try:
                hook()
            except Exception:  # noqa: BLE001 - stopping at exit must not raise
                pass
        if box._server is not None:
            try:
                box._server.stop()
            except Exception:  # noqa: BLE001 - stopping at exit must not raise
                pass
        if box._mock is not None:
            try:
                box._mock.stop()
            except Exception:  # noqa: BLE001
                pass
        if box.target == "sandbox":
            netguard.uninstall()
            for key in [k for k in os.environ if k.startswith("AWS_")]:
                del os.environ[key]
            os.environ.update(box._saved_env)
            if box.config_dir is not None:
                shutil.rmtree(box.config_dir, ignore_errors=True)
            import boto3

            boto3.DEFAULT_SESSION = None


def client(service: str, **kwargs: Any) -> Any:
    """A boto3 client for ``service`` in the running sandbox's region."""
    require_str("service", service)
    box = current()
    import boto3
    from botocore.exceptions import UnknownServiceError

    kwargs.setdefault("region_name", box.region)
    try:
        return boto3.client(service, **kwargs)
    except UnknownServiceError as exc:
        raise InputError(f"boto3 has no service called {service!r}: check the spelling (e.g. 's3', 'ec2').") from exc
