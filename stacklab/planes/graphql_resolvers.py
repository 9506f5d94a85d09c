"""Running one AppSync resolver: UNIT (request template → data source → response template) or PIPELINE.

:func:`run` is called by the executor (:mod:`stacklab.planes.graphql`) for a field that has a resolver;
it returns the field's value or raises :class:`FieldError` (AppSync's ``message``, ``errorType``,
``data``, ``errorInfo``). AppSync's rules:

* UNIT: the ``requestMappingTemplate`` is rendered (:mod:`stacklab.planes.graphql_vtl`) and parsed as
  JSON; ``#return(value)`` there skips the data source and the response template. The request goes to
  the data source (:mod:`stacklab.planes.graphql_sources`); then the ``responseMappingTemplate`` runs
  with ``$ctx.result`` / ``$ctx.error``. With a ``"version": "2018-05-29"`` request the response
  template runs even when the data source failed, and the error reaches the client only if the template
  raises it (``$util.error($ctx.error.message, $ctx.error.type)``); with ``"2017-02-28"`` a data source
  error fails the field at once;
* a resolver on an ``AWS_LAMBDA`` data source **without** request template sends AppSync's direct-Lambda
  event (``arguments``, ``identity``, ``source``, ``request``, ``prev``, ``info``, ``stash``); without
  response template the function's return value is the result and a function error fails the field
  (``Lambda:Unhandled``);
* PIPELINE: the before template (``requestMappingTemplate``) renders first — its JSON output is
  ``$ctx.prev.result`` for the first function; each function (in ``pipelineConfig.functions`` order)
  runs like a UNIT resolver with the shared ``$ctx.stash`` and ``$ctx.prev.result`` = the previous
  function's result (``#return`` in a function's request template skips its data source and response);
  the after template (``responseMappingTemplate``) renders with ``$ctx.prev.result`` and
  ``$ctx.result`` = the last function's result; ``$util.error`` anywhere stops the pipeline;
* ``runtime: APPSYNC_JS`` code is **not executed offline**: no maintained pure-PyPI JavaScript engine is
  installed, so the field fails with ``errorType: "StackLab:JsNotExecuted"`` and a message saying so.

``$util.appendError`` errors are collected into the ``errors`` list passed in (the field keeps its
value).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stacklab.errors import StackLabError
from stacklab.planes import graphql_control as control
from stacklab.planes import graphql_sources as sources
from stacklab.planes import graphql_vtl as vtl

__all__ = ["FieldError", "Environment", "run"]


class FieldError(StackLabError):
    """A field failed: the GraphQL error's ``message``, ``errorType``, ``data`` and ``errorInfo``."""

    def __init__(self, message: str, error_type: str | None, data: Any = None, info: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.data = data
        self.info = info


@dataclass
class Environment:
    """What every template of one request shares: the time, the ``autoId`` generator, appended errors."""

    now: datetime
    rng: random.Random
    errors: list[dict[str, Any]] = field(default_factory=list)


def _render(template: str, ctx: dict[str, Any], env: Environment) -> vtl.Rendered:
    try:
        rendered = vtl.render(template, ctx, now=env.now, rng=env.rng)
    except vtl.UtilError as exc:
        raise FieldError(exc.message, exc.error_type, exc.data, exc.info) from None
    except vtl.MappingTemplateError as exc:
        raise FieldError(str(exc), "MappingTemplate") from None
    env.errors.extend(rendered.errors)
    return rendered


def _parse(text: str, *, request: bool) -> Any:
    try:
        return vtl.parse_output(text, request=request)
    except vtl.MappingTemplateError as exc:
        raise FieldError(str(exc), "MappingTemplate") from None


def _direct_lambda_event(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"arguments": ctx.get("arguments") or {}, "identity": ctx.get("identity"), "source": ctx.get("source"),
            "request": ctx.get("request") or {"headers": {}}, "prev": ctx.get("prev"), "info": ctx.get("info") or {},
            "stash": ctx.get("stash") or {}}  # fmt: skip


def _run_config(api: Any, config: dict[str, Any], ctx: dict[str, Any], env: Environment) -> Any:
    """One UNIT resolver or one pipeline function."""
    if config.get("runtime"):
        raise FieldError(
            "APPSYNC_JS code is stored but not executed offline: no maintained pure-Python JavaScript engine "
            "is installed in the course's environment. Use a VTL resolver here; on AWS this code would run.",
            "StackLab:JsNotExecuted",
        )
    name = config.get("dataSourceName")
    data_source = control.data_sources(api).get(name)
    if data_source is None:
        raise FieldError(f"Data source {name} not found.", "NotFoundException")
    request_template = config.get("requestMappingTemplate")
    response_template = config.get("responseMappingTemplate")
    version = "2018-05-29"
    if request_template is None:
        if data_source.get("type") != "AWS_LAMBDA":
            raise FieldError("A requestMappingTemplate is required for this data source.", "MappingTemplate")
        request: Any = {"operation": "Invoke", "payload": _direct_lambda_event(ctx)}
    else:
        rendered = _render(request_template, ctx, env)
        if rendered.returned:
            return rendered.value
        request = _parse(rendered.text, request=True)
        if isinstance(request, dict):
            version = str(request.get("version") or version)
    result, error = None, None
    try:
        result = sources.call(data_source, request)
    except sources.DataSourceError as exc:
        error = {"message": exc.message, "type": exc.error_type}
    if error is not None and (response_template is None or version == "2017-02-28"):
        raise FieldError(error["message"], error["type"])
    if response_template is None:
        return result
    rendered = _render(response_template, {**ctx, "result": result, "error": error}, env)
    if rendered.returned:
        return rendered.value
    return _parse(rendered.text, request=False)


def run(api: Any, resolver: dict[str, Any], ctx: dict[str, Any], env: Environment) -> Any:
    """The value of the field ``resolver`` is attached to (``ctx`` is AppSync's context map)."""
    if resolver.get("kind", "UNIT") != "PIPELINE":
        return _run_config(api, resolver, ctx, env)
    if resolver.get("runtime"):
        _run_config(api, resolver, ctx, env)  # raises: JS is not executed
    prev: Any = None
    before = resolver.get("requestMappingTemplate")
    if before:
        rendered = _render(before, ctx, env)
        if rendered.returned:
            return rendered.value
        prev = _parse(rendered.text, request=False)
    for fid in (resolver.get("pipelineConfig") or {}).get("functions") or []:
        function = control.functions(api).get(fid)
        if function is None:
            raise FieldError(f"No function found with id {fid}.", "NotFoundException")
        prev = _run_config(api, function, {**ctx, "prev": {"result": prev}}, env)
    after = resolver.get("responseMappingTemplate")
    if not after:
        return prev
    rendered = _render(after, {**ctx, "prev": {"result": prev}, "result": prev}, env)
    if rendered.returned:
        return rendered.value
    return _parse(rendered.text, request=False)
