"""Edits webslm makes to TVM's runtime sources before compiling them, as data.

TVM 0.27's paged KV cache has two sliding windows that do not meet: a per-layer one
(`mha_sliding` layers read only their window, but every page is kept) and a per-sequence one
(pages past the window are freed, but only in a cache without per-layer windows). webslm's
windowed KV cache (windowed_kv_cache.cc) gives Gemma 3's sliding layers a cache of their own
that needs both. Three edits make that so:

- a sequence's window frees pages in a cache with per-layer windows too;
- the per-layer window is found from where the sequence's entries start in its first page
  (non-zero once pages were freed), not from the page's start;
- a cache whose every layer slides gets the buffers attention splits q/k/v into (TVM made
  them only for a cache with a plain layer).

None changes anything for any cache but the windowed KV state's sliding one: the first two
act only on a sequence with a window (WebLLM would enable one only where mlc-chat-config has
a sliding_window_size, which webslm leaves at -1), the third only on a cache with no plain
layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from webslm.errors import WebslmError


@dataclass(frozen=True)
class Edit:
    path: str  # relative to the staged TVM tree
    old: str
    new: str
    count: int  # how often `old` occurs in the pinned TVM's source


EDITS = (
    Edit("src/runtime/vm/paged_kv_cache.cc",
         "if (seq->sliding_window_size == -1 || !support_sliding_window_) {",
         "if (seq->sliding_window_size == -1 ||"
         " !(support_sliding_window_ || support_layer_sliding_window_)) {", 1),
    Edit("src/runtime/vm/paged_kv_cache.cc",
         "GetLayerSlidingWindowNumPages(block.seq_length)",
         "GetLayerSlidingWindowNumPages(block.seq_length + block.sliding_window_offset)", 1),
    Edit("src/runtime/vm/paged_kv_cache.cc",
         "GetLayerSlidingWindowOffset(block.seq_length)",
         "GetLayerSlidingWindowOffset(block.seq_length + block.sliding_window_offset)", 1),
    Edit("src/runtime/vm/paged_kv_cache.cc",
         "if (std::find(attn_kinds_.begin(), attn_kinds_.end(), AttnKind::kMHA) !="
         " attn_kinds_.end()) {",
         "if (std::find_if(attn_kinds_.begin(), attn_kinds_.end(), [](AttnKind kind) {"
         " return kind == AttnKind::kMHA || kind == AttnKind::kMHASliding; }) !="
         " attn_kinds_.end()) {", 1),
)


def fingerprint() -> bytes:
    """What the edits are, for the runtime cache key."""
    return repr(EDITS).encode()


def apply_edits(tree: Path) -> None:
    """Apply EDITS to the staged sources under `tree`; refuse a source they do not fit (a
    TVM other than the pinned one), rather than compile a runtime without them."""
    for edit in EDITS:
        path = tree / edit.path
        text = path.read_text()
        found = text.count(edit.old)
        if found != edit.count:
            raise WebslmError(
                f"TVM's {edit.path} does not have the code webslm edits for its windowed KV "
                f"cache ({found} occurrences of {edit.old!r}, {edit.count} expected)",
                "install the apache-tvm version pyproject.toml pins (make install)")
        path.write_text(text.replace(edit.old, edit.new))
