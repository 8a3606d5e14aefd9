"""The UI's API endpoints through gradio_client (fake back ends, app on a loopback port)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("gradio", reason="the UI needs the ui extra: pip install 'atelier[ui]'")
gradio_client = pytest.importorskip("gradio_client")

from tests.test_ui_harness import serve  # noqa: E402


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    with serve("fake", tmp_path_factory.mktemp("ui-api") / "runs") as url:
        yield url


def client(url):
    return gradio_client.Client(url, verbose=False)


def test_endpoints_are_named(url):
    names = set(client(url).view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/run", "/history", "/load_run", "/iterate"} <= names
    assert not any(n.startswith("/ui_") for n in names)  # the page's own handlers are private


def test_run_history_load_iterate(url):
    c = client(url)
    summary = json.loads(c.predict("a calm lake", 7, 3, api_name="/run"))
    assert summary["approved"] and summary["best"]["seed"] == 8
    assert [a["seed"] for a in summary["attempts"]] == [7, 8]
    assert summary["best"]["path"].startswith("/") and set(summary["best"]["verdict"]) == {"approved", "scores", "issues", "requirements"}
    runs = json.loads(c.predict(20, api_name="/history"))
    assert [r["run_id"] for r in runs] == [summary["run_id"]]
    record = json.loads(c.predict(summary["run_id"], api_name="/load_run"))
    assert record["refined_prompt"] and len(record["attempts"]) == 2
    edited = json.loads(c.predict(summary["run_id"], 0, "a calm lake, brighter", "", 0.5, None,
                                  api_name="/iterate"))
    assert len(edited["attempts"]) == 3
    # test:flat declares no "instruct" edit: an instruction is refused, not silently dropped
    with pytest.raises(Exception, match="test:flat cannot follow an instruction"):
        c.predict(summary["run_id"], 0, "a calm lake", "brighten it", 0.5, None, api_name="/iterate")


def test_callers_do_not_see_each_others_runs(url):
    a, b = client(url), client(url)
    mine = json.loads(a.predict("a lake", 7, 1, api_name="/run"))["run_id"]
    assert mine not in [r["run_id"] for r in json.loads(b.predict(50, api_name="/history"))]
    with pytest.raises(Exception, match="among yours"):
        b.predict(mine, api_name="/load_run")
    with pytest.raises(Exception, match="among yours"):
        b.predict(mine, 0, "x", api_name="/iterate")


@pytest.mark.parametrize("args, message", [
    (("   ",), "the brief is empty"),
    (("a lake", None, 4, "nope:x"), "unknown image back end 'nope:x'"),
])
def test_bad_input_is_a_clear_error(url, args, message):
    with pytest.raises(Exception, match=message):
        client(url).predict(*args, api_name="/run")
