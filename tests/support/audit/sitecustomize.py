"""Loaded into notebook kernels (and their `!aws` subprocesses) by tests/test_notebooks_run.py.

It records, into $STACKLAB_AUDIT_LOG, every socket connection and name lookup the process makes
and the access key of every request botocore signs, so the test can prove that no notebook ever
leaves the machine or signs with the learner's own keys.
"""

import importlib.abc
import os
import sys

_LOG = os.environ.get("STACKLAB_AUDIT_LOG")


def _write(line: str) -> None:
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {line}\n")


def _audit(event: str, args: tuple) -> None:
    if event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple):
            _write(f"connect {address[0]} {address[1] if len(address) > 1 else ''}")
    elif event == "socket.getaddrinfo":
        _write(f"resolve {args[0]} {args[1]}")
    elif event in ("socket.gethostbyname", "socket.gethostbyaddr"):
        _write(f"resolve {args[0]} -")


def _patch_auth(module) -> None:
    for name in ("SigV4Auth", "HmacV1Auth"):
        cls = getattr(module, name, None)
        if cls is None or getattr(cls.add_auth, "_audited", False):
            continue
        original = cls.add_auth

        def add_auth(self, request, _original=original):
            credentials = getattr(self, "credentials", None)
            _write(f"sign {getattr(credentials, 'access_key', None)}")
            return _original(self, request)

        add_auth._audited = True
        cls.add_auth = add_auth


class _AuthAuditFinder(importlib.abc.MetaPathFinder):
    """Patches botocore.auth (whichever copy gets imported) right after it loads."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "botocore.auth":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                original_exec = spec.loader.exec_module

                def exec_module(module, _exec=original_exec):
                    _exec(module)
                    _patch_auth(module)

                spec.loader.exec_module = exec_module
                return spec
        return None


if _LOG:
    sys.addaudithook(_audit)
    sys.meta_path.insert(0, _AuthAuditFinder())
_write("loaded audit")
