"""Tools, `tool_choice`, reasoning and `response_format` through the official `openai` client.

Usage: openai_tools_check.py BASE_URL. Needs `smollm2`, `smollm2-tools` and `smollm2-think`
in the store (see ollama_tools_check.py). Prints "all checks passed"; any failed check raises.
"""

import json
import sys

import openai

client = openai.OpenAI(base_url=f"{sys.argv[1]}/v1", api_key="rollama", max_retries=0)

tools = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a city",
        "parameters": {"type": "object", "required": ["city"], "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}},
    {"type": "function", "function": {
        "name": "get_time", "description": "Get the local time in a city",
        "parameters": {"type": "object", "required": ["city"],
                       "properties": {"city": {"type": "string"}}}}},
]
question = [{"role": "user", "content": "I am flying to Lisbon tomorrow."}]

# tool_choice "required": a call is forced by a grammar; arguments are a JSON string.
for seed in range(3):
    r = client.chat.completions.create(model="smollm2-tools", messages=question, tools=tools,
                                       tool_choice="required", seed=seed, max_tokens=120)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls", r
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id.startswith("call_"), call
    assert call.function.name in ("get_weather", "get_time"), call
    args = json.loads(call.function.arguments)
    assert isinstance(args.get("city"), str), args
    assert set(args) <= {"city", "unit"}, args

# A named function.
r = client.chat.completions.create(
    model="smollm2-tools", messages=question, tools=tools, seed=1, max_tokens=120,
    tool_choice={"type": "function", "function": {"name": "get_time"}})
call = r.choices[0].message.tool_calls[0]
assert call.function.name == "get_time", call
assert set(json.loads(call.function.arguments)) == {"city"}, call

# Streamed: the call arrives in one delta, then finish_reason tool_calls.
deltas, finish = [], None
for chunk in client.chat.completions.create(
        model="smollm2-tools", messages=question, tools=tools, tool_choice="required",
        seed=2, max_tokens=120, stream=True):
    if not chunk.choices:
        continue
    delta = chunk.choices[0].delta
    if delta.tool_calls:
        deltas.append(delta.tool_calls)
    finish = chunk.choices[0].finish_reason or finish
assert len(deltas) == 1 and finish == "tool_calls", (deltas, finish)
json.loads(deltas[0][0].function.arguments)

# The result goes back by id; the answer is text.
history = question + [
    {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
    {"role": "tool", "tool_call_id": call.id, "content": "09:30"},
]
r = client.chat.completions.create(model="smollm2-tools", messages=history, tools=tools,
                                   temperature=0, max_tokens=40)
assert r.choices[0].message.content and not r.choices[0].message.tool_calls, r

# tool_choice "none": no tools offered, text back.
r = client.chat.completions.create(model="smollm2-tools", messages=question, tools=tools,
                                   tool_choice="none", temperature=0, max_tokens=20)
assert not r.choices[0].message.tool_calls and r.choices[0].finish_reason != "tool_calls"

# Tools on a model without tool support.
try:
    client.chat.completions.create(model="smollm2", messages=question, tools=tools)
    raise AssertionError("expected an error")
except openai.BadRequestError as e:
    assert "does not support tools" in e.message, e

# Reasoning: `reasoning_content` (and Ollama's `reasoning`), not in content.
r = client.chat.completions.create(
    model="smollm2-think", messages=[{"role": "user", "content": "What is 2+3?"}],
    reasoning_effort="low", temperature=0, max_tokens=40)
message = r.choices[0].message
extra = message.model_extra or {}
assert extra.get("reasoning_content") and extra.get("reasoning") == extra["reasoning_content"], r
assert "<think>" not in (message.content or "")

# response_format json_schema, through the SDK's `parse` helper (pydantic), and json_object.
from pydantic import BaseModel, Field  # noqa: E402 (installed with openai)


class City(BaseModel):
    name: str = Field(max_length=30)
    country: str = Field(max_length=30)
    population: int = Field(ge=0, le=50_000_000)


for seed in range(3):
    parsed = client.beta.chat.completions.parse(
        model="smollm2", messages=[{"role": "user", "content": "Describe Lisbon."}],
        response_format=City, seed=seed, max_tokens=200)
    city = parsed.choices[0].message.parsed
    assert isinstance(city, City) and city.name, parsed
r = client.chat.completions.create(
    model="smollm2", messages=[{"role": "user", "content": "List three fruits."}],
    response_format={"type": "json_object"}, seed=4, max_tokens=200)
assert isinstance(json.loads(r.choices[0].message.content), dict), r

print("all checks passed")
