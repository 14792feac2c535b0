"""The shape of a sweep: an adapter entry's list-valued fields (``suite/sweep.py`` finds them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Axis(BaseModel):
    """One swept field of an adapter entry: where it sits in the entry, and its values in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: tuple[str, ...] = Field(description="('lr',), ('r',) or ('recipe', 'beta')")
    values: list[int | float]


class EntrySweep(BaseModel):
    """An adapter entry with list-valued fields: its grid is the product of its axes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(description="the entry's position in the suite's `adapters`")
    label: str
    axes: list[Axis]
