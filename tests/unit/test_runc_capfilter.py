"""The runc wrapper keeps only capabilities in the bounding set, in every capability set."""

import json
from pathlib import Path

from kubedefis.localcluster import runc_capfilter


def test_filters_every_set(tmp_path: Path, monkeypatch):
    spec = {
        "process": {
            "capabilities": {
                "bounding": ["CAP_SYS_ADMIN", "CAP_SYS_RESOURCE"],
                "effective": ["CAP_SYS_RESOURCE", "CAP_CHOWN"],
                "permitted": ["CAP_SYS_RESOURCE"],
            }
        }
    }
    config = tmp_path / "config.json"
    config.write_text(json.dumps(spec))
    monkeypatch.setattr(runc_capfilter, "bounding_set", lambda: {"CAP_SYS_ADMIN", "CAP_CHOWN"})
    runc_capfilter.rewrite(str(config), nested=True)
    caps = json.loads(config.read_text())["process"]["capabilities"]
    assert caps == {"bounding": ["CAP_SYS_ADMIN"], "effective": ["CAP_CHOWN"], "permitted": []}


def test_exec_process_file_is_not_nested(tmp_path: Path, monkeypatch):
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"capabilities": {"bounding": ["CAP_SYS_RESOURCE", "CAP_KILL"]}}))
    monkeypatch.setattr(runc_capfilter, "bounding_set", lambda: {"CAP_KILL"})
    runc_capfilter.rewrite(str(process), nested=False)
    assert json.loads(process.read_text())["capabilities"]["bounding"] == ["CAP_KILL"]


def test_unchanged_spec_is_left_alone(tmp_path: Path, monkeypatch):
    config = tmp_path / "config.json"
    original = '{"process": {"capabilities": {"bounding": ["CAP_KILL"]}}, "x": 1}'
    config.write_text(original)
    monkeypatch.setattr(runc_capfilter, "bounding_set", lambda: {"CAP_KILL"})
    runc_capfilter.rewrite(str(config), nested=True)
    assert config.read_text() == original


def test_bounding_set_reads_this_process():
    caps = runc_capfilter.bounding_set()
    assert "CAP_KILL" in caps and all(c.startswith("CAP_") for c in caps)


def test_option_values_in_both_spellings():
    assert runc_capfilter.option_value(["create", "--bundle", "/b", "id"], ("--bundle", "-b")) == "/b"
    assert runc_capfilter.option_value(["create", "--bundle=/c", "id"], ("--bundle", "-b")) == "/c"
    assert runc_capfilter.option_value(["exec", "-p", "/p.json", "id"], ("--process", "-p")) == "/p.json"
