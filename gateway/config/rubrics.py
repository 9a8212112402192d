"""The [rubrics] table: what a grader scores on a shadow sample, item by item."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from gateway.config.errors import FieldError
from gateway.config.sections import Strict


class RubricItem(Strict):
    """One thing a grader scores: yes/no, a number on a scale, one of some options, or words."""

    name: str = Field(min_length=1, max_length=64)
    type: Literal["bool", "scale", "choice", "text"]
    min: int | None = None
    max: int | None = None
    options: list[str] = []
    required: bool | None = None  # default: text items may be left empty, others not

    @property
    def needed(self) -> bool:
        return self.type != "text" if self.required is None else self.required

    @model_validator(mode="after")
    def _fits_type(self) -> RubricItem:
        if self.type == "scale":
            if self.min is None or self.max is None:
                raise FieldError("max" if self.min is not None else "min", "a scale needs it")
            if self.min >= self.max:
                raise FieldError("max", f"must be greater than min ({self.min})")
        elif self.min is not None or self.max is not None:
            key = "min" if self.min is not None else "max"
            raise FieldError(key, f"does not apply to a {self.type} item")
        if self.type == "choice":
            if len(self.options) < 2:
                raise FieldError("options", "a choice needs at least two options")
            if len(set(self.options)) != len(self.options):
                raise FieldError("options", "options must differ")
        elif self.options:
            raise FieldError("options", f"does not apply to a {self.type} item")
        return self


class RubricConfig(Strict):
    items: list[RubricItem] = Field(min_length=1)

    @field_validator("items")
    @classmethod
    def _unique_names(cls, items: list[RubricItem]) -> list[RubricItem]:
        names = [item.name for item in items]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"item name '{name}' is used twice")
        return items
