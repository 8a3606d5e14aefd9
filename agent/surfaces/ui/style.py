"""The page's looks and the little JavaScript it runs in the browser: the stylesheet, the brief's
character counter, the tab key and the unsent draft kept in sessionStorage, and the viewer's keyboard (Esc closes,
←/→ step through the attempts)."""
from __future__ import annotations

from agent.core.types import MAX_BRIEF_CHARS

CSS = """
#chat img, #gallery img, #editor canvas, #viewer-image img, #viewer-compare img, #chat video, #viewer-video video {
  image-rendering: pixelated; }
#chat img, #chat video { width: 220px !important; height: 220px !important; max-width: 100%; object-fit: contain; }
#status { min-height: 1.6em; font-size: 0.95em; }
#status .st { padding: 4px 10px; border-radius: 6px; }
#status .step-preview { width: 32px; height: 32px; image-rendering: pixelated; vertical-align: middle;
  margin-right: 8px; border-radius: 3px; }
#status .st-error { background: #fde8e8; color: #8b1a1a; border: 1px solid #f2b8b8; }
#status .st-warn { background: #fff3df; color: #7a4300; border: 1px solid #f0c98c; }
#status .st-ok { background: #e6f6eb; color: #1b5e33; border: 1px solid #a9dcb9; }
#status .st-busy, #status .st-queued, #status .st-info, #status .st-stopped {
  background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary); }
#status .bar { height: 6px; border-radius: 3px; margin-top: 4px; background: var(--border-color-primary); }
#status .bar > div { height: 100%; border-radius: 3px; background: var(--color-accent); transition: width .4s; }
#brief-count { font-size: 0.8em; text-align: right; opacity: 0.75; min-height: 1em; }
#brief-count .over { color: #b91c1c; font-weight: 600; opacity: 1; }
#review-box { border: 2px solid var(--color-accent); border-radius: 10px; padding: 8px; }
#queue-box { border: 1px dashed var(--border-color-primary); border-radius: 10px; padding: 6px; }
#viewer { position: fixed !important; inset: 3vh 3vw; z-index: 1000; overflow: auto; width: auto !important;
  min-width: 0 !important; max-width: none !important;
  background: var(--background-fill-primary); border-radius: 12px; padding: 12px;
  box-shadow: 0 0 0 100vmax rgba(0, 0, 0, 0.6); }
#viewer-bar { position: sticky; top: 0; z-index: 5; background: var(--background-fill-primary); }
#viewer-image img { object-fit: contain; }
#gallery .thumbnail-item { aspect-ratio: auto !important; max-width: 180px; display: flex !important;
  flex-direction: column !important; height: auto !important; }
#gallery .thumbnail-item img { aspect-ratio: 1 / 1; height: auto !important; flex: 0 0 auto; }
#gallery .caption-label { position: static !important; white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; max-width: none !important; font-size: 0.8em; transform: none !important;
  background: none !important; color: var(--body-text-color) !important; padding: 2px 0 !important; }
#verdicts th, #verdicts th *, #history-table th, #history-table th * { white-space: nowrap !important;
  word-break: keep-all !important; overflow-wrap: normal !important; }
#verdicts td, #verdicts td *, #history-table td, #history-table td * { word-break: normal !important;
  overflow-wrap: normal !important; }
#verdicts table { min-width: 460px; } #history-table table { min-width: 640px; }
#verdicts .table-wrap, #history-table .table-wrap { overflow-x: auto !important; }
footer { display: none !important; }
@media (max-width: 640px) {
  #viewer { inset: 0; border-radius: 0; }
  #chat img, #chat video { width: 160px !important; height: 160px !important; }
}
"""

# the tab's key lives in its sessionStorage: it survives a reload, and a new tab gets its own
READ_TAB_JS = """(token, allRuns, tab) => [token, allRuns, sessionStorage.getItem('atelier-tab') || '']"""
SAVE_TAB_JS = """(tab) => { if (tab) sessionStorage.setItem('atelier-tab', tab); return []; }"""

# Runs once when the page loads: the counter under the brief, the unsent draft kept over a reload,
# the viewer's keys, and the page kept at its top (the brief box's autofocus would scroll a phone past the status line).
PAGE_JS = f"""() => {{
  const DRAFT = 'atelier-draft';
  const show = (n) => {{
    const el = document.querySelector('#brief-count');
    if (!el) return;
    el.innerHTML = n ? `<span class="${{n > {MAX_BRIEF_CHARS} ? 'over' : 'ok'}}">${{n.toLocaleString('en')}} / {MAX_BRIEF_CHARS:,} characters</span>` : '';
  }};
  document.addEventListener('input', (e) => {{
    if (!(e.target.closest && e.target.closest('#brief'))) return;
    show(e.target.value.length);
    if (e.target.value) sessionStorage.setItem(DRAFT, e.target.value); else sessionStorage.removeItem(DRAFT);
  }}, true);
  // a sent brief is no draft: Enter (not Shift+Enter) or the Run button in the brief box
  document.addEventListener('keydown', (e) => {{
    if (e.key === 'Enter' && !e.shiftKey && e.target.closest && e.target.closest('#brief')) sessionStorage.removeItem(DRAFT);
  }}, true);
  document.addEventListener('click', (e) => {{
    if (e.target.closest && e.target.closest('#brief button.submit-button')) sessionStorage.removeItem(DRAFT);
  }}, true);
  // the unsent draft comes back after a reload (kept in this tab's sessionStorage, like its desk's key)
  const restore = () => {{
    const t = document.querySelector('#brief textarea'), draft = sessionStorage.getItem(DRAFT);
    if (!t) return false;
    if (draft && !t.value) {{
      Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value').set.call(t, draft);
      t.dispatchEvent(new Event('input', {{bubbles: true}}));
    }}
    return true;
  }};
  if (!restore()) {{
    const waiting = new MutationObserver(() => {{ if (restore()) waiting.disconnect(); }});
    waiting.observe(document.body, {{subtree: true, childList: true}});
  }}
  new MutationObserver(() => {{ const t = document.querySelector('#brief textarea'); if (t && !t.value) show(0); }})
    .observe(document.body, {{subtree: true, childList: true}});
  document.addEventListener('keydown', (e) => {{
    const viewer = document.querySelector('#viewer');
    if (!viewer || !viewer.getClientRects().length) return;  // hidden (offsetParent is null: it is fixed)
    if (e.target.closest && e.target.closest('textarea, input[type=text]')) return;
    const button = {{Escape: '#viewer-close', ArrowLeft: '#viewer-prev', ArrowRight: '#viewer-next'}}[e.key];
    if (button) {{ e.preventDefault(); document.querySelector(button)?.click(); }}
  }});
  if (window.matchMedia('(max-width: 640px)').matches) {{
    setTimeout(() => {{ document.activeElement?.blur?.(); window.scrollTo(0, 0); }}, 300);
  }}
}}"""
