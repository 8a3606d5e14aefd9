"""The words the brief parser knows (agent/core/data/vocabulary.yaml) as lookup tables, and the
longest-match lookup the parser and the text phrases share."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from agent.core.types import plural

VOCABULARY = Path(__file__).with_name("data") / "vocabulary.yaml"

Words = tuple[str, ...]
# the most words one entry may have: `match` looks no further ("from the bottom to the top" is 6)
LONGEST = 6


def words(phrase: str) -> Words:
    return tuple(phrase.split())


class Vocabulary:
    """vocabulary.yaml as lookup tables keyed by word tuples (multi-word entries match as a unit)."""

    def __init__(self, data: dict[str, Any]):
        self.irregular: dict[str, str] = data["irregular_plurals"]
        self.singular_of = {pl: sg for sg, pl in self.irregular.items()}
        self.known = list(data["coco_classes"]) + list(data["shape_classes"])
        # every written form of a class -> (class, written as a plural)
        self.classes: dict[Words, tuple[str, bool]] = {}
        names = {c: c for c in self.known} | dict(data["class_aliases"])
        for name, cls in names.items():
            for form in self._plurals(name):
                self.classes.setdefault(words(form), (cls, True))
            self.classes[words(name)] = (cls, False)  # singular wins where the forms coincide (skis)
        self.colors: dict[str, str] = data["colors"]
        self.numbers: dict[Words, int] = {words(k): int(v) for k, v in data["numbers"].items()}
        self.articles = set(data["articles"])
        self.relations: dict[Words, str] = {words(k): v for k, v in data["relations"].items()}
        self.conjunctions = {words(k) for k in data["conjunctions"]}
        self.negations = {words(k) for k in data["negations"]}
        self.frame_nouns = set(data["frame_nouns"])
        self.frame_links = {words(k) for k in data["frame_links"]}
        self.filler = set(data["filler_words"])
        self.stop = set(data["stop_words"])
        self.motion_verbs = {words(k) for k in data["motion_verbs"]}
        self.directions: dict[Words, str] = {words(k): v for k, v in data["motion_directions"].items()}
        self.still = {words(k) for k in data["motion_still"]}
        self.speeds: dict[Words, str] = {words(k): v for k, v in data["motion_speeds"].items()}
        self.place_names: dict[Words, str] = {words(k): v for k, v in data["place_names"].items()}
        self.place_bare: dict[str, str] = data["place_bare"]
        self.start_links = {words(k) for k in data["place_start_links"]}
        self.end_links = {words(k) for k in data["place_end_links"]}
        self.weak_links = {words(k) for k in data["place_weak_links"]}
        self.place_of_nouns = set(data["place_of_nouns"])
        self.at_least_before = {words(k) for k in data["at_least_before"]}
        self.at_least_after = {words(k) for k in data["at_least_after"]}
        self.only = {words(k) for k in data["only_words"]}
        self.background_colors: dict[str, str] = {**self.colors, **data["background_colors"]}
        self.background_nouns = {words(k) for k in data["background_nouns"]}
        self.background_links = {words(k) for k in data["background_links"]}
        self.background_fillers = set(data["background_fillers"])
        # an entry longer than `match` looks would never be read: refused here, not dropped from briefs
        if long := sorted(" ".join(k) for t in vars(self).values() if isinstance(t, (dict, set))
                          for k in t if isinstance(k, tuple) and len(k) > LONGEST):
            raise ValueError(f"{VOCABULARY.name}: {long[0]!r} has over {LONGEST} words, more than the parser reads")

    def _plurals(self, name: str) -> set[str]:
        head, last = name.rsplit(" ", 1) if " " in name else ("", name)
        stem = f"{head} " if head else ""
        # the proper plural, plus the naive "+s" GenEval writes ("benchs", "knifes", "sheeps")
        forms = {plural(name), name + "s", name + "es"}
        if last in self.irregular:
            forms.add(stem + self.irregular[last])
        return forms

    def singularise(self, word: str) -> tuple[str, bool]:
        """A noun outside the vocabulary in its singular form, and whether it was plural."""
        if word in self.singular_of:
            return self.singular_of[word], self.singular_of[word] != word
        if word in self.irregular:
            return word, False
        if len(word) > 4 and word.endswith("ies"):
            return word[:-3] + "y", True
        if word.endswith(("ches", "shes", "xes", "sses", "zzes")):
            return word[:-2], True
        if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
            return word[:-1], True
        return word, False


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    return Vocabulary(yaml.safe_load(VOCABULARY.read_text(encoding="utf-8")))


def match(table, tokens: list[str], i: int, longest: int = LONGEST):
    """The longest entry of `table` (keyed by word tuples) starting at tokens[i]: (value, length)."""
    for k in range(min(longest, len(tokens) - i), 0, -1):
        key = tuple(tokens[i:i + k])
        if key in table:
            return (table[key] if isinstance(table, dict) else key), k
    return None
