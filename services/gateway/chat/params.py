"""The request's parameters in the provider's vocabulary: refusals, renames, tools, structured output."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableBinding, RunnableSequence
from pydantic import BaseModel

from gateway.api.chat_request import (
    AssistantMessage,
    ChatCompletionRequest,
    ImagePart,
    JsonSchemaResponseFormat,
    NamedToolChoice,
    ResponseFormat,
)
from gateway.chat.messages import json_object
from gateway.chat.schema_walk import first_open_object
from gateway.errors import InvalidRequestError, ValidationFailedError
from gateway.providers.base import NAMED, ProviderAdapter

# Parameters handed to the provider under their (possibly renamed) names; the others are
# handled here (tools, tool_choice, response_format, stop, max_tokens) or by the route.
PASSTHROUGH = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty", "logit_bias",
               "logprobs", "top_logprobs", "user", "metadata", "store", "service_tier", "reasoning_effort",
               "verbosity", "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options")

# Values that ask for OpenAI's default behaviour, which is every provider's (no nucleus cut, no penalty, no log
# probabilities, nothing stored): as good as not set, so taken by every provider and sent to none. Many clients send
# them on every request, and providers refuse some outright: Anthropic's recent models `top_p` beside `temperature`,
# Cohere a `p` of 1 (its range ends at 0.99) and both penalties together.
NEUTRAL: dict[str, object] = {"top_p": 1, "presence_penalty": 0, "frequency_penalty": 0, "logprobs": False,
                              "store": False}


def neutral(name: str, value: object) -> bool:
    """The parameter's value asks for the default behaviour (a bool is no number here: `top_p: true` is not 1)."""
    if name not in NEUTRAL:
        return False
    default = NEUTRAL[name]
    if type(default) is bool:
        return value is default
    return type(value) is not bool and value == default


def refuse(param: str, why: str) -> InvalidRequestError:
    """The 400 for a parameter (or a form of it) the provider cannot honour."""
    return InvalidRequestError(f"{param}: {why}", code="unsupported_parameter", param=param)


def unconvertible(param: str, adapter: ProviderAdapter, exc: Exception) -> InvalidRequestError:
    """The 400 for a client's schema the provider's integration cannot convert into its own form."""
    said = " ".join(str(exc).split())[:300]
    return InvalidRequestError(f"{param}: the {adapter.name} provider's integration cannot convert this schema "
                               f"({type(exc).__name__}: {said})", code="unsupported_schema", param=param)


# What LangChain's converters and the SDKs' schema transforms raise on a schema they cannot read (the
# anthropic SDK's transform ends in `assert_never` on a `type` it does not know: an AssertionError).
CONVERSION_ERRORS = (ValueError, KeyError, TypeError, AttributeError, AssertionError)


def check_refused(adapter: ProviderAdapter, req: ChatCompletionRequest) -> None:
    """Raise a 400 naming the first parameter given that this provider declares it cannot honour."""
    given = req.model_fields_set
    for name, (values, why) in adapter.refused_values.items():
        if name in given and (value := getattr(req, name)) in values:
            raise refuse(name, f"{value!r} is not supported by the {adapter.name} provider ({why})")
    for name, (low, high) in adapter.value_ranges.items():
        if name in given and (value := getattr(req, name)) is not None and not low <= value <= high \
                and not neutral(name, value):
            raise refuse(name, f"the {adapter.name} provider takes {low:g} to {high:g}, not {value:g}")
    if given.isdisjoint(adapter.refused):  # the usual request: one set operation
        return
    for name in type(req).model_fields:  # declaration order: the same request names the same parameter
        if name in adapter.refused and name in given and (value := getattr(req, name)) is not None \
                and not neutral(name, value):
            raise refuse(name, f"not supported by the {adapter.name} provider ({adapter.refused[name]})")


def check_messages(adapter: ProviderAdapter, req: ChatCompletionRequest) -> None:
    """Raise a 400 naming the first part of a message this provider's integration would drop: a participant
    `name` (a tool result's aside: its `tool_call_id` says which call it answers), an image `detail`, text beside
    tool calls, tool-call arguments that are not a JSON object; or a conversation that ends with a role it cannot
    end with."""
    name_why, detail_why = adapter.refused_message_name, adapter.refused_image_detail
    args_why, text_why = adapter.refused_unparsed_arguments, adapter.refused_text_with_tool_calls
    if adapter.needs_user_turn and not any(m.role == "user" for m in req.messages):
        raise ValidationFailedError(f"messages: must contain at least one user message (the {adapter.name} "
                                    "provider answers none without one)", param="messages")
    if adapter.last_roles is not None and (last := req.messages[-1]).role not in adapter.last_roles[0]:
        raise refuse(f"messages.{len(req.messages) - 1}.role", f"ending the conversation with a '{last.role}' "
                     f"message is not supported by the {adapter.name} provider ({adapter.last_roles[1]})")
    if name_why is None and detail_why is None and args_why is None and text_why is None:
        return
    for i, message in enumerate(req.messages):
        if name_why is not None and message.name is not None and message.role != "tool":
            raise refuse(f"messages.{i}.name", f"not supported by the {adapter.name} provider ({name_why})")
        if isinstance(message, AssistantMessage) and message.tool_calls:
            if text_why is not None and (message.text or message.refusal):
                raise refuse(f"messages.{i}.content", f"text beside tool calls in one assistant message is not "
                             f"supported by the {adapter.name} provider ({text_why})")
            for j, call in enumerate(message.tool_calls if args_why is not None else ()):
                if json_object(call.function.arguments) is None:
                    raise refuse(f"messages.{i}.tool_calls.{j}.function.arguments",
                                 f"arguments that are not a JSON object are not supported by the {adapter.name} "
                                 f"provider ({args_why})")
        content = message.content
        if detail_why is None or not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            detail = part.image_url.detail if isinstance(part, ImagePart) else None
            if detail not in (None, "auto"):
                raise refuse(f"messages.{i}.content.{j}.image_url.detail",
                             f"'{detail}' is not supported by the {adapter.name} provider ({detail_why})")


def output_maximum(model: BaseChatModel) -> int | None:
    """The most the model writes in one reply, from its LangChain profile (None: the profile does not say)."""
    profile = getattr(model, "profile", None)
    most = profile.get("max_output_tokens") if profile else None
    return most if isinstance(most, int) and most > 0 else None


def default_output_cap(model: BaseChatModel, limit: int) -> int:
    """The output cap of a request that names none: GATEWAY_MAX_TOKENS_LIMIT, or the model's own maximum where its
    LangChain profile gives a lower one (gpt-4o and gpt-4o-mini: 16,384; OpenAI refuses a request asking more)."""
    most = output_maximum(model)
    return limit if most is None else min(limit, most)


def check_output_cap(model: BaseChatModel, model_name: str, requested: int | None, name: str) -> None:
    """A 400 naming `name` for a cap above what the model writes: the vendors refuse it (OpenAI: "max_tokens is too
    large", Cohere: "the maximum output for this model", Anthropic: "the maximum allowed number of output tokens")."""
    most = output_maximum(model)
    if requested is not None and most is not None and requested > most:
        raise InvalidRequestError(f"{name} must be at most {most} for {model_name} (the most this model writes in one "
                                  f"reply), got {requested}", param=name)


def check_model(model: BaseChatModel, req: ChatCompletionRequest) -> None:
    """Raise a 400 for a temperature the model's LangChain profile says it does not take (only its default, 1), a
    `top_p` other than 1 there too, or a `reasoning_effort` that is not one of the levels its profile lists.

    The pinned profiles say so for reasoning models (OpenAI's gpt-6 family, Anthropic's claude-opus-4-7 and
    later), which refuse other values upstream or in LangChain before the call: here it is a 400 naming it.
    Effort levels differ by model (claude-sonnet-4-6: low, medium, high, max; claude-opus-4-7 adds xhigh).
    """
    profile = getattr(model, "profile", None)
    if not profile:
        return
    name = getattr(model, "model_name", None) or getattr(model, "model", None) or "this model"  # ChatOpenAI / others
    if profile.get("temperature") is False:  # no sampling settings: nucleus sampling goes with the temperature
        if req.temperature is not None and req.temperature != 1:
            raise refuse("temperature", f"{name} takes no sampling temperature (only its default, 1)")
        if req.top_p is not None and req.top_p != 1:
            raise refuse("top_p", f"{name} takes no nucleus sampling (only its default, 1)")
    levels = profile.get("reasoning_effort_levels")
    if req.reasoning_effort is not None and isinstance(levels, list) and levels and req.reasoning_effort not in levels:
        raise refuse("reasoning_effort", f"'{req.reasoning_effort}' is not an effort level of {name} "
                                         f"(it takes {', '.join(map(str, levels))})")


def prepare(adapter: ProviderAdapter, model: BaseChatModel,
            req: ChatCompletionRequest) -> tuple[Runnable[Any, Any], dict[str, Any]]:
    """Return the runnable to call (tools bound) and its call keywords in the provider's vocabulary."""
    check_refused(adapter, req)
    check_messages(adapter, req)
    check_model(model, req)
    given = req.model_fields_set  # the others are None (their default), which invoke_params drops
    passed = {name: _plain(value) for name in PASSTHROUGH
              if name in given and not neutral(name, value := getattr(req, name))}
    passed["max_tokens"] = req.max_completion_tokens or req.max_tokens
    fmt = req.response_format if req.response_format is not None and req.response_format.type != "text" else None
    if fmt is not None and structured_method(adapter, fmt) == "passthrough":
        # The provider speaks OpenAI's response_format itself: one more parameter, under the adapter's name for it.
        passed["response_format"] = fmt.model_dump(by_alias=True, exclude_none=True)
        fmt = None
    params = adapter.invoke_params(passed)
    if req.stop:
        params["stop"] = req.stop
    if fmt is not None:
        params.update(structured_params(adapter, model, fmt))
    runnable: Runnable[Any, Any] = model
    if req.tools:
        if req.tool_choice == "required" or isinstance(req.tool_choice, NamedToolChoice):
            adapter.check_forced_tools(model, req.reasoning_effort)
        tools = [t.model_dump(exclude_none=True) for t in req.tools]
        parallel = None if adapter.one_call_checked else req.parallel_tool_calls
        runnable = adapter.bind_tools(model, tools, tool_choice(adapter, req), parallel)
    return runnable, params


def _plain(value: Any) -> Any:
    """A parameter's value as JSON data (an object-valued one, e.g. `prompt_cache_options`, is a model here)."""
    return value.model_dump(exclude_none=True) if isinstance(value, BaseModel) else value


def tool_choice(adapter: ProviderAdapter, req: ChatCompletionRequest) -> Any:
    """Translate `tool_choice` through the adapter's declared table (None: the provider's default)."""
    choice = req.tool_choice
    if choice is None:
        return None
    form = "function" if isinstance(choice, NamedToolChoice) else choice
    if form not in adapter.tool_choices:
        raise refuse("tool_choice", f"the {form!r} form is not supported by the {adapter.name} provider")
    value = adapter.tool_choices[form]
    if value == NAMED and isinstance(choice, NamedToolChoice):
        return adapter.named_tool_choice(choice.function.name)
    return value


def structured_method(adapter: ProviderAdapter, fmt: ResponseFormat) -> str:
    """The adapter's mechanism for this response_format type (a 400 when it has none)."""
    method = adapter.structured_methods.get(fmt.type)
    if method is None:
        raise refuse("response_format", f"type {fmt.type!r} has no native mechanism at the {adapter.name} provider")
    return method


def structured_params(adapter: ProviderAdapter, model: BaseChatModel, fmt: ResponseFormat) -> dict[str, Any]:
    """The call keywords the integration's own `with_structured_output` binds for this response_format."""
    method = structured_method(adapter, fmt)
    schema = None
    if isinstance(fmt, JsonSchemaResponseFormat):  # LangChain names the schema by its title
        spec = fmt.json_schema
        schema = {"title": spec.name, **(spec.schema_ or {"type": "object"})}
        if schema.get("type") == "object" and "properties" not in schema:
            # The same schema, spelt out: LangChain's convert_to_openai_function (langchain-mistralai's
            # with_structured_output) reads a schema without `properties` as no parameters, a KeyError.
            schema["properties"] = {}
        if spec.description:
            schema.setdefault("description", spec.description)
        open_at = first_open_object(spec.schema_, "response_format.json_schema.schema")
        if adapter.refused_open_objects and open_at:
            raise refuse(open_at, adapter.refused_open_objects)
    try:
        # json_mode takes no schema (None); BaseChatModel annotates `schema` without None, the subclasses with it.
        structured = model.with_structured_output(schema, method=method)  # pyright: ignore[reportArgumentType]
    except CONVERSION_ERRORS as exc:
        raise unconvertible("response_format.json_schema.schema", adapter, exc) from exc
    # with_structured_output returns `model.bind(...) | parser`: keep the binding's keywords,
    # so the reply stays the raw JSON text the client asked for.
    first = structured.first if isinstance(structured, RunnableSequence) else structured
    if not isinstance(first, RunnableBinding):
        raise refuse("response_format", f"not supported by the {adapter.name} provider")
    return dict(first.kwargs)


def document_refusals(schemas: dict[str, Any], adapter: ProviderAdapter) -> None:
    """Leave what this provider refuses out of the request's schemas (sending it is a 400): its refused
    parameters and values, the `response_format` types it has no mechanism for, and the message fields its integration
    would drop (a participant `name`, an image `detail` other than auto)."""
    properties = schemas["ChatCompletionRequest"]["properties"]
    for name, why in adapter.refused.items():
        if name in NEUTRAL and name in properties:  # its default asks for nothing: taken, not sent
            properties[name] = {"anyOf": [{"const": NEUTRAL[name]}, {"type": "null"}],
                                "description": f"Only the default, which asks for nothing: "
                                f"not supported by the {adapter.name} provider ({why})."}
        else:
            properties.pop(name, None)
    for name, (values, _) in adapter.refused_values.items():
        for variant in properties[name].get("anyOf", [properties[name]]):
            if "enum" in variant:
                variant["enum"] = [v for v in variant["enum"] if v not in values]
    for name, (low, high) in adapter.value_ranges.items():
        variants = properties[name]["anyOf"]
        for variant in variants:
            if variant.get("type") == "number":
                variant.update(minimum=low, maximum=high)
        default = NEUTRAL.get(name)
        if isinstance(default, int | float) and not low <= default <= high:  # taken anyway: not sent
            variants.append({"const": default})
    if adapter.refused_message_name is not None:
        for message in ("SystemMessage", "UserMessage", "AssistantMessage"):
            schemas[message]["properties"].pop("name", None)
    if adapter.refused_image_detail is not None:
        for variant in schemas["ImageUrl"]["properties"]["detail"]["anyOf"]:
            if "enum" in variant:
                variant["enum"] = ["auto"]
    if adapter.refused_unparsed_arguments is not None:  # JSON Schema's annotation for "JSON text of an object"
        schemas["FunctionCall"]["properties"]["arguments"] |= {
            "contentMediaType": "application/json", "contentSchema": {"type": "object"},
            "description": f"The JSON text of an object ({adapter.refused_unparsed_arguments})."}
    if adapter.needs_user_turn:  # stated in the schema too, so generated clients and fuzzers know it
        properties["messages"]["contains"] = {"type": "object", "properties": {"role": {"const": "user"}},
                                              "required": ["role"]}
    if adapter.last_roles is not None:
        roles = " or ".join(sorted(adapter.last_roles[0]))
        properties["messages"]["description"] = (
            f"{properties['messages'].get('description', '').rstrip()} The last message's role is {roles} "
            f"({adapter.last_roles[1]}).").lstrip()
    fmt = properties.get("response_format", {})
    for variant in fmt.get("anyOf", [fmt]):
        mapping = variant.get("discriminator", {}).get("mapping", {})
        kinds = [kind for kind in mapping if kind != "text" and kind not in adapter.structured_methods]
        unserved = {mapping.pop(kind) for kind in kinds}
        if unserved:
            variant["oneOf"] = [member for member in variant["oneOf"] if member.get("$ref") not in unserved]
