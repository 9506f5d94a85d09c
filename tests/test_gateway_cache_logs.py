"""REST stage caching, access logs, integration responseParameters (CORS) and VPC links."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
import requests
from botocore.exceptions import ClientError

import stacklab
from stacklab.errors import InputError
from stacklab.planes import access_logs as al
from stacklab.planes import gateway as gw
from stacklab.planes import stage_cache as sc
from stacklab.planes.http import Response
from stacklab.planes.http import serve as http_serve

ECHO = '{"rid": "$context.requestId", "q": "$input.params(\'q\')", "id": "$input.params(\'id\')"}'
ACCOUNT = "123456789012"


def ag():
    return stacklab.client("apigateway")


class Api:
    stage = "prod"

    def __init__(self, name: str) -> None:
        self.id = ag().create_rest_api(name=name)["id"]
        self.ids = {"/": ag().get_resources(restApiId=self.id)["items"][0]["id"]}

    def resource(self, path: str) -> str:
        if path not in self.ids:
            parent, _, part = path.rpartition("/")
            self.ids[path] = ag().create_resource(restApiId=self.id, parentId=self.resource(parent or "/"),
                                                  pathPart=part)["id"]  # fmt: skip
        return self.ids[path]

    def mock(self, path: str, verb: str, *, keys: list[str] | None = None, auth: str = "NONE") -> None:
        rid = self.resource(path)
        ag().put_method(restApiId=self.id, resourceId=rid, httpMethod=verb, authorizationType=auth)
        extra = {"cacheKeyParameters": keys} if keys else {}
        ag().put_integration(restApiId=self.id, resourceId=rid, httpMethod=verb, type="MOCK",
                             requestTemplates={"application/json": '{"statusCode": 200}'}, **extra)  # fmt: skip
        ag().put_integration_response(restApiId=self.id, resourceId=rid, httpMethod=verb, statusCode="200",
                                      responseTemplates={"application/json": ECHO})  # fmt: skip

    def deploy(self, stage: str = "prod", **variables) -> None:
        ag().create_deployment(restApiId=self.id, stageName=stage, variables=variables)

    def patch(self, *ops: tuple[str, str]) -> None:
        ag().update_stage(restApiId=self.id, stageName=self.stage,
                          patchOperations=[{"op": "replace", "path": p, "value": v} for p, v in ops])  # fmt: skip

    def call(self, method: str, path: str, **kwargs):
        return gw.request(self.id, self.stage, method, path, **kwargs)


def advance(seconds: float) -> None:
    stacklab.current().clock.advance(seconds)


def rid(resp) -> str:
    assert resp.status == 200, resp.text
    return json.loads(resp.body)["rid"]


# ------------------------------------------------------------------------------ stage cache


@pytest.fixture(scope="module")
def cache_api(box):
    stacklab.reset()
    api = Api("cached")
    api.mock("/items", "GET", keys=["method.request.querystring.q"])
    api.mock("/items", "POST")
    api.mock("/items/{id}", "GET")
    api.deploy()
    return api


_stages = itertools.count()


@pytest.fixture()
def cached(cache_api):
    """The cached API on a fresh stage (cluster on, default method-level caching on)."""
    cache_api.stage = f"s{next(_stages)}"
    deployment = ag().get_stage(restApiId=cache_api.id, stageName="prod")["deploymentId"]
    ag().create_stage(restApiId=cache_api.id, stageName=cache_api.stage, deploymentId=deployment)
    cache_api.patch(("/cacheClusterEnabled", "true"), ("/cacheClusterSize", "0.5"), ("/*/*/caching/enabled", "true"))
    return cache_api


def test_cache_key_parameters_are_kept_and_sizes_documented(cached):
    integ = ag().get_integration(restApiId=cached.id, resourceId=cached.ids["/items"], httpMethod="GET")
    assert integ["cacheKeyParameters"] == ["method.request.querystring.q"]
    assert sc.CACHE_SIZES_GB == ("0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237")
    stage = ag().get_stage(restApiId=cached.id, stageName=cached.stage)
    assert (stage["cacheClusterEnabled"], stage["cacheClusterSize"]) == (True, "0.5")
    # create_deployment's cache arguments are kept (moto drops them)
    ag().create_deployment(restApiId=cached.id, stageName="deployed", cacheClusterEnabled=True, cacheClusterSize="6.1")
    stage = ag().get_stage(restApiId=cached.id, stageName="deployed")
    assert (stage["cacheClusterEnabled"], stage["cacheClusterSize"], stage["cacheClusterStatus"]) == (
        True, "6.1", "AVAILABLE")  # fmt: skip


def test_hits_misses_keys_and_expiry_on_the_sandbox_clock(cached):
    # (advance seconds, method, path, expected cache state, same answer as request number)
    table = [
        (0, "GET", "/items?q=a", "miss", None),
        (0, "GET", "/items?q=a", "hit", 0),
        (0, "GET", "/items?q=b", "miss", None),  # another cache-key value
        (0, "GET", "/items", "miss", None),  # a missing key is a value of its own
        (0, "GET", "/items?q=a&page=2", "hit", 0),  # page is not a cache key
        (0, "GET", "/items/1", "miss", None),
        (0, "GET", "/items/2", "hit", 5),  # no path cache key: one entry for /items/{id}
        (0, "POST", "/items", None, None),  # */* caches GET only
        (299, "GET", "/items?q=a", "hit", 0),  # 299 s after it was stored
        (1, "GET", "/items?q=a", "miss", None),  # 300 s: expired
        (0, "GET", "/items?q=a", "hit", 9),
    ]
    answers = []
    for i, (seconds, method, path, state, same_as) in enumerate(table):
        advance(seconds)
        ctx_states = []
        original = sc.respond

        def spy(ctx, *args, _orig=original, _states=ctx_states):
            out = _orig(ctx, *args)
            _states.append(ctx.cache)
            return out

        sc.respond, gw.stage_cache.respond = spy, spy
        try:
            resp = cached.call(method, path)
        finally:
            sc.respond = gw.stage_cache.respond = original
        answers.append(rid(resp))
        assert ctx_states == [state], (i, path, ctx_states)
        if same_as is not None:
            assert answers[i] == answers[same_as], (i, path)
        elif i:
            assert answers[i] not in answers[:i], (i, path)
    # the entries for q=b and for no q expired 300 s after they were stored
    assert [(e["resource"], e["key"], e["expires_in"]) for e in sc.entries(cached.id, cached.stage)] == [
        ("/items", {"method.request.querystring.q": "a"}, 300.0)]  # fmt: skip


def _cache_metrics() -> dict[str, float]:
    with gw._state.lock:
        records = list(gw._state.metrics)
    out: dict[str, float] = {}
    for name, dims, _, value in records:
        if len(dims) == 2:  # ApiName + Stage
            out[name] = out.get(name, 0.0) + value
            out[name + "#n"] = out.get(name + "#n", 0.0) + 1
    return out


def test_metrics_count_hits_and_misses_exactly_and_hits_skip_the_integration(cached):
    gw.flush_metrics()
    for path in ["/items?q=a", "/items?q=a", "/items?q=a", "/items?q=b"]:
        cached.call("GET", path)
    cached.call("POST", "/items")  # not cached: no cache metrics
    cached.call("GET", "/nowhere")  # refused before the cache: none either
    m = _cache_metrics()
    assert (m["CacheHitCount"], m["CacheMissCount"]) == (2.0, 2.0)
    assert (m["CacheHitCount#n"], m["CacheMissCount#n"]) == (4, 4)
    assert m["Count"] == 6 and m["IntegrationLatency#n"] == 3  # 2 misses + the POST
    # and they reach CloudWatch with the stage's dimensions
    gw.flush_metrics()
    now = stacklab.current().clock.now()
    stats = stacklab.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/ApiGateway", MetricName="CacheHitCount", StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=5), Period=600, Statistics=["Sum", "SampleCount"],
        Dimensions=[{"Name": "ApiName", "Value": "cached"}, {"Name": "Stage", "Value": cached.stage}],
    )["Datapoints"]  # fmt: skip
    assert [(d["Sum"], d["SampleCount"]) for d in stats] == [(2.0, 4.0)]


@pytest.mark.parametrize(
    ("ops", "cached_state"),
    [
        ([("/*/*/caching/ttlInSeconds", "0")], None),  # TTL 0 disables caching
        ([("/*/*/caching/enabled", "false")], None),
        ([("/cacheClusterEnabled", "false")], None),  # settings without a cluster cache nothing
        ([("/~1items/GET/caching/enabled", "false")], None),  # the method's override wins over */*
        ([("/*/*/caching/ttlInSeconds", "60")], "hit"),
    ],
)
def test_settings_that_turn_caching_on_or_off(cached, ops, cached_state):
    cached.patch(*ops)
    first, second = cached.call("GET", "/items?q=a"), cached.call("GET", "/items?q=a")
    assert (rid(first) == rid(second)) == (cached_state == "hit")


def test_ttl_and_overrides_for_other_methods(cached):
    cached.patch(("/*/*/caching/ttlInSeconds", "60"), ("/~1items/POST/caching/enabled", "true"))
    first = rid(cached.call("POST", "/items"))
    assert rid(cached.call("POST", "/items")) == first  # an override caches POST
    a = rid(cached.call("GET", "/items?q=a"))
    advance(59)
    assert rid(cached.call("GET", "/items?q=a")) == a
    advance(1)
    assert rid(cached.call("GET", "/items?q=a")) != a  # TTL 60 s
    assert sc.method_caching({"cacheClusterEnabled": True, "methodSettings": {"*/*": {
        "cachingEnabled": True, "cacheTtlInSeconds": 7200}}}, "/x", "GET")["ttl"] == 3600  # fmt: skip


def test_no_default_method_caching_means_no_cache(box):
    api = Api("cluster-only")
    api.mock("/items", "GET")
    api.deploy()
    api.patch(("/cacheClusterEnabled", "true"))
    assert rid(api.call("GET", "/items")) != rid(api.call("GET", "/items"))


@pytest.mark.parametrize(
    ("ops", "status", "fresh", "warning"),
    [
        ([], 200, False, sc.WARNING),  # moto's defaults: authorization required, SUCCEED_WITH_RESPONSE_HEADER
        ([("/*/*/caching/unauthorizedCacheControlHeaderStrategy", "FAIL_WITH_403")], 403, None, None),
        ([("/*/*/caching/unauthorizedCacheControlHeaderStrategy", "SUCCEED_WITHOUT_RESPONSE_HEADER")], 200, False,
         None),
        ([("/*/*/caching/requireAuthorizationForCacheControl", "false")], 200, True, None),
    ],
)  # fmt: skip
def test_cache_control_max_age_zero(cached, ops, status, fresh, warning):
    cached.patch(*ops)
    first = rid(cached.call("GET", "/items?q=a"))
    resp = cached.call("GET", "/items?q=a", headers={"Cache-Control": "max-age=0"})
    assert resp.status == status
    assert resp.header("Warning") == warning
    if status == 403:
        assert json.loads(resp.body) == {"message": "Unauthorized"}
        return
    assert (rid(resp) != first) == fresh
    if fresh:  # the fresh answer replaced the entry
        assert rid(cached.call("GET", "/items?q=a")) == rid(resp)


def test_signed_caller_allowed_to_invalidate(box):
    from stacklab.planes import sigv4

    api = Api("iam-cache")
    api.mock("/items", "GET", auth="AWS_IAM")
    api.deploy()
    api.patch(("/cacheClusterEnabled", "true"), ("/*/*/caching/enabled", "true"),
              ("/*/*/caching/unauthorizedCacheControlHeaderStrategy", "FAIL_WITH_403"))  # fmt: skip
    iam = stacklab.client("iam")
    keys = {}
    for user, actions in (("ops", ["execute-api:Invoke", "execute-api:InvalidateCache"]),
                          ("reader", ["execute-api:Invoke"])):  # fmt: skip
        iam.create_user(UserName=user)
        doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
        iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(doc))
        k = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = (k["AccessKeyId"], k["SecretAccessKey"])

    def call(user: str, extra: dict[str, str]):
        url = f"https://{api.id}.execute-api.us-east-1.amazonaws.com/prod/items"
        headers = sigv4.sign("GET", url, access_key_id=keys[user][0], secret_access_key=keys[user][1],
                             headers=extra)  # fmt: skip
        return api.call("GET", "/items", headers=headers)

    first = rid(call("reader", {}))
    assert call("reader", {"Cache-Control": "max-age=0"}).status == 403
    fresh = call("ops", {"Cache-Control": "max-age=0"})
    assert rid(fresh) != first and rid(call("reader", {})) == rid(fresh)


def test_flush_stage_cache_and_size_change(cached):
    a = rid(cached.call("GET", "/items?q=a"))
    ag().flush_stage_cache(restApiId=cached.id, stageName=cached.stage)  # moto 404s without the plane's route
    b = rid(cached.call("GET", "/items?q=a"))
    assert b != a and rid(cached.call("GET", "/items?q=a")) == b
    cached.patch(("/cacheClusterSize", "1.6"))  # AWS recreates the cache instance: data deleted
    c = rid(cached.call("GET", "/items?q=a"))
    assert c != b
    assert sc.flush(cached.id, cached.stage) == 1
    assert sc.entries(cached.id, cached.stage) == []
    with pytest.raises(ClientError) as err:
        ag().flush_stage_cache(restApiId=cached.id, stageName="nostage")
    assert err.value.response["Error"]["Code"] == "NotFoundException"


def test_canary_requests_use_their_own_cache_unless_use_stage_cache(cached):
    stage_answer = rid(cached.call("GET", "/items?q=a"))
    ag().create_deployment(restApiId=cached.id, stageName=cached.stage, canarySettings={"percentTraffic": 100.0})
    canary_answer = rid(cached.call("GET", "/items?q=a"))
    assert canary_answer != stage_answer and rid(cached.call("GET", "/items?q=a")) == canary_answer
    assert [e.get("canary", False) for e in sc.entries(cached.id, cached.stage)] == [False, True]
    cached.patch(("/canarySettings/useStageCache", "true"))
    assert rid(cached.call("GET", "/items?q=a")) == stage_answer


def test_large_and_5xx_responses_are_not_cached(box):
    big = "x" * (sc.MAX_ENTRY_BYTES + 1)
    server = http_serve("cache-backend", lambda req: Response(200 if "big" in req.target else 503, {}, big.encode()))
    api = Api("uncacheable")
    for path in ("/big", "/down"):
        rid_ = api.resource(path)
        ag().put_method(restApiId=api.id, resourceId=rid_, httpMethod="GET", authorizationType="NONE")
        ag().put_integration(restApiId=api.id, resourceId=rid_, httpMethod="GET", type="HTTP_PROXY",
                             integrationHttpMethod="GET", uri=f"{server.url}{path}")  # fmt: skip
    api.deploy()
    api.patch(("/cacheClusterEnabled", "true"), ("/*/*/caching/enabled", "true"))
    assert api.call("GET", "/big").status == 200 and api.call("GET", "/down").status == 503
    assert sc.entries(api.id, "prod") == []


def test_reset_clears_the_cache(cached):
    cached.call("GET", "/items?q=a")
    assert len(sc.entries(cached.id, cached.stage)) == 1
    stacklab.reset()
    assert sc._state.stages == {}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sc.flush("", "prod"), "api_id must not be empty"),
        (lambda: sc.flush("nope", "prod"), "has no stage 'prod'"),
        (lambda: sc.entries("nope", "prod"), "has no stage 'prod'"),
        (lambda: sc.method_caching("prod", "/x", "GET"), "stage must be the dict"),
        (lambda: sc.method_caching({}, "", "GET"), "resource_path must not be empty"),
    ],
)
def test_cache_bad_input(box, call, message):
    with pytest.raises(InputError, match=message):
        call()


# ------------------------------------------------------------------------------ access logs


@pytest.fixture(scope="module")
def log_api(box):
    stacklab.reset()
    api = Api("logged")
    api.mock("/items/{id}", "GET")
    api.deploy()
    return api


_groups = itertools.count()


@pytest.fixture()
def logged(log_api):
    """The logged API's stage writing JSON lines to a fresh log group (``log_api.group``)."""
    log_api.group = f"api-access-{next(_groups)}"
    stacklab.client("logs").create_log_group(logGroupName=log_api.group)
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{log_api.group}"
    log_api.patch(("/accessLogSettings/destinationArn", arn), ("/accessLogSettings/format", al.PRESETS["JSON"]))
    return log_api


def _expected(name: str, rid_: str, length: int) -> str:
    ext = al.extended_request_id(rid_)
    t = al.request_time(stacklab.current().clock.now())
    return {
        "CLF": f'203.0.113.10 - - [{t}]"GET /items/{{id}} HTTP/1.1" 200 {length} {rid_} {ext}',
        "JSON": (f'{{ "requestId":"{rid_}", "extendedRequestId":"{ext}","ip": "203.0.113.10", "caller":"-", '
                 f'"user":"-", "requestTime":"{t}", "httpMethod":"GET", "resourcePath":"/items/{{id}}", '
                 f'"status":"200", "protocol":"HTTP/1.1", "responseLength":"{length}" }}'),
        "XML": (f'<request id="{rid_}"> <extendedRequestId>{ext}</extendedRequestId> <ip>203.0.113.10</ip> '
                f"<caller>-</caller> <user>-</user> <requestTime>{t}</requestTime> <httpMethod>GET</httpMethod> "
                "<resourcePath>/items/{id}</resourcePath> <status>200</status> <protocol>HTTP/1.1</protocol> "
                f"<responseLength>{length}</responseLength> </request>"),
        "CSV": f"203.0.113.10,-,-,{t},GET,/items/{{id}},HTTP/1.1,200,{length},{rid_},{ext}",
    }[name]  # fmt: skip


@pytest.mark.parametrize("preset", ["CLF", "JSON", "XML", "CSV"])
def test_each_preset_is_rendered_for_a_request(logged, preset):
    logged.patch(("/accessLogSettings/format", al.PRESETS[preset]))
    resp = logged.call("GET", "/items/7", client_ip="203.0.113.10")
    assert al.lines(logged.group) == [_expected(preset, resp.header("x-amzn-RequestId"), len(resp.body))]
    if preset == "JSON":
        assert json.loads(al.lines(logged.group)[0])["status"] == "200"


def test_log_events_stream_and_timestamp(logged):
    advance(90)
    logged.call("GET", "/items/1")
    logged.call("GET", "/nothing")  # refused requests are logged too
    logs = stacklab.client("logs")
    streams = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=logged.group)["logStreams"]]
    assert streams == [al.stream_name(logged.id, "prod")] and len(streams[0]) == 32
    events = logs.get_log_events(logGroupName=logged.group, logStreamName=streams[0])["events"]
    when = int(stacklab.current().clock.time() * 1000)
    assert [e["timestamp"] for e in events] == [when, when]
    assert [json.loads(e["message"])["status"] for e in events] == ["200", "403"]
    assert al.lines(f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{logged.group}:*", api_id=logged.id, stage="prod")


def test_custom_format_variables_and_unknown_ones(logged):
    fmt = ("$context.requestTimeEpoch $context.stage $context.apiId $context.path $context.status "
           "$context.error.message $context.integrationLatency $context.responseLatency $context.wafResponseCode "
           "$context.nope.nothing $context.domainName.")  # fmt: skip
    logged.patch(("/accessLogSettings/format", fmt))
    logged.call("GET", "/items/1")
    logged.call("GET", "/missing")
    epoch = int(stacklab.current().clock.time() * 1000)
    host = f"{logged.id}.execute-api.us-east-1.amazonaws.com"
    assert al.lines(logged.group) == [
        f"{epoch} prod {logged.id} /prod/items/1 200 - 0 4 - - {host}.",
        f"{epoch} prod {logged.id} /prod/missing 403 Missing Authentication Token - 0 - - {host}.",
    ]


def test_no_log_without_group_or_settings(logged):
    logged.patch(("/accessLogSettings/destinationArn", f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:absent"))
    logged.call("GET", "/items/1")
    assert "log group 'absent' does not exist" in al.skipped()[-1]
    logged.patch(("/accessLogSettings/destinationArn", "not-an-arn"))
    logged.call("GET", "/items/1")
    assert "is not a CloudWatch Logs log group ARN" in al.skipped()[-1]
    ag().update_stage(restApiId=logged.id, stageName="prod", patchOperations=[{"op": "remove",
                      "path": "/accessLogSettings"}])  # fmt: skip
    assert al.log_request(None, {"accessLogSettings": None}, None, 0.0) is False
    assert al.lines(logged.group) == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: al.render(None, {}), "format must be a string"),
        (lambda: al.render("$context.x", []), "context must be a dict"),
        (lambda: al.request_time("2026-01-15"), "when must be a datetime"),
        (lambda: al.stream_name("", "prod"), "api_id must not be empty"),
        (lambda: al.log_group_name("arn:aws:s3:::bucket"), "not a CloudWatch Logs log group ARN"),
        (lambda: al.lines("nope"), "no log group 'nope'"),
    ],
)
def test_access_log_bad_input(box, call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_render_and_request_time_rules():
    from datetime import UTC, datetime

    assert al.render("$context.a [$context.b] $context.c.d,$context.e", {"a": 1.0, "b": "", "c.d": True}) == (
        "1 [-] true,-"
    )
    assert al.request_time(datetime(2026, 3, 5, 7, 8, 9, tzinfo=UTC)) == "05/Mar/2026:07:08:09 +0000"
    assert "$context.routeKey" in al.HTTP_API_PRESETS["CLF"]


# ------------------------------------------------------------------------------ responseParameters, CORS


def _backend():
    def handle(req):
        return Response(200, {"X-Backend": "b-1", "Content-Type": "application/json"},
                        json.dumps({"user": {"id": 42, "name": "ada"}}).encode())  # fmt: skip

    return http_serve("params-backend", handle)


def test_cors_preflight_through_a_mock_options_method_over_http(box):
    api = Api("cors")
    rid_ = api.resource("/items")
    ag().put_method(restApiId=api.id, resourceId=rid_, httpMethod="OPTIONS", authorizationType="NONE")
    allow = {"Access-Control-Allow-Origin": "'https://app.example.com'",
             "Access-Control-Allow-Methods": "'GET,POST,OPTIONS'",
             "Access-Control-Allow-Headers": "'Content-Type,Authorization'"}  # fmt: skip
    ag().put_method_response(restApiId=api.id, resourceId=rid_, httpMethod="OPTIONS", statusCode="200",
                             responseParameters={f"method.response.header.{k}": False for k in allow})  # fmt: skip
    ag().put_integration(restApiId=api.id, resourceId=rid_, httpMethod="OPTIONS", type="MOCK",
                         requestTemplates={"application/json": '{"statusCode": 200}'})  # fmt: skip
    ag().put_integration_response(restApiId=api.id, resourceId=rid_, httpMethod="OPTIONS", statusCode="200",
                                  responseParameters={f"method.response.header.{k}": v for k, v in allow.items()},
                                  responseTemplates={"application/json": ""})  # fmt: skip
    api.deploy()
    resp = requests.options(gw.url(api.id, "prod") + "/items", timeout=5, headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert resp.headers["Access-Control-Allow-Methods"] == "GET,POST,OPTIONS"
    assert resp.headers["Access-Control-Allow-Headers"] == "Content-Type,Authorization"
    assert resp.content == b""


RESPONSE_PARAMETERS = [  # (method response header, source, declared in the method response, expected value)
    ("X-Lit", "'literal'", True, "literal"),
    ("X-Hdr", "integration.response.header.X-Backend", True, "b-1"),
    ("X-Hdr-Lower", "integration.response.header.x-backend", True, "b-1"),
    ("X-Name", "integration.response.body.user.name", True, "ada"),
    ("X-Id", "integration.response.body.user.id", True, "42"),
    ("X-User", "integration.response.body.user", True, '{"id": 42, "name": "ada"}'),
    ("X-Nothing", "integration.response.body.nothing", True, None),
    ("X-Undeclared", "'literal'", False, None),  # not declared in the method response: not mapped
]


def test_response_parameters_sources(box):
    server = _backend()
    api = Api("params")
    rid_ = api.resource("/user")
    ag().put_method(restApiId=api.id, resourceId=rid_, httpMethod="GET", authorizationType="NONE")
    declared = {f"method.response.header.{h}": False for h, _, yes, _ in RESPONSE_PARAMETERS if yes}
    ag().put_method_response(restApiId=api.id, resourceId=rid_, httpMethod="GET", statusCode="200",
                             responseParameters=declared)  # fmt: skip
    ag().put_integration(restApiId=api.id, resourceId=rid_, httpMethod="GET", type="HTTP",
                         integrationHttpMethod="GET", uri=server.url + "/user")  # fmt: skip
    ag().put_integration_response(restApiId=api.id, resourceId=rid_, httpMethod="GET", statusCode="200",
                                  responseParameters={f"method.response.header.{h}": src
                                                      for h, src, _, _ in RESPONSE_PARAMETERS})  # fmt: skip
    api.deploy()
    resp = api.call("GET", "/user")
    assert resp.status == 200
    for header, source, _, expected in RESPONSE_PARAMETERS:
        assert resp.header(header) == expected, (header, source)
    assert resp.header("x-stacklab-reason") == (
        "not mapped: method.response.header.X-Undeclared not declared in method response 200 "
        "(put_method_response responseParameters)"
    )
    assert json.loads(resp.body) == {"user": {"id": 42, "name": "ada"}}  # no template: passthrough


# ------------------------------------------------------------------------------ VPC links


@pytest.fixture()
def linked(box):
    stacklab.reset()
    server = _backend()
    link = ag().create_vpc_link(name="nlb-link",
                                targetArns=[f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/net/"
                                            "internal/0123456789abcdef"])["id"]  # fmt: skip
    api = Api("private-backend")
    for path, connection in (("/direct", link), ("/staged", "${stageVariables.vpcLinkId}"),
                             ("/unknown", "nosuchlink"), ("/none", None)):  # fmt: skip
        rid_ = api.resource(path)
        ag().put_method(restApiId=api.id, resourceId=rid_, httpMethod="GET", authorizationType="NONE")
        extra = {"connectionId": connection} if connection else {}
        ag().put_integration(restApiId=api.id, resourceId=rid_, httpMethod="GET", type="HTTP_PROXY",
                             integrationHttpMethod="GET", uri=server.url + "/user", connectionType="VPC_LINK",
                             **extra)  # fmt: skip
    api.deploy(vpcLinkId=link)
    return api, link


def test_vpc_link_integrations(linked):
    api, link = linked
    integ = ag().get_integration(restApiId=api.id, resourceId=api.ids["/direct"], httpMethod="GET")
    assert (integ["connectionType"], integ["connectionId"]) == ("VPC_LINK", link)
    table = [
        ("/direct", 200, None),
        ("/staged", 200, None),
        ("/unknown", 500, "VPC link 'nosuchlink' does not exist"),
        ("/none", 500, "connectionType VPC_LINK needs a connectionId"),
    ]
    for path, status, reason in table:
        resp = api.call("GET", path)
        assert resp.status == status, (path, resp.text)
        assert (reason is None) == (resp.header("x-stacklab-reason") is None)
        if reason:
            assert reason in resp.header("x-stacklab-reason")
        else:
            assert resp.header("X-Backend") == "b-1"
    ag().delete_vpc_link(vpcLinkId=link)
    assert api.call("GET", "/direct").status == 500  # the link is read on every request
