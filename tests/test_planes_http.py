"""The planes' tiny HTTP server: loopback only, real HTTP, stopped with the sandbox."""

from __future__ import annotations

import pytest
import requests

import stacklab
from stacklab.planes.http import Request, Response, serve


def echo(request: Request) -> Response:
    body = f"{request.method} {request.path} {request.query} {request.header('X-Test')} {request.body!r}"
    return Response(200, {"Content-Type": "text/plain"}, body.encode())


def test_serves_a_handler_on_loopback_and_stops_with_the_sandbox():
    stacklab.start()
    server = serve("echo-test", echo)
    assert server.url.startswith("http://127.0.0.1:")
    assert serve("echo-test", echo) is server
    reply = requests.post(f"{server.url}/a/b?x=1", data=b"hi", headers={"X-Test": "yes"}, timeout=5)
    assert reply.status_code == 200
    assert reply.text == "POST /a/b {'x': '1'} yes b'hi'"
    assert requests.head(f"{server.url}/", timeout=5).headers["Content-Length"] == str(len("HEAD / {} None b''"))
    url = server.url
    stacklab.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


def test_in_process_request_and_response_helpers():
    request = Request("get", "/x/y.html?v=2", {"Host": "example"})
    assert (request.method, request.path, request.query) == ("GET", "/x/y.html", {"v": "2"})
    assert request.header("host") == "example"
    response = Response(404, {"Content-Type": "text/html"}, b"nope")
    assert response.header("content-type") == "text/html" and response.text == "nope"


def test_bad_input():
    with pytest.raises(stacklab.InputError, match="must start with '/'"):
        Request("GET", "index.html")
    with pytest.raises(stacklab.SandboxNotStartedError):
        serve("x", echo)
    stacklab.start()
    try:
        with pytest.raises(stacklab.InputError, match="handler function"):
            serve("x", "not callable")  # type: ignore[arg-type]
    finally:
        stacklab.stop()


def test_patch_is_served_and_a_failing_handler_answers_500_not_a_reset():
    stacklab.start()

    def broken(request: Request) -> Response:
        raise RuntimeError("plane bug")

    assert requests.patch(f"{serve('echo-patch', echo).url}/p", data=b"x", timeout=5).text == "PATCH /p {} None b'x'"
    reply = requests.get(f"{serve('broken-test', broken).url}/", timeout=5)
    assert reply.status_code == 500 and reply.text == "RuntimeError: plane bug"
    stacklab.stop()

