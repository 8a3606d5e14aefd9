"""Typed tools: a plain function's signature is its JSON schema (pydantic derives it, nothing is
written twice). The first parameter is the run context; the LLM never sees it."""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from agent.core.errors import AtelierError, ConfigError, OutOfSpace, StopRun
from agent.core.protocols import ImagePart, TextPart, ToolCall, ToolResult, ToolSpec


class Reply(BaseModel):
    """What a tool hands back: text for the model, images it should see, data for programs."""

    text: str
    images: list[Path] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)


class Tool:
    def __init__(self, fn: Callable[..., Reply]):
        self.fn, self.name = fn, fn.__name__
        doc = inspect.getdoc(fn) or ""
        self.description = " ".join(doc.split("\n\nArgs:")[0].split())
        params = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]  # skip ctx
        fields = {p.name: (p.annotation, Field(... if p.default is p.empty else p.default,
                                                 description=_arg_doc(doc, p.name)))
                  for p in params}
        self.arguments = create_model(f"{self.name}_args", __config__=ConfigDict(extra="forbid"), **fields)
        self._spec: ToolSpec | None = None

    def spec(self) -> ToolSpec:
        if self._spec is None:  # derived once: a tool's signature does not change
            schema = self.arguments.model_json_schema()
            schema.pop("title", None)
            self._spec = ToolSpec(name=self.name, description=self.description, parameters=schema)
        return self._spec.model_copy(deep=True)

    def __call__(self, ctx, call: ToolCall) -> ToolResult:
        """Run the tool; any failure becomes an error result for the LLM, never a dead run."""
        try:
            args = self.arguments.model_validate(call.arguments)
            reply = self.fn(ctx, **{k: getattr(args, k) for k in type(args).model_fields})
        except StopRun:
            raise
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'arguments'}: {err['msg']}"
                                 for err in e.errors())
            return _error(call, f"bad arguments for {self.name}: {problems}")
        except (ConfigError, OutOfSpace):
            raise  # weights absent, unknown model, key unset, disk full: no retry or re-plan can fix it; the run fails
        except AtelierError as e:  # bad arguments, a service's transient trouble: the LLM can try again
            return _error(call, f"{self.name} failed: {e}")
        return _result(call, self.name, reply)


def _result(call: ToolCall, name: str, reply: Reply) -> ToolResult:
    content = [TextPart(text=reply.text)] + [ImagePart(path=p) for p in reply.images]
    return ToolResult(call_id=call.id, name=name, content=content, data=reply.data)


def _error(call: ToolCall, message: str) -> ToolResult:
    return ToolResult(call_id=call.id, name=call.name, content=[TextPart(text=message)],
                      data={"error": message}, is_error=True)


def _arg_doc(doc: str, name: str) -> str | None:
    """The description of `name` from a Google-style `Args:` section."""
    _, _, args = doc.partition("\n\nArgs:")
    found: list[str] = []
    for line in args.splitlines():
        key, sep, text = line.strip().partition(":")
        if found and (len(line) - len(line.lstrip()) > 4 or not sep):  # a continuation line
            found.append(line.strip())
        elif found:
            break
        elif sep and key.split(" ")[0] == name:
            found.append(text.strip())
    return " ".join(found) or None


# (ctx, call, the conversation so far) -> the call's reply rebuilt from the record, or None: tools.resumed
SavedReply = Callable[[Any, ToolCall, list], "Reply | None"]


class Toolbox:
    def __init__(self, fns: list[Callable[..., Reply]], saved: SavedReply | None = None):
        self.tools = {fn.__name__: Tool(fn) for fn in fns}
        self.saved = saved

    def saved_result(self, ctx, call: ToolCall, conversation: list) -> ToolResult | None:
        """The result of a call that ran before the run's process died, rebuilt from what it saved in the
        record (`tools.resumed`); None when the record holds no trace of it."""
        if self.saved is None or call.error or call.name not in self.tools:
            return None
        reply = self.saved(ctx, call, conversation)
        return None if reply is None else _result(call, call.name, reply)

    def specs(self) -> list[ToolSpec]:
        return [t.spec() for t in self.tools.values()]

    def call(self, ctx, call: ToolCall) -> ToolResult:
        if call.error:  # the provider could not read the model's arguments (not JSON, cut off)
            return _error(call, f"malformed call of {call.name}: {call.error}; send the arguments again as a JSON object")
        if call.name not in self.tools:
            return _error(call, f"unknown tool {call.name!r}; available: {', '.join(self.tools)}")
        return self.tools[call.name](ctx, call)
