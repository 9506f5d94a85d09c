"""AppSync's VTL: $ctx, $util helpers, #return, Java printing, errors; AppSync scalars in schemas."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest
from graphql import graphql_sync

from stacklab.errors import InputError
from stacklab.planes import graphql_schema
from stacklab.planes import graphql_vtl as vtl

NOW = datetime(2026, 1, 15, 9, 0, 0, tzinfo=UTC)
CTX = {
    "arguments": {"id": "p1", "n": 3, "flag": True, "tags": ["a", "b"], "blank": " ", "empty": ""},
    "identity": {"sub": "u-1"},
    "source": {"id": "parent"},
    "stash": {},
}


def render(template: str, ctx: dict | None = None, seed: int = 1) -> vtl.Rendered:
    return vtl.render(template, json.loads(json.dumps(ctx or CTX)), now=NOW, rng=random.Random(seed))


def text(template: str, ctx: dict | None = None) -> str:
    return render(template, ctx).text


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$ctx.args.id $context.arguments.n $ctx.identity.sub $ctx.source.id", "p1 3 u-1 parent"),
        ("$util.toJson($ctx.args.tags)", '["a","b"]'),
        ("$ctx.args.flag $ctx.args.tags", "true [a, b]"),  # Java's printing, not Python's
        ('#set($m = {"a": 1})$m', "{a=1}"),
        ('$util.parseJson("{\\"k\\": [1]}").k', "[1]"),
        ("$util.dynamodb.toDynamoDBJson($ctx.args.id)", '{"S":"p1"}'),
        ("$util.dynamodb.toDynamoDBJson($ctx.args.n)", '{"N":"3"}'),
        ("$util.dynamodb.toDynamoDBJson($ctx.args.flag)", '{"BOOL":true}'),
        ("$util.dynamodb.toDynamoDBJson($ctx.args.tags)", '{"L":[{"S":"a"},{"S":"b"}]}'),
        ('$util.dynamodb.toMapValuesJson({"a": 1, "b": null})', '{"a":{"N":"1"},"b":{"NULL":true}}'),
        ("$util.dynamodb.toStringSetJson($ctx.args.tags)", '{"SS":["a","b"]}'),
        ("$util.dynamodb.toDynamoDB($ctx.args.id).S", "p1"),
        ("$util.isNull($ctx.args.missing) $util.isNull($ctx.args.id)", "true false"),
        ("$util.isNullOrEmpty($ctx.args.empty) $util.isNullOrEmpty($ctx.args.blank)", "true false"),
        ("$util.isNullOrBlank($ctx.args.blank)", "true"),
        ('$util.defaultIfNull($ctx.args.missing, "d") $util.defaultIfNullOrEmpty($ctx.args.empty, "e")', "d e"),
        ('$util.escapeJavaScript("it\'s \\"x\\"")', 'it\\\'s \\"x\\"'),
        ('$util.urlEncode("a b&c=d") $util.urlDecode("a+b%26c")', "a+b%26c%3Dd a b&c"),
        ('$util.base64Encode("hi") $util.base64Decode("aGk=")', "aGk= hi"),
        ("$util.time.nowISO8601()", "2026-01-15T09:00:00.000Z"),
        ("$util.time.nowEpochSeconds() $util.time.nowEpochMilliSeconds()", "1768467600 1768467600000"),
        ('$util.time.nowFormatted("yyyy-MM-dd HH:mm")', "2026-01-15 09:00"),
        ("$util.typeOf($ctx.args.n) $util.typeOf($ctx.args.tags) $util.typeOf($ctx.args)", "Number List Map"),
        ('$util.matches("p[0-9]", $ctx.args.id)', "true"),
        ('$util.map.copyAndRetainAllKeys($ctx.args, ["id"])', "{id=p1}"),
        ('$util.list.copyAndRemoveAll($ctx.args.tags, ["a"])', "[b]"),
        ('$util.str.toUpper("ab")', "AB"),
        ("#set($l = [])$util.qr($l.add(1))$util.quiet($l.add(2))$l.size()", "2"),
        ('#set($m = {})$util.qr($m.put("k", "v"))$m.containsKey("k") $m.size() $m.keySet()', "true 1 [k]"),
        ('"$ctx.args.id.toUpperCase()" $ctx.args.id.length() $ctx.args.empty.isEmpty()', '"P1" 2 true'),
        ("#foreach($t in $ctx.args.tags)$t#if($foreach.hasNext),#end#end", "a,b"),
        ("$ctx.args.missing|$!ctx.args.missing|", "$ctx.args.missing||"),
    ],
)
def test_helpers_and_printing(template, expected):
    assert text(template) == expected


def test_auto_id_is_seeded_uuid():
    first, again, other = (render("$util.autoId()", seed=s).text for s in (1, 1, 2))
    assert first == again != other and len(first) == 36 and first[14] == "4"


def test_stash_is_shared_and_mutable():
    ctx = json.loads(json.dumps(CTX))
    vtl.render('$util.qr($ctx.stash.put("a", 1))#set($ctx.stash.b = 2)', ctx, now=NOW, rng=random.Random(1))
    assert ctx["stash"] == {"a": 1, "b": 2}
    assert render("$ctx.prev.result.x", {**CTX, "prev": {"result": {"x": 7}}}).text == "7"


def test_return_directive():
    early = render('#if($ctx.args.id == "p1")#return({"early": $ctx.args.n})#end{"late": 1}')
    assert early.returned and early.value == {"early": 3}
    bare = render("#return")
    assert bare.returned and bare.value is None
    assert not render('{"late": 1}').returned


def test_util_error_and_append_error():
    with pytest.raises(vtl.UtilError) as err:
        render('$util.error("Bad input", "Validation", {"f": 1}, {"hint": "x"})')
    assert (err.value.message, err.value.error_type, err.value.data, err.value.info) == (
        "Bad input", "Validation", {"f": 1}, {"hint": "x"})  # fmt: skip
    with pytest.raises(vtl.UtilError) as err:
        render("$util.unauthorized()")
    assert err.value.error_type == "Unauthorized"
    out = render('$util.appendError("careful", "Warn")ok')
    assert out.text == "ok" and out.errors == [
        {"message": "careful", "errorType": "Warn", "data": None, "errorInfo": None}
    ]


@pytest.mark.parametrize(
    ("template", "error", "text_in"),
    [
        ("#if($ctx.args.id", vtl.MappingTemplateError, "Unable to parse the template"),
        ("#foreach($x in $ctx.args.n)$x#end", vtl.MappingTemplateError, "not iterable"),
        ('$util.parseJson("{bad")', vtl.UtilError, "Unable to parse JSON"),
        ("$util.dynamodb.toMapValues($ctx.args.id)", vtl.UtilError, "needs a map"),
    ],
)
def test_template_failures(template, error, text_in):
    with pytest.raises(error, match=None) as err:
        render(template)
    assert text_in in str(err.value)


def test_parse_output_rules():
    assert vtl.parse_output(' {"a": 1} ', request=True) == {"a": 1}
    assert vtl.parse_output("", request=False) is None
    assert vtl.parse_output('"text"', request=False) == "text"
    with pytest.raises(vtl.MappingTemplateError, match="rendered nothing"):
        vtl.parse_output("  ", request=True)
    with pytest.raises(vtl.MappingTemplateError, match="Unable to parse the JSON document"):
        vtl.parse_output("{", request=True)
    with pytest.raises(vtl.MappingTemplateError, match="Unable to convert hello to Object"):
        vtl.parse_output("hello", request=False)


def test_render_input_validation():
    with pytest.raises(InputError):
        vtl.render(1, {}, now=NOW, rng=random.Random(1))  # type: ignore[arg-type]
    with pytest.raises(InputError):
        vtl.render("x", [], now=NOW, rng=random.Random(1))  # type: ignore[arg-type]
    with pytest.raises(InputError):
        vtl.render("x", {}, now="now", rng=random.Random(1))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ schema


def test_aws_scalars_and_directives_parse():
    schema = graphql_schema.build(
        "type Query @aws_api_key { t(d: AWSDate, tm: AWSTime, ts: AWSTimestamp, u: AWSURL, p: AWSPhone, "
        'ip: AWSIPAddress, j: AWSJSON): AWSJSON @aws_iam @aws_cognito_user_pools(cognito_groups: ["admin"]) '
        '@aws_oidc @aws_lambda @aws_auth(cognito_groups: ["x"]) }\n'
        'type Mutation { m: String }\ntype Subscription { s: String @aws_subscribe(mutations: ["m"]) }'
    )
    query = '{ t(d: "2026-01-15", tm: "09:30:00Z", ts: 1768467600, u: "https://a.b/c", p: "+1 206 555 0100", ' \
            'ip: "10.0.0.0/8", j: "[1]") }'  # fmt: skip
    result = graphql_sync(schema, query, root_value={"t": {"ok": True}})
    assert result.errors is None and result.data == {"t": '{"ok":true}'}


@pytest.mark.parametrize(
    ("argument", "value"),
    [("d", '"15/01/2026"'), ("tm", '"9h"'), ("ts", '"soon"'), ("u", '"example.com"'), ("ip", '"300.1.1.1"'),
     ("j", '"{bad"'), ("e", '"nobody"'), ("dt", '"2026-01-15T09:00:00"')],
)  # fmt: skip
def test_aws_scalars_reject_bad_input(argument, value):
    schema = graphql_schema.build(
        "type Query { t(d: AWSDate, tm: AWSTime, ts: AWSTimestamp, u: AWSURL, ip: AWSIPAddress, j: AWSJSON, "
        "e: AWSEmail, dt: AWSDateTime): String }"
    )
    result = graphql_sync(schema, f"{{ t({argument}: {value}) }}")
    assert result.errors, (argument, value)


def test_schema_declaring_a_scalar_itself_still_builds():
    schema = graphql_schema.build("scalar AWSJSON\ntype Query { a: AWSJSON }")
    assert graphql_sync(schema, "{ a }", root_value={"a": [1]}).data == {"a": "[1]"}
    assert graphql_schema.has_field(schema, "Query", "a") is None
    assert graphql_schema.has_field(schema, "Query", "b") == "No field named b found on type Query"
    assert graphql_schema.has_field(schema, "Nope", "b") == "Type Nope not found in schema."
