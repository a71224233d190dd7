"""Cron schedules against the official ``prefect==3.9.1`` package, expression by expression.

A corpus of cron strings goes to a script run in the official client's venv, which answers
with what prefect's own schedule objects say: whether the client's ``CronSchedule`` accepts
the string, and the next instants the server's ``CronSchedule.get_dates`` gives from a
start (or the error it raises). Ours must accept exactly the same strings, give the same
instants — DST changes included — and refuse the others with a 422 naming the cron.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import subprocess
import zoneinfo
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

from flowyard.schemas.schedules import CronSchedule
from flowyard.server.schedules import next_times

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFECT_VERSION = "3.9.1"
TIMES = 12  # next instants compared per case

# (cron, timezone, start in UTC, day_or). Starts sit just before DST changes, inside the
# gap or the repeated hour, on a match, and between seconds, where walks go wrong.
NY, LONDON, LORD_HOWE = "America/New_York", "Europe/London", "Australia/Lord_Howe"
CORPUS: list[tuple[str, str | None, str, bool]] = [
    # standard fields, lists, ranges, steps, names
    ("* * * * *", None, "2026-01-01T00:00:00", True),
    ("0 0 * * *", None, "2026-01-01T00:00:00", True),
    ("*/15 9-17 * * MON-FRI", None, "2026-02-27T16:20:00", True),
    ("5 4 * * sun", None, "2026-01-01T00:00:00", True),
    ("23 0-20/2 * * *", None, "2026-01-01T19:00:00", True),
    ("0 0,12 1 */2 *", None, "2026-01-01T06:00:00", True),
    ("0 12 * JAN-MAR/2 *", None, "2026-01-30T00:00:00", True),
    ("0 9 * * MON,WED,FRI", None, "2026-01-01T00:00:00", True),
    ("0 0 1 jan,jul *", None, "2026-01-01T00:00:00", True),
    ("1-5/2 * * * *", None, "2026-01-01T00:00:00", True),
    ("0 0 * * 7", None, "2026-01-01T00:00:00", True),
    # ranges that wrap around the end of the field
    ("0 0 * * 6-1", None, "2026-01-01T00:00:00", True),
    ("0 22-2 * * *", None, "2026-01-01T00:00:00", True),
    ("0 0 30-5 * *", None, "2026-01-01T00:00:00", True),
    ("0 0 * 12-2 *", None, "2026-01-01T00:00:00", True),
    ("5-1 * * * *", None, "2026-01-01T00:00:00", True),
    # day of month OR day of week, and AND with day_or=False
    ("0 0 1,15 * SUN", None, "2026-01-01T00:00:00", True),
    ("0 0 1,15 * SUN", None, "2026-01-01T00:00:00", False),
    ("0 0 13 * FRI", None, "2026-01-01T00:00:00", False),
    ("0 0 */2 * MON", None, "2026-01-01T00:00:00", True),
    # L, #, ?
    ("0 0 L * *", None, "2026-01-01T00:00:00", True),
    ("0 0 L 2 *", None, "2026-01-01T00:00:00", True),
    ("0 0 1-L/2 * *", None, "2026-01-01T00:00:00", True),
    ("0 0 * * 5#2", None, "2026-01-01T00:00:00", True),
    ("0 0 * * sat#5", None, "2026-01-01T00:00:00", True),
    ("0 0 * * L5", None, "2026-01-01T00:00:00", True),
    ("0 0 ? * MON", None, "2026-01-01T00:00:00", True),
    ("0 0 1 * ?", None, "2026-01-01T00:00:00", True),
    ("0 0 29 2 *", None, "2026-01-01T00:00:00", True),
    # macros, seconds (a sixth field, last) and years (a seventh)
    ("@daily", None, "2026-01-01T00:00:00", True),
    ("@hourly", None, "2026-01-01T00:30:00", True),
    ("@weekly", None, "2026-01-01T00:00:00", True),
    ("@monthly", None, "2026-01-01T00:00:00", True),
    ("@yearly", None, "2026-01-01T00:00:01", True),
    ("@annually", None, "2026-01-01T00:00:00", True),
    ("@midnight", "Asia/Kolkata", "2026-01-01T00:00:00", True),
    ("@DAILY", None, "2026-01-01T00:00:00", True),
    ("0 0 * * * 30", None, "2026-01-01T00:00:00", True),
    ("* * * * * */20", None, "2026-01-01T00:00:00.500000", True),
    ("0 0 1 1 * 0 2027-2030", None, "2026-01-01T00:00:00", True),
    # odd spacing
    ("  0 0 * * *  ", None, "2026-01-01T00:00:00", True),
    ("0 0\u00a01 * *", None, "2026-01-01T00:00:00", True),
    # New York: spring forward on 2026-03-08 (02:00 -> 03:00), fall back on 2026-11-01
    ("0 2 * * *", NY, "2026-03-06T00:00:00", True),
    ("30 2 * * *", NY, "2026-03-06T00:00:00", True),
    ("*/30 * * * *", NY, "2026-03-08T05:00:00", True),
    ("*/20 2 * * *", NY, "2026-03-08T07:05:00", True),  # 03:05 EDT, just past the gap
    ("30 2 * * * 15", NY, "2026-03-07T12:00:00", True),
    ("30 1 * * *", NY, "2026-10-30T00:00:00", True),
    ("*/30 * * * *", NY, "2026-11-01T04:30:00", True),
    ("*/20 * * * *", NY, "2026-11-01T06:10:00", True),  # 01:10 EST, the repeated hour
    ("0 * * * *", NY, "2026-11-01T04:00:00", True),
    ("0 0 L * *", NY, "2026-02-01T00:00:00", True),
    # London: spring forward on 2026-03-29 (01:00 -> 02:00), fall back on 2026-10-25
    ("0 * * * *", LONDON, "2026-03-28T23:00:00", True),
    ("30 1 * * *", LONDON, "2026-03-27T00:00:00", True),
    ("30 1 * * *", LONDON, "2026-10-23T00:00:00", True),
    ("0,30 1-2 * * *", LONDON, "2026-10-24T23:00:00", True),
    ("0 9 * * 1-5", LONDON, "2026-03-25T00:00:00", True),
    # Lord Howe moves its clock by 30 minutes; Samoa skipped 2011-12-30 altogether
    ("*/15 * * * *", LORD_HOWE, "2026-10-03T15:00:00", True),
    ("*/15 * * * *", LORD_HOWE, "2026-04-04T14:00:00", True),
    ("0 12 * * *", "Pacific/Apia", "2011-12-27T00:00:00", True),
    # never fires, or croniter cannot find the next one: prefect raises, we give nothing
    ("0 0 31 2 *", None, "2026-01-01T00:00:00", True),
    ("0 0 1 1 * 0 2027", None, "2026-01-01T00:00:00", True),
]

REFUSED = [
    "61 * * * *",
    "* 24 * * *",
    "0 0 0 * *",
    "0 0 32 * *",
    "0 0 * 13 *",
    "0 0 * * 8",
    "*/0 * * * *",
    "0 0 15W * *",
    "0 0 LW * *",
    "0 0 * * 5L",
    "0 0 L-2 * *",
    "0 0 * * mon#1,fri#L",
    "0 0 * * 1#6",
    "0 0 ? ? *",
    "H * * * *",
    "R 0 * * *",
    "H(0-30) * * * *",
    "@reboot",
    "@every 5m",
    "",
    "0 0 * *",
    "0 0 * * * * * *",
    "0 0 * * * 0 1969",
    "0 0 * * MON-",
    "not a cron",
]

PREFECT_SCRIPT = """
import asyncio, datetime, json, sys
from prefect.client.schemas.schedules import CronSchedule as ClientCron
from prefect.server.schemas.schedules import CronSchedule as ServerCron

async def answer(case):
    try:
        ClientCron(cron=case["cron"])
    except Exception as exc:
        return {"accepted": False, "reason": str(exc)}
    schedule = ServerCron(cron=case["cron"], timezone=case["timezone"], day_or=case["day_or"])
    if case["start"] is None:
        return {"accepted": True}
    start = datetime.datetime.fromisoformat(case["start"]).replace(tzinfo=datetime.timezone.utc)
    # get_dates() is sorted(_get_dates_generator()); walking the generator keeps the dates
    # it gave before croniter found no next one (then get_dates raises, losing them).
    dates, error = [], None
    try:
        for date in schedule._get_dates_generator(n=case["n"], start=start):
            dates.append(date)
    except Exception as exc:
        error = repr(exc)
    if error is None:
        assert sorted(dates) == await schedule.get_dates(n=case["n"], start=start)
    utc = [d.astimezone(datetime.timezone.utc).isoformat() for d in sorted(dates)]
    return {"accepted": True, "times": utc, "error": error}

async def main():
    cases = json.load(sys.stdin)
    json.dump([await answer(case) for case in cases], sys.stdout)

asyncio.run(main())
"""


def prefect_python() -> Path:
    venv = Path(os.environ.get("FLOWYARD_PREFECT_VENV") or REPO_ROOT / ".venv-prefect")
    python = venv / "bin" / "python"
    if not (venv / f".installed-{PREFECT_VERSION}").exists() and not python.exists():
        pytest.fail(f"the official client's venv is missing: run `make install-prefect` ({venv})")
    return python


@pytest.fixture(scope="module")
def prefect_answers(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[Any, ...], Any]:
    """What prefect 3.9.1 says of every case, keyed by (cron, timezone, start, day_or)."""
    cases = [
        {"cron": c, "timezone": tz, "start": start, "day_or": day_or, "n": TIMES}
        for c, tz, start, day_or in CORPUS
    ] + [{"cron": c, "timezone": None, "start": None, "day_or": True, "n": 0} for c in REFUSED]
    home = tmp_path_factory.mktemp("prefect-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FLOWYARD_"))}
    env["PREFECT_HOME"] = str(home)
    proc = subprocess.run(
        [str(prefect_python()), "-c", PREFECT_SCRIPT],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    answers = json.loads(proc.stdout)
    return {
        (case["cron"], case["timezone"], case["start"], case["day_or"]): answer
        for case, answer in zip(cases, answers, strict=True)
    }


def ours(cron: str, timezone: str | None, start: str, day_or: bool) -> list[str]:
    schedule = CronSchedule(cron=cron, timezone=timezone, day_or=day_or)
    after = dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC)
    times = next_times(schedule, after, after + dt.timedelta(days=366 * 60), TIMES)
    return [t.astimezone(dt.UTC).isoformat() for t in times]


@pytest.mark.parametrize(("cron", "timezone", "start", "day_or"), CORPUS)
def test_next_times_match_prefect(
    prefect_answers: dict[tuple[Any, ...], Any],
    cron: str,
    timezone: str | None,
    start: str,
    day_or: bool,
) -> None:
    answer = prefect_answers[(cron, timezone, start, day_or)]
    assert answer["accepted"], f"prefect refuses {cron!r}: the corpus is wrong"
    # Where croniter finds no next date prefect raises; we give what came before it.
    assert ours(cron, timezone, start, day_or) == answer["times"]


def test_the_corpus_covers_what_the_issue_names(
    prefect_answers: dict[tuple[Any, ...], Any],
) -> None:
    named = {"0 0 L * *", "0 0 * * 5#2", "0 0 ? * MON", "@daily", "0 0 * * * 30"}
    assert named <= {cron for cron, *_ in CORPUS}
    # The DST cases really meet a change: from a day before the start to the last time
    # prefect gives, the zone has two UTC offsets.
    dst = [case for case in CORPUS if case[1] in (NY, LONDON, LORD_HOWE, "Pacific/Apia")]
    assert len(dst) >= 15
    for cron, timezone, start, day_or in dst:
        zone = zoneinfo.ZoneInfo(str(timezone))
        times = prefect_answers[(cron, timezone, start, day_or)]["times"]
        before = dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC) - dt.timedelta(days=1)
        moments = [before, *(dt.datetime.fromisoformat(t) for t in times)]
        assert len({m.astimezone(zone).utcoffset() for m in moments}) == 2, (cron, timezone)
    refused = [c for c in REFUSED if not prefect_answers[(c, None, None, True)]["accepted"]]
    assert refused == REFUSED, "prefect accepts some of REFUSED: the corpus is wrong"


@pytest.mark.parametrize("cron", REFUSED)
def test_what_prefect_refuses_we_refuse(
    prefect_answers: dict[tuple[Any, ...], Any], cron: str
) -> None:
    assert not prefect_answers[(cron, None, None, True)]["accepted"]
    with pytest.raises(pydantic.ValidationError) as refused:
        CronSchedule(cron=cron)
    assert f"invalid cron string {cron!r}" in str(refused.value)


@pytest.mark.parametrize("cron", REFUSED)
async def test_what_prefect_refuses_is_a_422_naming_the_cron(
    client: httpx.AsyncClient, prefect_answers: dict[tuple[Any, ...], Any], cron: str
) -> None:
    assert not prefect_answers[(cron, None, None, True)]["accepted"]
    flow_id = (await client.post("/flows/", json={"name": "corpus"})).json()["id"]
    body = {"name": "bad-cron", "flow_id": flow_id, "schedules": [{"schedule": {"cron": cron}}]}
    response = await client.post("/deployments/", json=body)
    assert response.status_code == 422, response.text
    detail = json.dumps(response.json())
    assert "cron" in detail and json.dumps(cron)[1:-1] in detail, detail
    assert (await client.post("/deployments/count", json={})).json() == 0


async def test_what_prefect_accepts_is_stored_and_scheduled(client: httpx.AsyncClient) -> None:
    flow_id = (await client.post("/flows/", json={"name": "corpus"})).json()["id"]
    crons = ["0 0 L * *", "0 0 * * 5#2", "0 0 ? * MON", "@daily", "0 0 * * * 30"]
    schedules = [{"schedule": {"cron": cron, "timezone": NY}} for cron in crons]
    body = {"name": "good-cron", "flow_id": flow_id, "schedules": schedules}
    response = await client.post("/deployments/", json=body)
    assert response.status_code in (200, 201), response.text
    stored = [s["schedule"]["cron"] for s in response.json()["schedules"]]
    assert sorted(stored) == sorted(crons)


def test_croniter_caches_stay_bounded() -> None:
    # croniter 6.0.0 keeps a module-level entry per expression parsed and per datetime it
    # computes; a server parsing crons from requests and walking them for months would grow
    # without end. Ours are bounded.
    module = importlib.import_module("croniter.croniter")
    for second in range(60):
        for minute in range(90):
            CronSchedule(cron=f"{minute % 60} {minute // 60} * * * {second}")
    every_minute = CronSchedule(cron="* * * * *")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert len(next_times(every_minute, start, start + dt.timedelta(days=7), 6000)) == 6000
    assert len(module.EXPRESSIONS) <= 4097
    assert len(module.TIMESTAMP_TO_DT_CACHE) <= 4097
