"""Unit tests of the mock upstream's directive parsing, reply planning and config (no processes)."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

try:
    import mockllm  # noqa: F401
except ImportError:  # services/ not on sys.path (package not installed)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services"))

from mockllm.config import MockConfig
from mockllm.directives import (
    Directives,
    content_text,
    count_tokens,
    cut_json,
    parse,
    plan_reply,
    split_chunks,
    split_json,
    stop_at,
    truncate,
    wire_finish,
)
from mockllm.faults import FaultPicker


def test_parse_without_directive_is_identity() -> None:
    assert parse("  hello   world ") == ("  hello   world ", Directives())


def test_parse_fault_and_latency_are_stripped() -> None:
    text, d = parse("hello [[mock:fault=429]] big [[mock:latency=250]] world")
    assert text == "hello big world"
    assert d == Directives(fault="429", latency_ms=250, tool=None)


def test_parse_fault_is_case_insensitive_and_unknown_ignored() -> None:
    assert parse("[[mock:fault=TimeOut]] x")[1].fault == "timeout"
    text, d = parse("x [[mock:fault=418]] [[mock:latency=-5]] [[mock:colour=blue]]")
    assert (text, d) == ("x", Directives())


def test_parse_tool_with_nested_json_args() -> None:
    text, d = parse('weather? [[mock:tool=get_weather {"city": "Paris", "days": [[1, 2]], "q": "a]]b"}]] thanks')
    assert text == "weather? thanks"
    assert d.tool == ("get_weather", {"city": "Paris", "days": [[1, 2]], "q": "a]]b"})


def test_parse_tool_without_args() -> None:
    assert parse("[[mock:tool=ping]]")[1].tool == ("ping", {})


@pytest.mark.parametrize(
    "text",
    ["[[mock:tool=x {bad json}]] a", "[[mock:tool=x [1, 2]]] a", "[[mock:fault=429 a", "[[mock:]] a"],
)
def test_malformed_directives_stay_literal(text: str) -> None:
    cleaned, d = parse(text)
    assert d == Directives()
    assert "[[mock:" in cleaned


def test_count_tokens_is_word_count_min_one() -> None:
    assert count_tokens("") == 1
    assert count_tokens("   ") == 1
    assert count_tokens("one two\nthree\tfour") == 4


def test_truncate_words() -> None:
    assert truncate("a b c d", 2) == ("a b", True)
    assert truncate("a b", 2) == ("a b", False)
    assert truncate("a  b", None) == ("a  b", False)


def test_split_chunks_round_trip() -> None:
    text = "Echo: hello  big\nworld"
    pieces = split_chunks(text)
    assert "".join(pieces) == text
    assert len(pieces) == 4
    assert split_chunks("Echo: one two ") == ["Echo:", " one", " two "]  # a text cut before a stop sequence


def test_split_json_round_trip() -> None:
    args = orjson.dumps({"city": "Paris", "unit": "celsius"}).decode()
    parts = split_json(args)
    assert "".join(parts) == args
    assert 1 < len(parts) <= 3
    assert split_json("{}") == ["{", "}"]


def test_content_text_shapes() -> None:
    assert content_text("hi") == "hi"
    assert content_text(None) == ""
    assert content_text([{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}]) == "a b"
    tool_result = [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "22C"}]}]
    assert content_text(tool_result) == "22C"
    assert content_text([{"type": "document", "document": {"data": {"output": "sunny"}}}]) == "sunny"
    assert content_text([{"type": "document", "document": {"data": {"a": 1, "b": 2}}}]) == '{"a":1,"b":2}'


def test_plan_echo_strips_directives_and_counts_tokens() -> None:
    plan = plan_reply([("system", "be nice"), ("user", "hi there [[mock:latency=5]]")], set(), None)
    assert plan.text == "Echo: hi there"
    assert plan.finish == "stop"
    assert plan.latency_ms == 5
    assert plan.input_tokens == 5  # raw words, directive included
    assert plan.output_tokens == 3


def test_plan_directives_come_from_last_user_message_only() -> None:
    turns = [("user", "[[mock:fault=500]] old"), ("assistant", "x"), ("user", "new")]
    plan = plan_reply(turns, set(), None)
    assert plan.fault is None
    assert plan.text == "Echo: new"


def test_finish_directive_sends_the_providers_own_word() -> None:
    plan = plan_reply([("user", "partial answer [[mock:finish=ERROR]]")], set(), None)
    assert (plan.text, plan.finish, plan.wire_finish) == ("Echo: partial answer", "stop", "ERROR")
    assert wire_finish(plan, {"stop": "COMPLETE"}) == "ERROR"
    assert wire_finish(plan_reply([("user", "x")], set(), None), {"stop": "COMPLETE"}) == "COMPLETE"
    assert parse("x [[mock:finish=not a word]]")[1].finish is None  # only a plain word is sent verbatim


def test_plan_truncates_to_max_tokens() -> None:
    plan = plan_reply([("user", "one two three four")], set(), 3)
    assert (plan.text, plan.finish, plan.output_tokens) == ("Echo: one two", "length", 3)


def test_a_stop_sequence_ends_the_text_before_it() -> None:
    assert stop_at("one two three two", ("two", "one t")) == ("", "one t")  # the first in the text wins
    assert stop_at("one two", ("", "four")) == ("one two", None)
    plan = plan_reply([("user", "one two three four")], set(), None, stop=("three", "four"))
    assert (plan.text, plan.finish, plan.stop_sequence, plan.output_tokens) == (
        "Echo: one two ", "stop_sequence", "three", 3)
    first = plan_reply([("user", "one two three four")], set(), 2, stop=("three",))  # max_tokens runs out first
    assert (first.text, first.finish, first.stop_sequence) == ("Echo: one", "length", None)
    assert wire_finish(plan, {"stop_sequence": "STOP_SEQUENCE"}) == "STOP_SEQUENCE"


def test_max_tokens_stops_a_tool_call_inside_its_arguments_when_the_wire_does() -> None:
    turns = [("user", 'w [[mock:tool=get_weather {"city": "Paris", "days": [2, -1.5e3, true, null]}]]')]
    whole = plan_reply(turns, {"get_weather"}, 3)
    # A call's tokens are its arguments' JSON tokens: { "city" : "Paris" , "days" : [ 2 , -1500.0 , true , null ] }
    assert (whole.tool_args, whole.finish, whole.output_tokens) == (
        '{"city":"Paris","days":[2,-1500.0,true,null]}', "tool", 17)
    cut = plan_reply(turns, {"get_weather"}, 3, cut_tool_args=True)
    assert (cut.tool_name, cut.tool_args, cut.finish, cut.output_tokens) == ("get_weather", '{"city":', "length", 3)
    room = plan_reply(turns, {"get_weather"}, 17, cut_tool_args=True)
    assert (room.tool_args, room.finish) == (whole.tool_args, "tool")
    assert cut_json('{"q":"a\\"b"}', 4) == ('{"q":"a\\"b"', 4, True)  # an escaped quote stays inside its string
    assert cut_json("[-1.5e3,2]", 2) == ("[-1.5e3", 2, True)  # a number is one token, its exponent too


def test_plan_tool_call_only_when_offered() -> None:
    turns = [("user", 'weather [[mock:tool=get_weather {"city": "Paris"}]]')]
    plan = plan_reply(turns, {"get_weather"}, 1)
    assert plan.tool_name == "get_weather"
    assert orjson.loads(plan.tool_args) == {"city": "Paris"}
    assert plan.finish == "tool"
    assert plan.text == ""
    not_offered = plan_reply(turns, {"other"}, None)
    assert (not_offered.tool_name, not_offered.text) == (None, "Echo: weather")


def test_plan_after_tool_result() -> None:
    turns = [("user", "w [[mock:tool=get_weather {}]]"), ("assistant", ""), ("tool", "22C")]
    plan = plan_reply(turns, {"get_weather"}, None)
    assert (plan.tool_name, plan.text, plan.finish) == (None, "Tool result: 22C", "stop")


def test_plan_without_user_message() -> None:
    assert plan_reply([("system", "s")], set(), None).text == "Echo:"


def test_fault_picker_priority_and_seeded_mix() -> None:
    picker = FaultPicker(("429", "500"), rate=0.5, seed=7)
    assert picker.pick("timeout", "500") == "timeout"
    assert picker.pick(None, "MALFORMED") == "malformed"
    seq = [picker.pick(None, None) for _ in range(200)]
    assert set(seq) == {None, "429", "500"}
    assert 60 < seq.count(None) < 140
    picker.reset(7)
    picker.pick("timeout", None)  # explicit faults do not consume randomness
    assert [picker.pick(None, None) for _ in range(200)] == seq
    assert FaultPicker().pick(None, "bogus") is None


def test_config_from_env() -> None:
    cfg = MockConfig.from_env(
        {
            "MOCK_API_KEYS": "a, b,,",
            "MOCK_FAULTS": "429,Timeout",
            "MOCK_FAULT_RATE": "0.25",
            "MOCK_SEED": "3",
            "MOCK_TIMEOUT_S": "2",
            "MOCK_PORT": "9000",
        }
    )
    assert cfg.api_keys == frozenset({"a", "b"})
    assert cfg.faults == ("429", "timeout")
    assert (cfg.fault_rate, cfg.seed, cfg.timeout_s, cfg.port) == (0.25, 3, 2.0, 9000)
    assert MockConfig.from_env({}).timeout_s == 30.0


@pytest.mark.parametrize("env", [{"MOCK_FAULTS": "teapot"}, {"MOCK_FAULT_RATE": "2"}])
def test_config_rejects_bad_values(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        MockConfig.from_env(env)


def test_forced_tool_gets_schema_arguments_and_none_blocks_the_directive() -> None:
    schemas = {"get_weather": {"type": "object", "properties": {
        "city": {"type": "string"}, "unit": {"enum": ["c", "f"]}, "days": {"type": ["integer", "null"]}}}}
    forced = plan_reply([("user", "hi")], set(), None, tool_choice="any", tool_schemas=schemas)
    assert forced.tool_name == "get_weather" and forced.finish == "tool"
    assert orjson.loads(forced.tool_args) == {"city": "mock", "unit": "c", "days": 1}
    turns = [("user", 'x [[mock:tool=get_weather {"city": "Oslo"}]]')]
    assert plan_reply(turns, set(), None, tool_choice="none", tool_schemas=schemas).tool_name is None


def test_structured_output_is_an_instance_of_the_schema() -> None:
    schema = {"type": "object", "properties": {"p": {"$ref": "#/$defs/P"}, "tags": {"type": "array", "items": {
        "type": "string"}}}, "$defs": {"P": {"type": "object", "properties": {"age": {"type": "integer"}}}}}
    plan = plan_reply([("user", "who")], set(), None, output_schema=schema)
    assert orjson.loads(plan.text) == {"p": {"age": 1}, "tags": ["mock"]}
    assert orjson.loads(plan_reply([("user", "as json")], set(), None, json_mode=True).text) == {"echo": "as json"}
