"""Cache policies: composition, keys, and Cached states -- within a run, across runs and
across processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flowyard import (
    FLOW_PARAMETERS,
    INPUTS,
    NO_CACHE,
    RUN_ID,
    TASK_SOURCE,
    CachePolicy,
    flow,
    task,
)
from flowyard.sdk.caching import (
    DEFAULT,
    CompoundCachePolicy,
    Inputs,
    hash_objects,
    needs_flow_parameters,
)
from flowyard.sdk.context import get_run_context
from flowyard.sdk.states import State


def flow_run_id() -> Any:
    return get_run_context().flow_run.id  # type: ignore[union-attr]


# -- composition -----------------------------------------------------------------------------


def test_policies_compose_with_plus_and_minus() -> None:
    assert DEFAULT == INPUTS + TASK_SOURCE + RUN_ID
    assert isinstance(DEFAULT, CompoundCachePolicy)
    assert DEFAULT - RUN_ID == INPUTS + TASK_SOURCE
    assert DEFAULT - RUN_ID - TASK_SOURCE == INPUTS
    assert INPUTS - INPUTS == NO_CACHE
    assert INPUTS + INPUTS == INPUTS
    assert NO_CACHE + INPUTS == INPUTS and INPUTS + NO_CACHE == INPUTS
    assert Inputs(("x",)) == INPUTS - "x"
    assert (DEFAULT - "x").parts()[0] == Inputs(("x",))
    assert TASK_SOURCE - "x" == TASK_SOURCE
    assert repr(DEFAULT) == "INPUTS + TASK_SOURCE + RUN_ID"
    assert needs_flow_parameters(INPUTS + FLOW_PARAMETERS)
    assert not needs_flow_parameters(DEFAULT)
    with pytest.raises(TypeError):
        INPUTS + 1  # type: ignore[operator]


def test_hashes_are_stable_and_order_free() -> None:
    assert hash_objects({"a": 1, "b": {2, 3}}) == hash_objects({"b": {3, 2}, "a": 1})
    assert hash_objects({"a": 1}) != hash_objects({"a": 2})
    assert hash_objects(object) == hash_objects(object)  # pickled by reference
    with pytest.raises(ValueError, match="Cannot hash"):
        hash_objects(threading.Lock())


def test_a_bad_cache_option_fails_at_decoration() -> None:
    with pytest.raises(TypeError, match="cache_policy"):
        task(lambda: 1, cache_policy="inputs")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cache_expiration"):
        task(lambda: 1, cache_policy=INPUTS, cache_expiration="1h")  # type: ignore[arg-type]


def test_the_fast_path_has_no_seam() -> None:
    assert task(lambda: 1).result_seam is None
    assert task(lambda: 1, cache_policy=INPUTS, persist_result=False).result_seam is None
    assert task(lambda: 1, persist_result=True).result_seam.policy == DEFAULT


# -- Cached states ---------------------------------------------------------------------------


def test_default_policy_caches_within_a_flow_run_only(recorded: Any) -> None:
    calls: list[int] = []

    @task(persist_result=True)
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    @flow
    def pipeline() -> Any:
        first = double(3, return_state=True)
        second = double(3, return_state=True)
        return first.name, second.name, second.result(), flow_run_id()

    first, second, value, run_id = pipeline()
    assert (first, second, value) == ("Completed", "Cached", 6)
    assert calls == [3]
    assert pipeline()[:2] == ("Completed", "Cached")  # a new flow run: a new RUN_ID key
    assert calls == [3, 3]
    runs = recorded.task_runs(run_id)
    assert sorted(r.state_name for r in runs) == ["Cached", "Completed"]
    for run in runs:
        assert run.state_type == "COMPLETED"
        assert run.state.state_details.cache_key
        assert run.state.data["storage_key"]  # the record's metadata reached the API


def test_inputs_policy_caches_across_flow_runs_and_inputs_matter() -> None:
    calls: list[Any] = []

    @task(cache_policy=INPUTS - "verbose")
    def fetch(url: str, verbose: bool = False) -> str:
        calls.append(url)
        return url.upper()

    @flow
    def pipeline(url: str, verbose: bool) -> str:
        return fetch(url, verbose=verbose, return_state=True).name  # type: ignore[no-any-return]

    assert pipeline("a", False) == "Completed"
    assert pipeline("a", True) == "Cached"  # "verbose" is not part of the key
    assert pipeline("b", False) == "Completed"
    assert calls == ["a", "b"]


def test_flow_parameters_policy(recorded: Any) -> None:
    calls: list[int] = []

    @task(cache_policy=FLOW_PARAMETERS)
    def step() -> int:
        calls.append(1)
        return len(calls)

    @flow
    def pipeline(day: str) -> Any:
        return step()

    assert pipeline("mon") == 1
    assert pipeline("mon") == 1
    assert pipeline("tue") == 2


def test_cache_key_fn_and_refresh_cache() -> None:
    calls: list[int] = []

    def by_parity(context: Any, parameters: dict[str, Any]) -> str | None:
        assert context.task.name == "parity" and context.task_run.id
        return None if parameters["x"] < 0 else f"parity-{parameters['x'] % 2}"

    @task(name="parity", cache_key_fn=by_parity)
    def parity(x: int) -> int:
        calls.append(x)
        return x

    assert parity(2) == 2
    assert parity(4) == 2  # same key as 2
    assert parity(-1) == -1 and parity(-1) == -1  # None: never cached
    assert calls == [2, -1, -1]
    refreshing = parity.with_options(refresh_cache=True)
    assert refreshing(6) == 6  # runs, and overwrites the cached record
    assert parity(8) == 6
    assert calls == [2, -1, -1, 6]


def test_cache_expiration() -> None:
    calls: list[int] = []

    @task(cache_policy=INPUTS, cache_expiration=timedelta(seconds=0.3))
    def stamp(x: int) -> int:
        calls.append(x)
        return len(calls)

    state = stamp(1, return_state=True)
    assert state.state_details["cache_expiration"] > time.time()
    assert stamp(1) == 1
    time.sleep(0.4)
    assert stamp(1) == 2


def test_unhashable_inputs_run_uncached(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    @task(cache_policy=INPUTS)
    def locked(lock: Any) -> int:
        calls.append(1)
        return len(calls)

    lock = threading.Lock()
    assert locked(lock) == 1 and locked(lock) == 2
    assert "cache key could not be computed" in caplog.text


def test_a_corrupt_record_is_a_miss(flowyard_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    @task(cache_key_fn=lambda ctx, params: "fixed-key")
    def value() -> int:
        return 7

    assert value() == 7
    record = flowyard_home / "storage" / "fixed-key"
    record.write_text("{not json")
    state = value(return_state=True)
    assert state.name == "Completed" and state.result() == 7
    assert "unreadable cache record" in caplog.text
    assert value(return_state=True).name == "Cached"  # rewritten by the last run


def test_custom_policy() -> None:
    class FirstLetter(CachePolicy):
        def compute_key(
            self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kw: Any
        ) -> str | None:
            return str(inputs["word"])[0]

    calls: list[str] = []

    @task(cache_policy=FirstLetter() + TASK_SOURCE)
    def shout(word: str) -> str:
        calls.append(word)
        return word.upper()

    assert shout("apple") == "APPLE"
    assert shout("avocado") == "APPLE"
    assert calls == ["apple"]


def test_returned_state_is_cached_like_a_value() -> None:
    @task(cache_policy=INPUTS)
    def give(x: int) -> State:
        from flowyard.sdk.states import Completed

        return Completed(data=x + 1)

    assert give(1) == 2
    assert give(1, return_state=True).name == "Cached"


# -- across processes ------------------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from flowyard import INPUTS, TASK_SOURCE, flow, task

    COUNTER = Path(sys.argv[1])

    @task(cache_policy=INPUTS + TASK_SOURCE)
    def expensive(x):
        COUNTER.write_text(COUNTER.read_text() + "ran\\n")
        return {"square": x * x}

    @flow
    def pipeline(x: int):
        state = expensive(x, return_state=True)
        return state.name, state.result()

    name, value = pipeline(int(sys.argv[2]))
    print(name, value["square"])
    """
)


def test_cache_hits_across_processes(tmp_path: Path, flowyard_home: Path) -> None:
    script = tmp_path / "cached_flow.py"
    script.write_text(SCRIPT)
    counter = tmp_path / "counter.txt"
    counter.write_text("")
    env = {**os.environ, "FLOWYARD_HOME": str(flowyard_home)}

    def run(x: int) -> str:
        done = subprocess.run(
            [sys.executable, str(script), str(counter), str(x)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert run(4) == "Completed 16"
    assert run(4) == "Cached 16"
    assert run(5) == "Completed 25"
    assert counter.read_text().count("ran") == 2
