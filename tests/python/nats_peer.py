#!/usr/bin/env python3
"""A NATS peer built only from PyPI clients: nats-py, cloudevents, OTel.

The meshtrace interop suite (issue #5) runs it as "a client no one here
wrote": it publishes CloudEvents with W3C trace context for a Rust consumer
to continue, and consumes what a Rust publisher sent, printing what the
Python libraries make of it. Every result is one JSON line on stdout;
failures are one line on stderr and a non-zero exit.

    nats_peer.py publish --url U --subject S --mode binary [--count N]
    nats_peer.py consume --url U --subject S [--count N] [--timeout SECS]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import uuid
from collections.abc import Mapping, MutableMapping, Sequence
from datetime import datetime, timezone
from typing import Any

import nats
import nats.errors
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.exceptions import (
    BaseCloudEventException,
    CloudEventValidationError,
    CustomExtensionAttributeError,
)
from cloudevents.core.v1.event import CloudEvent
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import DefaultGetter, Getter, Setter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import (DEFAULT_ON, Sampler,
                                             SamplingResult)
from opentelemetry.trace import SpanKind, TraceState

MODES = ("binary", "structured", "capitalised", "cerebro")
SOURCE = "/meshtrace/python-peer"
EVENT_TYPE = "com.example.order.created"
TRACESTATE_KEY, TRACESTATE_VALUE = "py", "1"


class PeerError(Exception):
    """An expected failure: reported on stderr without a traceback."""


class TraceStateSampler(Sampler):
    """The default sampler, plus `py=1` in every new span's tracestate.

    The SDK takes a span's tracestate from the sampling result, so this is
    the public way to make it non-empty (as vendors' samplers do).
    """

    def should_sample(self, parent_context: Any, trace_id: int, name: str,
                      kind: Any = None, attributes: Any = None,
                      links: Any = None, trace_state: Any = None
                      ) -> SamplingResult:
        """Samples as `DEFAULT_ON` (parent-based) and adds `py=1`."""
        result = DEFAULT_ON.should_sample(
            parent_context, trace_id, name, kind, attributes, links)
        state = result.trace_state or TraceState()
        if TRACESTATE_KEY not in state:
            state = state.add(TRACESTATE_KEY, TRACESTATE_VALUE)
        return SamplingResult(result.decision, result.attributes, state)

    def get_description(self) -> str:
        """Names the sampler."""
        return "TraceStateSampler{py=1}"


class CanonicalSetter(Setter[MutableMapping[str, str]]):
    """Writes header names the way Go's `http.Header` carrier does."""

    def set(self, carrier: MutableMapping[str, str], key: str,
            value: str) -> None:
        """Sets `Traceparent` for `traceparent`, `Ce-Id` for `ce-id`."""
        carrier["-".join(p.capitalize() for p in key.split("-"))] = value


class CaseInsensitiveGetter(Getter[Mapping[str, str]]):
    """Reads headers ignoring ASCII case, the exact name first.

    The CloudEvents NATS binding declares header names case-insensitive;
    OTel's `DefaultGetter` does a plain (case-sensitive) dict lookup.
    """

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        """The value of `key` in any case, `None` if absent."""
        if key in carrier:
            return [carrier[key]]
        for name, value in carrier.items():
            if name.lower() == key.lower():
                return [value]
        return None

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        """Every header name."""
        return list(carrier)


def emit(record: Mapping[str, Any]) -> None:
    """Prints one JSON line and flushes, so a waiting caller sees it."""
    print(json.dumps(record, ensure_ascii=False), flush=True)


async def connect(url: str) -> nats.NATS:
    """Connects, trying twice; later errors as one stderr line each.

    nats-py retries the initial connect forever unless
    `max_reconnect_attempts` is positive, whatever `allow_reconnect` says.
    """
    connected = False

    async def on_error(err: Exception) -> None:
        if connected:
            print(f"nats_peer: nats: {err!r}", file=sys.stderr, flush=True)

    try:
        nc = await nats.connect(url, connect_timeout=5, allow_reconnect=False,
                                max_reconnect_attempts=1,
                                reconnect_time_wait=0.2, error_cb=on_error)
    except (OSError, asyncio.TimeoutError, nats.errors.Error) as err:
        raise PeerError(f"cannot connect to {url}: {err!r}") from err
    connected = True
    return nc


def cerebro_body(event_id: str, seq: int, traceparent: str) -> bytes:
    """The JSON evalops/cerebro's `internal/events/jetstream.go` publishes.

    Its own `CloudEvent` struct (not sdk-go) marshalled by `encoding/json`:
    fields in struct order, compact, the `data` map's keys sorted, and
    `schema_version`/`tenant_id` members that are not valid CloudEvents
    extension names. Hand-written here because the SDK refuses those names.
    """
    now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    data = {"sku": f"sku-{seq}", "tenant_id": "tenant-1",
            "traceparent": traceparent, "schema_version": "v1"}
    event = {
        "specversion": "1.0", "id": event_id, "source": "cerebro",
        "type": EVENT_TYPE, "subject": EVENT_TYPE,
        "time": now.replace("+00:00", "Z"),
        "dataschema": f"urn:cerebro:events/{EVENT_TYPE}/v1",
        "schema_version": "v1", "tenant_id": "tenant-1",
        "traceparent": traceparent, "datacontenttype": "application/json",
        "data": dict(sorted(data.items())),
    }
    return json.dumps(event, separators=(",", ":")).encode()


def encode(mode: str, seq: int,
           subject: str) -> tuple[dict[str, str], bytes, str]:
    """Headers, payload and event id of one event, in the current span."""
    event_id = str(uuid.uuid4())
    trace_headers: dict[str, str] = {}
    propagate.inject(trace_headers)
    if mode == "cerebro":
        # cerebro's js.Publish(subject, payload, nats.MsgId(id)) sends only
        # the JetStream dedup header; traceparent lives in the JSON body.
        body = cerebro_body(event_id, seq, trace_headers["traceparent"])
        return {"Nats-Msg-Id": event_id}, body, event_id
    attributes: dict[str, Any] = {
        "id": event_id, "source": SOURCE, "type": EVENT_TYPE,
        "subject": subject, "datacontenttype": "application/json",
    }
    # The distributed-tracing extension: the creation context.
    for name in ("traceparent", "tracestate"):
        if name in trace_headers:
            attributes[name] = trace_headers[name]
    data = {"sku": f"sku-{seq}", "seq": seq, "mode": mode}
    event = CloudEvent(attributes, data)
    # cloudevents 2.2.0 has no NATS binding; its HTTP binding writes the
    # same `ce-` names and §3.1.3.2 percent-encoding the NATS binding asks
    # for, and maps datacontenttype to `content-type` (no
    # `ce-datacontenttype`), so its headers are used as NATS headers as is.
    if mode == "structured":
        message = ce_http.to_structured_event(event)
    else:
        message = ce_http.to_binary_event(event)
    headers = dict(message.headers)
    if mode == "capitalised":  # only the trace headers, as a Go carrier
        trace_headers = {}
        propagate.inject(trace_headers, setter=CanonicalSetter())
    headers.update(trace_headers)
    return headers, message.body, event_id


async def publish(args: argparse.Namespace) -> None:
    """Publishes `--count` events, each from its own PRODUCER span."""
    provider = TracerProvider(sampler=TraceStateSampler())
    tracer = provider.get_tracer("nats_peer")
    nc = await connect(args.url)
    try:
        js = nc.jetstream() if args.stream else None
        if js is not None:
            try:
                await js.add_stream(name=args.stream, subjects=[args.subject])
            except ValueError as err:  # nats-py validates names this way
                raise PeerError(f"bad --stream: {err}") from err
        for seq in range(1, args.count + 1):
            with tracer.start_as_current_span(
                    f"send {args.subject}", kind=SpanKind.PRODUCER) as span:
                headers, body, event_id = encode(args.mode, seq, args.subject)
                if js is not None:
                    await js.publish(args.subject, body, headers=headers)
                else:
                    await nc.publish(args.subject, body, headers=headers)
                ctx = span.get_span_context()
            lower = {k.lower(): v for k, v in headers.items()}
            emit({"trace_id": trace.format_trace_id(ctx.trace_id),
                  "span_id": trace.format_span_id(ctx.span_id),
                  "traceparent": lower.get("traceparent")
                  or json.loads(body)["traceparent"],
                  "tracestate": lower.get("tracestate", ""),
                  "event_id": event_id, "mode": args.mode, "headers": headers})
        await nc.flush()
    except nats.errors.Error as err:
        raise PeerError(f"cannot publish to {args.subject}: {err!r}") from err
    finally:
        await nc.close()


def decode(headers: Mapping[str, str], body: bytes) -> tuple[Any, list[str]]:
    """The event per the SDK (binary if any `ce-` header, else structured).

    Members the SDK rejects only for their names (cerebro's `tenant_id`,
    `schema_version`) are dropped and returned, and the event decoded again.
    """
    message = ce_http.HTTPMessage(headers=dict(headers), body=body)
    try:
        return ce_http.from_http_event(message), []
    except CloudEventValidationError as err:
        names = sorted(err.errors)
        if not all(isinstance(e, CustomExtensionAttributeError)
                   for errs in err.errors.values() for e in errs):
            raise
        if any(k.lower().startswith(ce_http.CE_PREFIX) for k in headers):
            raise
        members = {k: v for k, v in json.loads(body).items() if k not in names}
        body = json.dumps(members).encode()
        retry = ce_http.HTTPMessage(headers={}, body=body)
        return ce_http.from_http_event(retry), names


def describe(msg: Any, getter: Getter, tracer: trace.Tracer) -> dict[str, Any]:
    """What the libraries make of one received message.

    The parent comes from the NATS headers; failing that (cerebro's shape),
    from the event's distributed-tracing extension.
    """
    headers = msg.headers or {}
    binary = any(k.lower().startswith(ce_http.CE_PREFIX) for k in headers)
    record: dict[str, Any] = {
        "nats_subject": msg.subject, "headers": headers,
        "mode": "binary" if binary else "structured",
        "event_id": None, "event_type": None, "event_source": None,
        "ce_traceparent": None, "ce_tracestate": None, "data": None,
        "dropped_attributes": [], "decode_error": None,
    }
    try:
        event, dropped = decode(headers, msg.data)
    except (BaseCloudEventException, ValueError) as err:
        record["decode_error"] = str(err)
    else:
        data = event.get_data()
        record.update(event_id=event.get_id(), event_type=event.get_type(),
                      event_source=event.get_source(),
                      ce_traceparent=event.get_extension("traceparent"),
                      ce_tracestate=event.get_extension("tracestate"),
                      dropped_attributes=dropped)
        if isinstance(data, bytes):
            record["data_base64"] = base64.b64encode(data).decode()
        else:
            record["data"] = data
    parent, context_from = propagate.extract(headers, getter=getter), "headers"
    remote = trace.get_current_span(parent).get_span_context()
    if not remote.is_valid and record["ce_traceparent"]:
        carrier = {"traceparent": record["ce_traceparent"],
                   "tracestate": record["ce_tracestate"] or ""}
        parent, context_from = propagate.extract(carrier), "event"
        remote = trace.get_current_span(parent).get_span_context()
    record.update(
        context_from=context_from if remote.is_valid else None,
        parent_span_id=trace.format_span_id(remote.span_id)
        if remote.is_valid else None,
        tracestate=remote.trace_state.to_header() if remote.is_valid else "")
    with tracer.start_as_current_span(f"process {msg.subject}", context=parent,
                                      kind=SpanKind.CONSUMER) as span:
        ctx = span.get_span_context()
        record.update(trace_id=trace.format_trace_id(ctx.trace_id),
                      span_id=trace.format_span_id(ctx.span_id),
                      sampled=ctx.trace_flags.sampled)
    return record


async def consume(args: argparse.Namespace) -> None:
    """Prints `ready`, then one record per message until `--count`."""
    getter: Getter = (DefaultGetter() if args.case_sensitive
                      else CaseInsensitiveGetter())
    tracer = TracerProvider().get_tracer("nats_peer")
    nc = await connect(args.url)
    try:
        sub = await nc.subscribe(args.subject, queue=args.queue or "")
        await nc.flush()
        emit({"ready": True})
        deadline = asyncio.get_running_loop().time() + args.timeout
        for seq in range(1, args.count + 1):
            left = deadline - asyncio.get_running_loop().time()
            try:
                msg = await sub.next_msg(timeout=max(left, 0.001))
            except nats.errors.TimeoutError as err:
                raise PeerError(
                    f"timed out after {args.timeout}s waiting for message "
                    f"{seq} of {args.count} on {args.subject}") from err
            emit(describe(msg, getter, tracer))
    finally:
        await nc.close()


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line: `publish` or `consume`, see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="nats_peer.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    pub = commands.add_parser("publish", help="publish traced CloudEvents")
    pub.add_argument("--mode", required=True, choices=MODES)
    pub.add_argument("--stream", help="publish through JetStream, adding this "
                     "stream on the subject (cerebro uses js.Publish)")
    con = commands.add_parser("consume", help="consume and extract")
    con.add_argument("--timeout", type=float, default=10.0,
                     help="seconds for all messages (default 10)")
    con.add_argument("--queue", help="queue group")
    con.add_argument("--case-sensitive", action="store_true",
                     help="extract with OTel's DefaultGetter (exact names)")
    for command in (pub, con):
        command.add_argument("--url", required=True)
        command.add_argument("--subject", required=True)
        command.add_argument("--count", type=int, default=1)
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    return args


def main(argv: Sequence[str]) -> int:
    """Runs one subcommand; 0 on success, 1 with a stderr line on failure."""
    args = parse_args(argv)
    try:
        run = publish if args.command == "publish" else consume
        asyncio.run(run(args))
    except PeerError as err:
        print(f"nats_peer: error: {err}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
