"""The base model and the few helpers every WhatsApp payload model shares.

Why a custom base: both API generations keep growing fields we have not modelled
(Cloud adds some every quarter), and a migration tool must never lose data it
passes through. So every model keeps unknown keys (``extra="allow"``) and
serialises back to exactly what came in (``dump`` = by alias, unset fields left
out). Wrong types for modelled fields are still validation errors whose ``loc``
is the JSON path of the field.

Cross-field rules ("type is image, so ``image`` is required") raise a
``ValidationError`` from inside the validator: pydantic prefixes its ``loc``
with the model's own path, so the error names the missing field
(``("messages", 0, "image")``) rather than the enclosing object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = [
    "Loc",
    "WaModel",
    "dispatch_by_type",
    "dump",
    "forbid_keys",
    "missing_error",
    "raise_errors",
    "require_fields",
    "require_one_of",
]

Loc = tuple[str | int, ...]


class WaModel(BaseModel):
    """Base of every payload model: keeps unknown fields, round-trips by alias."""

    model_config = ConfigDict(
        extra="allow",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    def dump(self) -> dict[str, Any]:
        """The JSON-ready dict of this payload: aliases, unset fields omitted, extras kept."""
        return dump(self)


def dump(model: BaseModel) -> dict[str, Any]:
    """JSON-ready dict of ``model`` as the wire format has it.

    ``exclude_unset`` keeps optional fields absent when the input lacked them
    (so ``parse -> dump`` is the identity on valid input, extras included).
    """
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


def missing_error(loc: Loc, input_value: Any = None) -> InitErrorDetails:
    """One "Field required" error at ``loc`` (relative to the validating model)."""
    return InitErrorDetails(type="missing", loc=loc, input=input_value)


def raise_errors(title: str, errors: list[InitErrorDetails]) -> None:
    """Raise ``errors`` as one ValidationError (no-op when empty)."""
    if errors:
        raise ValidationError.from_exception_data(title, errors)


def _present(model: BaseModel, path: str) -> bool:
    value: Any = model
    for part in path.split("."):
        if value is None:
            return False
        value = getattr(value, part, None)
    return value is not None


def require_fields(model: BaseModel, paths: Iterable[str]) -> None:
    """Raise "Field required" for every dotted ``path`` that is absent/None on ``model``."""
    errors: list[InitErrorDetails] = []
    for path in paths:
        if not _present(model, path):
            loc: Loc = tuple(path.split("."))
            errors.append(missing_error(loc, model.model_dump(by_alias=True, exclude_unset=True)))
    raise_errors(type(model).__name__, errors)


def require_one_of(model: BaseModel, names: tuple[str, ...]) -> None:
    """Raise unless at least one of the fields ``names`` is set (e.g. media ``id``/``link``)."""
    if any(getattr(model, name, None) is not None for name in names):
        return
    wanted = _expected(names)
    raise_errors(
        type(model).__name__,
        [
            InitErrorDetails(
                type=PydanticCustomError(
                    "one_of_missing", "one of {wanted} is required", {"wanted": wanted}
                ),
                loc=(),
                input=model.model_dump(by_alias=True, exclude_unset=True),
            )
        ],
    )


def forbid_keys(model: BaseModel, keys: Mapping[str, str]) -> None:
    """Reject keys that belong to the other API generation.

    ``keys`` maps a key (an extra or a declared field) to the reason shown in
    the error. Used by Cloud models for On-Prem-only fields: a translator that
    forgets to drop one is caught by validation instead of by a 400 from Meta.
    """
    extra = model.model_extra or {}
    errors: list[InitErrorDetails] = []
    for key, reason in keys.items():
        if key in extra:
            value = extra[key]
        elif key in type(model).model_fields and getattr(model, key) is not None:
            value = getattr(model, key)
        else:
            continue
        errors.append(
            InitErrorDetails(
                type=PydanticCustomError("onprem_only_field", "{reason}", {"reason": reason}),
                loc=(key,),
                input=value,
            )
        )
    raise_errors(type(model).__name__, errors)


ModelT = TypeVar("ModelT", bound=BaseModel)


def _expected(tags: Iterable[str]) -> str:
    quoted = [repr(t) for t in tags]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def dispatch_by_type(
    title: str,
    models: Mapping[str, type[ModelT]],
    value: Any,
    *,
    default: str | None = None,
) -> ModelT:
    """Validate ``value`` with the model its ``type`` key selects.

    Hand-rolled instead of pydantic's discriminated union so error locations
    stay plain JSON paths (a tagged union inserts the tag into ``loc``).
    ``default`` is the type assumed when the key is absent (On-Prem text).
    Already-validated instances of one of ``models`` are returned unchanged.
    """
    if isinstance(value, tuple(models.values())):
        return value  # type: ignore[return-value]
    if not isinstance(value, Mapping):
        raise ValidationError.from_exception_data(
            title, [InitErrorDetails(type="dict_type", loc=(), input=value)]
        )
    tag = value.get("type", default)
    if tag is None:
        raise ValidationError.from_exception_data(title, [missing_error(("type",), dict(value))])
    model = models.get(tag) if isinstance(tag, str) else None
    if model is None:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(
                    type="literal_error",
                    loc=("type",),
                    input=tag,
                    ctx={"expected": _expected(models)},
                )
            ],
        )
    return model.model_validate(value)
