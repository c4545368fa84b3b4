"""The native event format v1: every event type parses; every kind of bad line gets a reason."""

import pytest

from agentmon.errors import BadLine
from agentmon.events import EVENT_NAMES, epoch_seconds
from agentmon.sources.native import parse_line

GOOD = {
    "task_start": '{"ts":"2026-03-02T09:00:00Z","agent":"a","event":"task_start","task":"t","key":"c-1","model":"m"}',
    "llm_call": '{"ts":1772442000,"agent":"a","event":"llm_call","task":"t","model":"m","input_tokens":1,'
    '"output_tokens":2,"cache_read_tokens":3,"cache_write_tokens":4,"cost_usd":0.5}',
    "tool_call": '{"ts":1772442000.5,"agent":"a","event":"tool_call","task":"t","tool":"x","ok":false,"error":"e"}',
    "escalation": '{"ts":"2026-03-02T09:00:00+02:00","agent":"a","event":"escalation","task":"t","reason":"r"}',
    "confirmation": '{"ts":1,"agent":"a","event":"confirmation","task":"t","action":"x","approved":true}',
    "human_intervention": '{"ts":1,"agent":"a","event":"human_intervention","task":"t","kind":"k"}',
    "cost": '{"ts":1,"agent":"a","event":"cost","task":"t","cost_usd":0.01,"kind":"gpu"}',
    "task_end": '{"ts":1,"agent":"a","event":"task_end","task":"t","outcome":"abandoned","reason":"r"}',
    "api_error": '{"ts":1,"agent":"a","event":"api_error","task":"t","status":"529"}',
    "rating": '{"ts":1,"agent":"a","event":"rating","task":"t","rating":"good"}',
    "permission_denial": '{"ts":1,"agent":"a","event":"permission_denial","task":"t","tool":"Bash"}',
    "task_evidence": '{"ts":1,"agent":"a","event":"task_evidence","task":"t","ending":"answered",'
    '"next_prompt":"thanks","check":"test","check_ok":true,"todos_done":3,"todos_total":3,"committed":true}',
    "eval_result": '{"ts":1,"agent":"a","event":"eval_result","suite":"s","case":"c","passed":true,'
    '"run":"r1","agent_version":"1.2","critical":true}',
}


def test_every_event_type_has_an_example_here():
    assert set(GOOD) == set(EVENT_NAMES)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_lines_parse(name):
    event = parse_line(GOOD[name].encode())
    assert type(event).__struct_config__.tag == name


def test_timestamps_rfc3339_with_offset_or_unix_seconds():
    a = parse_line(GOOD["escalation"].encode())
    assert epoch_seconds(a.ts) == 1772434800.0  # 09:00+02:00 is 07:00Z
    assert epoch_seconds(parse_line(GOOD["tool_call"].encode()).ts) == 1772442000.5


def test_unknown_fields_are_ignored_and_not_kept():
    e = parse_line(b'{"ts":1,"agent":"a","event":"task_end","task":"t","outcome":"success","prompt":"secret"}')
    assert not hasattr(e, "prompt")


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"not json", "not JSON"),
        (b"[1,2]", "not an event object"),
        (b'"just a string"', "not an event object"),
        (b'{"ts":1,"agent":"a","task":"t"}', "no `event` field"),
        (b'{"ts":1,"agent":"a","event":"teleport","task":"t"}', "unknown event type"),
        (b'{"ts":1,"agent":"a","event":"tool_call","tool":"x","ok":true}', "a required field is missing"),
        (
            b'{"ts":1,"agent":"a","event":"tool_call","task":"t","tool":"x","ok":"yes"}',
            "bad value at $.ok",
        ),
        (b'{"ts":"2026-03-02T09:00:00","agent":"a","event":"escalation","task":"t"}', "bad value at $.ts"),
        (b'{"ts":"yesterday","agent":"a","event":"escalation","task":"t"}', "$.ts"),
        (b'{"ts":1e300,"agent":"a","event":"escalation","task":"t"}', "$.ts"),
        (b'{"ts":1,"agent":"","event":"escalation","task":"t"}', "$.agent"),
        (
            b'{"ts":1,"agent":"a","event":"llm_call","task":"t","model":"m","input_tokens":-1,"output_tokens":0}',
            "$.input_tokens",
        ),
        (b'{"ts":1,"agent":"a","event":"task_end","task":"t","outcome":"meh"}', "$.outcome"),
        (b'{"ts":1,"agent":"a","event":"eval_result","suite":"s","case":"c"}', "a required field is missing"),
        (b'{"ts":1,"agent":"\xff\xfe","event":"escalation","task":"t"}', "invalid UTF-8"),
    ],
)
def test_bad_lines_say_why(line, reason):
    with pytest.raises(BadLine) as e:
        parse_line(line)
    assert reason in str(e.value)
