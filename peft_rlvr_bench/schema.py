"""The base of every model a user's input validates into (suites, component parameters, recipes).

Pydantic's lax mode, which lets ``lr: 1e-3`` (a string to YAML) be a float, also takes ``true``
as the integer 1 and ``.inf`` or ``.nan`` as floats: a suite with ``r: true`` or ``lr: .inf``
would validate and then train nonsense. Strict mode would refuse the string ``1e-3`` too, so
this base keeps lax mode and refuses just those two: non-finite floats
(``allow_inf_nan=False``) and booleans where a number belongs.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


def _number_types(annotation: Any) -> set[type]:
    """The scalar types a field accepts at its top level (``int | None`` -> {int, NoneType})."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _number_types(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_number_types(arg) for arg in typing.get_args(annotation)))
    return {annotation} if isinstance(annotation, type) else set()


def _item_annotation(annotation: Any) -> Any:
    """``list[int]`` -> ``int``; anything else -> None."""
    if typing.get_origin(annotation) in (list, tuple, set, frozenset):
        args = [arg for arg in typing.get_args(annotation) if arg is not Ellipsis]
        return args[0] if len(args) == 1 else None
    return None


def bool_for_number(value: Any, annotation: Any) -> bool:
    """Whether ``value`` holds a boolean where ``annotation`` wants an int or a float."""
    if isinstance(value, bool):
        accepted = _number_types(annotation)
        return bool(accepted & {int, float}) and bool not in accepted
    item = _item_annotation(annotation)
    # An Annotated item type (a suite's Seed) brings its own validator and a better message.
    if (
        item is not None
        and typing.get_origin(item) is not typing.Annotated
        and isinstance(value, list | tuple)
    ):
        return any(bool_for_number(element, item) for element in value)
    return False


class InputModel(BaseModel):
    """Lax pydantic without its two traps for user input: booleans as numbers, inf and NaN."""

    model_config = ConfigDict(allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and bool_for_number(value, field.annotation):
            raise ValueError("a boolean where a number belongs; write the number, e.g. 1 or 0.5")
        return value
