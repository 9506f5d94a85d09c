"""AppSync's Velocity (VTL) mapping templates, rendered by airspeed with ``$ctx`` and ``$util``.

:func:`render` evaluates one template the way AppSync does and returns a :class:`Rendered`:

* ``$ctx`` / ``$context``: ``arguments`` (``args``), ``source``, ``identity``, ``stash`` (a map shared by
  every template of one field; pipeline functions share it), ``prev.result``, ``result``, ``error``
  (``{message, type}``), ``info`` (``fieldName``, ``parentTypeName``, ``variables``,
  ``selectionSetList``, ``selectionSetGraphQL``), ``request.headers``;
* ``#return`` / ``#return(value)`` ends the template and hands back ``value`` as is (AppSync skips the
  data source, or the rest of the pipeline function, then);
* ``$util``: ``toJson``, ``parseJson``, ``qr`` / ``quiet``, ``autoId`` (a UUID drawn from a generator
  seeded by the sandbox seed), ``error(message[, type[, data[, info]]])`` (stops the template),
  ``appendError(...)`` (records and continues), ``unauthorized()``, ``isNull``, ``isNullOrEmpty``,
  ``isNullOrBlank``, ``defaultIfNull``, ``defaultIfNullOrEmpty``, ``defaultIfNullOrBlank``,
  ``isString``, ``isNumber``, ``isBoolean``, ``isList``, ``isMap``, ``typeOf``, ``matches``,
  ``escapeJavaScript``, ``urlEncode``, ``urlDecode``, ``base64Encode``, ``base64Decode``;
  ``$util.time``: ``nowISO8601``, ``nowEpochSeconds``, ``nowEpochMilliSeconds``, ``nowFormatted`` (a
  strftime-like subset: yyyy MM dd HH mm ss) — all on the **sandbox clock**; ``$util.dynamodb``:
  ``toDynamoDB``, ``toDynamoDBJson``, ``toMapValues``, ``toMapValuesJson``, ``toString(Json)``,
  ``toNumber(Json)``, ``toList(Json)``, ``toStringSet(Json)``, ``toNumberSet(Json)``; ``$util.map``:
  ``copyAndRetainAllKeys``, ``copyAndRemoveAllKeys``; ``$util.list``: ``copyAndRetainAll``,
  ``copyAndRemoveAll``; ``$util.str``: ``toUpper``, ``toLower``, ``toReplace``, ``normalize``;
  ``$util.rds.toJsonString`` / ``toJsonObject`` (Data API results → rows);
* Java's methods on maps, lists and strings that templates call (``put``, ``putAll``, ``containsKey``,
  ``keySet``, ``entrySet``, ``size``, ``isEmpty``, ``add``, ``addAll``, ``get``, ``toUpperCase``,
  ``trim``, ``split``, ...), and Java's printing of values (``true``, ``{a=1}``, ``[1, 2]``).

Errors: a template that does not parse, or fails while running, raises :class:`MappingTemplateError`
(AppSync's ``errorType: "MappingTemplate"``); ``$util.error`` raises :class:`UtilError` with the given
type, data and info. Simplifications: airspeed's Velocity, not Java's (null handling in corner cases),
``$util.time`` formats only the subset above, no ``$util.transform`` / ``$util.xml`` / ``$util.http``.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
import uuid
from collections.abc import KeysView, ValuesView
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import airspeed

from stacklab._validate import require_str
from stacklab.errors import InputError, StackLabError

__all__ = ["MappingTemplateError", "Rendered", "UtilError", "parse_output", "render"]


class MappingTemplateError(StackLabError):
    """A template did not parse or failed while running (AppSync's ``MappingTemplate`` error)."""

    error_type = "MappingTemplate"


class UtilError(StackLabError):
    """``$util.error(...)`` was called: the field fails with this message, type, data and info."""

    def __init__(self, message: str, error_type: str | None = None, data: Any = None, info: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.data = data
        self.info = info


class _Return(Exception):
    def __init__(self, value: Any, has_value: bool) -> None:
        super().__init__("#return")
        self.value = value
        self.has_value = has_value


@dataclass
class Rendered:
    """One rendered template: its text, or the value of ``#return``, and errors appended on the way."""

    text: str
    returned: bool = False
    value: Any = None
    errors: list[dict[str, Any]] = field(default_factory=list)


# ------------------------------------------------------------------------------------ Java-ish values


def java_str(value: Any) -> str:
    """How Velocity on the JVM prints a value (``true``, ``null``, ``{a=1}``, ``[1, 2]``)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{java_str(k)}={java_str(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple, KeysView, ValuesView)):
        return "[" + ", ".join(java_str(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    return str(value)


def _add_java_methods() -> None:
    """Methods of Java's Map/List/String that templates call and airspeed lacks (added once)."""
    methods = airspeed.__additional_methods__  # type: ignore[attr-defined]
    extra = {
        dict: {"containsKey": lambda s, k: k in s, "containsValue": lambda s, v: v in s.values(),
               "size": lambda s: len(s), "remove": lambda s, k: s.pop(k, None),
               "entrySet": lambda s: [{"key": k, "value": v} for k, v in s.items()]},
        list: {"isEmpty": lambda s: not s, "addAll": lambda s, v: s.extend(v) or True,
               "indexOf": lambda s, v: s.index(v) if v in s else -1},
        str: {"isEmpty": lambda s: not s, "toUpperCase": lambda s: s.upper(), "toLowerCase": lambda s: s.lower(),
              "trim": lambda s: s.strip(), "endsWith": lambda s, x: s.endswith(x), "equals": lambda s, x: s == x,
              "substring": lambda s, a, b=None: s[a:b], "indexOf": lambda s, x: s.find(x),
              "split": lambda s, p: re.split(p, s), "replace": lambda s, a, b: s.replace(a, b),
              "equalsIgnoreCase": lambda s, x: isinstance(x, str) and s.lower() == x.lower()},
    }  # fmt: skip
    for kind, table in extra.items():
        target = methods.setdefault(kind, {})
        for name, fn in table.items():
            target.setdefault(name, fn)
    methods[list]["add"] = lambda s, v: s.append(v) or True  # Java's List.add returns true
    # Java prints booleans, nulls, maps and lists its own way; airspeed would print Python's repr.
    reference = airspeed.FormalReference  # type: ignore[attr-defined]
    if getattr(reference, "_stacklab_java", False):
        return

    def evaluate_raw(self: Any, stream: Any, namespace: Any, loader: Any) -> None:
        value = None
        if self.expression is not None:
            value = self.expression.calculate(namespace, loader)
        if value is None:
            if self.alternate is not None:
                value = self.alternate.calculate(namespace, loader)
            elif self.silent and self.expression is not None:
                value = ""
            else:
                value = self.my_text()
            stream.write(value if isinstance(value, str) else java_str(value))
            return
        stream.write(value if isinstance(value, str) else java_str(value))

    reference.evaluate_raw = evaluate_raw
    reference._stacklab_java = True


class _ReturnDirective(airspeed._Element):  # type: ignore[name-defined,misc]
    """``#return`` or ``#return(expression)``."""

    START = re.compile(r"#return\b", re.S)
    OPEN = re.compile(r"\s*\(\s*", re.S)
    CLOSE = re.compile(r"\s*\)", re.S)

    def parse(self) -> None:
        self.identity_match(self.START)
        self.value = None
        if self.optional_match(self.OPEN):
            self.value = self.require_next_element(airspeed.Expression, "expression")  # type: ignore[attr-defined]
            self.require_match(self.CLOSE, ")")

    def evaluate_raw(self, stream: Any, namespace: Any, loader: Any) -> None:
        if self.value is None:
            raise _Return(None, False)
        raise _Return(self.value.calculate(namespace, loader), True)


def _install() -> None:
    directives = airspeed.UserDefinedDirective.DIRECTIVES  # type: ignore[attr-defined]
    if _ReturnDirective not in directives:
        directives.append(_ReturnDirective)
    _add_java_methods()


# ------------------------------------------------------------------------------------ $util


def _ddb(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float)):
        return {"N": java_str(value) if isinstance(value, float) else str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, dict):
        return {"M": {str(k): _ddb(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [_ddb(v) for v in value]}
    raise UtilError(f"Cannot convert {value!r} to a DynamoDB value.", "MappingTemplate")


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _DynamoUtil:
    def toDynamoDB(self, value: Any) -> dict[str, Any]:  # noqa: N802 - AppSync's names
        return _ddb(value)

    def toDynamoDBJson(self, value: Any) -> str:  # noqa: N802
        return _json(_ddb(value))

    def toMapValues(self, value: Any) -> dict[str, Any]:  # noqa: N802
        if not isinstance(value, dict):
            raise UtilError("toMapValues needs a map.", "MappingTemplate")
        return {str(k): _ddb(v) for k, v in value.items()}

    def toMapValuesJson(self, value: Any) -> str:  # noqa: N802
        return _json(self.toMapValues(value))

    def toString(self, value: Any) -> dict[str, Any]:  # noqa: N802
        return {"S": str(value)}

    def toStringJson(self, value: Any) -> str:  # noqa: N802
        return _json(self.toString(value))

    def toNumber(self, value: Any) -> dict[str, Any]:  # noqa: N802
        return {"N": str(value)}

    def toNumberJson(self, value: Any) -> str:  # noqa: N802
        return _json(self.toNumber(value))

    def toList(self, value: Any) -> dict[str, Any]:  # noqa: N802
        return {"L": [_ddb(v) for v in value or []]}

    def toListJson(self, value: Any) -> str:  # noqa: N802
        return _json(self.toList(value))

    def toStringSet(self, value: Any) -> dict[str, Any]:  # noqa: N802
        return {"SS": [str(v) for v in value or []]}

    def toStringSetJson(self, value: Any) -> str:  # noqa: N802
        return _json(self.toStringSet(value))

    def toNumberSet(self, value: Any) -> dict[str, Any]:  # noqa: N802
        return {"NS": [str(v) for v in value or []]}

    def toNumberSetJson(self, value: Any) -> str:  # noqa: N802
        return _json(self.toNumberSet(value))


class _TimeUtil:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def nowISO8601(self) -> str:  # noqa: N802
        return self._now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def nowEpochSeconds(self) -> int:  # noqa: N802
        return int(self._now.timestamp())

    def nowEpochMilliSeconds(self) -> int:  # noqa: N802
        return int(self._now.timestamp() * 1000)

    def nowFormatted(self, pattern: str, _zone: str | None = None) -> str:  # noqa: N802
        fmt = str(pattern)
        for java, py in (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")):
            fmt = fmt.replace(java, py)
        return self._now.astimezone(UTC).strftime(fmt)


class _MapUtil:
    def copyAndRetainAllKeys(self, value: dict, keys: list) -> dict:  # noqa: N802
        return {k: v for k, v in (value or {}).items() if k in (keys or [])}

    def copyAndRemoveAllKeys(self, value: dict, keys: list) -> dict:  # noqa: N802
        return {k: v for k, v in (value or {}).items() if k not in (keys or [])}


class _ListUtil:
    def copyAndRetainAll(self, value: list, keep: list) -> list:  # noqa: N802
        return [v for v in value or [] if v in (keep or [])]

    def copyAndRemoveAll(self, value: list, drop: list) -> list:  # noqa: N802
        return [v for v in value or [] if v not in (drop or [])]


class _StrUtil:
    def toUpper(self, value: str) -> str:  # noqa: N802
        return str(value).upper()

    def toLower(self, value: str) -> str:  # noqa: N802
        return str(value).lower()

    def toReplace(self, value: str, old: str, new: str) -> str:  # noqa: N802
        return str(value).replace(old, new)

    def normalize(self, value: str, form: str = "nfc") -> str:
        import unicodedata

        return unicodedata.normalize(str(form).upper(), str(value))


class _RdsUtil:
    def toJsonObject(self, value: Any) -> list[list[dict[str, Any]]]:  # noqa: N802
        data = json.loads(value) if isinstance(value, str) else value
        out = []
        for statement in (data or {}).get("sqlStatementResults", []):
            columns = [c.get("label") or c.get("name") for c in statement.get("columnMetadata") or []]
            rows = []
            for record in statement.get("records") or []:
                rows.append({col: _field_value(cell) for col, cell in zip(columns, record, strict=False)})
            out.append(rows)
        return out

    def toJsonString(self, value: Any) -> str:  # noqa: N802
        return _json(self.toJsonObject(value))


def _field_value(cell: dict[str, Any]) -> Any:
    if cell.get("isNull"):
        return None
    for key in ("stringValue", "longValue", "doubleValue", "booleanValue", "blobValue"):
        if key in cell:
            return cell[key]
    if "arrayValue" in cell:
        return cell["arrayValue"]
    return None


class Util:
    """``$util`` for one template evaluation."""

    def __init__(self, now: datetime, rng: random.Random, errors: list[dict[str, Any]]) -> None:
        self.dynamodb = _DynamoUtil()
        self.time = _TimeUtil(now)
        self.map = _MapUtil()
        self.list = _ListUtil()
        self.str = _StrUtil()
        self.rds = _RdsUtil()
        self._rng = rng
        self._errors = errors

    def toJson(self, value: Any) -> str:  # noqa: N802
        return _json(value)

    def parseJson(self, value: Any) -> Any:  # noqa: N802
        try:
            return json.loads(value)
        except (TypeError, ValueError) as exc:
            raise UtilError(f"Unable to parse JSON {java_str(value)[:80]}: {exc}", "MappingTemplate") from None

    def qr(self, *_: Any) -> str:
        return ""

    quiet = qr

    def autoId(self) -> str:  # noqa: N802
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def error(self, message: Any, error_type: Any = None, data: Any = None, info: Any = None) -> None:
        raise UtilError(java_str(message), None if error_type is None else java_str(error_type), data, info)

    def appendError(self, message: Any, error_type: Any = None, data: Any = None, info: Any = None) -> str:  # noqa: N802
        kind = None if error_type is None else java_str(error_type)
        self._errors.append({"message": java_str(message), "errorType": kind, "data": data, "errorInfo": info})
        return ""

    def unauthorized(self) -> None:
        raise UtilError("Not Authorized to access this field.", "Unauthorized")

    def isNull(self, value: Any) -> bool:  # noqa: N802
        return value is None

    def isNullOrEmpty(self, value: Any) -> bool:  # noqa: N802
        return value is None or (hasattr(value, "__len__") and len(value) == 0)

    def isNullOrBlank(self, value: Any) -> bool:  # noqa: N802
        return value is None or (isinstance(value, str) and not value.strip())

    def defaultIfNull(self, value: Any, default: Any) -> Any:  # noqa: N802
        return default if value is None else value

    def defaultIfNullOrEmpty(self, value: Any, default: Any) -> Any:  # noqa: N802
        return default if self.isNullOrEmpty(value) else value

    def defaultIfNullOrBlank(self, value: Any, default: Any) -> Any:  # noqa: N802
        return default if self.isNullOrBlank(value) else value

    def isString(self, value: Any) -> bool:  # noqa: N802
        return isinstance(value, str)

    def isNumber(self, value: Any) -> bool:  # noqa: N802
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    def isBoolean(self, value: Any) -> bool:  # noqa: N802
        return isinstance(value, bool)

    def isList(self, value: Any) -> bool:  # noqa: N802
        return isinstance(value, list)

    def isMap(self, value: Any) -> bool:  # noqa: N802
        return isinstance(value, dict)

    def typeOf(self, value: Any) -> str:  # noqa: N802
        for test, name in ((self.isNull, "Null"), (self.isBoolean, "Boolean"), (self.isNumber, "Number"),
                           (self.isString, "String"), (self.isList, "List"), (self.isMap, "Map")):  # fmt: skip
            if test(value):
                return name
        return "Object"

    def matches(self, pattern: str, value: str) -> bool:
        return re.fullmatch(str(pattern), str(value)) is not None

    def escapeJavaScript(self, value: Any) -> str:  # noqa: N802
        return json.dumps(java_str(value))[1:-1].replace("'", "\\'")

    def urlEncode(self, value: Any) -> str:  # noqa: N802
        return quote(java_str(value), safe="").replace("%20", "+")

    def urlDecode(self, value: Any) -> str:  # noqa: N802
        return unquote(java_str(value).replace("+", " "))

    def base64Encode(self, value: Any) -> str:  # noqa: N802
        return base64.b64encode(java_str(value).encode()).decode()

    def base64Decode(self, value: Any) -> str:  # noqa: N802
        return base64.b64decode(java_str(value)).decode()


# ------------------------------------------------------------------------------------ rendering

_templates: dict[str, Any] = {}
_lock = threading.Lock()


def _compiled(template: str) -> Any:
    with _lock:
        compiled = _templates.get(template)
    if compiled is None:
        compiled = airspeed.Template(template)
        try:
            compiled.ensure_compiled()
        except airspeed.TemplateSyntaxError as exc:
            raise MappingTemplateError(f"Unable to parse the template: {exc}") from None
        with _lock:
            _templates[template] = compiled
    return compiled


def _cause(exc: BaseException) -> BaseException:
    while isinstance(exc, airspeed.TemplateExecutionError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def render(template: str, context: dict[str, Any], *, now: datetime, rng: random.Random) -> Rendered:
    """Render ``template`` with ``context`` as ``$ctx``/``$context`` (keys as in AppSync's context).

    ``now`` is the sandbox time ``$util.time`` reports; ``rng`` feeds ``$util.autoId``. Raises
    :class:`MappingTemplateError` or :class:`UtilError`.
    """
    require_str("template", template, allow_empty=True)
    if not isinstance(context, dict):
        raise InputError(f"context must be a dict such as {{'arguments': {{}}}}, got {context!r}.")
    if not isinstance(now, datetime):
        raise InputError("now must be a datetime (the sandbox clock's now()).")
    _install()
    ctx = dict(context)
    ctx.setdefault("arguments", {})
    ctx["args"] = ctx["arguments"]
    ctx.setdefault("stash", {})
    errors: list[dict[str, Any]] = []
    namespace = {"ctx": ctx, "context": ctx, "util": Util(now, rng, errors)}
    namespace["utils"] = namespace["util"]
    stream = airspeed.StoppableStream()  # type: ignore[attr-defined]
    try:
        _compiled(template).merge_to(namespace, stream)
    except MappingTemplateError:
        raise
    except Exception as exc:  # noqa: BLE001 - airspeed wraps everything; sort out ours
        cause = _cause(exc)
        if isinstance(cause, _Return):
            return Rendered(stream.getvalue(), True, cause.value, errors)
        if isinstance(cause, UtilError):
            raise cause from None
        raise MappingTemplateError(f"Error while evaluating the template: {type(cause).__name__}: {cause}") from None
    return Rendered(stream.getvalue(), False, None, errors)


def parse_output(text: str, *, request: bool) -> Any:
    """The JSON value a rendered template stands for (AppSync parses both templates' output as JSON).

    A response template whose output is not JSON is an error, as on AppSync ("Unable to convert ...
    to Object."); an empty one is null.
    """
    stripped = text.strip()
    if not stripped:
        if request:
            raise MappingTemplateError("The request mapping template rendered nothing: it must produce a JSON object.")
        return None
    try:
        return json.loads(stripped)
    except ValueError as exc:
        if request:
            raise MappingTemplateError(f"Unable to parse the JSON document: {exc}.") from None
        raise MappingTemplateError(f"Unable to convert {stripped[:120]} to Object.") from None
