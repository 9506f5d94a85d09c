"""stacklab.throttling: arrival patterns, requests on the sandbox clock, timelines and the explorer."""

from __future__ import annotations

import pytest

import stacklab
from stacklab.errors import InputError
from stacklab.throttling import Sent, Timeline, arrivals, send, throttle_explorer

KEY = "throttle-key-0123456789abcdef"


def ag():
    return stacklab.client("apigateway")


@pytest.fixture()
def keyed(box):
    """A MOCK GET /data that needs an API key; a plan (rate 5/s, burst 10) and a quota plan on another stage."""
    stacklab.reset()
    api = ag().create_rest_api(name="throttled")["id"]
    root = ag().get_resources(restApiId=api)["items"][0]["id"]
    rid = ag().create_resource(restApiId=api, parentId=root, pathPart="data")["id"]
    ag().put_method(restApiId=api, resourceId=rid, httpMethod="GET", authorizationType="NONE", apiKeyRequired=True)
    ag().put_integration(restApiId=api, resourceId=rid, httpMethod="GET", type="MOCK",
                         requestTemplates={"application/json": '{"statusCode": 200}'})  # fmt: skip
    ag().put_integration_response(restApiId=api, resourceId=rid, httpMethod="GET", statusCode="200")
    for stage in ("prod", "beta"):
        ag().create_deployment(restApiId=api, stageName=stage)
    key = ag().create_api_key(name="k", enabled=True, value=KEY)["id"]
    plan = ag().create_usage_plan(name="p", throttle={"rateLimit": 5.0, "burstLimit": 10},
                                  apiStages=[{"apiId": api, "stage": "prod"}])["id"]  # fmt: skip
    quota = ag().create_usage_plan(name="q", quota={"limit": 3, "period": "DAY"},
                                   apiStages=[{"apiId": api, "stage": "beta"}])["id"]  # fmt: skip
    for plan_id in (plan, quota):
        ag().create_usage_plan_key(usagePlanId=plan_id, keyId=key, keyType="API_KEY")
    return api, plan, quota


@pytest.mark.parametrize(
    ("pattern", "rate", "seconds", "expected"),
    [
        ("steady", 2, 3, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]),
        ("bursts", 1, 12, [0.0] * 5 + [5.0] * 5 + [10.0] * 2),
        ("ramp", 1, 4, [0.0, 2.0, 2.828427, 3.464102]),
    ],
)
def test_arrival_patterns(pattern, rate, seconds, expected):
    assert arrivals(pattern, rate=rate, seconds=seconds) == expected


def test_a_burst_drains_the_bucket_and_the_rate_refills_it(keyed):
    api, _, _ = keyed
    start = stacklab.clock().now()
    timeline = send(api, "prod", "/data", [0] * 12 + [1] * 6, headers={"x-api-key": KEY}, progress=True)
    # burst 10 at one instant, then 429; one second later rate 5/s gives five more tokens
    assert [s.status for s in timeline.sent] == [200] * 10 + [429] * 2 + [200] * 5 + [429]
    assert timeline.counts() == {"200": 15, "429 Too Many Requests": 3}
    assert timeline.per_interval(1.0) == [(0.0, {"200": 10, "429 Too Many Requests": 2}),
                                          (1.0, {"200": 5, "429 Too Many Requests": 1})]  # fmt: skip
    assert (stacklab.clock().now() - start).total_seconds() == 1.0
    assert repr(timeline) == "Timeline(18 requests over 1 s: 200 x15, 429 Too Many Requests x3)"
    assert timeline.table().splitlines()[1].split() == ["0.0", "10", "2"]
    figure = timeline.plot()
    assert figure.axes[0].get_ylabel() == "requests"


def test_quota_is_limit_exceeded_and_other_refusals_keep_their_message(keyed):
    api, _, _ = keyed
    timeline = send(api, "beta", "/data", [0, 0, 0, 0], headers={"x-api-key": KEY})
    assert timeline.counts() == {"200": 3, "429 Limit Exceeded": 1}
    no_key = send(api, "beta", "/data", [0])
    assert no_key.sent == [Sent(0.0, 403, "Forbidden")]


def test_explorer_sets_the_plan_and_starts_with_a_full_bucket(keyed):
    api, plan, quota = keyed
    explorer = throttle_explorer(api, "prod", "/data", plan_id=plan, api_key=KEY, rate=5, burst=10,
                                 pattern="steady", seconds=4)  # fmt: skip
    assert ag().get_usage_plan(usagePlanId=plan)["throttle"] == {"rateLimit": 5, "burstLimit": 10}
    # 10 req/s offered to a 5/s bucket holding 10: 10 + 5 * 3.9 tokens over the run
    assert explorer.timeline.counts() == {"200": 29, "429 Too Many Requests": 11}
    assert repr(explorer).startswith("Throttle explorer (change the inputs in a live kernel): rate 5/s, burst 10")
    again = explorer.evaluate(rate=20, burst=20, pattern="bursts", seconds=5)  # 50 at once
    assert again.counts() == {"200": 20, "429 Too Many Requests": 30}
    bundle = explorer._repr_mimebundle_()
    assert bundle["text/plain"] == repr(explorer) and "application/vnd.jupyter.widget-view+json" in bundle
    explorer._controls["burst"].value = 50  # the widget callback runs rate 5, burst 50, steady, 4 s
    assert explorer.timeline.counts() == {"200": 40}
    assert bytes(explorer._image.value).startswith(b"\x89PNG")  # the plot, as an Image widget
    with pytest.raises(InputError, match="without a quota"):
        throttle_explorer(api, "beta", "/data", plan_id=quota, api_key=KEY)
    with pytest.raises(InputError, match="no usage plan"):
        throttle_explorer(api, "prod", "/data", plan_id="nope", api_key=KEY)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: arrivals("random", rate=1, seconds=1), "pattern must be one of"),
        (lambda: arrivals("steady", rate=0.01, seconds=1), "less than one request"),
        (lambda: arrivals("steady", rate=1000, seconds=3600), "at most 5,000"),
        (lambda: send("a", "prod", "/x", "0,1"), "times must be a list"),
        (lambda: send("a", "prod", "/x", []), "times is empty"),
        (lambda: send("a", "prod", "/x", [2, 1]), "must not decrease"),
        (lambda: send("a", "prod", "/x", [-1]), "at least 0"),
        (lambda: send("a", "prod", "/x", [0], headers="x"), "headers must be a dict"),
        (lambda: Timeline([]).per_interval(0), "step must be at least"),
    ],
)
def test_bad_input(box, call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_explorer_bad_input(keyed):
    api, plan, _ = keyed
    explorer = throttle_explorer(api, "prod", "/data", plan_id=plan, api_key=KEY, seconds=5)
    with pytest.raises(InputError, match="rate must be a whole number"):
        explorer.evaluate(rate=2.5, burst=10, pattern="steady", seconds=5)
    with pytest.raises(InputError, match="pattern must be one of"):
        explorer.evaluate(rate=2, burst=10, pattern="spiky", seconds=5)
