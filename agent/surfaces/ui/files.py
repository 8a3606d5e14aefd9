"""What files reach the page, and how: copies in Gradio's cache (content-named, known only to the
page they were sent to), made only of files under the runs folder or the UI's own scratch folder
(a run record can name any path). The chat's media, the gallery's items (a clip as a looping GIF)
and the viewer's pictures all go through `Files.served`."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from agent.surfaces import ui_support as ui

KEEP_ZIPS = 16  # zips of ticked attempts kept (each a copy of its files, twice: here and in Gradio's cache)


class Files:
    def __init__(self, runs_dir: Path, keep_zips: int = KEEP_ZIPS):
        if not (isinstance(keep_zips, int) and keep_zips >= 1):
            raise ValueError(f"keep_zips must be a whole number of at least 1, not {keep_zips!r}")
        self.runs_dir, self.keep_zips = runs_dir, keep_zips
        self.scratch = Path(tempfile.mkdtemp(prefix="atelier-ui-"))  # viewer images, upscaled downloads
        self._memo: dict[tuple[str, float], str] = {}
        self._zips: dict[tuple, tuple[Path, str | None]] = {}  # oldest first: (the zip, its copy for the page)

    @property
    def roots(self) -> list[Path]:
        return [self.runs_dir, self.scratch]

    def served(self, path) -> str | None:
        """A copy of `path` in Gradio's cache for the page; None for anything that is not a file under
        the runs folder or the scratch folder."""
        p = ui.servable(path, self.roots)
        if p is None:
            return None
        try:
            key = (str(p), p.stat().st_mtime)
        except OSError:
            return None
        if key not in self._memo:
            from gradio import processing_utils, utils
            self._memo[key] = processing_utils.save_file_to_cache(p, utils.get_upload_folder())
        return self._memo[key]

    def in_runs(self, path) -> bool:
        return ui.servable(path, [self.runs_dir]) is not None

    def chat(self, chat: list[dict]) -> list[dict]:
        return chat_value(chat, self.served)

    def gallery(self, records: list) -> tuple[list[tuple[str, str]], list[tuple[str, int]], list]:
        """The gallery's (copy, caption) items, the (run_id, attempt index) of each, and the verdict rows."""
        items, refs = ui.gallery_items(records)
        shown = []
        for (path, caption), ref in zip(items, refs):  # a clip shows as a looping GIF of its frames
            preview = ui.clip_preview(path, self.scratch) if ui.plays_as_video(path) and self.in_runs(path) else path
            if (copy := self.served(preview)) is not None:
                shown.append(((copy, caption), ref))
        return [item for item, _ in shown], [ref for _, ref in shown], ui.verdict_rows(records)

    def viewer_picture(self, attempt, boxes: bool) -> str | None:
        return self.served(ui.viewer_image(attempt, self.scratch, boxes=boxes))

    def upscaled(self, path) -> str | None:
        return self.served(ui.upscaled(path, self.scratch))

    def zipped(self, paths: list[Path], name: str) -> str | None:
        """The files (each under the runs folder, else left out) in one zip, named `name`, for the page."""
        import secrets
        import zipfile
        kept = [Path(p) for p in paths if self.in_runs(p) and Path(p).is_file()]
        if not kept:
            return None
        key = (name, *((str(p), p.stat().st_mtime) for p in kept))
        if key in self._zips:  # the same files as last time: the same zip (a run's progress redraws often)
            return self._zips[key][1]
        out = self.scratch / secrets.token_hex(4) / name  # a folder per zip: one never stands for another
        out.parent.mkdir()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:  # PNG, MP4 and GIF are compressed already
            for p in kept:
                z.write(p, arcname=f"{p.parent.name}/{p.name}")
        self._zips[key] = (out, self.served(out))
        while len(self._zips) > self.keep_zips:  # the oldest go: a page still offering one makes it again
            old, copy = self._zips.pop(next(iter(self._zips)))
            self._memo = {k: v for k, v in self._memo.items() if k[0] != str(old)}
            for f in (old, Path(copy) if copy else None):
                if f is not None:
                    f.unlink(missing_ok=True)
            try:
                old.parent.rmdir()
            except OSError:
                pass
        return self._zips[key][1]


def chat_value(chat: list[dict], served: Callable[[Any], str | None]) -> list[dict]:
    """The desk's chat messages as the Chatbot's value: text, then each file as a component of its own
    (an MP4 clip as a looping, autoplaying video player; a PNG or GIF as an image). `served` turns a
    path into what the page may load (a copy in Gradio's cache), or None to leave that file out."""
    out = []
    for m in chat:
        parts: list[Any] = [m["text"]] if m["text"] else []
        for path, kind in m["media"]:
            copy = served(path)
            if copy is None:
                continue
            if kind == "video" and ui.plays_as_video(path):
                parts.append(gr.Video(copy, autoplay=True, loop=True, show_label=False, height=240,
                                      elem_classes=["clip"]))
            else:
                parts.append(gr.Image(copy, show_label=False, height=240, container=False,
                                      buttons=["download", "fullscreen"]))
        entry: dict[str, Any] = {"role": m["role"], "content": parts[0] if len(parts) == 1 else parts or "…"}
        if m.get("title"):
            entry["metadata"] = {"title": m["title"], "status": m.get("status") or "done"}
        out.append(entry)
    return out
