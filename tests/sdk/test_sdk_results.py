"""Persisted results: storage, serializers, atomic records, reading results back later."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from flowyard import (
    JSONSerializer,
    LocalFileSystem,
    PickleSerializer,
    flow,
    load_result,
    task,
)
from flowyard.exceptions import MissingResult
from flowyard.sdk.context import get_run_context
from flowyard.sdk.results import PersistedState, read_record, write_record
from flowyard.sdk.serializers import resolve_serializer
from flowyard.sdk.states import State


def flow_run_id() -> Any:
    return get_run_context().flow_run.id  # type: ignore[union-attr]


# -- storage and serializers -----------------------------------------------------------------


def test_local_storage_defaults_to_flowyard_home(flowyard_home: Path) -> None:
    storage = LocalFileSystem()
    assert storage.basepath == (flowyard_home / "storage").resolve()
    key = storage.write_path("a/b", b"hello")
    assert key == str(flowyard_home.resolve() / "storage" / "a" / "b")
    assert storage.read_path("a/b") == b"hello" and storage.read_path(key) == b"hello"
    assert storage.exists("a/b") and not storage.exists("nope")
    for outside in ("../escape", "/etc/passwd", ""):
        with pytest.raises(ValueError, match="outside"):
            storage.read_path(outside)
        assert not storage.exists(outside)


def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalFileSystem(tmp_path / "store")
    storage.write_path("key", b"old")

    def crash(src: Any, dst: Any) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        storage.write_path("key", b"new and longer")
    monkeypatch.undo()
    assert storage.read_path("key") == b"old"  # never a half-written record
    assert os.listdir(tmp_path / "store") == ["key"]  # and no temporary file left


def test_serializers() -> None:
    value = {"a": [1, 2], "b": None}
    for serializer in (PickleSerializer(), JSONSerializer()):
        blob = serializer.dumps(value)
        blob.decode("ascii")  # text, so a record is one JSON document
        assert serializer.loads(blob) == value
    assert PickleSerializer().loads(PickleSerializer().dumps(lambda x: x + 1))(1) == 2
    with pytest.raises(TypeError):
        JSONSerializer().dumps(object())
    assert resolve_serializer("json") == JSONSerializer()
    assert resolve_serializer("cloudpickle") == PickleSerializer()
    assert resolve_serializer(None) == PickleSerializer()
    with pytest.raises(ValueError, match="Unknown result serializer"):
        resolve_serializer("yaml")


def test_record_round_trip(tmp_path: Path) -> None:
    storage = LocalFileSystem(tmp_path)
    metadata = write_record(storage, "r1", {"x": 1}, JSONSerializer(), expiration=0.0)
    assert metadata == {
        "storage_key": str(tmp_path.resolve() / "r1"),
        "expiration": "1970-01-01T00:00:00+00:00",
        "serializer": {"type": "json"},
        "storage_block_id": None,
    }
    stored = json.loads((tmp_path / "r1").read_text())
    assert stored == {"metadata": metadata, "result": '{"x": 1}'}
    assert read_record(storage, "r1") == (metadata, {"x": 1})


# -- tasks and flows -------------------------------------------------------------------------


def test_persisted_task_and_flow_results_reach_the_api(recorded: Any) -> None:
    @task(persist_result=True, result_serializer="json")
    def make(n: int) -> list[int]:
        return list(range(n))

    @task
    def plain() -> int:
        return 1

    @flow
    def pipeline() -> Any:
        return make(3), plain(), flow_run_id()

    made, _, run_id = pipeline()
    assert made == [0, 1, 2]
    by_name = {r.name: r for r in recorded.task_runs(run_id)}
    persisted = by_name["make-0"].state
    assert persisted.data["serializer"] == {"type": "json"}
    assert persisted.state_details.untrackable_result is False
    assert load_result(persisted) == [0, 1, 2]
    assert by_name["plain-0"].state.data is None  # not persisted: stays local
    assert by_name["plain-0"].state.state_details.untrackable_result is True
    with pytest.raises(MissingResult):
        load_result(by_name["plain-0"].state)
    flow_state = recorded.flow_run(run_id).state
    assert flow_state.data is None  # the flow itself does not persist


def test_a_persisting_flow_persists_its_tasks_by_default(recorded: Any, tmp_path: Path) -> None:
    calls: list[int] = []

    @task
    def inherit(x: int) -> int:
        calls.append(x)
        return x + 1

    @task(persist_result=False)
    def opt_out(x: int) -> int:
        return x

    @flow(persist_result=True, result_storage=tmp_path / "results")
    def pipeline() -> Any:
        states = [inherit(1, return_state=True), inherit(1, return_state=True)]
        unpersisted = opt_out(2, return_state=True).result_metadata is None
        return [s.name for s in states], unpersisted, flow_run_id()

    state = pipeline(return_state=True)
    names, unpersisted, run_id = state.result()
    assert names == ["Completed", "Cached"] and calls == [1]
    assert unpersisted
    # The flow's own result is persisted in its storage, and the API has its metadata.
    assert isinstance(state, PersistedState)
    stored = recorded.flow_run(run_id).state
    assert stored.data["storage_key"].startswith(str((tmp_path / "results").resolve()))
    with pytest.raises(MissingResult, match="cannot be read"):
        load_result(stored)  # outside the default storage: refused without the storage
    rebuilt = load_result(stored, storage=LocalFileSystem(tmp_path / "results"))
    assert rebuilt[0] == ["Completed", "Cached"]
    task_files = list((tmp_path / "results").iterdir())
    assert len(task_files) == 2  # one task record (cached once) + the flow's


def test_unpicklable_results_complete_without_persisting(caplog: pytest.LogCaptureFixture) -> None:
    @task(persist_result=True)
    def gen() -> Any:
        return (i for i in range(3))

    state = gen(return_state=True)
    assert state.name == "Completed" and state.result_metadata is None
    assert list(state.result()) == [0, 1, 2]
    assert "was not persisted" in caplog.text


LATER = textwrap.dedent(
    """
    from flowyard import flow, task

    @task(persist_result=True)
    def build(n):
        return {"items": list(range(n)), "kind": frozenset({"a"})}

    @flow(persist_result=True)
    def producer(n: int):
        return build(n)

    state = producer(4, return_state=True)
    print(state.result_metadata["storage_key"])
    """
)


def test_results_read_back_in_another_process(
    tmp_path: Path, flowyard_home: Path, recorded: Any
) -> None:
    script = tmp_path / "producer.py"
    script.write_text(LATER)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "FLOWYARD_HOME": str(flowyard_home)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (flow_run,) = recorded.flow_runs()
    expected = {"items": [0, 1, 2, 3], "kind": frozenset({"a"})}
    assert load_result(flow_run.state) == expected
    assert State.from_wire(flow_run.state).result() == expected
    assert State.from_wire(flow_run.state.model_dump(mode="json")).result() == expected
    (task_run,) = recorded.task_runs(flow_run.id)
    assert load_result(task_run.state) == expected


def test_nothing_from_the_api_is_unpickled_outside_local_storage(
    tmp_path: Path, flowyard_home: Path
) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> Any:
            return (Path.touch, (marker,))

    # A record-shaped file outside the storage, as a hostile API might point at.
    outside = tmp_path / "evil"
    storage = LocalFileSystem(tmp_path)
    write_record(storage, "evil", Exploit(), PickleSerializer())
    forged = {
        "type": "COMPLETED",
        "data": {
            "storage_key": str(outside),
            "serializer": {"type": "pickle"},
            "storage_block_id": None,
            "expiration": None,
        },
    }
    for key in (str(outside), "../evil", str(flowyard_home / "storage" / ".." / ".." / "evil")):
        forged["data"]["storage_key"] = key  # type: ignore[index]
        with pytest.raises(MissingResult):
            load_result(forged)
    forged["data"]["storage_block_id"] = "1b7f1b1e-0000-0000-0000-000000000000"  # type: ignore[index]
    with pytest.raises(MissingResult, match="remote storage"):
        load_result(forged)
    assert not marker.exists()


def test_load_result_of_in_memory_and_failed_states() -> None:
    @task
    def fine() -> None:
        return None

    @task
    def broken() -> None:
        raise RuntimeError("no")

    assert load_result(fine(return_state=True)) is None
    with pytest.raises(RuntimeError, match="no"):
        load_result(broken(return_state=True))
    with pytest.raises(MissingResult):
        load_result({"type": "COMPLETED", "data": None})
