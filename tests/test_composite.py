"""critic:A+B merges its critics' verdicts into one: what each saw is kept."""
from agent.core.types import FrameCheck, Verdict
from agent.critics.composite import combine


def test_a_combined_verdict_keeps_the_frame_by_frame_of_the_critic_that_watched_the_clip():
    frames = [FrameCheck(index=0), FrameCheck(index=6, issues=["the ball is gone"])]
    watched = Verdict(critic="critic:detector", approved=False, issues=["the ball is gone"], frames=frames)
    looked = Verdict(critic="critic:vlm", approved=True)
    merged = combine([looked, watched], "critic:vlm+detector")
    assert merged.frames == frames and not merged.approved
    assert combine([looked, looked], "critic:vlm+vlm").frames == []
