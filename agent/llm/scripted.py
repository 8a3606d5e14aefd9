"""`scripted:PATH` → an LLM that replays assistant turns, for tests and demos (in the spirit of
pydantic-ai's TestModel / FunctionModel).

A script is a JSON or YAML file, or a list in code:

    turns:                                   # replies to complete(), in order
      - text: "Let me sharpen the prompt."
        tool_calls:
          - {name: refine_prompt, arguments: {brief: "two red circles"}}
      - "All done."                          # a bare string is a text-only turn
    structured:                              # replies to structured(), in order
      - {scores: {prompt_adherence: 8, quality: 8, composition: 7}, issues: [], constraints: []}

(a file holding only a list is the `turns`). A tool call's `arguments` may be a string, parsed as
a provider would, so a malformed call can be scripted. Instead of lists, functions may answer:
`ScriptedLLM(lambda system, messages, tools: ...)` and `structured=lambda system, prompt, schema,
images: ...`. Every call is recorded in `.calls`; running out of script is a clear error."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.core.errors import AtelierError, ConfigError
from agent.llm import parse_arguments, parse_structured
from agent.core.protocols import Message, Part, TextPart, ToolCall, ToolSpec

CompleteFn = Callable[[str, list[Message], list[ToolSpec]], Any]
StructuredFn = Callable[[str, str, type[BaseModel], list[Path]], Any]


class ScriptExhausted(AtelierError):
    """The code under test asked the scripted LLM for more turns than the script holds."""


class ScriptedToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)
    id: str | None = None


class ScriptedTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = ""
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)


class Script(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo in a script is an error, not a silent no-op
    turns: list[ScriptedTurn | str] = Field(default_factory=list)
    structured: list[Any] = Field(default_factory=list)


class RecordedCall(BaseModel):
    """One call the scripted LLM received, for tests to assert on."""

    kind: Literal["complete", "structured"]
    system: str
    messages: list[Message] = Field(default_factory=list)
    tools: list[ToolSpec] = Field(default_factory=list)
    prompt: str = ""
    schema_name: str = ""
    images: list[Path] = Field(default_factory=list)


class ScriptedLLM:
    structured_output = False  # scripted structured() replies answer the planner, not the brief's spec

    def __init__(self, script: str | Path | Sequence[Any] | CompleteFn = "", *,
                 structured: Sequence[Any] | StructuredFn | None = None, name: str | None = None):
        self._complete_fn: CompleteFn | None = None
        self._structured_fn: StructuredFn | None = None
        turns: list[Any] = []
        objects: list[Any] = []
        if callable(script):
            self._complete_fn, source = script, getattr(script, "__name__", "function")
        elif isinstance(script, (str, Path)):
            if not str(script).strip():
                raise ConfigError("the scripted LLM needs a script file: scripted:PATH (JSON or YAML)")
            loaded = _load(Path(script))
            turns, objects, source = list(loaded.turns), list(loaded.structured), str(script)
        else:
            turns, source = list(script), "script"
        if callable(structured):
            self._structured_fn = structured
        elif structured is not None:
            objects = list(structured)
        self.name = name or f"scripted:{source}"
        self._turns = [_to_message(t, i) for i, t in enumerate(turns)]
        self._objects = objects
        self._next_turn = self._next_object = 0
        self.calls: list[RecordedCall] = []
        self._lock = threading.Lock()  # a batch may share one instance across threads

    def __repr__(self) -> str:
        return f"ScriptedLLM({self.name!r}, turns left={len(self._turns) - self._next_turn})"

    def complete(self, system: str, messages: list[Message], tools: list[ToolSpec]) -> Message:
        with self._lock:
            self.calls.append(RecordedCall(kind="complete", system=system, tools=list(tools),
                                           messages=[m.model_copy(deep=True) for m in messages]))
            if self._complete_fn is not None:
                return _to_message(self._complete_fn(system, messages, tools), len(self.calls) - 1)
            if self._next_turn >= len(self._turns):
                raise ScriptExhausted(self._exhausted("turns", len(self._turns), messages))
            self._next_turn += 1
            return self._turns[self._next_turn - 1].model_copy(deep=True)

    def structured(self, system: str, prompt: str, schema: type[BaseModel],
                   images: Sequence[Path] = ()) -> BaseModel:
        with self._lock:
            self.calls.append(RecordedCall(kind="structured", system=system, prompt=prompt,
                                           schema_name=schema.__name__, images=list(images)))
            if self._structured_fn is not None:
                reply = self._structured_fn(system, prompt, schema, list(images))
            elif self._next_object >= len(self._objects):
                raise ScriptExhausted(self._exhausted("structured replies", len(self._objects)))
            else:
                reply = self._objects[self._next_object]
                self._next_object += 1
        if isinstance(reply, schema):
            return reply
        if isinstance(reply, BaseModel):
            reply = reply.model_dump()
        # Same path as the real providers: a reply that does not fit raises MalformedOutput.
        return parse_structured("scripted", schema, reply)

    @property
    def exhausted(self) -> bool:
        """True when every scripted turn and structured reply was used (tests assert this)."""
        return self._next_turn >= len(self._turns) and self._next_object >= len(self._objects)

    def _exhausted(self, what: str, count: int, messages: list[Message] = ()) -> str:
        last = next((m.text for m in reversed(messages) if m.role != "assistant" and m.text), "")
        hint = f"; the last user text was {last[:80]!r}" if last else ""
        return (f"{self.name}: the script has {count} {what} and all were used; "
                f"call {len(self.calls)} asked for one more{hint}")


def _load(path: Path) -> Script:
    try:
        text = path.read_text()
    except OSError:
        raise ConfigError(f"scripted LLM: cannot read the script {path}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        return Script.model_validate({"turns": data} if isinstance(data, list) else data or {})
    except (ValueError, yaml.YAMLError) as e:  # ValidationError and JSONDecodeError are ValueErrors
        detail = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()[:3]) \
            if isinstance(e, ValidationError) else str(e).splitlines()[0]
        raise ConfigError(f"scripted LLM: {path} is not a valid script ({detail})") from None


def _to_message(turn: Any, index: int) -> Message:
    """A scripted turn (Message, string, dict or ScriptedTurn) as the assistant Message it stands for."""
    if isinstance(turn, Message):
        return turn
    if isinstance(turn, str):
        turn = ScriptedTurn(text=turn)
    elif not isinstance(turn, ScriptedTurn):
        turn = ScriptedTurn.model_validate(turn)
    parts: list[Part] = [TextPart(text=turn.text)] if turn.text else []
    for k, call in enumerate(turn.tool_calls):
        arguments, error = parse_arguments(call.arguments)
        parts.append(ToolCall(id=call.id or f"call_{index}_{k}", name=call.name, arguments=arguments, error=error))
    return Message(role="assistant", parts=parts)
