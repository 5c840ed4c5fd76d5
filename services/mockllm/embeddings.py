"""Embeddings wire protocols: OpenAI ``POST /v1/embeddings`` and Cohere ``POST /v1/embed`` / ``POST /v2/embed``;
Mistral's and self-hosted OpenAI-compatible servers' ``POST <prefix>/embeddings`` (catalogue rows' mock paths).

Vectors are deterministic per (text, dimension): SHAKE-256 of the text, read as int16s, scaled to unit
length, so the same text always embeds to the same vector and different texts to different ones.
Tokens are whitespace words (min 1 per text), as in the chat protocols.
"""

from __future__ import annotations

import array
import base64
import hashlib
import math
import sys
from collections.abc import Callable
from typing import Any

from starlette.routing import Route

from mockllm import asgi, jsonio
from mockllm.asgi import Receive, Scope, Send
from mockllm.directives import OPEN, count_tokens, norm_fault, parse
from mockllm.engine import Provider, State, authorize
from mockllm.faults import ERROR_FAULTS, error_reply

OPENAI_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
COHERE_DIMS = {"embed-v4.0": 1536, "embed-english-v3.0": 1024, "embed-multilingual-v3.0": 1024,
               "embed-english-light-v3.0": 384}
MISTRAL_DIMS = {"mistral-embed": 1024, "codestral-embed": 1536}
MISTRAL_MAX_DIM = {"codestral-embed": 3072}  # `output_dimension` is accepted up to this
SELF_HOSTED_DIMS = 768  # a self-hosted server answers with its model's size; the mock's models have this one
MAX_INPUTS = {"openai": 2048, "cohere": 96, "mistral": 512}
COHERE_CONTEXT = {"embed-v4.0": 128_000}  # tokens of one text; the v3 models read 512
MISTRAL_BATCH_TOKENS = 16_384  # tokens of one call, all texts together


class _Invalid(Exception):
    """A request the real API answers with 400."""


def vector(text: str, dims: int) -> list[float]:
    """The deterministic unit vector of `text` with `dims` components."""
    raw = array.array("h", hashlib.shake_256(text.encode()).digest(2 * dims))
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


def _base64(vec: list[float]) -> str:
    packed = array.array("f", vec)
    if sys.byteorder == "big":  # the wire format is little-endian float32
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode()


def _texts(value: Any, name: str, limit: int) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise _Invalid(f"'{name}' must be a non-empty string or a non-empty array of non-empty strings")
    if len(texts) > limit:
        raise _Invalid(f"'{name}' must have at most {limit} items")
    return texts


def _token_arrays(value: Any) -> list[list[int]] | None:
    """OpenAI's token-id input (an array of integers, or of such arrays), or None if the input is not one."""
    def ids(item: Any) -> bool:
        return isinstance(item, list) and bool(item) and all(
            isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in item)
    if ids(value):
        return [value]
    if isinstance(value, list) and value and all(ids(item) for item in value):
        return value
    return None


def openai_reply(body: dict[str, Any]) -> dict[str, Any]:
    """`CreateEmbeddingResponse` for an OpenAI embeddings request."""
    model, fmt, dims = body.get("model"), body.get("encoding_format", "float"), body.get("dimensions")
    if model not in OPENAI_DIMS:
        raise _Invalid(f"unknown embedding model: {model!r}")
    if fmt not in ("float", "base64"):
        raise _Invalid("'encoding_format' must be 'float' or 'base64'")
    if dims is not None and (not isinstance(dims, int) or not 1 <= dims <= OPENAI_DIMS[model]
                             or model == "text-embedding-ada-002"):
        raise _Invalid(f"'dimensions' is not valid for {model}")
    arrays = _token_arrays(body.get("input"))
    if arrays is not None:  # token ids: each array is embedded as the text of its ids, one token each
        if len(arrays) > MAX_INPUTS["openai"]:
            raise _Invalid(f"'input' must have at most {MAX_INPUTS['openai']} items")
        texts, tokens = [" ".join(map(str, ids)) for ids in arrays], sum(len(ids) for ids in arrays)
    else:
        texts = _texts(body.get("input"), "input", MAX_INPUTS["openai"])
        tokens = sum(count_tokens(t) for t in texts)
    data = []
    for i, text in enumerate(texts):
        vec = vector(text, dims or OPENAI_DIMS[model])
        data.append({"object": "embedding", "index": i, "embedding": _base64(vec) if fmt == "base64" else vec})
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def mistral_reply(body: dict[str, Any]) -> dict[str, Any]:
    """Mistral's embeddings response (OpenAI-shaped list, usage with completion_tokens 0); unknown fields refused."""
    unknown = sorted(set(body) - {"model", "input", "output_dimension", "output_dtype", "encoding_format"})
    if unknown:
        raise _Invalid(f"Extra inputs are not permitted: {', '.join(unknown)}")
    model, dims = body.get("model"), body.get("output_dimension")
    if model not in MISTRAL_DIMS:
        raise _Invalid(f"Invalid model: {model}")
    if body.get("output_dtype", "float") != "float" or body.get("encoding_format", "float") != "float":
        raise _Invalid("the mock answers output_dtype 'float' and encoding_format 'float' only")
    if dims is not None and (not isinstance(dims, int) or not 1 <= dims <= MISTRAL_MAX_DIM.get(model, 0)):
        raise _Invalid(f"output_dimension is not valid for {model}")
    texts = _texts(body.get("input"), "input", MAX_INPUTS["mistral"])
    tokens = sum(count_tokens(t) for t in texts)
    if tokens > MISTRAL_BATCH_TOKENS:
        raise _Invalid(f"Too many tokens in batch. Max is {MISTRAL_BATCH_TOKENS} got {tokens}")
    data = [{"object": "embedding", "index": i, "embedding": vector(t, dims or MISTRAL_DIMS[model])}
            for i, t in enumerate(texts)]
    return {"id": "mockembed", "object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens, "completion_tokens": 0}}


def self_hosted_reply(models: tuple[str, ...]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """OpenAI's embeddings response from a self-hosted server serving `models` (no `dimensions`, float only)."""

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        model = body.get("model")
        if model not in models:
            raise _Invalid(f"The model `{model}` does not exist.")
        if body.get("dimensions") is not None:
            raise _Invalid("this server answers embeddings of the model's own size only")
        fmt = body.get("encoding_format", "float")  # the openai SDK asks for base64 unless told otherwise
        if fmt not in ("float", "base64"):
            raise _Invalid("'encoding_format' must be 'float' or 'base64'")
        texts = _texts(body.get("input"), "input", MAX_INPUTS["openai"])
        data = [{"object": "embedding", "index": i,
                 "embedding": _base64(vec) if fmt == "base64" else vec}
                for i, vec in enumerate(vector(t, SELF_HOSTED_DIMS) for t in texts)]
        tokens = sum(count_tokens(t) for t in texts)
        return {"object": "list", "data": data, "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    return reply


def cohere_reply(body: dict[str, Any], version: int) -> dict[str, Any]:
    """Cohere embed response (v1 `embeddings_by_type` or v2) for float embeddings."""
    model = body.get("model")
    if model not in COHERE_DIMS:
        raise _Invalid(f"model '{model}' not found")
    if body.get("input_type") not in ("search_document", "search_query", "classification", "clustering"):
        raise _Invalid("input_type is required for embed models v3 and higher")
    types = body.get("embedding_types") or ["float"]
    if types != ["float"]:
        raise _Invalid("the mock answers embedding_types ['float'] only")
    texts = _texts(body.get("texts"), "texts", MAX_INPUTS["cohere"])
    truncate = body.get("truncate", "END")
    if truncate not in ("NONE", "START", "END"):
        raise _Invalid("truncate must be one of NONE, START, END")
    context = COHERE_CONTEXT.get(model, 512)
    longest = max(range(len(texts)), key=lambda i: count_tokens(texts[i]))
    if truncate == "NONE" and count_tokens(texts[longest]) > context:  # START/END cut it, and say nothing
        raise _Invalid(f"invalid request: texts[{longest}] has {count_tokens(texts[longest])} tokens, more than "
                       f"the model's maximum of {context}; shorten it or set truncate")
    dims = COHERE_DIMS[model]
    doc: dict[str, Any] = {
        "id": "mock-embed", "texts": texts, "embeddings": {"float": [vector(t, dims) for t in texts]},
        "meta": {"api_version": {"version": str(version)},
                 "billed_units": {"input_tokens": sum(count_tokens(t) for t in texts)}},
    }
    if version == 1:
        doc["response_type"] = "embeddings_by_type"
    return doc


def _directive_fault(body: dict[str, Any]) -> str | None:
    """A `[[mock:fault=…]]` directive in any input text (how a test reaches the mock through a gateway)."""
    texts = body.get("input", body.get("texts"))
    for text in [texts] if isinstance(texts, str) else texts if isinstance(texts, list) else []:
        if isinstance(text, str) and OPEN in text:
            return parse(text)[1].fault
    return None


def prefixed_route(path: str, protocol: Provider, state: State,
                   reply: Callable[[dict[str, Any]], dict[str, Any]]) -> Route:
    """`POST {path}/embeddings` of a catalogue row the mock serves under its own prefix."""
    return Route(f"{path}/embeddings", _Endpoint(protocol, state, reply), methods=["POST"])


def routes(state: State, openai: Provider, cohere: Provider) -> list[Route]:
    """The embeddings routes of the mock app at the protocols' roots."""
    return [
        Route("/v1/embeddings", _Endpoint(openai, state, openai_reply), methods=["POST"]),
        Route("/v1/embed", _Endpoint(cohere, state, lambda body: cohere_reply(body, 1)), methods=["POST"]),
        Route("/v2/embed", _Endpoint(cohere, state, lambda body: cohere_reply(body, 2)), methods=["POST"]),
    ]


class _Endpoint:
    """A raw ASGI endpoint (an instance, so Starlette does not wrap it): auth, fault header, parse, reply."""

    def __init__(self, protocol: Provider, state: State, reply: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.protocol, self.state, self.reply = protocol, state, reply

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        protocol, state = self.protocol, self.state
        headers = asgi.headers_of(scope)
        if not await authorize(protocol, state, headers, send):
            return
        raw = await asgi.read_body(receive)
        fault = norm_fault(asgi.header(headers, b"x-mock-fault"))  # the random mix is for chat only
        try:
            body = jsonio.loads(raw)
            if not isinstance(body, dict):
                raise _Invalid("request body must be a JSON object")
            fault = fault or _directive_fault(body)
            state.stat(protocol.name).last_embedding_params = {k: v for k, v in body.items()
                                                                if k not in ("input", "texts", "inputs")}
            doc = None if fault in ERROR_FAULTS else self.reply(body)
        except (jsonio.JSONDecodeError, _Invalid) as exc:
            message = str(exc) if isinstance(exc, _Invalid) else "request body is not valid JSON"
            await asgi.send_bytes(send, 400, protocol.error("invalid", message))
            return
        if fault == "timeout":  # held past the client's timeout (MOCK_TIMEOUT_S), then answered, as chat does
            state.stat(protocol.name).faults += 1
            if await asgi.sleep_or_disconnect(receive, state.config.timeout_s):
                return
        if fault in ERROR_FAULTS:
            state.stat(protocol.name).faults += 1
            status, error, extra = error_reply(protocol, fault)
            await asgi.send_bytes(send, status, error, extra=extra)
            return
        await asgi.send_bytes(send, 200, jsonio.dumps(doc))
