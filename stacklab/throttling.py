"""Throttling and quotas, observed: requests at chosen instants of the sandbox clock, statuses over time.

A usage plan's token bucket and quota only show up over time, and a burst is many requests at *the
same instant*. :func:`send` moves the **sandbox clock** to each arrival instant (several requests may
share one) and calls :func:`stacklab.planes.gateway.request` (the path the gateway's loopback HTTP
server uses too), so 200 requests take milliseconds of wall time and give the same answers on every
run. A :class:`Timeline` keeps each status *with the gateway's message* — ``429 Too Many Requests``
(throttled) is not ``429 Limit Exceeded`` (quota) — tabulates and plots them per interval.
:func:`arrivals` builds the usual request patterns (steady, bursts, ramp) and :func:`throttle_explorer`
lets a learner change a usage plan's rate and burst and see the timeline (ipywidgets; its text form
is deterministic, for stored notebook outputs). For requests at a steady pace with any sender, see
:mod:`stacklab.traffic`.

The gateway decides every status from what is in the sandbox (usage plans, keys, stage settings),
read with boto3 on each request; this module only schedules the requests and counts.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stacklab._validate import require_choice, require_number, require_str
from stacklab.errors import InputError, StackLabError

__all__ = ["PATTERNS", "Sent", "ThrottleExplorer", "Timeline", "arrivals", "send", "throttle_explorer"]

#: Request patterns :func:`arrivals` knows.
PATTERNS = ("steady", "bursts", "ramp")
#: Most requests one :func:`send` makes (a lesson cell stays well under its time budget).
MAX_REQUESTS = 5_000
_COLOURS = {"200": "tab:green", "429 Too Many Requests": "tab:orange", "429 Limit Exceeded": "tab:red"}


@dataclass(frozen=True)
class Sent:
    """One request: when (seconds after the first instant), its status and the gateway's message."""

    at: float
    status: int
    message: str

    @property
    def outcome(self) -> str:
        """``"200"`` for a success, else the status and message, e.g. ``"429 Limit Exceeded"``."""
        if 200 <= self.status < 300:
            return str(self.status)
        return f"{self.status} {self.message}".strip()


@dataclass
class Timeline:
    """The outcomes of :func:`send`, in the order sent."""

    sent: list[Sent]

    def counts(self) -> dict[str, int]:
        """Outcome -> number of requests, successes first."""
        tally = Counter(s.outcome for s in self.sent)
        return dict(sorted(tally.items(), key=lambda kv: (not kv[0].startswith("2"), kv[0])))

    def per_interval(self, step: float = 1.0) -> list[tuple[float, dict[str, int]]]:
        """``(interval start, {outcome: count})`` for each ``step``-second interval, empty ones included."""
        require_number("step", step, minimum=0.001)
        if not self.sent:
            return []
        last = int(self.sent[-1].at // step)
        rows: list[tuple[float, dict[str, int]]] = [(i * step, {}) for i in range(last + 1)]
        for s in self.sent:
            bucket = rows[int(s.at // step)][1]
            bucket[s.outcome] = bucket.get(s.outcome, 0) + 1
        return rows

    def table(self, step: float = 1.0) -> str:
        """A text table: one row per interval, one column per outcome."""
        outcomes = list(self.counts())
        width = max([len(o) for o in outcomes] + [5])
        lines = ["  t (s)  " + "  ".join(f"{o:>{width}}" for o in outcomes)]
        for start, tally in self.per_interval(step):
            lines.append(f"{start:7.1f}  " + "  ".join(f"{tally.get(o, 0):>{width}}" for o in outcomes))
        return "\n".join(lines)

    def plot(self, step: float = 1.0, title: str = "Requests per interval on the sandbox clock") -> Any:
        """Stacked bars of the outcomes per ``step`` seconds (a matplotlib Figure)."""
        import matplotlib.pyplot as plt

        rows = self.per_interval(step)
        figure, axes = plt.subplots(figsize=(8, 3.2))
        xs = [start for start, _ in rows]
        bottom = [0] * len(rows)
        for outcome in self.counts():
            heights = [tally.get(outcome, 0) for _, tally in rows]
            axes.bar(xs, heights, width=step * 0.9, bottom=bottom, align="edge", label=outcome,
                     color=_COLOURS.get(outcome, "tab:gray"))  # fmt: skip
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        axes.set_xlabel(f"sandbox time (s), {step:g}-second intervals")
        axes.set_ylabel("requests")
        axes.set_title(title)
        axes.legend(loc="upper right")
        figure.tight_layout()
        plt.close(figure)
        return figure

    def __repr__(self) -> str:
        shown = ", ".join(f"{k} x{v}" for k, v in self.counts().items()) or "nothing sent"
        span = self.sent[-1].at if self.sent else 0.0
        return f"Timeline({len(self.sent)} requests over {span:g} s: {shown})"


def arrivals(pattern: str, *, rate: float, seconds: float) -> list[float]:
    """Arrival instants (seconds from 0) averaging ``rate`` requests/s for ``seconds`` seconds.

    ``steady``: evenly spaced; ``bursts``: every 5 s, the next 5 seconds' requests all at once;
    ``ramp``: the rate grows linearly from 0 to twice ``rate`` (same total).
    """
    require_choice("pattern", pattern, PATTERNS)
    require_number("rate", rate, minimum=0.01, maximum=1000)
    require_number("seconds", seconds, minimum=0.01, maximum=3600)
    total = int(round(rate * seconds))
    if total < 1:
        raise InputError(f"rate {rate}/s for {seconds} s is less than one request; raise one of them.")
    if total > MAX_REQUESTS:
        raise InputError(f"rate x seconds is {total} requests; keep it at most {MAX_REQUESTS:,}.")
    if pattern == "steady":
        return [round(i / rate, 6) for i in range(total)]
    if pattern == "bursts":
        per = max(1, int(round(rate * 5)))
        return [float(5 * (i // per)) for i in range(total)]
    # ramp: cumulative count n(t) = total * (t / seconds)^2, so t_i = seconds * sqrt(i / total)
    return [round(seconds * (i / total) ** 0.5, 6) for i in range(total)]


def _message(body: bytes) -> str:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return ""
    if isinstance(data, dict):
        value = data.get("message", data.get("Message"))
        return value if isinstance(value, str) else ""
    return ""


def _progress(total: int, enabled: bool) -> Any:
    """A tqdm progress bar in a live notebook kernel, else None.

    The bar shows no elapsed time or rate, so a notebook's stored output is the same on every run.
    """
    if not enabled:
        return None
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="requests", bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}")


def send(
    api_id: str,
    stage: str,
    path: str,
    times: Sequence[float],
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    progress: bool = False,
) -> Timeline:
    """Send one request per instant in ``times`` (seconds from now, non-decreasing) on the sandbox clock.

    The clock is advanced to each instant before its request, so it ends ``times[-1]`` seconds later.
    ``progress=True`` shows a progress bar in a live notebook. Returns a :class:`Timeline`.
    """
    require_str("api_id", api_id)
    require_str("stage", stage)
    require_str("path", path)
    if isinstance(times, str | bytes) or not isinstance(times, Sequence):
        raise InputError("times must be a list of instants in seconds, e.g. arrivals('steady', rate=5, seconds=10).")
    if not times:
        raise InputError("times is empty: give at least one instant, e.g. [0].")
    if len(times) > MAX_REQUESTS:
        raise InputError(f"times holds {len(times)} instants; keep it at most {MAX_REQUESTS:,}.")
    previous = 0.0
    for i, t in enumerate(times):
        require_number(f"times[{i}]", t, minimum=0)
        if t < previous:
            raise InputError(f"times must not decrease (the sandbox clock only moves forward): "
                             f"times[{i}] = {t} comes after {previous}.")  # fmt: skip
        previous = float(t)
    if headers is not None and not isinstance(headers, dict):
        raise InputError(f"headers must be a dict of header name -> value, got {type(headers).__name__}.")
    from stacklab import clock
    from stacklab.planes import gateway

    sandbox_clock = clock()
    bar = _progress(len(times), progress)
    sent: list[Sent] = []
    now = 0.0
    for t in times:
        if t > now:
            sandbox_clock.advance(seconds=t - now)
            now = float(t)
        response = gateway.request(api_id, stage, method, path, headers=headers)
        sent.append(Sent(round(float(t), 6), response.status, _message(response.body)))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return Timeline(sent)


# ------------------------------------------------------------------------------------ explorer


class ThrottleExplorer:
    """A usage plan's rate and burst and a request pattern in; the timeline of statuses out.

    Each evaluation sets the plan's throttle with ``update_usage_plan``, waits on the sandbox clock
    until the token bucket is full again, and offers the pattern at 10 requests/s with :func:`send`.
    """

    def __init__(self, api_id: str, stage: str, path: str, *, plan_id: str, api_key: str, rate: int = 5,
                 burst: int = 10, pattern: str = "bursts", seconds: int = 5) -> None:  # fmt: skip
        for name, value in (("api_id", api_id), ("stage", stage), ("path", path), ("plan_id", plan_id),
                            ("api_key", api_key)):  # fmt: skip
            require_str(name, value)
        from stacklab.sandbox import client

        try:
            plan = client("apigateway").get_usage_plan(usagePlanId=plan_id)
        except Exception:  # noqa: BLE001 - botocore ClientError
            raise InputError(f"There is no usage plan {plan_id!r} in the sandbox: pass the id create_usage_plan "
                             "returned.") from None  # fmt: skip
        if plan.get("quota"):
            raise InputError("The explorer needs a usage plan without a quota (a quota would end the runs with "
                             "'Limit Exceeded'): create a separate plan for it.")  # fmt: skip
        self.target = (api_id, stage, path, plan_id, api_key)
        self.start = {"rate": rate, "burst": burst, "pattern": pattern, "seconds": seconds}
        self.timeline = self.evaluate(**self.start)
        self._widget: Any = None
        self._controls: dict[str, Any] = {}

    def evaluate(self, rate: int, burst: int, pattern: str, seconds: int) -> Timeline:
        """Apply ``rate``/``burst`` to the plan, refill the bucket, send ``pattern`` for ``seconds``."""
        # whole numbers: moto 5.2.5's update_usage_plan parses rateLimit with int() (AWS takes a double)
        require_number("rate", rate, minimum=1, maximum=100, integer=True)
        require_number("burst", burst, minimum=0, maximum=500, integer=True)
        require_choice("pattern", pattern, PATTERNS)
        require_number("seconds", seconds, minimum=1, maximum=120, integer=True)
        from stacklab import clock
        from stacklab.sandbox import client

        api_id, stage, path, plan_id, key = self.target
        client("apigateway").update_usage_plan(usagePlanId=plan_id, patchOperations=[
            {"op": "replace", "path": "/throttle/rateLimit", "value": str(int(rate))},
            {"op": "replace", "path": "/throttle/burstLimit", "value": str(int(burst))},
        ])  # fmt: skip
        clock().advance(seconds=burst / rate + 1)  # start each run with a full bucket
        times = arrivals(pattern, rate=10.0, seconds=seconds)
        return send(api_id, stage, path, times, headers={"x-api-key": key})

    @property
    def widget(self) -> Any:
        """The ipywidgets UI (built on first use)."""
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _build(self) -> Any:
        import ipywidgets as w

        style = {"description_width": "120px"}
        self._controls = {
            "rate": w.IntSlider(value=self.start["rate"], min=1, max=20, description="rate (req/s)", style=style),
            "burst": w.IntSlider(value=self.start["burst"], min=0, max=100, description="burst", style=style),
            "pattern": w.Dropdown(options=list(PATTERNS), value=self.start["pattern"], description="pattern",
                                  style=style),
            "seconds": w.IntSlider(value=self.start["seconds"], min=2, max=30, description="seconds", style=style),
        }  # fmt: skip
        self._text = w.HTML()
        self._image = w.Image(format="png")
        for control in self._controls.values():
            control.observe(self._refresh, names="value")
        self._refresh()
        return w.VBox([*self._controls.values(), self._text, self._image])

    def _refresh(self, change: Any = None) -> str:
        """Widget callback: run the current inputs (the first render shows the run made at creation)."""
        values = {k: c.value for k, c in self._controls.items()}
        try:
            if change is not None:
                self.timeline = self.evaluate(**values)
            shown = f"<b>{self.timeline!r}</b>"
        except StackLabError as exc:
            shown = f"<span style='color:#cf222e'>{exc}</span>"
        self._text.value = shown
        # a PNG in an Image widget (not display() in an Output widget: that leaks into the cell's stored outputs)
        figure = self.timeline.plot(title=f"usage plan: rate {values['rate']}/s, burst {values['burst']}")
        png = io.BytesIO()
        figure.savefig(png, format="png", dpi=80)
        self._image.value = png.getvalue()
        return shown

    def __repr__(self) -> str:
        s = self.start
        return (f"Throttle explorer (change the inputs in a live kernel): rate {s['rate']}/s, burst {s['burst']}, "
                f"{s['pattern']} at 10 req/s for {s['seconds']} s -> {self.timeline!r}")  # fmt: skip

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude))
        bundle["text/plain"] = repr(self)
        return bundle


def throttle_explorer(api_id: str, stage: str, path: str, *, plan_id: str, api_key: str, rate: int = 5,
                      burst: int = 10, pattern: str = "bursts", seconds: int = 5) -> ThrottleExplorer:  # fmt: skip
    """An interactive throttle explorer over a usage plan (without a quota) and one of its API keys.

    The pattern always offers 10 requests per second on average; the plan's rate and burst decide how
    many get ``200`` and how many ``429 Too Many Requests``. Each run moves the sandbox clock forward.
    """
    return ThrottleExplorer(api_id, stage, path, plan_id=plan_id, api_key=api_key, rate=rate, burst=burst,
                            pattern=pattern, seconds=seconds)  # fmt: skip
