"""The shared remote behaviour: retries, error classes, capped downloads, polling, prices, money budget."""
from __future__ import annotations

import httpx
import pytest

from agent.core.errors import BudgetSpent, ConfigError
from agent.backends.remote import prices
from agent.backends.remote.http import Api, RemoteError, api_key, retry_after
from agent.backends.remote.replay import FakeClock, Replay

KEY = "sk-shared-test-key-0123456789abcdef"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
MP4 = b"\0\0\0\x18ftypmp42" + b"\0" * 64


def make_api(replay: Replay, clock: FakeClock | None = None) -> Api:
    clock = clock or FakeClock()
    return Api("Svc", "https://api.example.test", headers={"Authorization": f"Bearer {KEY}"}, secret=KEY,
               key_var="SVC_KEY", client=replay.client(), sleep=clock.sleep, clock=clock.now)


def test_429_honours_retry_after_then_succeeds():
    clock = FakeClock()
    replay = Replay(("POST", "/jobs", httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "slow down"})),
                    ("POST", "/jobs", httpx.Response(200, json={"ok": True})))
    assert make_api(replay, clock).json("POST", "/jobs", json={}) == {"ok": True}
    assert clock.sleeps == [7.0]


def test_500_then_success_backs_off():
    clock = FakeClock()
    replay = Replay(("GET", "/x", httpx.Response(500, text="oops")), ("GET", "/x", httpx.Response(502, text="bad gw")),
                    ("GET", "/x", httpx.Response(200, json=[1])))
    assert make_api(replay, clock).json("GET", "/x") == [1]
    assert len(clock.sleeps) == 2 and clock.sleeps[1] > clock.sleeps[0]


def test_retries_are_bounded():
    replay = Replay(*[("GET", "/x", httpx.Response(503, text="down"))] * 4)
    with pytest.raises(RemoteError, match="gave up after 4 attempts") as e:
        make_api(replay).request("GET", "/x")
    assert e.value.kind == "server" and e.value.retryable and replay.done


@pytest.mark.parametrize("status,kind,words", [(400, "bad_request", "will not succeed"), (401, "auth", "SVC_KEY"),
                                               (402, "billing", "payment"), (404, "not_found", "model name"),
                                               (422, "bad_request", "bad request")])
def test_client_errors_are_not_retried_and_say_which(status, kind, words):
    replay = Replay(("POST", "/x", httpx.Response(status, json={"error": "nope"})))
    with pytest.raises(RemoteError, match=words) as e:
        make_api(replay).request("POST", "/x")
    assert e.value.kind == kind and not e.value.retryable and str(e.value).startswith("Svc: ")


def test_content_policy_is_named():
    replay = Replay(("POST", "/x", httpx.Response(400, json={"error": {"message": "flagged", "code": "moderation_blocked"}})))
    with pytest.raises(RemoteError, match="content policy") as e:
        make_api(replay).request("POST", "/x")
    assert e.value.kind == "content_policy"


def test_get_timeout_is_retried_but_post_timeout_is_not():
    replay = Replay(("GET", "/x", httpx.ReadTimeout("slow")), ("GET", "/x", httpx.Response(200, json={})))
    assert make_api(replay).json("GET", "/x") == {}
    replay = Replay(("POST", "/x", httpx.ReadTimeout("slow")))
    with pytest.raises(RemoteError, match="may have started") as e:
        make_api(replay).request("POST", "/x")
    assert e.value.kind == "timeout" and replay.done


def test_connection_errors_are_retried_even_for_post():
    replay = Replay(("POST", "/x", httpx.ConnectError("refused")), ("POST", "/x", httpx.Response(200, json={})))
    assert make_api(replay).json("POST", "/x") == {}


def test_malformed_json():
    replay = Replay(("GET", "/x", httpx.Response(200, content=b'{"status": "succ', headers={"content-type": "application/json"})))
    with pytest.raises(RemoteError, match="malformed JSON") as e:
        make_api(replay).json("GET", "/x")
    assert e.value.kind == "malformed"


def test_too_long_retry_after_is_a_refusal():
    replay = Replay(("GET", "/x", httpx.Response(429, headers={"Retry-After": "3600"})))
    with pytest.raises(RemoteError, match="asks to wait 3600s"):
        make_api(replay).request("GET", "/x")


def test_retry_after_as_http_date():
    headers = httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"})
    assert retry_after(headers, clock_now=1445412480.0) == 10.0


def test_download_checks_size_while_streaming_and_type():
    big = httpx.Response(200, headers={"content-length": "999999999"}, content=b"")
    with pytest.raises(RemoteError, match="over the") as e:
        make_api(Replay(("GET", "cdn", big))).download("https://cdn.test/a.png")
    assert e.value.kind == "too_large"

    def streamed(request):  # no Content-Length: the cap must hold while reading
        return httpx.Response(200, content=iter([PNG] * 10))
    with pytest.raises(RemoteError, match="over the"):
        make_api(Replay(("GET", "cdn", streamed))).download("https://cdn.test/a.png", max_bytes=300)

    html = httpx.Response(200, headers={"content-type": "image/png"}, content=b"<html>login</html>")
    with pytest.raises(RemoteError, match="not a image"):
        make_api(Replay(("GET", "cdn", html))).download("https://cdn.test/a.png")
    with pytest.raises(RemoteError, match="not a video"):
        make_api(Replay(("GET", "cdn", httpx.Response(200, content=PNG)))).download("https://cdn.test/a", kinds=("video",))
    with pytest.raises(RemoteError, match="not HTTPS"):
        make_api(Replay()).download("http://cdn.test/a.png")


def test_download_sends_no_key_and_follows_redirects():
    replay = Replay(("GET", "cdn.test/a", httpx.Response(302, headers={"location": "https://cdn2.test/b.mp4"})),
                    ("GET", "cdn2.test/b", httpx.Response(200, content=MP4)))
    assert make_api(replay).download("https://cdn.test/a", kinds=("video",)) == MP4
    assert all("authorization" not in r.headers for r in replay.requests)


def test_poll_backs_off_and_cancels_at_deadline():
    clock = FakeClock()
    api = make_api(Replay(("POST", "/cancel", httpx.Response(200, json={}))), clock)
    cancelled = []
    with pytest.raises(RemoteError, match="did not finish within 60s") as e:
        api.poll(lambda: {"status": "processing"}, done=lambda s: s["status"] == "done", deadline_s=60,
                 what="job 1", cancel=lambda: cancelled.append(api.request("POST", "/cancel")))
    assert e.value.kind == "deadline" and cancelled and clock.now() <= 60.0
    assert clock.sleeps[:3] == [2.0, 3.0, 4.5]


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("SVC_KEY", raising=False)
    with pytest.raises(ConfigError, match="set the SVC_KEY environment variable"):
        api_key("SVC_KEY", None, "Svc")
    monkeypatch.setenv("SVC_KEY", "abc")
    assert api_key("SVC_KEY", None, "Svc") == "abc"


def test_price_table_and_user_override(tmp_path, monkeypatch):
    assert prices.price("stability", "generate", "core") == 0.03
    assert prices.price("nope", "x", default=1.5) == 1.5
    override = tmp_path / "p.yaml"
    override.write_text("stability:\n  generate:\n    core: 0.5\n")
    monkeypatch.setenv("ATELIER_PRICES", str(override))
    assert prices.price("stability", "generate", "core") == 0.5
    assert prices.price("stability", "generate", "ultra") == 0.08  # merged, not replaced
    override.write_text("[not: a mapping")
    with pytest.raises(ConfigError, match="price table"):
        prices.load_prices()


def test_spending_limit_stops_before_overspending():
    with prices.spending_limit(0.10) as wallet:
        prices.before_paying(0.06, "a")
        prices.paid(0.06)
        with pytest.raises(BudgetSpent, match="money budget spent"):
            prices.before_paying(0.06, "b")
        assert wallet.spent_usd == pytest.approx(0.06)
    prices.before_paying(1000.0, "no limit outside the block")
