"""The server's GIL switch interval (explorer/ui/loader.py): Python's own unless EXPLORER_SWITCH_INTERVAL_MS sets
another (a shorter one lets the model thread win the GIL back sooner between torch operations while other
visitors' reruns run Python: bench/bench_gil_convoy.py); a bad value says so."""

from __future__ import annotations

import sys

import pytest

from explorer.ui import loader


def test_importing_the_app_shell_sets_the_interval():
    assert loader.SWITCH_INTERVAL_MS == 5.0  # Python's own default
    assert sys.getswitchinterval() == pytest.approx(loader.switch_interval_ms() / 1000)


@pytest.mark.parametrize("given, expected", [("2", 2.0), ("0.05", 0.05), ("100", 100.0)])
def test_the_environment_sets_another(monkeypatch, given, expected):
    monkeypatch.setenv("EXPLORER_SWITCH_INTERVAL_MS", given)
    assert loader.switch_interval_ms() == expected


@pytest.mark.parametrize("given", ["abc", "0", "-1", "nan", "1e9", ""])
def test_a_bad_value_is_named_and_the_default_used(monkeypatch, capsys, given):
    monkeypatch.setenv("EXPLORER_SWITCH_INTERVAL_MS", given)
    assert loader.switch_interval_ms() == loader.SWITCH_INTERVAL_MS
    err = capsys.readouterr().err
    assert "EXPLORER_SWITCH_INTERVAL_MS" in err and "from 0.05 to 100" in err
