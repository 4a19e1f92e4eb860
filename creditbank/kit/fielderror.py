"""A request model's own check that concerns one field, reported at that field.

A ``ValueError`` raised in a model validator (one that needs several fields: a conversion certificate
needs ``conversion_id``) is located at the model itself, so the problem's ``errors[].field`` came out
empty — the caller could not tell which field to fix. Raising
:func:`at` instead gives pydantic's own ``value_error`` with the field's location (nested models
prefix their path as usual), read by ``api.problems`` like any other validator's reason."""

from __future__ import annotations

from typing import Any

from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError


def at(field: str, message: str, value: Any = None) -> ValidationError:
    """The error to raise: ``message`` (English; its Chinese in ``api.problems.VALIDATOR_ZH``)
    about ``field`` (dotted for a nested one, e.g. ``any_n_of.n``)."""
    return ValidationError.from_exception_data(
        "request",
        [
            InitErrorDetails(
                type=PydanticCustomError("value_error", "Value error, {error}", {"error": message}),
                loc=tuple(int(p) if p.isdigit() else p for p in field.split(".")),
                input=value,
            )
        ],
    )
