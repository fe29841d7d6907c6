"""Text at the boundary: no string that enters plugboard holds a control character, NUL or lone
surrogate (nothing stored can later break a route, a log line or libvirt), and the OpenAPI
schema says so: every request body derives from `Body`, which refuses them in each string it
carries and gives each string without a pattern of its own the pattern `TEXT_REGEX`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from plugboard.errors import InvalidInput

# C0 controls but tab, newline and carriage return; DEL; C1 controls.
_CONTROLS = r"\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F"
TEXT_REGEX = rf"^[^{_CONTROLS}]*$"
LINE_REGEX = r"^[^\x00-\x1F\x7F-\x9F]*$"  # the same, on one line (paths, ...)
_CONTROL = re.compile(f"[{_CONTROLS}]")
TEXT_RULE = "no control characters (U+0000-U+001F but tab and newlines, U+007F-U+009F)"


def text_problem(value: str) -> str | None:
    """What is wrong with `value` as text, or None."""
    if (found := _CONTROL.search(value)) is not None:
        return f"holds the control character U+{ord(found.group()):04X}; {TEXT_RULE}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone surrogate (not a Unicode character): send UTF-8 text"
    return None


def check_document(value: Any, where: str = "") -> None:
    """Every string (keys too) of a JSON document: InvalidInput naming the first bad one."""
    if isinstance(value, str):
        if (problem := text_problem(value)) is not None:
            raise InvalidInput(f"{where}: {problem}" if where else problem, field=where or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_document(key, f"{where} (a member's name)")
            check_document(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_document(item, f"{where}[{index}]")


def text_in_schema(schema: dict[str, Any], _cls: type) -> None:
    """A body's JSON schema: each string without a pattern of its own gets `TEXT_REGEX`."""
    for prop in schema.get("properties", {}).values():
        _add_pattern(prop)


def with_rules(rules: dict[str, Any]) -> Callable[[dict[str, Any], type], None]:
    """`text_in_schema`, plus JSON Schema keywords of a body's own: its cross-field rules
    (`not`, `anyOf`), so that the schema says them too."""

    def apply(schema: dict[str, Any], cls: type) -> None:
        text_in_schema(schema, cls)
        schema.update(rules)

    return apply


def omit_default(schema: dict[str, Any]) -> None:
    """A field that may be left out but not sent as null: the schema shows no default."""
    schema.pop("default", None)


def _add_pattern(schema: dict[str, Any]) -> None:
    if schema.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(schema):
        schema["pattern"] = TEXT_REGEX
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            _add_pattern(option)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _add_pattern(schema[key])


class Body(BaseModel):
    """A request body (or query): unknown members and bad text are refused."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=text_in_schema)

    @field_validator("*", mode="after")
    @classmethod
    def _text_only(cls, value: Any) -> Any:
        if not isinstance(value, BaseModel):  # a nested body has checked itself
            try:
                check_document(value)
            except InvalidInput as err:
                raise ValueError(err.detail) from None
        return value
