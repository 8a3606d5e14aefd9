"""The VLM critic: questions from a SceneSpec, the approval rule, malformed replies, and one run
through the real Anthropic SDK on a mock transport."""
from __future__ import annotations

import base64

import pytest

from agent.critics import load_critic
from agent.critics.vlm import CritiqueReply, VLMCritic, default_llm_spec, image_questions, questions_for
from agent.core.errors import ConfigError, ServiceError
from agent.llm.scripted import ScriptedLLM
from agent.core.types import Artifact, GenerationRequest, SceneSpec
from tests.llm_wire import TEST_KEYS, Wire, fixture, tiny_png

# "two red circles left of a blue square", no third red circle (GenEval format).
SPEC = SceneSpec.model_validate({
    "include": [{"class": "square", "count": 1, "color": "blue"},
                {"class": "circle", "count": 2, "color": "red", "position": ["left of", 0]}],
    "exclude": [{"class": "circle", "count": 3, "color": "red"}]})
BRIEF = "two red circles left of a blue square"
GOOD = {"prompt_adherence": 9, "quality": 8, "composition": 8}


def reply(scores=GOOD, answers=("yes", "yes", "yes", "no"), issues=()) -> dict:
    return {"scores": scores, "issues": list(issues),
            "answers": [{"id": i + 1, "answer": a, "observed": f"saw {i + 1}"} for i, a in enumerate(answers)]}


@pytest.fixture
def artifact(tmp_path) -> Artifact:
    path = tiny_png(tmp_path / "attempt0.png")
    return Artifact(path=path, sha256=Artifact.digest(path), request=GenerationRequest(prompt=BRIEF))


def critic_with(*replies) -> tuple[VLMCritic, ScriptedLLM]:
    llm = ScriptedLLM([], structured=list(replies))
    return VLMCritic(llm=llm), llm


def test_questions_follow_the_checklist():
    questions = image_questions(SPEC, BRIEF)
    assert [(q.text, q.expected, q.kind, q.object, q.requirement) for q in questions] == [
        ("Does the image contain exactly one blue square?", "yes", "missing", 0, "object:0"),
        ("Does the image contain exactly two red circles?", "yes", "missing", 1, "object:1"),
        ("Are the red circles left of the blue square?", "yes", "position", 1, "relation:1"),
        (questions[3].text, "no", "artifact", None, "whole"),
    ]
    assert "patch" in questions[3].text and [q.id for q in questions] == [1, 2, 3, 4]
    minimum = SceneSpec.model_validate({"include": [{"class": "cat", "count": 2, "at_least": True}],
                                        "background": "white"})
    texts = [q.text for q in image_questions(minimum, "cats on white")]
    assert texts[:2] == ["Does the image contain at least two cats?", "Is the background white?"]
    (free,) = image_questions(None, "a moody sunset")
    assert free.requirement == "free:0" and "a moody sunset" in free.text
    assert questions_for(None) == []
    no_dog = SceneSpec.model_validate({"include": [{"class": "cat"}], "exclude": [{"class": "dog"}]})
    assert questions_for(no_dog)[1].text == "Does the image contain any dog?"


def test_approves_when_every_constraint_holds_and_scores_reach_the_threshold(artifact):
    critic, llm = critic_with(reply())
    verdict = critic.critique(artifact, BRIEF, SPEC)
    assert verdict.approved and verdict.error is None and verdict.critic == "critic:vlm"
    assert verdict.scores == {"prompt_adherence": 9.0, "quality": 8.0, "composition": 8.0, "constraints": 10.0}
    assert verdict.issues == [] and verdict.findings == []
    call = llm.calls[0]
    assert call.schema_name == "CritiqueReply" and call.images == [artifact.path]
    assert BRIEF in call.prompt and "score of 7 or more" in call.prompt
    assert "3. Are the red circles left of the blue square?" in call.prompt


def test_rejects_a_failed_constraint_with_a_finding(artifact):
    critic, _ = critic_with(reply(answers=("yes", "yes", "no", "no"), issues=["move the circles left"]))
    verdict = critic.critique(artifact, BRIEF, SPEC)
    assert not verdict.approved and verdict.error is None
    (finding,) = verdict.findings
    assert finding.kind == "position" and finding.object == 1
    assert finding.message == "the red circles should be left of the blue square (saw: saw 3)"
    assert verdict.issues == [finding.message, "move the circles left"]
    assert verdict.scores["constraints"] == 7.5


def test_rejects_an_artefact_and_says_which_requirement_failed(artifact):
    critic, _ = critic_with(reply(answers=("yes", "yes", "yes", "yes")))
    verdict = critic.critique(artifact, BRIEF, SPEC)
    assert not verdict.approved and verdict.findings[0].kind == "artifact"
    assert [r.status for r in verdict.requirements] == ["passed", "passed", "passed", "failed"]
    assert "saw 4" in verdict.requirements[3].evidence


def test_rejects_a_low_score_even_when_constraints_hold(artifact):
    critic, _ = critic_with(reply(scores={**GOOD, "quality": 5}))
    verdict = critic.critique(artifact, BRIEF, SPEC)
    assert not verdict.approved and verdict.issues == ["quality scored below 7"]


def test_without_a_spec_the_brief_itself_is_the_question(artifact):
    critic, llm = critic_with(reply(answers=("yes",)))
    verdict = critic.critique(artifact, BRIEF, None)
    assert verdict.approved and [r.kind for r in verdict.requirements] == ["free"]
    assert f"1. Does the image show what this asks for: {BRIEF!r}?" in llm.calls[0].prompt


def test_malformed_reply_is_asked_again_once(artifact):
    out_of_range = reply(scores={**GOOD, "quality": 11})
    critic, llm = critic_with(out_of_range, reply(answers=("Yes", "yes.", True, False)))
    verdict = critic.critique(artifact, BRIEF, SPEC)
    assert verdict.approved and len(llm.calls) == 2


def test_a_skipped_question_counts_as_malformed(artifact):
    critic, llm = critic_with(reply(answers=("yes", "yes")), reply())
    assert critic.critique(artifact, BRIEF, SPEC).approved and len(llm.calls) == 2


def test_malformed_twice_is_a_failed_critique_never_approval(artifact):
    critic, llm = critic_with("I think it looks great!", reply(answers=("yes",)))
    verdict = critic.critique(artifact, BRIEF, SPEC)
    assert not verdict.approved and len(llm.calls) == 2
    assert "malformed twice" in verdict.error and "no answer to question(s) 2, 3, 4" in verdict.error


def test_a_service_failure_is_a_failed_critique(artifact):
    def down(system, prompt, schema, images):
        raise ServiceError("anthropic", "HTTP 529: overloaded_error: Overloaded (tried 4 times)")

    critic = VLMCritic(llm=ScriptedLLM([], structured=down))
    verdict = critic.critique(artifact, BRIEF, SPEC)
    assert not verdict.approved and "overloaded" in verdict.error


def test_a_video_that_is_not_a_clip_is_a_failed_critique(artifact, tmp_path):
    """Clips are judged frame by frame (tests/test_video_critic.py); a file no frame can be read from
    fails the critique without asking the model."""
    broken = tmp_path / "clip.mp4"
    broken.write_bytes(b"not a video at all")
    critic, llm = critic_with(reply())
    verdict = critic.critique(artifact.model_copy(update={"kind": "video", "path": broken}), BRIEF, SPEC)
    assert not verdict.approved and "cannot read the clip clip.mp4" in verdict.error and llm.calls == []


def test_the_default_llm_follows_the_keys(monkeypatch):
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY or OPENAI_API_KEY"):
        default_llm_spec()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-x")
    assert default_llm_spec() == "openai:gpt-5.5"  # current, not a shut-down model
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")
    assert default_llm_spec() == "anthropic:claude-sonnet-4-6"


def test_the_default_critic_model_is_a_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-x")
    own = tmp_path / "models.yaml"
    own.write_text("critic:\n  openai: gpt-6-vision\n")
    monkeypatch.setenv("ATELIER_MODELS", str(own))
    assert default_llm_spec() == "openai:gpt-6-vision"
    monkeypatch.setenv("ATELIER_CRITIC_LLM", "openai-compatible:qwen2.5-vl@http://localhost:11434/v1")
    assert default_llm_spec() == "openai-compatible:qwen2.5-vl@http://localhost:11434/v1"


def test_critic_spec_names_a_scripted_llm(tmp_path, artifact):
    import json

    script = tmp_path / "critic.json"
    script.write_text(json.dumps({"structured": [reply()]}))
    critic = load_critic(f"critic:vlm@scripted:{script}")
    assert isinstance(critic, VLMCritic) and critic.llm.name == f"scripted:{script}"
    assert critic.critique(artifact, BRIEF, SPEC).approved


def test_through_the_anthropic_sdk(monkeypatch, artifact):
    """critic:vlm@anthropic:... resolves through the registry and speaks the real wire format."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEYS["anthropic"])
    wire = Wire([fixture("anthropic/structured_critique.json")]).install(monkeypatch, "anthropic")
    spec = SceneSpec.model_validate({"include": [
        {"class": "circle", "count": 2, "color": "red", "position": ["left of", 1]},
        {"class": "square", "count": 1, "color": "blue"}]})
    verdict = load_critic("critic:vlm@anthropic:claude-sonnet-4-6").critique(artifact, BRIEF, spec)
    assert verdict.approved and verdict.scores["prompt_adherence"] == 9.0
    body = wire.bodies()[0]
    assert body["tool_choice"] == {"type": "tool", "name": "record_answer"}
    assert body["tools"][0]["input_schema"] == CritiqueReply.model_json_schema()
    picture, prompt = body["messages"][0]["content"]
    assert base64.b64decode(picture["source"]["data"]) == artifact.path.read_bytes()
    assert "1. Does the image contain exactly two red circles?" in prompt["text"]


def test_mocked_providers_do_not_outlive_their_test():
    """The previous test's registry entry, built on a mock transport, is gone: with no key, building
    the provider again fails as it should."""
    from agent.core.registry import resolve

    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        resolve("llm", "anthropic:claude-sonnet-4-6")


def test_the_rubric_speaks_of_real_images_and_model_notes_come_from_model_info(tmp_path):
    """The rubric asked every image for "clean shapes ... flat colour", the shapes world's idea of
    quality; a logo brief is judged on legible, correctly spelled text instead. Wording for one
    model comes from its ModelInfo.quality_notes."""
    from agent.core.registry import register

    prompts = []

    class Recorder:
        name = "test:recorder"

        def structured(self, system, prompt, schema, images=()):
            prompts.append(prompt)
            return schema.model_validate(reply(answers=("yes",)))

    register("image", "notes", "tests.fakes:FlatBackend")
    logo = "a logo for a coffee shop called 'Bean There, Done That', warm and vintage"
    path = tiny_png(tmp_path / "logo.png")
    real = Artifact(path=path, sha256=Artifact.digest(path),
                    request=GenerationRequest(prompt=logo, model="notes:real"))
    VLMCritic(llm=Recorder()).critique(real, logo, None)
    shapes = Artifact(path=path, sha256=Artifact.digest(path), request=GenerationRequest(prompt=BRIEF, model="local:shapes"))
    VLMCritic(llm=Recorder()).critique(shapes, BRIEF, None)
    generic, world = prompts
    assert "legible" in generic and "anatomy" in generic and "lighting" in generic and "Bean There" in generic
    assert "flat colour" not in generic and "flat-coloured geometric shapes" in world
