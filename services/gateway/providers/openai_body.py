"""The openai SDK's request-body transform, skipped where it provably returns the body unchanged.

Before sending, the SDK walks every request body against its TypedDict params type
(`async_maybe_transform`): it drops omitted values, renames keys declared with `PropertyInfo(alias=...)`,
formats values declared with `PropertyInfo(format=...)`, dumps pydantic models and turns other iterables
into lists. The chat completions and embeddings params declare no alias and no format anywhere, and
LangChain hands the SDK plain JSON values, so the walk only builds an equal copy - at ~0.19 ms of CPU per
request (type hashing and `get_origin` calls for every key), 13 % of a bare LangChain call (#18).

`install()` wraps the function the SDK's chat and embeddings modules call: when the params type
declares nothing the transform acts on (checked once per type, over the whole type tree) and the body
holds only dicts with string keys, lists, strings, numbers, booleans and None, the body is passed on as
is; anything else - an omitted value, a model, a tuple, a type it cannot resolve - goes through the SDK's
own transform, unchanged.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Awaitable, Callable
from typing import Any

import typing_extensions
from openai._utils import _transform, is_given
from openai.resources import embeddings
from openai.resources.chat.completions import completions

from gateway.providers.wrap import wrap_once

_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
# Origins whose arguments are walked (collections.abc containers too, `Iterable[...]` among them).
_WRAPPERS = frozenset({typing_extensions.Required, typing_extensions.NotRequired, typing_extensions.ReadOnly,
                       typing.Union, types.UnionType, list, dict})


def plain_json(data: Any) -> bool:
    """True when `data` is built only of dicts with str keys, lists and JSON scalars (exact types)."""
    stack = [data]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            if not all(type(key) is str for key in item):
                return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind not in _JSON_SCALARS:
            return False
    return True


@functools.lru_cache(maxsize=64)
def transforms_nothing(params_type: Any) -> bool:
    """True when `params_type` is a TypedDict and nothing in its tree declares a key alias or a value format."""
    if not typing_extensions.is_typeddict(params_type):
        return False
    seen: dict[int, Any] = {}  # holds what it saw: resolved hints may be new objects, ids must stay unique
    stack = [params_type]
    while stack:
        tp = stack.pop()
        if id(tp) in seen:
            continue
        seen[id(tp)] = tp
        if typing_extensions.is_typeddict(tp):
            try:
                stack.extend(typing_extensions.get_type_hints(tp, include_extras=True).values())
            except (NameError, TypeError, SyntaxError):  # an unresolvable reference: no proof
                return False
            continue
        origin = typing_extensions.get_origin(tp)
        if origin is typing.Literal:
            continue
        if origin is typing.Annotated:
            if any(isinstance(meta, _transform.PropertyInfo)
                   and (meta.alias or meta.format or meta.format_template) for meta in tp.__metadata__):
                return False
            stack.append(tp.__origin__)
            continue
        if origin is not None:
            if origin not in _WRAPPERS and not _is_abc(origin):  # an origin this walk does not know: no proof
                return False
            stack.extend(typing_extensions.get_args(tp))
            continue
        if not isinstance(tp, type):  # a ForwardRef, a TypeVar, a string: no proof
            return False
    return True


def _is_abc(origin: Any) -> bool:
    """collections.abc containers (`Iterable[...]` written with them has that origin)."""
    return isinstance(origin, type) and origin.__module__ == "collections.abc"


def skip_when_identity(transform: Callable[[object, object], Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """`async_maybe_transform` that returns a plain-JSON body as is when its type transforms nothing."""

    async def async_maybe_transform(data: object, expected_type: object) -> Any:
        if type(data) is dict and _hashable_and_inert(expected_type):
            # The SDK's create() fills every parameter not passed with an omitted marker; the params
            # TypedDict's transform drops those at its own level, as this does.
            given = {key: value for key, value in data.items() if is_given(value)}
            if plain_json(given):
                return given
        return await transform(data, expected_type)

    async_maybe_transform.__wrapped__ = transform  # pyright: ignore[reportFunctionMemberAccess]  # the original
    return async_maybe_transform


def _hashable_and_inert(expected_type: object) -> bool:
    try:
        return transforms_nothing(expected_type)
    except TypeError:  # unhashable: no cache, no proof
        return False


def install() -> None:
    """Wrap the transform in the SDK's chat completions and embeddings modules (idempotent)."""
    for module in (completions, embeddings):
        wrap_once(module, "async_maybe_transform", skip_when_identity)
