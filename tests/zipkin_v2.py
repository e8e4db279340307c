"""Zipkin v2's Span and ListOfSpans definitions as JSON Schema, for jsonschema (PyPI).

Transcribed from zipkin2-api.yaml (openzipkin/zipkin-api): types, lengths, the kind enum;
lowercase hex added as patterns. Shared by the span tests of real nodes
(tests/cluster/test_spans.py) and of simulated runs (tests/sim/test_sim_spans.py)."""
import jsonschema

HEX16 = "^[0-9a-f]{16}$"
ENDPOINT = {"type": "object", "properties": {
    "serviceName": {"type": "string"}, "ipv4": {"type": "string"}, "ipv6": {"type": "string"},
    "port": {"type": "integer"}}}
SPAN = {"type": "object", "properties": {
    "traceId": {"type": "string", "minLength": 16, "maxLength": 32,
                "pattern": "^([0-9a-f]{16}|[0-9a-f]{32})$"},
    "name": {"type": "string"},
    "parentId": {"type": "string", "minLength": 16, "maxLength": 16, "pattern": HEX16},
    "id": {"type": "string", "minLength": 16, "maxLength": 16, "pattern": HEX16},
    "kind": {"type": "string", "enum": ["CLIENT", "SERVER", "PRODUCER", "CONSUMER"]},
    "timestamp": {"type": "integer"},
    "duration": {"type": "integer", "minimum": 1},
    "debug": {"type": "boolean"},
    "shared": {"type": "boolean"},
    "localEndpoint": ENDPOINT,
    "remoteEndpoint": ENDPOINT,
    "annotations": {"type": "array", "items": {"type": "object", "properties": {
        "timestamp": {"type": "integer"}, "value": {"type": "string"}}}},
    "tags": {"type": "object", "additionalProperties": {"type": "string"}}},
    # Zipkin's collector rejects a span without these two; the definition leaves them optional.
    "required": ["traceId", "id"]}
LIST_OF_SPANS = {"type": "array", "items": SPAN}


def validate(doc):
    """None when doc is a Zipkin v2 ListOfSpans, else the first error's message."""
    try:
        jsonschema.Draft4Validator(LIST_OF_SPANS).validate(doc)
        return None
    except jsonschema.ValidationError as e:
        return e.message
