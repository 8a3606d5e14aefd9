"""Words a brief asks to see written, found by rules (the offline parser's text part).

`cut_text(brief)` finds them and cuts them out of the brief (each phrase becomes a comma, so the
object phrases around it parse as before, and quoted words never become objects):
- quoted strings: 'SALE', "OPEN", “Bean There, Done That”, ‘HI’ (an apostrophe inside a word,
  "a dog's bone", is not a quote);
- unquoted after "that says / saying / reading / with the words / called / named / titled": the
  words up to the next punctuation, the end, or a word that starts a placement or another phrase
  ("on", "at", "below", "with", ...); after "the word" (singular): that one word;
- a placement right after it ("at the top", "in the middle", "written below it", "under the red
  circle") or a relation right before it ("a red circle above the word SALE": the word is below
  the circle). A reference to an object comes back as the words naming it ("it": the words before
  the phrase); spec_parser resolves them to an index of `include`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_NAMED = {"top": "top", "bottom": "bottom", "left": "left", "right": "right", "center": "center",
          "centre": "center", "middle": "center"}
_RELATIONS = {"below": "below", "under": "below", "underneath": "below", "beneath": "below", "above": "above",
              "over": "above", "left of": "left of", "to the left of": "left of", "right of": "right of",
              "to the right of": "right of"}
INVERSE = {"below": "above", "above": "below", "left of": "right of", "right of": "left of"}
_REL = "|".join(sorted((re.escape(k) for k in _RELATIONS), key=len, reverse=True))
_VERB = r"(?:(?:written|printed|painted|lettered|set|shown|placed|typeset)\s+)?"
# what introduces the words; "the word" takes one word, the others up to a stop
_INTRO = (r"(?:(?:that|which)\s+(?:says|reads|say|read)|saying|reading|with\s+the\s+words?|the\s+words?|"
          r"with\s+the\s+text|the\s+text|called|named|titled|labell?ed)")
_QUOTE = r"“([^”]+)”|\"([^\"]+)\"|‘([^’]+)’|(?<![\w])'([^']+)'(?![\w])"
_STOP = {"on", "at", "in", "with", "written", "printed", "painted", "below", "above", "under", "over",
         "beneath", "underneath", "next", "and", "to", "left", "right", "lettered", "set", "shown", "placed"}
_CASE = re.compile(r"\b(?:case[- ]sensitive|exact case|same case|exactly as written)\b", re.I)


@dataclass
class RawText:
    """One string to write, as the brief put it."""

    text: str
    placement: str | None = None      # a named placement (top, bottom, left, right, center)
    relation: str | None = None       # or: the text is `relation` the object `ref` names
    ref: str = ""                     # the words naming that object
    case_sensitive: bool = False


def _after(rest: str) -> tuple[int, str | None, str | None, str]:
    """A placement at the start of `rest`: (characters used, named, relation, reference words)."""
    m = re.match(r"\s*,?\s*" + _VERB + r"(?:at|on|in|across|along)\s+the\s+(top|bottom|left|right|center|centre|middle)"
                 r"(?:\s+of\s+(?:the\s+)?(?:image|picture|canvas|poster|sign))?\b", rest, re.I)
    if m:
        return m.end(), _NAMED[m.group(1).lower()], None, ""
    m = re.match(r"\s*,?\s*" + _VERB + rf"({_REL})\s+(it|them|(?:the|a|an)\s+[^,;.!?\"“'‘]+?)(?=\s+(?:and|with|on|at|in)\b|[,;.!?]|$)",
                 rest, re.I)
    if m:
        return m.end(), None, _RELATIONS[m.group(1).lower()], m.group(2)
    return 0, None, None, ""


def _bare(rest: str, one_word: bool) -> tuple[int, str]:
    """Unquoted words at the start of `rest`: (characters used, the words)."""
    words, end = [], 0
    for m in re.finditer(r"\s*([^\s,;:.!?]+)", rest):
        if m.start() != end or (words and (one_word or m.group(1).lower() in _STOP)):
            break
        if not words and m.group(1).lower() in _STOP:
            break
        words.append(m.group(1))
        end = m.end()
    return end, " ".join(words)


def cut_text(brief: str) -> tuple[str, list[RawText]]:
    """(the brief with every text phrase cut out, the texts in the order they appear)."""
    found: list[tuple[int, int, RawText]] = []
    case = bool(_CASE.search(brief))
    pos = 0
    pattern = re.compile(rf"(?:\b(?:with|and)\s+)?(?:(?P<intro>{_INTRO})\s*[:,]?\s*)?(?:{_QUOTE})"
                         rf"|\b(?P<bare>{_INTRO})\s+(?=[^\s'\"“‘])", re.I)
    while (m := pattern.search(brief, pos)):
        start, end = m.start(), m.end()
        if m.group("bare"):
            intro = m.group("bare").lower()
            used, words = _bare(brief[end:], one_word=intro.endswith("word") or intro == "the text")
            if not words:
                pos = end
                continue
            end += used
            if start >= 5 and brief[max(0, start - 5):start].lower().strip() == "with":
                start -= 5
        else:
            words = next(g for g in m.groups()[1:5] if g is not None).strip()
        if not words:
            pos = end
            continue
        raw = RawText(text=words, case_sensitive=case)
        used, raw.placement, raw.relation, raw.ref = _after(brief[end:])
        end += used
        if raw.placement is None and raw.relation is None:
            # "a red circle above the word SALE": the object before is above the words
            before = re.search(rf"\b({_REL})\s+$", brief[pos:start], re.I)
            if before and brief[pos:pos + before.start()].strip():
                raw.relation, raw.ref = INVERSE[_RELATIONS[before.group(1).lower()]], brief[pos:pos + before.start()]
                start = pos + before.start()
        if raw.relation and raw.ref.lower() in ("it", "them"):
            raw.ref = brief[:start]
        found.append((start, end, raw))
        pos = end
    out, last = [], 0
    for start, end, _ in found:
        out.append(brief[last:start])
        last = end
    out.append(brief[last:])
    return ", ".join(s.strip(" ,") for s in out if s.strip(" ,")), [raw for _, _, raw in found]


def text_specs(raws: list[RawText], include) -> list:
    """The texts as TextSpecs; a placement relative to an object names it by its index in `include`
    (an object the spec does not hold leaves the placement unset rather than wrong)."""
    from agent.core.types import TextSpec
    out = []
    for raw in raws:
        placement = raw.placement
        if raw.relation:
            k = _referent(raw.ref, include)
            placement = f"{raw.relation} object {k}" if k is not None else None
        out.append(TextSpec(text=raw.text, placement=placement, case_sensitive=raw.case_sensitive))
    return out


def _referent(words: str, include) -> int | None:
    """The include object the last class named in `words` (with its colour, if any) refers to."""
    from agent.core.spec_parser import _tokenise
    from agent.core.vocabulary import match as _match, vocabulary  # the parser's own word tables
    v = vocabulary()
    tokens = [t for segment in _tokenise(words) for t in segment]
    cls = color = None
    for i in range(len(tokens)):
        if (m := _match(v.classes, tokens, i)):
            cls, color = m[0][0], v.colors.get(tokens[i - 1]) if i else None
    matches = [k for k, o in enumerate(include) if o.cls == cls and color in (None, o.color)]
    return matches[-1] if cls and matches else None
