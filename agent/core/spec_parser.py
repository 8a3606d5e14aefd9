"""Brief text -> SceneSpec (GenEval's format).

`parse_spec` is the offline planner's rule-based parser for GenEval-style English ("a photo of three
red circles", "a dog right of a teddy bear", "a purple wine glass and a black apple"); `derive_spec`
is the LLM path (structured output), falling back to `parse_spec` when the LLM fails.
The words it knows live in agent/core/data/vocabulary.yaml, not here.

Conventions, all taken from GenEval's evaluation_metadata.jsonl:
- "A left of B": include is [B, A] and A gets position ["left of", index of B]; the reference
  object comes first. A chain "A left of B above C" gives [C, B (above C), A (left of B)].
- Otherwise objects keep the order the text names them in.
- An explicit number ("two clocks") means exactly that many: exclude gets the same object with
  count + 1 (GenEval's counting rule). "a"/"an"/"the" give count 1 with no exclude; a bare plural
  ("dogs") gives count 2 (at least two) with no exclude. "no dogs" / "without a dog" exclude count 1.
- "the X" refers back to an X already named ("... and a star above the square") instead of adding one.
- A motion after an object sets its `motion` and `speed` (clips): "a red circle moving to the right",
  "a blue square slides up quickly while a yellow star stays still"; a speed with no direction ("moving
  quickly") is kept as the speed alone (the clip critic checks how far it goes, whatever way).
- Places after an object set its `start` and `end` (clips, agent/core/places.py): "moving from the
  left edge to the centre", "..., ending in the top right corner", "starts at the bottom and ends at
  the top"; the direction they imply (places.direction_between) is its motion unless one is written,
  and a verb to an edge says it too ("moving to the right edge": right, ending at the right edge).
  A written direction the places contradict is kept, and the checklist says so (a "note" no clip can pass).
- Nouns outside the vocabulary are kept (head noun, singularised) when the phrase is checkable:
  it has a color or an explicit number, or its clause is a clean object list anchored by
  "a photo of", a relation or a known class. Otherwise the text has no checkable object phrase and
  parse_spec returns None: "a moody sunset over the ocean, cinematic" -> None.

Measure it on GenEval: python -m agent.core.spec_geneval --geneval ../shared/benchmarks/geneval/evaluation_metadata.jsonl
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from pydantic import BaseModel

from agent.core.places import direction_between, implied_ways
from agent.core.requirements import could_count
from agent.core.sizes import SIZE_OF_WORD, SIZE_WORDS
from agent.core.text_phrases import cut_text, text_specs
from agent.core.types import ObjectSpec, SceneSpec
from agent.core.vocabulary import Vocabulary, Words, vocabulary
from agent.core.vocabulary import match as _match

log = logging.getLogger(__name__)


@dataclass
class _Phrase:
    """One object phrase as written."""

    cls: str
    known: bool
    count: int
    exact: bool          # an explicit number: exactly `count`
    color: str | None
    definite: bool       # "the X": may refer back to an X already named
    negated: bool = False
    keep: bool = True
    motion: str | None = None
    speed: str | None = None
    at_least: bool = False  # "at least two", "two or more", a bare plural: a minimum, not an exact count
    size: str | None = None  # "small", "large" (agent.core.sizes)
    start: str | None = None  # where a clip's object is in the first frame (agent.core.places)
    end: str | None = None    # and in the last


@dataclass
class _Motion:
    """A motion phrase as written: it belongs to the object phrase before it."""

    motion: str | None   # a direction, "still", or None: a verb and a speed with no direction ("moving quickly")
    speed: str | None


@dataclass
class _Place:
    """Where an object starts or ends, as written: it belongs to the object phrase before it. `speed`:
    a speed word around it ("moving quickly to the top right corner"); `motion`: the direction its
    words also say, when its places go that one way ("moving to the right edge": right)."""

    start: str | None
    end: str | None
    speed: str | None = None
    motion: str | None = None


_FRAME, _AND = "frame", "and"
_TOKEN = re.compile(r"[a-z0-9]+|&|[,;:.!?()\[\]\"]")
_BREAK = set(",;:.!?()[]\"")


def _tokenise(text: str) -> list[list[str]]:
    """Lower-case words, cut into segments at punctuation ("..., cinematic, 4k" become separate
    segments, so style terms never run into an object phrase)."""
    text = text.lower().replace("-", " ").replace("_", " ").replace("'", "").replace("\u2019", "")
    segments: list[list[str]] = [[]]
    for tok in _TOKEN.findall(text):
        if tok in _BREAK:
            segments.append([])
        else:
            segments[-1].append(tok)
    return [s for s in segments if s]


def _boundary(v: Vocabulary, tokens: list[str], j: int) -> bool:
    """Whether tokens[j] ends an object phrase."""
    return (j >= len(tokens) or tokens[j] in v.stop or tokens[j] in v.filler
            or any(_match(t, tokens, j) for t in (v.relations, v.conjunctions, v.negations, v.frame_links))
            or _motion(v, tokens, j) is not None or _place(v, tokens, j) is not None)


def _leg(v: Vocabulary, tokens: list[str], j: int, links: set[Words]):
    """One link and its place at tokens[j] ("from the left edge", "ends at the top"): (place, named
    (not a bare edge word), after a weak link, end index) or None."""
    if not (m := _match(links, tokens, j)):
        return None
    weak, k = m[0] in v.weak_links, j + m[1]
    k += k < len(tokens) and tokens[k] in v.articles
    if (p := _match(v.place_names, tokens, k)):
        place, named, k = p[0], True, k + p[1]
    elif k < len(tokens) and tokens[k] in v.place_bare:
        place, named, k = v.place_bare[tokens[k]], False, k + 1
    else:
        return None
    if k < len(tokens) and tokens[k] == "of":  # "the centre of the frame" is the place; "the left side of X" a relation
        n = k + 1 + (k + 1 < len(tokens) and tokens[k + 1] in v.articles)
        if n >= len(tokens) or tokens[n] not in v.place_of_nouns:
            return None
        k, named = n + 1, True  # "to the top of the frame" names its place as "the top edge" does
    return place, named, weak, k


def _place(v: Vocabulary, tokens: list[str], i: int) -> tuple[_Place, int] | None:
    """A place phrase at tokens[i]: ((speed) verb (speed)) then a start leg, an end leg, or a start leg
    and an end leg ("from the left edge to the centre"). A bare edge word after a weak link counts
    only when the other leg names its place ("from the left to the centre"; "from left to right" and
    "to the right" are directions). A verb and an end at an edge only say its direction too. Returns
    (place, tokens used) or None."""
    j, speed, verb = i, None, False
    if (m := _match(v.speeds, tokens, j)):
        speed, j = m[0], j + m[1]
    if (m := _match(v.motion_verbs, tokens, j)):
        j, verb = j + m[1], True
        if speed is None and (m := _match(v.speeds, tokens, j)):
            speed, j = m[0], j + m[1]
    start = _leg(v, tokens, j, v.start_links)
    end = _leg(v, tokens, start[3] if start else j, v.end_links)
    legs = [leg for leg in (start, end) if leg]
    if not legs:
        return None
    strong = any(leg[1] for leg in legs)
    if not all(leg[1] or not leg[2] or (strong and len(legs) == 2) for leg in legs):
        return None
    j = legs[-1][3]
    if speed is None and (m := _match(v.speeds, tokens, j)):  # "from the left edge to the centre, slowly"
        speed, j = m[0], j + m[1]
    place = _Place(start[0] if start else None, end[0] if end else None, speed)
    # moving to an edge is moving that way ("heading all the way to the right edge"), a corner two ways
    if verb and end and not start and len(way := implied_ways(None, place.end)) == 1:
        place.motion = way[0]
    return place, j - i


def _motion(v: Vocabulary, tokens: list[str], i: int, loose: bool = False) -> tuple[_Motion, int] | None:
    """A motion phrase at tokens[i]: (speed) verb (speed) direction (speed), a verb with a speed and no
    direction ("moving quickly": the speed, whatever way it goes), or a phrase that keeps the object
    still ("stays still"). Returns (motion, tokens used) or None. Not a motion: a direction
    followed by "of" (a relation: "moving to the left of a square"), nor one followed by an article
    or a word of no object ("going down the road", "a still life": a preposition, an adjective).
    `loose`: whatever follows (the words of a place phrase that starts with the motion)."""
    def ends(j: int) -> bool:
        return (loose or j >= len(tokens) or tokens[j] not in v.articles and tokens[j] != "of" and (
            _boundary(v, tokens, j) or tokens[j] in v.colors or tokens[j].isdigit()
            or any(_match(t, tokens, j) for t in (v.numbers, v.classes))))

    j, speed = i, None
    if (m := _match(v.speeds, tokens, j)):
        speed, j = m[0], j + m[1]
    if (m := _match(v.still, tokens, j)):
        return (_Motion("still", None), j + m[1] - i) if ends(j + m[1]) else None
    if not (m := _match(v.motion_verbs, tokens, j)):
        return None
    j += m[1]
    if speed is None and (m := _match(v.speeds, tokens, j)):
        speed, j = m[0], j + m[1]
    if not (m := _match(v.directions, tokens, j)):
        return (_Motion(None, speed), j - i) if speed and ends(j) else None
    direction, j = m[0], j + m[1]
    if speed is None and (m := _match(v.speeds, tokens, j)):
        speed, j = m[0], j + m[1]
    return (_Motion(direction, speed), j - i) if ends(j) else None


def _motion_or_place(v: Vocabulary, tokens: list[str], i: int) -> tuple[_Motion | _Place, int] | None:
    """The longer of a motion and a place phrase at tokens[i]. A place phrase that starts with a
    direction ("moving to the right edge", "sliding towards the bottom side") keeps that direction as
    its motion when its places go that one way, so it reads as "moving right, ending at the right
    edge" does; a corner ("moving to the top right corner") goes two ways, and has none."""
    motion, place = _motion(v, tokens, i), _place(v, tokens, i)
    if place is None or (motion is not None and motion[1] >= place[1]):
        return motion
    if (motion := _motion(v, tokens, i, loose=True)) is not None:  # "moving to the top of the frame"
        if motion[0].motion and implied_ways(place[0].start, place[0].end) == (motion[0].motion,):
            place[0].motion = place[0].motion or motion[0].motion
        place[0].speed = place[0].speed or motion[0].speed
    return place


def _phrase(v: Vocabulary, tokens: list[str], i: int):
    """An object phrase at tokens[i]: (quantifier) (modifiers, colors) noun. Returns (phrase or
    _FRAME or None, tokens used)."""
    j, count, exact, definite = i, None, False, False
    minimum = _match(v.at_least_before, tokens, j)
    if minimum and j + minimum[1] < len(tokens):
        j += minimum[1]
    if (m := _match(v.numbers, tokens, j)):
        count, exact = m[0], True
        j += m[1]
    elif tokens[j].isdigit() and 0 < int(tokens[j]) <= 100:
        count, exact = int(tokens[j]), True
        j += 1
    elif tokens[j] in v.articles:
        definite = tokens[j] == "the"
        j += 1
    elif tokens[j] not in v.colors and not _match(v.classes, tokens, j) and not (
            tokens[j] in SIZE_OF_WORD and j + 1 < len(tokens)
            and (tokens[j + 1] in v.colors or _match(v.classes, tokens, j + 1))):  # "small red circles"
        return None, 0  # an unknown word with no article, size or color in front does not start an object
    color, size, words = None, None, []
    while not _boundary(v, tokens, j):
        t = tokens[j]
        if t in SIZE_OF_WORD and not _boundary(v, tokens, j + 1):  # "a small red circle", "two big dogs"
            size, j = SIZE_OF_WORD[t], j + 1
            continue
        if (m := _match(v.classes, tokens, j)):
            # a color that is also a class ("an orange orange") is the color when a noun follows it
            if m[1] == 1 and t in v.colors and not _boundary(v, tokens, j + 1):
                color, j = v.colors[t], j + 1
                continue
            (cls, is_plural), k = m
            phrase = _make(cls, True, is_plural, count, exact, color, definite, size)
            more = _match(v.at_least_after, tokens, j + k)
            if minimum or more:
                phrase.at_least, phrase.exact = True, False
            return phrase, j + k - i + (more[1] if more else 0)
        if t in v.colors:
            color = v.colors[t]
        elif words and t.endswith("ing"):
            break  # a participle after the noun: "a lantern glowing"
        elif t == "one" and not words and (size or color):
            words.append(t)  # "a large one": the kind named before (_elided)
            j += 1
            break
        elif t.isdigit() or _match(v.numbers, tokens, j):
            break  # the next object's number: "two cats three dogs"
        else:
            words.append(t)
        j += 1
    if not words:
        return None, 0
    if words[-1] in v.frame_nouns:  # "a photo of", "an oil painting showing": the picture itself
        link = _match(v.frame_links, tokens, j)
        return _FRAME, j - i + (link[1] if link else 0)
    noun, is_plural = v.singularise(words[-1])
    phrase = _make(noun, False, is_plural, count, exact, color, definite, size)
    if minimum:
        phrase.at_least, phrase.exact = True, False
    return phrase, j - i


def _make(cls, known, is_plural, count, exact, color, definite, size=None) -> _Phrase:
    bare_plural = count is None and is_plural
    if count is None:
        count = 2 if is_plural else 1  # a bare plural asks for at least two
    return _Phrase(cls, known, max(count, 1), exact and count > 0, color, definite, negated=count == 0,
                   at_least=bare_plural, size=size)


def _scan(v: Vocabulary, tokens: list[str]) -> list:
    """One segment -> a list of _Phrase, _Motion, ("rel", relation) and _AND items; decides which
    phrases with unknown nouns are clear enough to keep."""
    items: list = []
    complete, anchored, negate, i = True, False, False, 0
    while i < len(tokens):
        if (m := _motion_or_place(v, tokens, i)):
            items.append(m[0])
            # a motion with no object before it in the segment ("a still life") is a word we cannot place
            complete &= any(isinstance(p, _Phrase) for p in items)
        elif (m := _match(v.relations, tokens, i)):
            items.append(("rel", m[0]))
            anchored = True
        elif (m := _match(v.negations, tokens, i)):
            items.append(_AND)
            negate = True
        elif (m := _match(v.conjunctions, tokens, i)):
            items.append(_AND)
        else:
            found, k = _phrase(v, tokens, i)
            if found is _FRAME:
                anchored = True
            elif found is not None:
                found.negated |= negate
                negate = False
                anchored |= found.known
                items.append(found)
            elif tokens[i] not in v.filler:
                complete = False  # a word we cannot place: unknown nouns here need other evidence
            i += max(k, 1)
            continue
        i += m[1]
    _elided([p for p in items if isinstance(p, _Phrase)])
    for p in items:
        if isinstance(p, _Phrase) and not p.known:
            p.keep = bool(p.color or p.exact or (complete and anchored))
    return items


def _elided(phrases: list[_Phrase]) -> None:
    """A size word standing for its noun takes the kind named next ("a small and a large circle": two
    circles), and "one" the kind named before ("a small circle and a large one")."""
    for k, p in enumerate(phrases):
        if p.known:
            continue
        if p.cls in SIZE_OF_WORD:
            kind = next((q for q in phrases[k + 1:] if q.known), None)
            if kind is not None:
                p.cls, p.known, p.size = kind.cls, True, SIZE_OF_WORD[p.cls]
        elif p.cls == "one":
            kind = next((q for q in reversed(phrases[:k]) if q.known), None)
            if kind is not None:
                p.cls, p.known = kind.cls, True


def _scene_words(v: Vocabulary, text: str) -> tuple[str, str | None, bool]:
    """The background the text asks for ("on a plain beige background") and whether it asks for
    nothing but what it names ("only", "nothing else"): both cut out of the text (as a comma, so the
    object phrases around them parse as before). Returns (the rest of the text, background, only)."""
    segments, background, only = [], None, False
    for segment in _tokenise(text):
        kept, i = [], 0
        while i < len(segment):
            if (m := _match(v.only, segment, i)):
                only, i = True, i + m[1]
                continue
            j = i + (m[1] if (m := _match(v.background_links, segment, i)) else 0)
            j += segment[j] in v.articles if j < len(segment) else 0
            while j < len(segment) and segment[j] in v.background_fillers:
                j += 1
            colour = v.background_colors.get(segment[j]) if j < len(segment) else None
            noun = colour and _match(v.background_nouns, segment, j + 1)
            if noun:
                background, i = colour, j + 1 + noun[1]
                segments.append(kept)
                kept = []
                continue
            kept.append(segment[i])
            i += 1
        segments.append(kept)
    return ", ".join(" ".join(s) for s in segments if s), background, only


def parse_spec(text: str | None) -> SceneSpec | None:
    """The SceneSpec GenEval-style English asks for, or None when it names no checkable object."""
    if not text or not text.strip():
        return None
    v = vocabulary()
    text, texts = cut_text(text)  # words to write first: quoted words never become objects
    text, background, only = _scene_words(v, text)
    # chains of phrases joined by relations: [p0, (rel1, p1), (rel2, p2), ...] = "p0 rel1 p1 rel2 p2"
    chains: list[list] = []
    current: list | None = None
    last: _Phrase | None = None  # the object phrase a motion belongs to
    for segment in _tokenise(text):
        relation = None  # a segment that opens with a relation continues the previous chain
        for item in _scan(v, segment):
            if isinstance(item, _Motion):
                if last is not None and last.motion is None:
                    last.motion, last.speed = item.motion, last.speed or item.speed
            elif isinstance(item, _Place):
                if last is not None:
                    last.start, last.end = last.start or item.start, last.end or item.end
                    last.motion, last.speed = last.motion or item.motion, last.speed or item.speed
            elif item is _AND:
                current, relation = None, None
            elif isinstance(item, tuple):
                relation = item[1]
            elif relation and current is not None:
                current.append((relation, item))
                relation, last = None, item
            else:
                current, last = [item], item
                chains.append(current)

    include: list[ObjectSpec] = []
    exclude: list[ObjectSpec] = []  # the caps of exact counts ("two circles": fewer than three)
    banned: list[ObjectSpec] = []  # "no circles"

    def emit(p: _Phrase) -> int | None:
        if not p.keep:
            return None
        if p.negated:
            banned.append(ObjectSpec(cls=p.cls, count=1, color=p.color))
            return None
        if p.definite:
            for idx, obj in enumerate(include):
                if obj.cls == p.cls and p.color in (None, obj.color) and p.size in (None, obj.size):
                    if p.motion and obj.motion is None:
                        obj.motion, obj.speed = p.motion, p.speed
                    obj.speed = obj.speed or p.speed
                    obj.start, obj.end = obj.start or p.start, obj.end or p.end
                    obj.motion = obj.motion or direction_between(obj.start, obj.end)
                    return idx
        include.append(ObjectSpec(cls=p.cls, count=p.count, color=p.color, at_least=p.at_least or None,
                                  motion=p.motion or direction_between(p.start, p.end), speed=p.speed,
                                  start=p.start, end=p.end, size=p.size))
        if p.exact:
            exclude.append(ObjectSpec(cls=p.cls, count=p.count + 1, color=p.color))
        return len(include) - 1

    for chain in chains:
        phrases = [chain[0]] + [p for _, p in chain[1:]]
        relations = [r for r, _ in chain[1:]]
        # GenEval lists the reference object before the one placed relative to it: emit from the end
        ref = emit(phrases[-1])
        for k in range(len(phrases) - 2, -1, -1):
            idx = emit(phrases[k])
            if idx is not None and ref is not None and idx != ref and include[idx].position is None:
                include[idx].position = (relations[k], ref)
            ref = idx

    # a cap that other asked objects of its kind share ("two small circles and a large circle": not
    # fewer than three circles, but exactly three) caps them all, or nothing when one is a minimum; a
    # ban an include contradicts ("two circles and no circles") is dropped: the include is asked outright
    caps = []
    for ex in exclude:
        sharing = [inc for inc in include if could_count(inc, ex)]
        if sum(inc.count for inc in sharing) >= ex.count:
            if any(inc.at_least for inc in sharing):
                continue
            ex = ex.model_copy(update={"count": sum(inc.count for inc in sharing) + 1})
        caps.append(ex)
    banned = [ex for ex in banned if not any(inc.cls == ex.cls and ex.color in (None, inc.color) for inc in include)]
    exclude = list({ex.model_dump_json(): ex for ex in caps + banned}.values())
    words = text_specs(texts, include)
    if not include and not exclude:
        return SceneSpec(background=background, text=words) if background or words else None
    return SceneSpec(include=include, exclude=exclude, background=background, only=only or None, text=words)


def derive_spec(text: str, llm) -> SceneSpec:
    """The LLM path: structured output in GenEval's format, validated. If the LLM fails or answers
    something invalid, log a warning and fall back to parse_spec (an empty spec when that finds
    nothing checkable)."""
    from agent.core.prompts import load_prompt  # prompts are data files; only this path needs them

    v = vocabulary()
    system = load_prompt("spec", colors=", ".join(sorted(set(v.colors.values()))),
                         relations=", ".join(f'"{r}"' for r in dict.fromkeys(v.relations.values())),
                         sizes="; ".join(f'"{size}" when the brief says {" or ".join(words)}'
                                         for size, words in SIZE_WORDS.items()))
    from agent.core.errors import MalformedOutput, ServiceError
    try:
        reply = llm.structured(system, f"Brief: {text}", SceneSpec)
        data = reply.model_dump(by_alias=True) if isinstance(reply, BaseModel) else reply
        return SceneSpec.model_validate(data)
    except ServiceError as exc:
        if not isinstance(exc, MalformedOutput):
            raise  # a service down or hung fails the run now, not again after the same wait for the director
        log.warning("LLM scene-spec derivation failed (%s); using the rule-based parser instead", exc)
        return parse_spec(text) or SceneSpec()
    except Exception as exc:  # any provider or validation failure: the offline parser still works
        log.warning("LLM scene-spec derivation failed (%s: %s); using the rule-based parser instead",
                    type(exc).__name__, exc)
        return parse_spec(text) or SceneSpec()
