"""OpenAPI 3 import and export for REST APIs (v1), with API Gateway's ``x-amazon-apigateway-*`` extensions.

The learner's code stays the real AWS call — ``apigateway.import_rest_api(body=..., failOnWarnings=True)``,
``put_rest_api(restApiId=..., mode="overwrite"|"merge", body=...)``, ``get_export(restApiId=...,
stageName=..., exportType="oas30", parameters={"extensions": "apigateway"})`` or ``!aws apigateway
import-rest-api --body fileb://api.yaml`` — because this module replaces moto's importer and exporter in
the kernel's process (like :mod:`stacklab.planes.gateway` wraps ``create_deployment``), so both boto3 and
the AWS CLI through the sandbox's moto server get the same answer.

**What moto 5.2.5 keeps (measured).** Paths, methods, method-response status codes and the integration
(``uri``, ``httpMethod``, ``requestTemplates``, ``requestParameters``, responses) — but the integration
``type`` and ``passthroughBehavior`` stay lower-case, ``type: mock`` without ``uri`` crashes, a document
without ``info.description`` crashes, ``x-amazon-apigateway-any-method`` becomes a method of that name, and
``put_rest_api`` in ``merge`` mode creates a *second* resource for a path that exists. It **drops** method
parameters (``requestParameters``), ``operationId``, response headers, ``security`` (no
``authorizationType``, ``authorizerId``, ``authorizationScopes`` or ``apiKeyRequired``), every
``securitySchemes`` authorizer, request validators, models, ``x-amazon-apigateway-api-key-source``,
``-binary-media-types``, ``-endpoint-configuration`` and ``-policy``. ``get_export`` always returns a
Swagger 2.0 skeleton without extensions. This module implements all of these, as AWS documents them:

* ``paths`` → resources (parents created as needed; ``merge`` reuses existing resources and replaces the
  methods it defines; ``overwrite`` keeps only the root resource and replaces authorizers, validators and
  models too); path-item and operation ``parameters`` (``path``/``query``/``header``; ``$ref`` to
  ``#/components/parameters``) → ``method.request.{path|querystring|header}.NAME`` = required;
  ``operationId`` → ``operationName``; responses → method responses with ``method.response.header.X``
  for their ``headers`` and ``responseModels`` for a ``$ref`` schema; ``requestBody`` ``$ref`` →
  ``requestModels``; ``components.schemas`` → models;
* ``x-amazon-apigateway-integration`` → ``put_integration`` (type and passthrough upper-cased as AWS
  stores them; ``uri``, ``httpMethod``, ``requestTemplates``, ``requestParameters``, ``timeoutInMillis``,
  ``contentHandling``, ``credentials``, ``connectionType``, ``cacheKeyParameters``) and its ``responses``
  (key = ``selectionPattern``, ``default`` = no pattern) with ``statusCode``, ``responseParameters``,
  ``responseTemplates``;
* ``components.securitySchemes``: a scheme with ``x-amazon-apigateway-authorizer`` (``token``,
  ``request``, ``cognito_user_pools``) → an authorizer named after the scheme (``identitySource`` defaults
  to the scheme's header); ``x-amazon-apigateway-authtype: awsSigv4`` → ``AWS_IAM``; an ``apiKey``
  scheme on the ``x-api-key`` header → ``apiKeyRequired``. Operation ``security`` (else the document's)
  sets the method's ``authorizationType`` / ``authorizerId`` / ``authorizationScopes`` (the Cognito
  requirement's scopes) / ``apiKeyRequired``;
* ``x-amazon-apigateway-auth`` (``AWS_IAM``) on an operation; ``x-amazon-apigateway-gateway-responses`` →
  ``put_gateway_response`` (stored; the gateway plane does not apply them);
* ``x-amazon-apigateway-request-validators`` + ``-request-validator`` (document or operation),
  ``-api-key-source``, ``-binary-media-types``, ``-endpoint-configuration`` (``types``), ``-policy``,
  ``x-amazon-apigateway-any-method`` → ``ANY``.

**Errors and warnings.** A body that is not an OpenAPI 3 document, a path not starting with ``/``, an
unknown integration type, a non-MOCK integration without ``uri``/``httpMethod`` or with a ``uri`` of the
wrong kind (``aws``/``aws_proxy`` need ``arn:aws:apigateway:REGION:SERVICE:path|action/...``), or a
``security`` entry naming an undefined scheme → ``BadRequestException``, and nothing is created. What this
importer does not turn into configuration gives a *warning* (a simplification: AWS's own list of warnings
is not published): ``x-amazon-apigateway-cors`` (documented for HTTP APIs only — a REST API needs
``OPTIONS`` methods), ``cookie`` parameters, the ``trace`` method, security schemes API Gateway cannot
use, unknown ``x-amazon-apigateway-*`` keys. With ``failOnWarnings=True`` a warning is an error
(``BadRequestException`` listing them, nothing created); otherwise the import succeeds and the response's
``warnings`` lists them, as on AWS. The wrappers are installed when this module is imported: import it
before the first ``import_rest_api`` (the lessons do).

**Export** (:func:`export_openapi` and ``get_export``): the *deployed* configuration of the stage (the
deployment snapshot that :mod:`stacklab.planes.gateway` keeps) as OpenAPI 3.0.1 with ``servers`` (the
execute-api URL with a ``basePath`` variable), paths, operations, parameters, responses, ``components``
(schemas, securitySchemes) and, when ``parameters={"extensions": "apigateway"}`` (or ``integrations`` /
``authorizers``), the integration and authorizer extensions. ``exportType="swagger"`` keeps moto's
Swagger 2.0 skeleton. ``info.version`` is the export's date on the sandbox clock. :func:`render_docs`
turns a document into a compact HTML reference. Not implemented: ``x-amazon-apigateway-documentation``
(accepted, not stored), exporting gateway responses, request validation at request time (validators are
stored only), the ``basepath`` / ``ignore`` import parameters, YAML output (``accepts``).
"""

from __future__ import annotations

import html
import json
import re
import threading
from typing import Any

from stacklab._validate import require_str
from stacklab.errors import InputError, StackLabError

_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_ANY = "x-amazon-apigateway-any-method"
_TYPES = ("MOCK", "HTTP", "HTTP_PROXY", "AWS", "AWS_PROXY")
_PARAM_IN = {"path": "path", "query": "querystring", "header": "header"}
_KNOWN_ROOT_EXT = {
    "x-amazon-apigateway-api-key-source",
    "x-amazon-apigateway-binary-media-types",
    "x-amazon-apigateway-endpoint-configuration",
    "x-amazon-apigateway-policy",
    "x-amazon-apigateway-request-validators",
    "x-amazon-apigateway-request-validator",
    "x-amazon-apigateway-minimum-compression-size",
    "x-amazon-apigateway-gateway-responses",
    "x-amazon-apigateway-documentation",  # accepted, not stored (documentation parts are not modelled)
    "x-amazon-apigateway-importexport-version",
}
_KNOWN_OP_EXT = {"x-amazon-apigateway-integration", "x-amazon-apigateway-request-validator", "x-amazon-apigateway-auth"}
_EXTENSIONS = ("integrations", "authorizers", "apigateway")
_SERVICE_URI = re.compile(r"^arn:aws[a-z-]*:apigateway:[a-zA-Z0-9-]+:[a-zA-Z0-9-.]+:(path|action)/")


class _Problem(Exception):
    """An error in the document (always fatal)."""


# ------------------------------------------------------------------------------------ reading a document


def _plan(doc: Any) -> tuple[dict[str, Any], list[str]]:
    """Check ``doc`` and turn it into a plan of what to create; (plan, warnings). Raises _Problem."""
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3"):
        raise _Problem("Only OpenAPI 3.x.x documents are supported; the body has no 'openapi: 3.0.x' field.")
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        raise _Problem("The document has no 'paths' object.")
    warnings: list[str] = []
    for key in doc:
        if key.startswith("x-amazon-apigateway-") and key not in _KNOWN_ROOT_EXT:
            if key == "x-amazon-apigateway-cors":
                warnings.append("x-amazon-apigateway-cors applies to HTTP APIs only; a REST API needs OPTIONS methods.")
            else:
                warnings.append(f"Unsupported extension {key} ignored.")
    components = doc.get("components") or {}
    schemes = components.get("securitySchemes") or {}
    if not isinstance(schemes, dict):
        raise _Problem("components.securitySchemes must be an object.")
    authorizers: dict[str, dict[str, Any]] = {}
    for name, scheme in schemes.items():
        auth = _scheme_authorizer(name, scheme, warnings)
        if auth is not None:
            authorizers[name] = auth
    gateway_responses = doc.get("x-amazon-apigateway-gateway-responses") or {}
    if not isinstance(gateway_responses, dict) or not all(isinstance(v, dict) for v in gateway_responses.values()):
        raise _Problem("x-amazon-apigateway-gateway-responses must map a response type to an object.")
    validators = doc.get("x-amazon-apigateway-request-validators") or {}
    if not isinstance(validators, dict):
        raise _Problem("x-amazon-apigateway-request-validators must be an object of name -> settings.")
    default_validator = doc.get("x-amazon-apigateway-request-validator")
    methods = []
    for path, item in paths.items():
        if not isinstance(path, str) or not path.startswith("/"):
            raise _Problem(f"Path {path!r} must start with '/'.")
        if not isinstance(item, dict):
            raise _Problem(f"Path {path!r} must map to an object of operations.")
        shared = item.get("parameters") or []
        for verb, op in item.items():
            if verb in ("parameters", "summary", "description", "servers") or verb.startswith("x-") and verb != _ANY:
                continue
            if verb == "trace":
                warnings.append(f"TRACE {path}: API Gateway does not support the TRACE method; ignored.")
                continue
            if verb not in _HTTP_METHODS and verb != _ANY:
                raise _Problem(f"Path {path!r} has an unknown operation {verb!r}.")
            if not isinstance(op, dict):
                raise _Problem(f"{verb.upper()} {path}: the operation must be an object.")
            methods.append(_plan_method(doc, path, verb, op, shared, schemes, authorizers,
                                        validators, default_validator, warnings))  # fmt: skip
    return {"paths": paths, "methods": methods, "authorizers": authorizers, "validators": validators,
            "schemas": components.get("schemas") or {}, "gateway_responses": gateway_responses}, warnings  # fmt: skip


def _scheme_authorizer(name: str, scheme: Any, warnings: list[str]) -> dict[str, Any] | None:
    if not isinstance(scheme, dict):
        raise _Problem(f"Security scheme {name!r} must be an object.")
    ext = scheme.get("x-amazon-apigateway-authorizer")
    if ext is None:
        return None
    if not isinstance(ext, dict):
        raise _Problem(f"Security scheme {name!r}: x-amazon-apigateway-authorizer must be an object.")
    kind = str(ext.get("type", "")).upper()
    if kind not in ("TOKEN", "REQUEST", "COGNITO_USER_POOLS"):
        raise _Problem(f"Security scheme {name!r}: authorizer type must be token, request or cognito_user_pools.")
    if kind == "COGNITO_USER_POOLS" and not ext.get("providerARNs"):
        raise _Problem(f"Security scheme {name!r}: a cognito_user_pools authorizer needs providerARNs.")
    if kind != "COGNITO_USER_POOLS" and not ext.get("authorizerUri"):
        raise _Problem(f"Security scheme {name!r}: a {kind.lower()} authorizer needs authorizerUri.")
    source = ext.get("identitySource")
    if source is None and kind != "REQUEST" and scheme.get("in") == "header" and scheme.get("name"):
        source = f"method.request.header.{scheme['name']}"
    ttl = ext.get("authorizerResultTtlInSeconds")
    return {
        "name": name, "authorizer_type": kind, "provider_arns": ext.get("providerARNs"),
        "auth_type": scheme.get("x-amazon-apigateway-authtype"), "authorizer_uri": ext.get("authorizerUri"),
        "authorizer_credentials": ext.get("authorizerCredentials"), "identity_source": source,
        "identiy_validation_expression": ext.get("identityValidationExpression"),  # moto's spelling
        "authorizer_result_ttl": int(ttl) if ttl is not None else None,
    }  # fmt: skip


def _resolve(doc: dict, value: Any, what: str) -> Any:
    ref = value.get("$ref") if isinstance(value, dict) else None
    if ref is None:
        return value
    prefix = f"#/components/{what}/"
    name = str(ref)[len(prefix) :]
    found = ((doc.get("components") or {}).get(what) or {}).get(name)
    if not str(ref).startswith(prefix) or found is None:
        raise _Problem(f"Reference {ref!r} does not point into #/components/{what}.")
    return found


def _model_ref(content: Any) -> dict[str, str] | None:
    if not isinstance(content, dict):
        return None
    out = {}
    for media, item in content.items():
        ref = ((item or {}).get("schema") or {}).get("$ref", "")
        if str(ref).startswith("#/components/schemas/"):
            out[media] = str(ref).rsplit("/", 1)[1]
    return out or None


def _plan_method(
    doc: dict, path: str, verb: str, op: dict, shared: list, schemes: dict, authorizers: dict,
    validators: dict, default_validator: Any, warnings: list[str],
) -> dict[str, Any]:  # fmt: skip
    where = f"{verb.upper() if verb != _ANY else 'ANY'} {path}"
    for key in op:
        if key.startswith("x-amazon-apigateway-") and key not in _KNOWN_OP_EXT:
            warnings.append(f"{where}: unsupported extension {key} ignored.")
    params: dict[str, bool] = {}
    for raw in list(shared) + list(op.get("parameters") or []):
        param = _resolve(doc, raw, "parameters")
        if not isinstance(param, dict) or not param.get("name") or not param.get("in"):
            raise _Problem(f"{where}: every parameter needs 'name' and 'in'.")
        where_in = _PARAM_IN.get(param["in"])
        if where_in is None:
            warnings.append(f"{where}: {param['in']} parameter {param['name']!r} is not supported; ignored.")
            continue
        params[f"method.request.{where_in}.{param['name']}"] = bool(param.get("required") or where_in == "path")
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            params.setdefault(f"method.request.path.{part[1:-1].rstrip('+')}", True)
    method: dict[str, Any] = {
        "path": path, "verb": "ANY" if verb == _ANY else verb.upper(), "operation_name": op.get("operationId"),
        "request_parameters": params or None, "authorization_type": "NONE", "api_key_required": False,
        "authorizer": None, "scopes": None, "validator": op.get("x-amazon-apigateway-request-validator",
                                                                   default_validator),
        "request_models": _model_ref((_resolve(doc, op.get("requestBody"), "requestBodies") or {}).get("content")),
    }  # fmt: skip
    if method["validator"] is not None and method["validator"] not in validators:
        raise _Problem(f"{where}: request validator {method['validator']!r} is not defined.")
    auth_ext = op.get("x-amazon-apigateway-auth")
    if auth_ext is not None:
        kind = str((auth_ext or {}).get("type", "")).upper() if isinstance(auth_ext, dict) else ""
        if kind not in ("AWS_IAM", "NONE"):
            raise _Problem(f"{where}: x-amazon-apigateway-auth type must be AWS_IAM or NONE.")
        method["authorization_type"] = kind
    security = op.get("security", doc.get("security")) or []
    for requirement in security:
        for name, scopes in (requirement or {}).items():
            scheme = schemes.get(name)
            if scheme is None:
                raise _Problem(f"{where}: security scheme {name!r} is not defined in components.securitySchemes.")
            if name in authorizers:
                kind = authorizers[name]["authorizer_type"]
                method["authorization_type"] = "COGNITO_USER_POOLS" if kind == "COGNITO_USER_POOLS" else "CUSTOM"
                method["authorizer"] = name
                method["scopes"] = list(scopes or []) or None
            elif str(scheme.get("x-amazon-apigateway-authtype", "")).lower() == "awssigv4":
                method["authorization_type"] = "AWS_IAM"
            elif scheme.get("type") == "apiKey" and str(scheme.get("name", "")).lower() == "x-api-key":
                method["api_key_required"] = True
            else:
                warnings.append(f"{where}: security scheme {name!r} is not supported by API Gateway; ignored.")
    responses = {}
    for code, raw in (op.get("responses") or {}).items():
        if not str(code).isdigit():
            warnings.append(f"{where}: response {code!r} ignored (API Gateway needs a status code).")
            continue
        resp = _resolve(doc, raw, "responses") or {}
        headers = {f"method.response.header.{h}": bool((v or {}).get("required", False))
                   for h, v in (resp.get("headers") or {}).items()}  # fmt: skip
        responses[str(code)] = {"parameters": headers or None, "models": _model_ref(resp.get("content"))}
    method["responses"] = responses
    method["integration"] = _plan_integration(where, op.get("x-amazon-apigateway-integration"))
    return method


def _plan_integration(where: str, ext: Any) -> dict[str, Any] | None:
    if ext is None:
        return None
    if not isinstance(ext, dict):
        raise _Problem(f"{where}: x-amazon-apigateway-integration must be an object.")
    kind = str(ext.get("type", "")).upper()
    if kind not in _TYPES:
        raise _Problem(f"{where}: integration type must be one of {', '.join(t.lower() for t in _TYPES)}.")
    if kind != "MOCK" and (not ext.get("uri") or not ext.get("httpMethod")):
        raise _Problem(f"{where}: a {kind.lower()} integration needs 'uri' and 'httpMethod'.")
    uri = str(ext.get("uri") or "")
    if kind in ("AWS", "AWS_PROXY") and not _SERVICE_URI.match(uri):
        raise _Problem(f"{where}: an {kind.lower()} uri must look like arn:aws:apigateway:REGION:SERVICE:path/..., "
                       f"got {uri!r}.")  # fmt: skip
    if kind in ("HTTP", "HTTP_PROXY") and not uri.startswith(("http://", "https://")):
        raise _Problem(f"{where}: an {kind.lower()} uri must be an http:// or https:// URL, got {uri!r}.")
    responses = []
    for pattern, resp in (ext.get("responses") or {}).items():
        if not isinstance(resp, dict) or not resp.get("statusCode"):
            raise _Problem(f"{where}: integration response {pattern!r} needs a statusCode.")
        responses.append({
            "status_code": str(resp["statusCode"]), "selection_pattern": "" if pattern == "default" else pattern,
            "response_templates": resp.get("responseTemplates") or {},
            "response_parameters": resp.get("responseParameters") or {},
            "content_handling": resp.get("contentHandling"),
        })  # fmt: skip
    passthrough = ext.get("passthroughBehavior")
    timeout = ext.get("timeoutInMillis")
    return {
        "args": {
            "integration_type": kind, "uri": ext.get("uri"),
            "integration_method": str(ext["httpMethod"]).upper() if ext.get("httpMethod") else None,
            "credentials": ext.get("credentials"), "request_templates": ext.get("requestTemplates"),
            "passthrough_behavior": str(passthrough).upper() if passthrough else "WHEN_NO_MATCH",
            "timeout_in_millis": str(timeout) if timeout is not None else None,
            "request_parameters": ext.get("requestParameters"), "content_handling": ext.get("contentHandling"),
            "connection_type": ext.get("connectionType"),
        },
        "cache_key_parameters": list(ext.get("cacheKeyParameters") or []),
        "responses": responses,
    }  # fmt: skip


# ------------------------------------------------------------------------------------ applying a plan


def _apply(backend: Any, api: Any, doc: dict, plan: dict, mode: str) -> None:
    if mode == "overwrite":
        root = api.resources[api.root_resource_id]
        root.resource_methods = {}
        api.resources = {root.id: root}
        api.default = root
        api.authorizers = {}
        api.request_validators = {}
        api.models = {}
        api.gateway_responses = {}
    for name, schema in plan["schemas"].items():
        api.add_model(name=name, description=None, schema=json.dumps(schema), content_type="application/json")
    auth_ids = {a["name"]: a_id for a_id, a in ((k, v.to_json()) for k, v in api.authorizers.items())}
    for name, args in plan["authorizers"].items():
        if name not in auth_ids:
            kwargs = {k: v for k, v in args.items() if k not in ("name", "authorizer_type")}
            auth_ids[name] = backend.create_authorizer(api.id, name, args["authorizer_type"], **kwargs).id
    validator_ids = {v.to_dict()["name"]: v.to_dict()["id"] for v in api.request_validators.values()}
    for name, settings in plan["validators"].items():
        if name not in validator_ids:
            settings = settings or {}
            made = backend.create_request_validator(api.id, name, bool(settings.get("validateRequestBody", False)),
                                                    bool(settings.get("validateRequestParameters", False)))  # fmt: skip
            validator_ids[name] = made.to_dict()["id"]
    for path in sorted(plan["paths"]):
        _resource_for(backend, api, path)
    for m in plan["methods"]:
        resource = _resource_for(backend, api, m["path"])
        backend.put_method(
            api.id, resource.id, m["verb"], m["authorization_type"], api_key_required=m["api_key_required"],
            request_parameters=m["request_parameters"], request_models=m["request_models"],
            operation_name=m["operation_name"], authorizer_id=auth_ids.get(m["authorizer"] or ""),
            authorization_scopes=m["scopes"], request_validator_id=validator_ids.get(m["validator"] or ""),
        )  # fmt: skip
        for code, resp in m["responses"].items():
            backend.put_method_response(api.id, resource.id, m["verb"], code, resp["models"], resp["parameters"])
        integration = m["integration"]
        if integration is None:
            continue
        args = integration["args"]
        made = backend.put_integration(
            api.id,
            resource.id,
            m["verb"],
            uri=args["uri"],
            integration_method=args["integration_method"],
            **{k: v for k, v in args.items() if v is not None and k not in ("uri", "integration_method")},
        )
        made.cache_key_parameters = integration["cache_key_parameters"]
        for resp in integration["responses"]:
            backend.put_integration_response(api.id, resource.id, m["verb"], **resp)
    for kind, resp in plan["gateway_responses"].items():
        api.put_gateway_response(str(kind).upper(), str(resp.get("statusCode") or "") or None,
                                 resp.get("responseParameters") or {}, resp.get("responseTemplates") or {})  # fmt: skip
    source = doc.get("x-amazon-apigateway-api-key-source")
    if source is not None:
        api.api_key_source = str(source).upper()
    if doc.get("x-amazon-apigateway-binary-media-types") is not None:
        api.binaryMediaTypes = list(doc["x-amazon-apigateway-binary-media-types"])
    endpoint = doc.get("x-amazon-apigateway-endpoint-configuration")
    if isinstance(endpoint, dict) and endpoint.get("types"):
        api.endpoint_configuration = {"types": [str(t).upper() for t in endpoint["types"]]}
    policy = doc.get("x-amazon-apigateway-policy")
    if policy is not None:
        api.policy = policy if isinstance(policy, str) else json.dumps(policy)
    if doc.get("x-amazon-apigateway-minimum-compression-size") is not None:
        api.minimum_compression_size = int(doc["x-amazon-apigateway-minimum-compression-size"])


def _resource_for(backend: Any, api: Any, path: str) -> Any:
    found = api.get_resource_for_path(path)
    if found is not None:
        return found
    parent_path = path.rsplit("/", 1)[0] or "/"
    parent = _resource_for(backend, api, parent_path)
    return backend.create_resource(api.id, parent.id, path.rsplit("/", 1)[1])


# ------------------------------------------------------------------------------------ moto wrappers


_pending = threading.local()


def _bad_request(message: str) -> Exception:
    from moto.apigateway.exceptions import BadRequestException

    return BadRequestException(message)


def _checked(doc: Any, fail_on_warnings: bool) -> tuple[dict, list[str]]:
    try:
        plan, warnings = _plan(doc)
    except _Problem as exc:
        raise _bad_request(f"Errors found during import: {exc}") from None
    if warnings and fail_on_warnings:
        raise _bad_request("Warnings found during import:\n\t" + "\n\t".join(warnings))
    return plan, warnings


def _install() -> None:
    """Replace moto's OpenAPI importer and exporter once (idempotent)."""
    from moto.apigateway import models, responses

    backend_cls = models.APIGatewayBackend
    if getattr(backend_cls.put_rest_api, "_stacklab_openapi", False):
        return
    validate = models.validate

    def schema_check(doc: dict) -> None:
        try:
            validate(doc)
        except models.OpenAPIValidationError as exc:
            raise models.InvalidOpenAPIDocumentException(exc) from None

    def import_rest_api(self: Any, api_doc: dict[str, Any], fail_on_warnings: bool) -> Any:
        if not str(api_doc.get("openapi", "")).startswith("3"):
            raise models.InvalidOpenApiDocVersionException()
        if fail_on_warnings:
            schema_check(api_doc)
        plan, warnings = _checked(api_doc, fail_on_warnings)
        info = api_doc.get("info") or {}
        endpoint = getattr(_pending, "endpoint_types", None)
        api = self.create_rest_api(name=str(info.get("title") or "imported-api"), description=info.get("description"))
        if endpoint:
            api.endpoint_configuration = {"types": [endpoint.upper()]}
        try:
            _apply(self, api, api_doc, plan, "merge")
        except Exception:
            self.delete_rest_api(api.id)  # AWS creates nothing when an import fails
            raise
        _pending.warnings = warnings
        return api

    def put_rest_api(
        self: Any, function_id: str, api_doc: dict[str, Any], fail_on_warnings: bool, mode: str = "merge"
    ) -> Any:
        if mode not in ("merge", "overwrite"):
            raise models.InvalidOpenApiModeException()
        if not str(api_doc.get("openapi", "")).startswith("3"):
            raise models.InvalidOpenApiDocVersionException()
        api = self.get_rest_api(function_id)
        if fail_on_warnings:
            schema_check(api_doc)
        plan, warnings = _checked(api_doc, fail_on_warnings)
        _apply(self, api, api_doc, plan, mode)
        _pending.warnings = warnings
        return api

    import_rest_api._stacklab_openapi = True  # type: ignore[attr-defined]
    put_rest_api._stacklab_openapi = True  # type: ignore[attr-defined]
    backend_cls.import_rest_api = import_rest_api
    backend_cls.put_rest_api = put_rest_api

    def with_warnings(handler: Any) -> Any:
        def respond(self: Any) -> Any:
            _pending.warnings = []
            _pending.endpoint_types = (self.querystring.get("endpointConfigurationTypes") or [None])[0]
            try:
                status, headers, body = handler(self)
            finally:
                _pending.endpoint_types = None
            warnings, _pending.warnings = _pending.warnings, []
            if warnings and isinstance(body, str):
                out = json.loads(body)
                out["warnings"] = warnings
                body = json.dumps(out)
            return status, headers, body

        return respond

    create = responses.APIGatewayResponse.create_rest_api

    def import_response(self: Any) -> Any:
        if not _parses(self.body):
            raise _bad_request("Errors found during import: the body is not a JSON or YAML OpenAPI 3 document.")
        return with_warnings(create)(self)

    responses.APIGatewayResponse.import_rest_api = import_response
    responses.APIGatewayResponse.put_rest_api = with_warnings(responses.APIGatewayResponse.put_rest_api)

    moto_export = responses.APIGatewayResponse.get_export

    def get_export(self: Any) -> Any:
        parts = self.path.split("/")
        api_id, stage, export_type = parts[-5], parts[-3], parts[-1]
        if export_type != "oas30":
            return moto_export(self)
        extensions = (self.querystring.get("extensions") or [""])[0]
        backend = self.backend
        api = backend.get_rest_api(api_id)
        body = _export(api, backend.get_stage(api_id, stage), stage, extensions)
        headers = {"Content-Type": "application/octet-stream",
                   "Content-Disposition": f'attachment; filename="{api.name}-{stage}-oas30.json"'}  # fmt: skip
        return 200, headers, json.dumps(body, indent=2).encode()

    responses.APIGatewayResponse.get_export = get_export


def _parses(body: Any) -> bool:
    import yaml

    if isinstance(body, bytes):
        try:
            body = body.decode()
        except UnicodeDecodeError:
            return False
    try:
        doc = json.loads(body)
    except (ValueError, TypeError):
        try:
            doc = yaml.safe_load(body)
        except yaml.YAMLError:
            return False
    return isinstance(doc, dict) and ("openapi" in doc or "swagger" in doc)


_install()


# ------------------------------------------------------------------------------------ export


def _export(api: Any, stage: Any, stage_name: str, extensions: str) -> dict[str, Any]:
    from stacklab.planes import gateway

    for part in [e for e in extensions.split(",") if e.strip()]:
        if part.strip() not in _EXTENSIONS + ("postman",):
            raise _bad_request(f"Invalid extensions value {part!r}; use integrations, authorizers or apigateway.")
    wanted = {e.strip() for e in extensions.split(",")}
    with_integrations = bool(wanted & {"integrations", "apigateway"})
    with_authorizers = bool(wanted & {"authorizers", "apigateway"})
    snap = gateway.deployment_snapshot(api.id, stage.deployment_id)
    info: dict[str, Any] = {"title": snap["name"]}
    if api.description:
        info["description"] = api.description
    info["version"] = _version()
    out: dict[str, Any] = {
        "openapi": "3.0.1",
        "info": info,
        "servers": [{
            "url": f"https://{api.id}.execute-api.{api.region_name}.amazonaws.com/{{basePath}}",
            "variables": {"basePath": {"default": f"/{stage_name}"}},
        }],
        "paths": {},
    }  # fmt: skip
    authorizers = {a_id: a for a_id, a in (snap.get("authorizers") or {}).items()}
    schemes: dict[str, Any] = {}
    validator_names = {v.to_dict()["id"]: v.to_dict()["name"] for v in api.request_validators.values()}
    for resource in sorted(snap["resources"], key=lambda r: r["path"]):
        methods = resource.get("resourceMethods") or {}
        if not methods:
            continue
        item = out["paths"].setdefault(resource["path"], {})
        for verb in sorted(methods):
            method = methods[verb]
            key = _ANY if verb == "ANY" else verb.lower()
            item[key] = _operation(method, authorizers, schemes, with_integrations)
            if with_integrations and method.get("requestValidatorId") in validator_names:
                item[key]["x-amazon-apigateway-request-validator"] = validator_names[method["requestValidatorId"]]
    components: dict[str, Any] = {}
    models = {name: json.loads(m.schema) for name, m in sorted(api.models.items()) if m.schema}
    if models:
        components["schemas"] = models
    if schemes:
        components["securitySchemes"] = {}
        for name in sorted(schemes):
            scheme = schemes[name]
            if not with_authorizers:
                scheme = {k: v for k, v in scheme.items() if k != "x-amazon-apigateway-authorizer"}
            components["securitySchemes"][name] = scheme
    if components:
        out["components"] = components
    if with_integrations or with_authorizers:
        if api.api_key_source and api.api_key_source != "HEADER":
            out["x-amazon-apigateway-api-key-source"] = api.api_key_source
        if api.binaryMediaTypes:
            out["x-amazon-apigateway-binary-media-types"] = list(api.binaryMediaTypes)
        if snap.get("policy"):
            policy = snap["policy"]
            out["x-amazon-apigateway-policy"] = json.loads(policy) if isinstance(policy, str) else policy
        validators = {v.to_dict()["name"]: v.to_dict() for v in api.request_validators.values()}
        if validators:
            out["x-amazon-apigateway-request-validators"] = {
                name: {"validateRequestBody": bool(v.get("validateRequestBody")),
                       "validateRequestParameters": bool(v.get("validateRequestParameters"))}
                for name, v in sorted(validators.items())
            }  # fmt: skip
    return out


def _version() -> str:
    """The export's ``info.version``: now on the sandbox clock (moto dates deployments with the wall clock)."""
    from stacklab.sandbox import current

    return current().clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")


def _operation(method: dict, authorizers: dict, schemes: dict, with_integrations: bool) -> dict[str, Any]:
    op: dict[str, Any] = {}
    if method.get("operationName"):
        op["operationId"] = method["operationName"]
    params = []
    for key, required in sorted((method.get("requestParameters") or {}).items()):
        _, _, where, name = key.split(".", 3)
        location = {"querystring": "query"}.get(where, where)
        params.append({"name": name, "in": location, "required": bool(required) or location == "path",
                       "schema": {"type": "string"}})  # fmt: skip
    if params:
        op["parameters"] = params
    if method.get("requestModels"):
        op["requestBody"] = {"content": {media: {"schema": {"$ref": f"#/components/schemas/{model}"}}
                                         for media, model in sorted(method["requestModels"].items())},
                             "required": True}  # fmt: skip
    responses: dict[str, Any] = {}
    for code, resp in sorted((method.get("methodResponses") or {}).items()):
        entry: dict[str, Any] = {"description": f"{code} response"}
        headers = {k.rsplit(".", 1)[1]: {"schema": {"type": "string"}}
                   for k in sorted(resp.get("responseParameters") or {})}  # fmt: skip
        if headers:
            entry["headers"] = headers
        content = {media: {"schema": {"$ref": f"#/components/schemas/{model}"}}
                   for media, model in sorted((resp.get("responseModels") or {}).items())}  # fmt: skip
        if content:
            entry["content"] = content
        responses[str(code)] = entry
    op["responses"] = responses
    security = []
    kind = method.get("authorizationType") or "NONE"
    if kind in ("CUSTOM", "COGNITO_USER_POOLS") and method.get("authorizerId") in authorizers:
        auth = authorizers[method["authorizerId"]]
        schemes[auth["name"]] = _scheme_of(auth)
        security.append({auth["name"]: list(method.get("authorizationScopes") or [])})
    elif kind == "AWS_IAM":
        schemes["sigv4"] = {"type": "apiKey", "name": "Authorization", "in": "header",
                            "x-amazon-apigateway-authtype": "awsSigv4"}  # fmt: skip
        security.append({"sigv4": []})
    if method.get("apiKeyRequired"):
        schemes["api_key"] = {"type": "apiKey", "name": "x-api-key", "in": "header"}
        security.append({"api_key": []})
    if security:
        op["security"] = security
    integration = method.get("methodIntegration")
    if with_integrations and integration:
        op["x-amazon-apigateway-integration"] = _integration_ext(integration)
    return op


def _scheme_of(auth: dict) -> dict[str, Any]:
    kind = str(auth.get("type", "")).upper()
    source = str(auth.get("identitySource") or "method.request.header.Authorization")
    header = source[len("method.request.header.") :] if source.startswith("method.request.header.") else "Unused"
    ext: dict[str, Any] = {"type": kind.lower()}
    for key in ("authorizerUri", "authorizerCredentials", "providerARNs", "identitySource",
                "identityValidationExpression", "authorizerResultTtlInSeconds"):  # fmt: skip
        if auth.get(key) not in (None, "", []):
            ext[key] = auth[key]
    return {"type": "apiKey", "name": header, "in": "header",
            "x-amazon-apigateway-authtype": auth.get("authType") or ("cognito_user_pools"
                                                                      if kind == "COGNITO_USER_POOLS" else "custom"),
            "x-amazon-apigateway-authorizer": ext}  # fmt: skip


def _integration_ext(integration: dict) -> dict[str, Any]:
    ext: dict[str, Any] = {"type": str(integration.get("type", "")).lower()}
    for key in ("httpMethod", "uri", "credentials", "requestParameters", "requestTemplates", "passthroughBehavior",
                "timeoutInMillis", "contentHandling", "connectionType", "cacheKeyParameters"):  # fmt: skip
        value = integration.get(key)
        if value in (None, "", [], {}):
            continue
        ext[key] = value.lower() if key == "passthroughBehavior" else value
    if ext.get("timeoutInMillis") is not None:
        ext["timeoutInMillis"] = int(ext["timeoutInMillis"])
    responses = {}
    for code, resp in sorted((integration.get("integrationResponses") or {}).items()):
        entry: dict[str, Any] = {"statusCode": str(resp.get("statusCode", code))}
        for key in ("responseParameters", "responseTemplates", "contentHandling"):
            if resp.get(key):
                entry[key] = resp[key]
        responses[resp.get("selectionPattern") or "default"] = entry
    if responses:
        ext["responses"] = responses
    return ext


def _client() -> Any:
    from stacklab.sandbox import client

    return client("apigateway")


def petstore_document(pool_arn: str | None = None) -> dict[str, Any]:
    """The course's sample OpenAPI 3 document (``stacklab/data/petstore_openapi.yaml``) as a dict.

    ``pool_arn`` replaces the placeholder Cognito user pool ARN of the ``users`` authorizer.
    """
    from importlib.resources import files

    import yaml

    doc = yaml.safe_load(files("stacklab").joinpath("data/petstore_openapi.yaml").read_text())
    if pool_arn is not None:
        require_str("pool_arn", pool_arn)
        if not pool_arn.startswith("arn:aws:cognito-idp:"):
            raise InputError(f"pool_arn must be a user pool ARN (arn:aws:cognito-idp:...), got {pool_arn!r}.")
        users = doc["components"]["securitySchemes"]["users"]["x-amazon-apigateway-authorizer"]
        users["providerARNs"] = [pool_arn]
    return doc


def export_openapi(api_id: str, stage: str, *, extensions: str | None = "apigateway") -> dict[str, Any]:
    """The OpenAPI 3.0.1 document of the stage's deployment, via ``get_export(exportType="oas30")``.

    ``extensions``: ``"apigateway"`` (all ``x-amazon-apigateway-*``), ``"integrations"``, ``"authorizers"``
    or None (plain OpenAPI). Raises :class:`InputError` for an unknown API or stage.
    """
    require_str("api_id", api_id)
    require_str("stage", stage)
    if extensions is not None and extensions not in _EXTENSIONS:
        raise InputError(f"extensions must be one of {', '.join(_EXTENSIONS)} or None, got {extensions!r}.")
    kwargs = {"parameters": {"extensions": extensions}} if extensions else {}
    try:
        resp = _client().get_export(restApiId=api_id, stageName=stage, exportType="oas30", **kwargs)
    except Exception as exc:  # noqa: BLE001 - botocore ClientError
        if getattr(exc, "response", {}).get("Error", {}).get("Code") == "NotFoundException":
            raise InputError(
                f"No REST API {api_id!r} with a stage {stage!r}: deploy it first with "
                "create_deployment(restApiId=..., stageName=...)."
            ) from None
        raise
    return json.loads(resp["body"].read())


def import_openapi(doc: dict[str, Any] | str, *, fail_on_warnings: bool = True) -> str:
    """Import ``doc`` (a dict, or JSON/YAML text) with ``import_rest_api``; returns the new API's id.

    A convenience for tests and labs; lessons call ``import_rest_api`` themselves. Raises
    :class:`StackLabError` with AWS's message when the import is refused.
    """
    if isinstance(doc, dict):
        body = json.dumps(doc)
    elif isinstance(doc, str):
        body = doc
    else:
        raise InputError(f"doc must be a dict or JSON/YAML text, got {type(doc).__name__}.")
    try:
        return _client().import_rest_api(body=body.encode(), failOnWarnings=fail_on_warnings)["id"]
    except Exception as exc:  # noqa: BLE001 - botocore ClientError
        message = getattr(exc, "response", {}).get("Error", {}).get("Message")
        if message:
            raise StackLabError(f"import_rest_api refused the document: {message}") from None
        raise


# ------------------------------------------------------------------------------------ docs


def _auth_label(op: dict, schemes: dict) -> str:
    labels = []
    for requirement in op.get("security") or []:
        for name, scopes in requirement.items():
            scheme = schemes.get(name) or {}
            kind = str((scheme.get("x-amazon-apigateway-authorizer") or {}).get("type", "")).lower()
            if kind == "cognito_user_pools":
                label = f"Cognito ({name})"
            elif kind in ("token", "request"):
                label = f"Lambda {kind} authorizer ({name})"
            elif str(scheme.get("x-amazon-apigateway-authtype", "")).lower() == "awssigv4":
                label = "IAM (SigV4)"
            elif scheme.get("type") == "apiKey":
                label = f"API key ({scheme.get('name', name)} header)"
            else:
                label = name
            if scopes:
                label += " scopes: " + ", ".join(scopes)
            labels.append(label)
    return "; ".join(labels) or "none"


def render_docs(doc: dict[str, Any]) -> Any:
    """A compact HTML reference of ``doc``'s operations (method, path, summary, auth, parameters, responses).

    Self-contained (inline styles, no JavaScript) and deterministic. Returns ``IPython.display.HTML``.
    """
    from IPython.display import HTML

    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise InputError(
            "render_docs needs an OpenAPI document (a dict with 'paths'), e.g. export_openapi(api, 'prod')."
        )
    esc = html.escape
    info = doc.get("info") or {}
    schemes = (doc.get("components") or {}).get("securitySchemes") or {}
    rows = []
    for path in sorted(doc["paths"]):
        item = doc["paths"][path] or {}
        for key in sorted(k for k in item if k in _HTTP_METHODS or k == _ANY):
            op = item[key] or {}
            verb = "ANY" if key == _ANY else key.upper()
            params = ", ".join(
                f"{p.get('name')} ({p.get('in')}{', required' if p.get('required') else ''})"
                for p in (list(item.get("parameters") or []) + list(op.get("parameters") or []))
                if isinstance(p, dict) and "name" in p
            )
            responses = ", ".join(sorted(str(c) for c in (op.get("responses") or {})))
            integration = (op.get("x-amazon-apigateway-integration") or {}).get("type", "")
            summary = op.get("summary") or op.get("operationId") or ""
            rows.append(
                "<tr>" + "".join(f"<td style='padding:2px 8px;border-top:1px solid #ddd'>{cell}</td>" for cell in (
                    f"<b>{esc(verb)}</b>", f"<code>{esc(path)}</code>", esc(str(summary)),
                    esc(_auth_label(op, schemes)), esc(params) or "—", esc(responses) or "—",
                    esc(str(integration).upper()) or "—",
                )) + "</tr>"
            )  # fmt: skip
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{h}</th>" for h in
                   ("Method", "Path", "Summary", "Auth", "Parameters", "Responses", "Integration"))  # fmt: skip
    servers = ", ".join(esc(str(s.get("url", ""))) for s in doc.get("servers") or [] if isinstance(s, dict))
    title = esc(str(info.get("title", "API")))
    version = esc(str(info.get("version", "")))
    text = (
        f"<div style='font-family:sans-serif;font-size:13px'><h4 style='margin:4px 0'>{title} "
        f"<small>{version}</small></h4>"
        + (f"<div>Server: <code>{servers}</code></div>" if servers else "")
        + f"<table style='border-collapse:collapse'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}"
        "</tbody></table></div>"
    )
    return HTML(text)
