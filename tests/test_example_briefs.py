"""Every still brief the README shows is one of EXAMPLE_BRIEFS, the list bench_examples measures
(seeds 0..19 each, issue 22's target): a README example nobody measured is a promise nobody checked."""
import re
from pathlib import Path

from agent.core.defaults import EXAMPLE_BRIEFS
from agent.core.spec_parser import parse_spec

README = Path(__file__).resolve().parents[1] / "README.md"
QUOTED = re.compile(r'(?:atelier (?:run|spec) |arun\(|prompt=)"([^"]+)"')


def readme_still_briefs() -> set[str]:
    found = set()
    for brief in QUOTED.findall(README.read_text(encoding="utf-8")):
        spec = parse_spec(brief)
        if spec is not None and spec.include and not any(o.motion for o in spec.include):
            found.add(brief)
    return found


def test_the_readme_shows_shapes_world_briefs():
    assert {"two red circles left of a blue square", "a red circle"} <= readme_still_briefs()


def test_every_readme_still_brief_is_measured_as_an_example():
    assert readme_still_briefs() - set(EXAMPLE_BRIEFS) == set()
