"""The S3 website endpoint plane follows AWS's rules, read from the sandbox on every request."""

from __future__ import annotations

import json

import pytest
import requests

import stacklab
from stacklab.errors import InputError, StackLabError
from stacklab.planes import website
from stacklab.planes.http import Request

BUCKET = "examplebucket"
HOST = "examplebucket.s3-website-us-east-1.amazonaws.com"
PAGES = {
    "index.html": "<h1>home</h1>",
    "error.html": "<h1>custom error</h1>",
    "docs/index.html": "<h1>docs</h1>",
    "docs/guide.html": "<h1>guide</h1>",
    "private/plan.html": "<h1>plan</h1>",
    "style.css": "body{}",
}


def s3():
    return stacklab.client("s3")


def public_policy(bucket: str = BUCKET, extra: list | None = None, resource: str | None = None) -> str:
    statements = [
        {
            "Sid": "PublicReadGetObject",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": resource or f"arn:aws:s3:::{bucket}/*",
        }
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements + (extra or [])})


def log_policy(bucket: str, prefix: str = "") -> str:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def site(bucket: str = BUCKET, *, policy: bool = True, error: bool = True, config: dict | None = None) -> None:
    s3().create_bucket(Bucket=bucket)
    for key, body in PAGES.items():
        kind = "text/css" if key.endswith(".css") else "text/html"
        s3().put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType=kind)
    website_config = config or {"IndexDocument": {"Suffix": "index.html"}}
    if error and config is None:
        website_config["ErrorDocument"] = {"Key": "error.html"}
    s3().put_bucket_website(Bucket=bucket, WebsiteConfiguration=website_config)
    if policy:
        s3().put_bucket_policy(Bucket=bucket, Policy=public_policy(bucket))


@pytest.fixture(autouse=True)
def fresh(box):
    stacklab.reset()
    yield


# ------------------------------------------------------------------------------ endpoint names


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("us-east-1", "b.s3-website-us-east-1.amazonaws.com"),
        ("us-west-2", "b.s3-website-us-west-2.amazonaws.com"),
        ("eu-west-1", "b.s3-website-eu-west-1.amazonaws.com"),
        ("ap-northeast-1", "b.s3-website-ap-northeast-1.amazonaws.com"),
        ("sa-east-1", "b.s3-website-sa-east-1.amazonaws.com"),
        ("us-east-2", "b.s3-website.us-east-2.amazonaws.com"),
        ("eu-central-1", "b.s3-website.eu-central-1.amazonaws.com"),
        ("ap-south-1", "b.s3-website.ap-south-1.amazonaws.com"),
        ("ca-central-1", "b.s3-website.ca-central-1.amazonaws.com"),
    ],
)
def test_endpoint_dash_or_dot_form(region, expected):
    assert website.endpoint("b", region) == expected


def test_endpoint_defaults_to_the_sandbox_region():
    assert website.endpoint(BUCKET) == HOST


HOST_FORMS = [
    HOST,
    "examplebucket.s3-website.eu-central-1.amazonaws.com",
    "EXAMPLEBUCKET.s3-website-us-east-1.amazonaws.com.",
    "examplebucket.s3-website-us-east-1.amazonaws.com:80",
]


def test_both_host_forms_reach_the_bucket():
    site()
    for host in HOST_FORMS:
        response = website.handle(Request("GET", "/", {"Host": host}), host)
        assert response.status == 200 and response.text == PAGES["index.html"], host


def test_custom_domain_host_is_the_bucket_name():
    site("www.example.com")
    response = website.handle(Request("GET", "/"), "www.example.com")
    assert response.status == 200 and response.text == PAGES["index.html"]


# --------------------------------------------------------------------------------- serving rules


SERVING = [
    ("/", 200, PAGES["index.html"], None),
    ("/index.html", 200, PAGES["index.html"], None),
    ("/docs/", 200, PAGES["docs/index.html"], None),
    ("/docs/guide.html", 200, PAGES["docs/guide.html"], None),
    ("/docs", 302, "", "/docs/"),
    ("/missing.html", 404, PAGES["error.html"], None),
    ("/nothing/", 404, PAGES["error.html"], None),
    ("/docs%2Fguide.html", 200, PAGES["docs/guide.html"], None),
]


def test_index_folder_and_error_documents():
    site()
    for path, status, body, location in SERVING:
        response = website.get(BUCKET, path)
        assert (response.status, response.text, response.header("Location")) == (status, body, location), path


def test_content_type_and_headers_come_from_the_object():
    site()
    s3().put_object(Bucket=BUCKET, Key="app.js", Body=b"1", ContentType="text/javascript", CacheControl="max-age=60")
    response = website.get(BUCKET, "/app.js")
    assert response.header("Content-Type") == "text/javascript"
    assert response.header("Cache-Control") == "max-age=60"
    assert response.header("Server") == "AmazonS3" and len(response.header("x-amz-request-id")) == 16
    assert website.get(BUCKET, "/style.css").header("Content-Type") == "text/css"


def test_head_has_no_body_and_other_methods_are_405():
    site()
    head = website.get(BUCKET, "/", method="HEAD")
    assert head.status == 200 and head.body == b""
    assert website.get(BUCKET, "/missing.html", method="HEAD").body == b""
    for method in ("POST", "PUT", "DELETE"):
        response = website.get(BUCKET, "/", method=method)
        assert response.status == 405 and "Code: MethodNotAllowed" in response.text


def test_if_none_match_gives_304():
    site()
    etag = website.get(BUCKET, "/").header("ETag")
    assert website.get(BUCKET, "/", headers={"If-None-Match": etag}).status == 304


def test_default_404_page_without_error_document():
    site(error=False)
    response = website.get(BUCKET, "/missing.html")
    assert response.status == 404
    assert response.header("Content-Type").startswith("text/html")
    text = response.text
    assert text.startswith("<html>\n<head><title>404 Not Found</title></head>")
    assert "<li>Code: NoSuchKey</li>" in text and "<li>Key: missing.html</li>" in text
    assert "<li>Message: The specified key does not exist.</li>" in text and "<li>RequestId: " in text


def test_error_document_missing_or_private_is_reported_inside_the_default_page():
    site(error=False, config={"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "oops.html"}})
    text = website.get(BUCKET, "/missing.html").text
    assert "An Error Occurred While Attempting to Retrieve a Custom Error Document" in text
    assert text.count("Code: NoSuchKey") == 2
    s3().put_object(Bucket=BUCKET, Key="oops.html", Body=b"x")
    s3().put_bucket_policy(Bucket=BUCKET, Policy=public_policy(resource=f"arn:aws:s3:::{BUCKET}/docs/*"))
    text = website.get(BUCKET, "/docs/missing.html").text
    assert "Code: AccessDenied" in text and "Custom Error Document" in text


def test_no_website_configuration_and_no_bucket():
    s3().create_bucket(Bucket=BUCKET)
    response = website.get(BUCKET, "/")
    assert response.status == 404 and "<li>Code: NoSuchWebsiteConfiguration</li>" in response.text
    assert "<li>BucketName: examplebucket</li>" in response.text
    host = website.endpoint("nosuchbucket")
    response = website.handle(Request("GET", "/"), host)
    assert response.status == 404 and "<li>Code: NoSuchBucket</li>" in response.text


def test_configuration_is_read_on_every_request():
    site()
    assert website.get(BUCKET, "/").status == 200
    s3().delete_bucket_policy(Bucket=BUCKET)
    assert website.get(BUCKET, "/").status == 403
    s3().delete_bucket_website(Bucket=BUCKET)
    assert website.get(BUCKET, "/").status == 404


# ----------------------------------------------------------------------------------- public read


def _deny(resource: str, condition: dict | None = None) -> dict:
    statement = {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


POLICIES = [
    (None, "/", 403),
    (public_policy(), "/", 200),
    (public_policy(resource=f"arn:aws:s3:::{BUCKET}/docs/*"), "/docs/", 200),
    (public_policy(resource=f"arn:aws:s3:::{BUCKET}/docs/*"), "/", 403),
    (public_policy(resource=f"arn:aws:s3:::{BUCKET}"), "/", 403),  # the bucket ARN, not its objects
    (public_policy(extra=[_deny(f"arn:aws:s3:::{BUCKET}/private/*")]), "/private/plan.html", 403),
    (public_policy(extra=[_deny(f"arn:aws:s3:::{BUCKET}/private/*")]), "/", 200),
    (
        public_policy(extra=[_deny(f"arn:aws:s3:::{BUCKET}/*", {"Bool": {"aws:SecureTransport": "false"}})]),
        "/",
        403,
    ),
    (
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": ["s3:Get*"],
                        "Resource": [f"arn:aws:s3:::{BUCKET}/*"],
                    }
                ],
            }
        ),
        "/",
        200,
    ),
    (
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{BUCKET}/*",
                    }
                ],
            }
        ),
        "/",
        403,
    ),
]


def test_bucket_policy_decides_public_read():
    site(policy=False)
    for policy, path, status in POLICIES:
        if policy:
            s3().put_bucket_policy(Bucket=BUCKET, Policy=policy)
        else:
            s3().delete_bucket_policy(Bucket=BUCKET)
        assert website.get(BUCKET, path).status == status, (policy, path)


def test_moto_applying_a_conditional_deny_to_the_planes_reads_gives_403():
    site(policy=False)
    deny = _deny(f"arn:aws:s3:::{BUCKET}/*", {"Bool": {"aws:SecureTransport": "true"}})
    s3().put_bucket_policy(Bucket=BUCKET, Policy=public_policy(extra=[deny]))
    response = website.get(BUCKET, "/")  # AWS would serve it (the website endpoint is HTTP only)
    assert response.status == 403 and "Code: AccessDenied" in response.text


def test_source_ip_and_referer_conditions():
    site(policy=False)
    allow = json.loads(public_policy())
    allow["Statement"][0]["Condition"] = {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}
    s3().put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(allow))
    assert website.get(BUCKET, "/", client_ip="203.0.113.9").status == 200
    assert website.get(BUCKET, "/", client_ip="198.51.100.1").status == 403
    allow["Statement"][0]["Condition"] = {"StringLike": {"aws:Referer": "https://www.example.com/*"}}
    s3().put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(allow))
    assert website.get(BUCKET, "/", headers={"Referer": "https://www.example.com/a"}).status == 200
    assert website.get(BUCKET, "/").status == 403


def test_unsupported_condition_key_is_not_applied():
    site(policy=False)
    allow = json.loads(public_policy())
    allow["Statement"][0]["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": "o-123"}}
    s3().put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(allow))
    assert website.get(BUCKET, "/").status == 403


def test_object_acl_public_read():
    site(policy=False)
    s3().put_object_acl(Bucket=BUCKET, Key="index.html", ACL="public-read")
    assert website.get(BUCKET, "/").status == 200
    assert website.get(BUCKET, "/docs/").status == 403


BPA_OFF = {
    "BlockPublicAcls": False,
    "IgnorePublicAcls": False,
    "BlockPublicPolicy": False,
    "RestrictPublicBuckets": False,
}


BLOCKS = [
    ("bucket", "RestrictPublicBuckets", "policy", 403),
    ("bucket", "BlockPublicPolicy", "policy", 403),
    ("bucket", "IgnorePublicAcls", "policy", 200),
    ("bucket", "BlockPublicAcls", "policy", 200),
    ("bucket", "IgnorePublicAcls", "acl", 403),
    ("bucket", "RestrictPublicBuckets", "acl", 200),
    ("account", "RestrictPublicBuckets", "policy", 403),
    ("account", "BlockPublicPolicy", "policy", 403),
    ("account", "IgnorePublicAcls", "acl", 403),
    ("account", "IgnorePublicAcls", "policy", 200),
    ("bucket", None, "policy", 200),
]


def test_block_public_access():
    site(policy=False)
    control = stacklab.client("s3control")
    for level, setting, grant, status in BLOCKS:
        if grant == "policy":
            s3().put_bucket_policy(Bucket=BUCKET, Policy=public_policy())
            s3().put_object_acl(Bucket=BUCKET, Key="index.html", ACL="private")
        else:
            s3().delete_bucket_policy(Bucket=BUCKET)
            s3().put_object_acl(Bucket=BUCKET, Key="index.html", ACL="public-read")
        config = dict(BPA_OFF)
        if setting:
            config[setting] = True
        s3().put_public_access_block(
            Bucket=BUCKET, PublicAccessBlockConfiguration=config if level == "bucket" else BPA_OFF
        )
        control.put_public_access_block(
            AccountId="123456789012", PublicAccessBlockConfiguration=config if level == "account" else BPA_OFF
        )
        assert website.get(BUCKET, "/").status == status, (level, setting, grant)


def test_bucket_owner_enforced_disables_acls():
    site(policy=False)
    s3().put_object_acl(Bucket=BUCKET, Key="index.html", ACL="public-read")
    s3().put_bucket_ownership_controls(
        Bucket=BUCKET, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    assert website.get(BUCKET, "/").status == 403


def test_missing_key_is_404_even_without_public_read():
    site(policy=False)
    assert website.get(BUCKET, "/missing.html").status == 404
    assert website.get(BUCKET, "/index.html").status == 403


# ------------------------------------------------------------------------------------- redirects


def test_redirect_all_requests():
    s3().create_bucket(Bucket="example.com")
    s3().put_bucket_website(
        Bucket="example.com",
        WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": "www.example.com", "Protocol": "https"}},
    )
    response = website.handle(Request("GET", "/about/team.html"), "example.com")
    assert response.status == 301 and response.header("Location") == "https://www.example.com/about/team.html"
    s3().put_bucket_website(
        Bucket="example.com", WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": "www.example.com"}}
    )
    assert website.handle(Request("GET", "/"), "example.com").header("Location") == "http://www.example.com/"


ROUTING = [
    {"Condition": {"KeyPrefixEquals": "docs/"}, "Redirect": {"ReplaceKeyPrefixWith": "documents/"}},
    {
        "Condition": {"KeyPrefixEquals": "old.html"},
        "Redirect": {"ReplaceKeyWith": "new.html", "HttpRedirectCode": "302"},
    },
    {
        "Condition": {"HttpErrorCodeReturnedEquals": "404"},
        "Redirect": {"HostName": "fallback.example.com", "Protocol": "https", "ReplaceKeyPrefixWith": "report-404/"},
    },
    {
        "Condition": {"KeyPrefixEquals": "private/", "HttpErrorCodeReturnedEquals": "403"},
        "Redirect": {"ReplaceKeyWith": "login.html", "HttpRedirectCode": "307"},
    },
]


REDIRECTS = [
    ("/docs/guide.html", 301, f"http://{HOST}/documents/guide.html"),
    ("/docs/", 301, f"http://{HOST}/documents/"),
    ("/old.html", 302, f"http://{HOST}/new.html"),
    ("/missing.html", 301, "https://fallback.example.com/report-404/missing.html"),
    ("/private/plan.html", 307, f"http://{HOST}/login.html"),
    ("/index.html", 200, None),
]


def test_routing_rules():
    site(config={"IndexDocument": {"Suffix": "index.html"}, "RoutingRules": ROUTING})
    s3().put_bucket_policy(Bucket=BUCKET, Policy=public_policy(extra=[_deny(f"arn:aws:s3:::{BUCKET}/private/*")]))
    for path, status, location in REDIRECTS:
        response = website.get(BUCKET, path)
        assert (response.status, response.header("Location")) == (status, location), path


def test_website_redirect_location_is_301():
    site()
    s3().put_object(Bucket=BUCKET, Key="moved.html", Body=b"", WebsiteRedirectLocation="/docs/guide.html")
    s3().put_object(Bucket=BUCKET, Key="away.html", Body=b"", WebsiteRedirectLocation="https://aws.amazon.com/s3/")
    assert website.get(BUCKET, "/moved.html").header("Location") == "/docs/guide.html"
    response = website.get(BUCKET, "/away.html")
    assert response.status == 301 and response.header("Location") == "https://aws.amazon.com/s3/"


# ---------------------------------------------------------------------------------- over HTTP


def test_served_over_http_by_host_header_and_per_bucket_url():
    site()
    server = website.serve()
    assert server.url.startswith("http://127.0.0.1:")
    response = requests.get(server.url + "/docs/", headers={"Host": HOST}, timeout=5)
    assert response.status_code == 200 and response.text == PAGES["docs/index.html"]
    assert "BucketName: 127.0.0.1" in requests.get(server.url + "/", timeout=5).text
    base = website.url(BUCKET)
    assert base.startswith("http://127.0.0.1:") and base.endswith("/")
    followed = requests.get(base + "docs", timeout=5)
    assert followed.status_code == 200 and followed.url == base + "docs/"
    assert requests.get(base + "missing", timeout=5).status_code == 404
    assert requests.head(base, timeout=5).headers["Content-Type"] == "text/html"
    assert requests.post(base, timeout=5).status_code == 405


# ----------------------------------------------------------------------------------- access logs


def _logging(bucket: str = BUCKET, target: str = "logs-examplebucket", prefix: str = "examplebucket-logs/") -> None:
    if target != bucket:
        s3().create_bucket(Bucket=target)
    s3().put_bucket_policy(Bucket=target, Policy=log_policy(target, prefix) if target != bucket else _both(bucket))
    s3().put_bucket_logging(
        Bucket=bucket, BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": target, "TargetPrefix": prefix}}
    )


def _both(bucket: str) -> str:
    # the log-delivery statement first: moto's put_bucket_logging stops with AttributeError on a
    # statement whose Principal is the string "*" before it finds the logging one
    policy = json.loads(log_policy(bucket))
    policy["Statement"] += json.loads(public_policy(bucket))["Statement"]
    return json.dumps(policy)


def test_each_request_writes_one_record_in_aws_format():
    site()
    _logging()
    website.get(BUCKET, "/", headers={"User-Agent": "curl/8.5.0", "Referer": "http://example.com/"})
    website.get(BUCKET, "/missing.html", client_ip="203.0.113.7")
    logs = website.access_log("logs-examplebucket", "examplebucket-logs/")
    ok, missing = logs["plane"]
    assert len(logs["plane"]) == 2
    assert ok.bucket == BUCKET and ok.time == "15/Jan/2026:09:00:00 +0000" and ok.remote_ip == "127.0.0.1"
    assert (ok.requester, ok.operation, ok.key, ok.request_uri) == (
        "-",
        "WEBSITE.GET.OBJECT",
        "index.html",
        "GET / HTTP/1.1",
    )
    assert (ok.http_status, ok.error_code, ok.bytes_sent, ok.object_size) == ("200", "-", "13", "13")
    assert (ok.referer, ok.user_agent, ok.host_header) == ("http://example.com/", "curl/8.5.0", HOST)
    assert (ok.signature_version, ok.tls_version, ok.acl_required) == ("-", "-", "-")
    assert (missing.remote_ip, missing.http_status, missing.error_code) == ("203.0.113.7", "404", "NoSuchKey")
    line = ok.line()
    assert len(website.LOG_FIELDS) == 26 and website.parse_log_record(line) == ok
    assert " [15/Jan/2026:09:00:00 +0000] " in line and ' "GET / HTTP/1.1" ' in line
    assert all(r.operation.startswith("REST.") and r.bucket == "originbucket" for r in logs["moto"])


def test_log_object_names_follow_aws_and_are_deterministic():
    def names() -> list[str]:
        site()
        _logging()
        website.get(BUCKET, "/")
        stacklab.clock().advance(hours=1, seconds=5)
        website.get(BUCKET, "/")
        keys = [o["Key"] for o in s3().list_objects_v2(Bucket="logs-examplebucket")["Contents"]]
        return sorted(k for k in keys if k.startswith("examplebucket-logs/2026-01-15"))

    first = names()
    stacklab.reset()
    assert names() == first and len(first) == 2
    assert first[0].startswith("examplebucket-logs/2026-01-15-09-00-00-")
    assert first[1].startswith("examplebucket-logs/2026-01-15-10-00-05-")
    assert all(len(k.rsplit("-", 1)[1]) == 16 and k.rsplit("-", 1)[1].isupper() for k in first)


def test_acl_required_when_an_acl_granted_access():
    site(policy=False)
    s3().put_object_acl(Bucket=BUCKET, Key="index.html", ACL="public-read")
    _logging()
    website.get(BUCKET, "/")
    assert website.access_log("logs-examplebucket")["plane"][0].acl_required == "Yes"


def test_no_logging_no_records_and_separate_bucket_does_not_recurse():
    site()
    website.get(BUCKET, "/")
    assert website.pending_log_deliveries() == 0
    _logging()
    for _ in range(3):
        website.get(BUCKET, "/")
    assert website.deliver_logs(4) == [0, 0, 0, 0]


def test_logging_into_itself_grows_without_end():
    site()
    _logging(target=BUCKET, prefix="logs/")
    for _ in range(3):
        website.get(BUCKET, "/")
    assert website.pending_log_deliveries() == 3
    assert website.deliver_logs(5) == [3, 3, 3, 3, 3]
    assert website.pending_log_deliveries() == 3  # never drains, even with no visitors
    records = website.access_log(BUCKET, "logs/")["plane"]
    assert len(records) == 3 + 15
    delivery = [r for r in records if r.operation == "REST.PUT.OBJECT"]
    assert len(delivery) == 15 and delivery[0].requester == "svc:logging.s3.amazonaws.com"


# --------------------------------------------------------------------------------- names, TLS


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("*.s3.amazonaws.com", "examplebucket.s3.amazonaws.com", True),
        ("*.s3.amazonaws.com", "www.example.com.s3.amazonaws.com", False),
        ("*.s3.amazonaws.com", "s3.amazonaws.com", False),
        ("*.S3.amazonaws.com", "ExampleBucket.s3.amazonaws.com.", True),
        ("www.example.com", "www.example.com", True),
        ("*.example.com", "a.b.example.com", False),
    ],
)
def test_certificate_wildcard_matches_one_label(pattern, host, matches):
    assert website.certificate_matches(pattern, host) is matches


def test_certificate_matcher_refuses_partial_wildcards():
    with pytest.raises(StackLabError, match="whole left-most label"):
        website.certificate_matches("w*.example.com", "www.example.com")
    with pytest.raises(InputError, match="empty labels"):
        website.certificate_matches("*..com", "a.b.com")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("examplebucket", None),
        ("logs-examplebucket", None),
        ("www.example.com", None),
        ("ab", "3 to 63"),
        ("a" * 64, "3 to 63"),
        ("Example_Bucket", "lower-case"),
        ("-bucket", "begin and end"),
        ("bad..name", "adjacent periods"),
        ("192.168.5.4", "IP address"),
        ("xn--bucket", "'xn--'"),
        ("mybucket-s3alias", "'-s3alias'"),
    ],
)
def test_bucket_naming_rules(name, problem):
    problems = website.bucket_name_problems(name)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


# ----------------------------------------------------------------------------------- bad input


def test_stop_and_start_again_serves_the_new_sandbox():
    site()
    assert website.get(BUCKET, "/").status == 200
    stacklab.stop()
    stacklab.start()
    site()
    assert website.get(BUCKET, "/").status == 200


def test_bad_input_raises_clear_errors():
    site()
    with pytest.raises(InputError, match="No bucket is named 'nosuch'"):
        website.get("nosuch")
    with pytest.raises(InputError, match="No bucket is named"):
        website.url("nosuch")
    with pytest.raises(InputError, match="must start with '/'"):
        website.get(BUCKET, "index.html")
    with pytest.raises(InputError, match="spaces or control"):
        website.get(BUCKET, "/a b.html")
    with pytest.raises(InputError, match="client_ip"):
        website.get(BUCKET, "/", client_ip="not-an-ip")
    with pytest.raises(InputError, match="bucket must be a string"):
        website.get(None)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no slashes"):
        website.endpoint("a/b")
    with pytest.raises(InputError, match="Region code"):
        website.endpoint(BUCKET, "mars-1")
    with pytest.raises(InputError, match="Request"):
        website.handle("GET /", HOST)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="host must not be empty"):
        website.handle(Request("GET", "/"), " ")
    with pytest.raises(InputError, match="rounds"):
        website.deliver_logs(0)
    with pytest.raises(InputError, match="26 fields"):
        website.parse_log_record("too short")
