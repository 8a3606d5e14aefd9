"""Content credentials: the delivered image carries a signed C2PA manifest (read back with the same
library) saying a generative model made it, with the run's checklist and verdict; the operator's
certificate when configured, a local one otherwise; --no-credentials skips it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from agent.core.records import RunStore
from agent.surfaces.cli import app
from tests import fakes

c2pa = pytest.importorskip("c2pa", reason="c2pa-python is not installed (pip install 'atelier[credentials]')")
FAKE = ["--image-model", "test:flat", "--critic", "critic:seed"]


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    yield from fakes.installed(monkeypatch, approve={8})


def manifest_of(path: Path) -> dict:
    with c2pa.Reader(str(path)) as reader:
        store = json.loads(reader.json())
    return store["manifests"][store["active_manifest"]] | {"validation_status": store.get("validation_status", [])}


def test_run_delivers_a_signed_image_that_says_how_it_was_made(tmp_path):
    r = CliRunner().invoke(app, ["run", "two red circles", *FAKE, "--seed", "7", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert "content credentials: signed" in r.stderr
    best = Path(summary["best"]["path"])
    manifest = manifest_of(best)
    assertions = {a["label"]: a["data"] for a in manifest["assertions"]}
    [created] = assertions["c2pa.actions.v2"]["actions"]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"].endswith("/digitalsourcetype/trainedAlgorithmicMedia")
    verdict = assertions["org.atelier.verdict"]
    assert verdict["approved"] and verdict["seed"] == 8 and verdict["run_id"] == summary["run_id"]
    assert verdict["checklist"] and {"text", "status"} <= set(verdict["checklist"][0])
    # whole and bound to the pixels; the local certificate is simply not one a reader trusts
    assert {s["code"] for s in manifest["validation_status"]} <= {"signingCredential.untrusted"}
    assert Image.open(best).info.get("parameters")  # the PNG's own metadata is kept
    record = RunStore(tmp_path).load(summary["run_id"])
    assert record.best.artifact.sha256 == record.best.artifact.digest(best)  # the record follows the signed file
    with pytest.raises(Exception):
        manifest_of(Path(summary["attempts"][0]["path"]))  # only the delivered image is signed


def test_no_credentials_and_the_operators_certificate(tmp_path, monkeypatch):
    r = CliRunner().invoke(app, ["run", "a lake", *FAKE, "--seed", "8", "--out", str(tmp_path / "a"), "--json",
                                 "--no-credentials"])
    best = Path(json.loads(r.stdout.strip().splitlines()[-1])["best"]["path"])
    with pytest.raises(Exception):
        manifest_of(best)  # no manifest at all
    from agent.surfaces.credentials import _make_local_certificate
    chain, key = _make_local_certificate()  # stands in for a certificate the operator bought
    (tmp_path / "chain.pem").write_bytes(chain)
    (tmp_path / "key.pem").write_bytes(key)
    monkeypatch.setenv("ATELIER_C2PA_CERT", str(tmp_path / "chain.pem"))
    monkeypatch.setenv("ATELIER_C2PA_KEY", str(tmp_path / "key.pem"))
    r = CliRunner().invoke(app, ["run", "a lake", *FAKE, "--seed", "8", "--out", str(tmp_path / "b"), "--json"])
    assert "by the operator's certificate" in r.stderr
    assert manifest_of(Path(json.loads(r.stdout.strip().splitlines()[-1])["best"]["path"]))["assertions"]
    monkeypatch.setenv("ATELIER_C2PA_KEY", str(tmp_path / "missing.pem"))
    r = CliRunner().invoke(app, ["run", "a lake", *FAKE, "--seed", "8", "--out", str(tmp_path / "c")])
    assert r.exit_code == 0 and "not signed: ATELIER_C2PA_CERT / ATELIER_C2PA_KEY: cannot read" in r.stderr
    assert str(key[:40]) not in r.output  # the key never appears


def test_batch_signs_each_delivered_image(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump([{"id": "a", "brief": "a lake", "seed": 8, "max_iterations": 1}]))
    r = CliRunner().invoke(app, ["brief", str(path), "--out", str(tmp_path / "out"), "--json", *FAKE])
    [line] = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    assert line["credentials"].startswith("signed")
    assert any(a["label"] == "org.atelier.verdict" for a in manifest_of(Path(line["best"]["path"]))["assertions"])
