"""Times from callers and command lines: out-of-range or malformed values fail
typed (TimeRangeError, or a one-line usage error), never with a traceback."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

import provledger as pl
from provledger._time import check_now
from provledger_cli._params import TIME
from provledger_cli.main import cli
from provledger_cli.transfer_cmd import WHEN

from .conftest import World

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = ROOT / "spec" / "vectors" / "bundle"
GREGORIAN_CYCLE = 146097 * 86400  # 400 years repeat exactly
OUT_OF_RANGE = ["9" * 5000, "99999999999999999999999", str(2**40 + 1),
                "0001-01-01T00:00:00+01:00", "0" * 30 + str(2**40 + 1)]
MALFORMED = ["-1", "2026-13-01", "2026-11-20T10:00:00", "now", "", "1e9", "²", "\x1b[2J",
             "+7d"]

odd_values = st.one_of(
    st.integers(), st.integers(min_value=2**40 - 5, max_value=2**40 + 5), st.booleans(),
    st.floats(allow_nan=True), st.text(max_size=20), st.none(), st.just(10**30),
    st.just(-(10**400)), st.binary(max_size=4),
)
odd_text = st.one_of(
    st.integers().map(str), st.integers(min_value=0).map(lambda n: str(n) * 200),
    st.text(max_size=40), st.sampled_from(OUT_OF_RANGE + MALFORMED),
    st.builds(lambda y, off: f"{y:04d}-12-31T23:59:59{off}", st.integers(1, 9999),
              st.sampled_from(["Z", "-23:59", "+23:59", "+00:00"])),
)


# -- the library ------------------------------------------------------------------


@given(odd_values)
def test_check_now_returns_a_protocol_time_or_raises_time_range_error(now: Any) -> None:
    if type(now) is int and 0 <= now <= pl.MAX_TIME:
        assert check_now(now) == now
        return
    with pytest.raises(pl.TimeRangeError) as info:
        check_now(now)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, pl.ProvLedgerError)
    assert len(str(info.value)) < 300


@given(odd_values)
@settings(max_examples=200)
def test_verify_bundle_with_any_now_fails_typed(now: Any) -> None:
    data = (BUNDLES / "valid.bundle").read_bytes()
    policy = pl.read_policy(BUNDLES / "policy.txt")
    try:
        pl.verify_bundle(data, policy=policy, now=now, max_age=2**62)
    except pl.TimeRangeError:
        assert not (type(now) is int and 0 <= now <= pl.MAX_TIME)
    except pl.ProvLedgerError:
        assert type(now) is int  # only an in-range now gets as far as the bundle


def test_verify_bundle_at_the_last_protocol_time_reports_instead_of_crashing() -> None:
    data = (BUNDLES / "valid.bundle").read_bytes()
    policy = pl.read_policy(BUNDLES / "policy.txt")
    with pytest.raises(pl.StaleCheckpointError, match=r"\+36812-"):
        pl.verify_bundle(data, policy=policy, now=pl.MAX_TIME)
    with pytest.raises(pl.TimeRangeError, match="1099511627776"):
        pl.verify_bundle(data, policy=policy, now=10**30)


def test_item_report_checks_now(world: World) -> None:
    item = world.issue("R-1")
    assert pl.item_report(world.ledger, item, now=pl.MAX_TIME).item == item
    for bad in (-1, 2**40 + 1, True, 1.5, "1800000000"):
        with pytest.raises(pl.TimeRangeError):
            pl.item_report(world.ledger, item, now=bad)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=pl.MAX_TIME))
def test_format_time_covers_every_protocol_time(t: int) -> None:
    shown = pl.format_time(t)
    cycles, rest = divmod(t, GREGORIAN_CYCLE)
    if cycles and rest + GREGORIAN_CYCLE <= 253402300799:
        cycles, rest = cycles - 1, rest + GREGORIAN_CYCLE
    moment = datetime.datetime.fromtimestamp(rest, datetime.UTC)
    year = moment.year + 400 * cycles
    expected = f"{year:04d}" + moment.strftime("-%m-%dT%H:%M:%SZ")
    assert shown == (expected if year <= 9999 else f"+{expected}")


# -- the command line -------------------------------------------------------------


@given(odd_text)
def test_time_and_when_params_give_an_int_in_range_or_a_usage_error(text: str) -> None:
    for param_type in (TIME, WHEN):
        try:
            value = param_type.convert(text, None, None)
        except click.BadParameter as exc:
            message = exc.format_message()
        else:
            assert 0 <= value <= pl.MAX_TIME
            continue
        assert "\n" not in message


@pytest.mark.parametrize("text", OUT_OF_RANGE + MALFORMED)
def test_out_of_range_and_malformed_times_are_usage_errors(text: str) -> None:
    with pytest.raises(click.BadParameter) as info:
        TIME.convert(text, None, None)
    message = info.value.format_message()
    assert len(message) < 300
    assert ("1099511627776" in message) == (text in OUT_OF_RANGE), message


@pytest.mark.parametrize("text", ["+99999999999999999999d", "+" + "9" * 5000 + "s",
                                  "+" + str(2**40) + "s", *OUT_OF_RANGE])
def test_deadlines_out_of_range_name_the_range(text: str) -> None:
    with pytest.raises(click.BadParameter, match="1099511627776"):
        WHEN.convert(text, None, None)
    assert WHEN.convert("+7d", None, None) > 0


def test_a_time_past_year_9999_is_in_range() -> None:
    # 2**40 s is in the year 36812, so a time RFC 3339 cannot write is still a time.
    assert TIME.convert("9999-12-31T23:59:59-23:59", None, None) == 253402387139


def _verify(*args: str) -> Any:
    return CliRunner().invoke(
        cli, ["verify", str(BUNDLES / "valid.bundle"), "--policy", str(BUNDLES / "policy.txt"),
              *args], prog_name="provledger", env={"PROVLEDGER_DB": None})


@given(odd_text)
@settings(max_examples=60, deadline=None)
def test_verify_at_never_ends_in_a_traceback(text: str) -> None:
    result = _verify("--at", text)
    assert isinstance(result.exception, SystemExit) or result.exception is None, \
        result.exception
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code == 2:
        assert "Invalid value for '--at'" in result.stderr


@pytest.mark.parametrize("text", ["9" * 5000, "99999999999999999999999", "-1"])
def test_verify_at_out_of_range_is_a_usage_error(text: str) -> None:
    result = _verify("--at", text)
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "Invalid value for '--at'" in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr) < 600


def test_verify_at_a_time_past_year_9999_fails_one_line() -> None:
    result = _verify("--at", "9999-12-31T23:59:59-23:59")
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.count("\n") == 1
    assert "StaleCheckpointError" in result.stderr


def test_verify_at_the_last_protocol_time_prints_a_report() -> None:
    result = _verify("--at", str(pl.MAX_TIME), "--max-age", str(2**62), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verified"] is True
    human = _verify("--at", str(pl.MAX_TIME), "--max-age", str(2**62))
    assert human.exit_code == 0, human.output
    assert "+36812-02-20T00:36:16Z" in human.stdout
