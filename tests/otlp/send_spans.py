#!/usr/bin/env python3
"""Sends the spans of a few chat calls to `evalgate serve` with the official OpenTelemetry
Python SDK and its OTLP/HTTP exporter (protobuf, gzip), the way an application instrumented
for the GenAI semantic conventions would. Nothing here calls a model: the GenAI attributes
and events are set by hand on the spans, as instrumentation libraries set them.

usage: send_spans.py --endpoint http://127.0.0.1:PORT/v1/traces [--token TOKEN]

Prints one JSON object on stdout: the spans the exporter was handed, the export results,
and for each chat call the event id of the interaction it should become
(`otel-<trace id>-<span id>`, computed from the span's own context).

Needs `pip install -r tests/otlp/requirements.txt`.
"""

import argparse
import json
import sys

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind, Status, StatusCode


class Recording(SpanExporter):
    """Hands spans to the real exporter and keeps what it answered."""

    def __init__(self, inner):
        self.inner = inner
        self.spans = 0
        self.results = []

    def export(self, spans):
        self.spans += len(spans)
        result = self.inner.export(spans)
        self.results.append(result.name)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self.inner.force_flush(timeout_millis)


SYSTEM = "You are the support assistant of an invoicing product. Answer in two sentences."

# (conversation id, user message, answer, finish reason, input tokens, output tokens)
CALLS = [
    ("conv-1", "My invoice was charged twice this month, please refund the duplicate charge.",
     "I am sorry about the double charge. I have asked billing to refund the duplicate.",
     "stop", 41, 19),
    ("conv-2", "I was billed twice for the same invoice and I need a refund of the double charge.",
     "Thanks for telling us. The duplicate charge on your invoice will be",
     "length", 44, 16),
    ("conv-3", "The CSV export breaks accents when I open it in Excel.",
     "Open the file with Data > From Text and pick UTF-8 as the encoding.",
     "stop", 38, 17),
    ("conv-4", "Exported CSV files show broken accents in Excel, names like José look wrong.",
     "Excel reads CSV as ANSI by default: import it as UTF-8 to keep the accents.",
     "stop", 40, 18),
    # An API key pasted by a user: evalgate stores the interaction without it.
    ("conv-5", "My API key sk-proj-Zx81Qa20Lm55Tt90Rr11 stopped working after the upgrade.",
     "Keys are not affected by upgrades; please create a new key in Settings > API.",
     "stop", 39, 18),
]


def chat_with_events(tracer, conversation, user, answer, finish, tokens_in, tokens_out):
    """A chat call recorded with the span events of the conventions up to 1.36, as
    opentelemetry-instrumentation-openai does when it captures message content."""
    with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.system", "openai")
        span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        span.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
        span.set_attribute("gen_ai.request.temperature", 0.2)
        span.set_attribute("gen_ai.request.max_tokens", 120)
        span.set_attribute("gen_ai.request.top_p", 1.0)
        span.set_attribute("gen_ai.response.id", "chatcmpl-" + conversation)
        span.set_attribute("gen_ai.response.finish_reasons", [finish])
        span.set_attribute("gen_ai.usage.input_tokens", tokens_in)
        span.set_attribute("gen_ai.usage.output_tokens", tokens_out)
        span.set_attribute("gen_ai.conversation.id", conversation)
        span.set_attribute("server.address", "api.openai.com")
        span.add_event("gen_ai.system.message", {"gen_ai.system": "openai", "content": SYSTEM})
        span.add_event("gen_ai.user.message", {"gen_ai.system": "openai", "content": user})
        span.add_event(
            "gen_ai.choice",
            {
                "gen_ai.system": "openai",
                "index": 0,
                "finish_reason": finish,
                "message": json.dumps({"role": "assistant", "content": answer}),
            },
        )
        ctx = span.get_span_context()
        return f"otel-{ctx.trace_id:032x}-{ctx.span_id:016x}"


def chat_with_message_attributes(tracer):
    """A two-turn chat recorded with the newer `gen_ai.input.messages` /
    `gen_ai.output.messages` attributes (JSON text: the SDK's attributes cannot be maps)."""
    with tracer.start_as_current_span("chat claude-sonnet-4", kind=SpanKind.CLIENT) as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "anthropic")
        span.set_attribute("gen_ai.request.model", "claude-sonnet-4")
        span.set_attribute("gen_ai.request.max_tokens", 200)
        span.set_attribute("gen_ai.usage.input_tokens", 63)
        span.set_attribute("gen_ai.usage.output_tokens", 22)
        span.set_attribute("gen_ai.conversation.id", "conv-6")
        span.set_attribute("evalgate.prompt.name", "sso-helper")
        span.set_attribute(
            "gen_ai.system_instructions",
            json.dumps([{"type": "text", "content": "You help admins set up single sign-on."}]),
        )
        span.set_attribute(
            "gen_ai.input.messages",
            json.dumps([
                {"role": "user", "parts": [{"type": "text", "content": "Do you support SAML?"}]},
                {"role": "assistant", "parts": [{"type": "text", "content": "Yes, SAML 2.0 on the Team plan."}]},
                {"role": "user", "parts": [{"type": "text", "content": "How do I connect Okta with SAML?"}]},
            ]),
        )
        span.set_attribute(
            "gen_ai.output.messages",
            json.dumps([{
                "role": "assistant",
                "parts": [{"type": "text", "content": "In Okta, add a SAML app with our ACS URL, then paste its metadata URL in Settings > SSO."}],
                "finish_reason": "stop",
            }]),
        )
        ctx = span.get_span_context()
        return f"otel-{ctx.trace_id:032x}-{ctx.span_id:016x}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="the /v1/traces URL")
    parser.add_argument("--token", help="the server's bearer token")
    args = parser.parse_args()

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    exporter = Recording(
        OTLPSpanExporter(endpoint=args.endpoint, headers=headers, compression=Compression.Gzip, timeout=30)
    )
    provider = TracerProvider(
        resource=Resource.create({"service.name": "support-bot", "service.version": "1.4.0"})
    )
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=4))
    tracer = provider.get_tracer("evalgate.tests.send_spans", "0.1.0")

    interactions = []
    for conversation, user, answer, finish, tokens_in, tokens_out in CALLS:
        # The request that made the call: an ordinary span without GenAI attributes.
        with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER) as http:
            http.set_attribute("http.request.method", "POST")
            http.set_attribute("http.route", "/chat")
            http.set_attribute("http.request.header.authorization", ["Bearer not-for-evalgate-123"])
            interactions.append(
                chat_with_events(tracer, conversation, user, answer, finish, tokens_in, tokens_out)
            )
    interactions.append(chat_with_message_attributes(tracer))
    # A GenAI span that generates no text, and a failed HTTP call: both ignored.
    with tracer.start_as_current_span("embeddings text-embedding-3-small", kind=SpanKind.CLIENT) as span:
        span.set_attribute("gen_ai.operation.name", "embeddings")
        span.set_attribute("gen_ai.request.model", "text-embedding-3-small")
        span.set_attribute("gen_ai.usage.input_tokens", 12)
    with tracer.start_as_current_span("GET /health", kind=SpanKind.CLIENT) as span:
        span.set_status(Status(StatusCode.ERROR, "connection refused"))

    flushed = provider.force_flush(30_000)
    provider.shutdown()
    print(json.dumps({
        "spans_sent": exporter.spans,
        "exports": exporter.results,
        "flushed": flushed,
        "interactions": interactions,
    }))
    ok = flushed and exporter.results and all(r == SpanExportResult.SUCCESS.name for r in exporter.results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
