"""Flow parameters: a value that already has exactly its annotated builtin type is taken as
it is, without building a pydantic validator (building one cost a one-flow script a
quarter of a second); everything else is validated and coerced as before."""

from __future__ import annotations

import pytest

from flowyard import flow
from flowyard.exceptions import ParameterValidationError


def test_exact_builtin_values_build_no_validator() -> None:
    @flow
    def pipeline(n: int, name: str, ratio: float, on: bool, raw: bytes) -> None: ...

    values = {"n": 3, "name": "x", "ratio": 0.5, "on": True, "raw": b"\x00"}
    assert pipeline.validate_parameters(values) == values
    assert not pipeline._adapters  # nothing built


def test_other_values_are_still_coerced() -> None:
    @flow
    def pipeline(n: int, ratio: float, items: list[int]) -> None: ...

    validated = pipeline.validate_parameters({"n": "5", "ratio": 2, "items": ["1", 2]})
    assert validated == {"n": 5, "ratio": 2.0, "items": [1, 2]}
    assert type(validated["ratio"]) is float  # an int for a float is converted, not kept
    assert set(pipeline._adapters or {}) == {"n", "ratio", "items"}


def test_a_bad_value_is_still_refused_naming_the_parameter() -> None:
    @flow
    def pipeline(n: int, name: str = "a") -> None: ...

    with pytest.raises(ParameterValidationError, match="parameter 'n'"):
        pipeline.validate_parameters({"n": "many", "name": "b"})
    with pytest.raises(ParameterValidationError, match="parameter 'name'"):
        pipeline.validate_parameters({"n": 1, "name": 3})


def test_a_subclass_is_not_taken_for_its_base() -> None:
    class Level(int):
        pass

    @flow
    def pipeline(n: int) -> None: ...

    validated = pipeline.validate_parameters({"n": Level(2)})
    assert validated == {"n": 2} and "n" in (pipeline._adapters or {})
