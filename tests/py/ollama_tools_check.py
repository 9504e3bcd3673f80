"""Tools, thinking and structured output through the official `ollama` Python client.

Usage: ollama_tools_check.py BASE_URL. Needs `smollm2-tools` (SmolLM2 with Qwen 2.5's
template) and `smollm2-think` (a Qwen 3 template that opens `<think>`) in the store.
Prints "all checks passed"; any failed check raises.
"""

import json
import sys

import ollama

client = ollama.Client(host=sys.argv[1])
greedy = {"temperature": 0, "num_predict": 60}


def get_weather(city: str) -> str:
    """Get the current weather in a city.

    Args:
        city: The city
    """
    return f"21 C and clear in {city}"


shown = client.show("smollm2-tools")
assert "tools" in shown.capabilities, shown.capabilities


def called(city):
    return {"role": "assistant", "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": city}}}]}


# Three questions answered by calls teach the 135M model the pattern; the fourth it calls
# itself. Tools passed as a Python function, as the client's docs show.
messages = [
    {"role": "user", "content": "Weather in Paris?"}, called("Paris"),
    {"role": "user", "content": "Weather in Rome?"}, called("Rome"),
    {"role": "user", "content": "Weather in Oslo?"}, called("Oslo"),
    {"role": "user", "content": "Weather in Tokyo?"},
]
reply = client.chat(model="smollm2-tools", messages=messages, tools=[get_weather], options=greedy)
calls = reply.message.tool_calls
assert calls and len(calls) == 1, reply
assert calls[0].function.name == "get_weather", calls
assert calls[0].function.arguments == {"city": "Tokyo"}, calls
assert reply.message.content == "", reply
assert reply.done_reason == "stop", reply

# Streamed: the call comes whole in one chunk.
streamed = [c.message.tool_calls for c in client.chat(
    model="smollm2-tools", messages=messages, tools=[get_weather], options=greedy, stream=True)
    if c.message.tool_calls]
assert len(streamed) == 1 and streamed[0][0].function.name == "get_weather", streamed
assert streamed[0][0].function.arguments == {"city": "Tokyo"}, streamed

# Run the tool, give the result back, get an answer.
result = get_weather(**calls[0].function.arguments)
messages += [reply.message, {"role": "tool", "content": result, "tool_name": "get_weather"}]
answer = client.chat(model="smollm2-tools", messages=messages, tools=[get_weather], options=greedy)
assert answer.message.content and not answer.message.tool_calls, answer

# A model without tool support refuses tools with Ollama's error.
try:
    client.chat(model="smollm2", messages=messages[:1], tools=[get_weather])
    raise AssertionError("expected an error")
except ollama.ResponseError as e:
    assert e.status_code == 400 and "does not support tools" in e.error, e

# Thinking: reasoning in message.thinking, whole and streamed alike.
ask = [{"role": "user", "content": "What is 2+3?"}]
thought = client.chat(model="smollm2-think", messages=ask, think=True, options=greedy)
assert thought.message.thinking and "<think>" not in thought.message.thinking, thought
parts = list(client.chat(model="smollm2-think", messages=ask, think=True, options=greedy,
                         stream=True))
assert "".join(p.message.thinking or "" for p in parts) == thought.message.thinking
off = client.chat(model="smollm2-think", messages=ask, think=False, options=greedy)
assert not off.message.thinking and off.message.content, off
gen = client.generate(model="smollm2-think", prompt="What is 2+3?", think=True, options=greedy)
assert gen.thinking, gen
try:
    client.chat(model="smollm2", messages=ask, think=True)
    raise AssertionError("expected an error")
except ollama.ResponseError as e:
    assert e.status_code == 400 and "does not support thinking" in e.error, e

# Structured output: a schema from a pydantic model, as the client's docs show.
from pydantic import BaseModel, Field  # noqa: E402 (installed with ollama)


class Country(BaseModel):
    name: str = Field(max_length=40)
    capital: str = Field(max_length=40)
    population_millions: float = Field(ge=0, le=2000)


for seed in range(3):
    r = client.chat(model="smollm2", messages=[{"role": "user", "content": "Tell me about Japan."}],
                    format=Country.model_json_schema(),
                    options={"temperature": 1, "seed": seed, "num_predict": 200})
    country = Country.model_validate_json(r.message.content)
    assert country.name, country
r = client.generate(model="smollm2", prompt="List three fruits.", format="json",
                    options={"temperature": 1, "seed": 3, "num_predict": 200})
assert isinstance(json.loads(r.response), dict), r.response

print("all checks passed")
