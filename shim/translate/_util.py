"""Small helpers shared by the translators (pure)."""

from __future__ import annotations

from typing import Any, NoReturn

from shim.translate.types import MissingFieldError, TranslationError


def type_name(value: object) -> str:
    if value is None:
        return "null"
    return {
        dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
        float: "number",
    }.get(type(value), type(value).__name__)


def fail(path: str, reason: str) -> NoReturn:
    raise TranslationError(path, reason)


def expect_object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        fail(path, f"expected a JSON object, got {type_name(value)}")
    return value


def expect_list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        fail(path, f"expected a JSON array, got {type_name(value)}")
    return value


def expect_str(value: object, path: str) -> str:
    if not isinstance(value, str):
        fail(path, f"expected a string, got {type_name(value)}")
    return value


def require(obj: dict[str, Any], key: str, path: str) -> Any:
    if key not in obj or obj[key] is None:
        raise MissingFieldError(f"{path}.{key}", "required field is missing")
    return obj[key]
