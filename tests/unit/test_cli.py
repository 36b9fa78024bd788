"""The command line as the README types it: each command reaches its function with every argument it needs."""

from __future__ import annotations

import pytest

from kubedefis.commands import cli, up


@pytest.fixture
def called(monkeypatch):
    seen: dict[str, object] = {}

    def fake_up(status, name=None, stage="auto", size="small"):
        seen.update(name=name, stage=stage, size=size)
        return "http://site.localhost:8080/"

    monkeypatch.setattr(up, "up", fake_up)
    return seen


def test_make_up_reaches_up_with_its_defaults(called, capsys):
    assert cli.main(["up"]) in (0, None)
    assert called == {"name": None, "stage": "auto", "size": "small"}
    assert capsys.readouterr().out.strip().splitlines()[-1] == "http://site.localhost:8080/"


def test_up_passes_stage_size_and_name(called):
    cli.main(["up", "--stage", "defi2", "--size", "course", "--name", "kd2"])
    assert called == {"name": "kd2", "stage": "defi2", "size": "course"}


def test_an_unknown_size_is_refused_by_the_parser(called, capsys):
    with pytest.raises(SystemExit) as refused:
        cli.main(["up", "--size", "huge"])
    assert refused.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert called == {}
