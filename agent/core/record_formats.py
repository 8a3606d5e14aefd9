"""run.json's formats: the number a record is written with, and the steps that bring an older file's
dict up to it (`migrate_record`, called by RunRecord before validation)."""
from __future__ import annotations

from agent.core.options import RunOptions

# run.json's format. A change that older records cannot simply load with (a renamed or moved field, a
# new meaning) raises it and adds the step from the one before to RECORD_MIGRATIONS.
RECORD_FORMAT = 3


def _from_format_0(data: dict) -> dict:
    """Format 0: the records written before run.json had a format; the same fields as format 1."""
    return data


def _from_format_1(data: dict) -> dict:
    """Format 1 told a typeset attempt by its note ("typeset 'SALE' onto attempt 2 at ..."); format 2 by
    `Attempt.typeset`, the words the tool set: the last layer typeset_text added to its artifact."""
    attempts = []
    for a in data.get("attempts") or []:
        if isinstance(a, dict) and "typeset" not in a and str(a.get("note", "")).startswith("typeset "):
            layers = ((a.get("artifact") or {}).get("meta") or {}).get("typeset") or [{}]
            a = {**a, "typeset": layers[-1].get("text", "")}
        attempts.append(a)
    return {**data, "attempts": attempts}


# the fields formats 0-2 kept beside `options` (and a format-2 file's options left out: said there)
BACKEND_FIELDS = {k: RunOptions.default(k) for k in ("llm", "image_model", "critic", "video_model", "video_format",
                                                      "mode")}


def _from_format_2(data: dict) -> dict:
    """Format 2 kept the back ends (llm, image_model, critic, video_model, video_format, mode) beside
    `options`, which a record from before options existed lacks; format 3 keeps them in `options` only
    (a record without options gets them with its brief's budget)."""
    data = dict(data)
    moved = {k: data.pop(k, default) for k, default in BACKEND_FIELDS.items()}
    options = data.get("options")
    if not isinstance(options, dict):
        budget = (data.get("brief") or {}).get("budget") or {}
        options = {k: budget[k] for k in ("max_iterations", "max_seconds", "max_cost_usd") if k in budget}
    return {**data, "options": {**options, **moved}}


RECORD_MIGRATIONS = {0: _from_format_0, 1: _from_format_1, 2: _from_format_2}  # format N -> a function turning N's dict into N+1's


def migrate_record(data: dict) -> dict:
    """A stored run.json's dict brought up to RECORD_FORMAT (one without `format` is format 0)."""
    version = data.get("format", 0)
    if not isinstance(version, int) or version < 0:
        raise ValueError(f"format: not a run record format: {version!r}")
    if version > RECORD_FORMAT:
        raise ValueError(f"format {version} is newer than this Atelier reads ({RECORD_FORMAT}): upgrade Atelier")
    for step in range(version, RECORD_FORMAT):
        data = RECORD_MIGRATIONS[step](dict(data))
    return {**data, "format": RECORD_FORMAT}
