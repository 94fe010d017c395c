"""What a publish holds (spec/tiles.md): an item's files (its bundle, its
verified history and its status page) and the log's item indexes. The
directory writer (_publish_dir) and ``provledger serve`` both build them here,
so a static host and the server answer with the same bytes.

An item's files hold as of one checkpoint: the bundle is exported against it,
then verified as any verifier would (under the publisher's trust policy, or
the ledger's own), and the page and ``history.json`` show that verified
history, stating the checkpoint and its age at ``now``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ._display import safe_text
from ._errors import ItemIdError
from ._model import History
from ._statement import AUTHORITY_PREFIX
from ._time import rfc3339
from ._types import MAX_TIME
from ._web_paths import BUNDLE, HISTORY, PAGE, item_path

if TYPE_CHECKING:
    from ._ledger import Ledger
    from ._policy import Policy
    from ._tlog import SignedCheckpoint

ITEMS_JSON: Final = "items.json"
INDEX: Final = "index.html"
#: items.json's "format" value; a reader should refuse another.
ITEMS_FORMAT: Final = "provledger-items/1"


@dataclass(frozen=True)
class ItemRecord:
    """An item as the indexes list it: where its files are, its status, and
    the checkpoint they hold as of."""

    id: str
    path: str
    status: str
    size: int
    time: int

    def to_json(self, base_url: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "path": self.path, "status": self.status,
                               "checkpoint": {"size": self.size, "time": self.time}}
        if base_url is not None:
            out["url"] = base_url + self.path
        return out


@dataclass(frozen=True)
class ItemFiles:
    """One item's published files, as of ``checkpoint``."""

    item: str
    bundle: bytes
    history: History
    page: str

    @property
    def path(self) -> str:
        """The item's directory below the prefix (``_web_paths.item_path``)."""
        return item_path(self.item)

    @property
    def record(self) -> ItemRecord:
        cp = self.history.checkpoint
        assert cp is not None  # a bundle's history always holds as of one
        return ItemRecord(self.item, self.path, self.history.status, cp.size, cp.time)

    def files(self) -> dict[str, bytes]:
        """Relative path (URL form) -> bytes: the bundle, history.json, the page."""
        return {self.path + BUNDLE: self.bundle,
                self.path + HISTORY: history_json(self.history),
                self.path + PAGE: self.page.encode()}


def item_ids(ledger: Ledger, size: int, *, since: int = 0) -> list[str]:
    """The items (subjects that are item ids) with an entry among
    ``since``..``size``, sorted."""
    return sorted(s for s, _ in ledger.store.changed_heads(since, size) if _is_item(s))


def authorities_changed(ledger: Ledger, since: int, size: int) -> bool:
    """Whether an authority chain has an entry among ``since``..``size`` (it can
    change the verdict on items whose own entries did not change)."""
    return any(s.startswith(AUTHORITY_PREFIX) for s, _ in ledger.store.changed_heads(since, size))


def _is_item(subject: str) -> bool:
    if subject.startswith(AUTHORITY_PREFIX):
        return False
    try:
        item_path(subject)
    except ItemIdError:
        return False
    return True


def item_bundle(ledger: Ledger, item: str, checkpoint: SignedCheckpoint) -> bytes:
    """``item``'s bundle as of ``checkpoint``, with its stored cosignatures
    and no disclosure: what is published is public (spec/bundle.md 2.1).

    Raises:
        NotFoundError: the checkpoint covers no certificate of ``item``.
    """
    from ._export import export_bundle

    return export_bundle(ledger.store, item=item, origin=ledger.origin,
                         root_key=ledger.root_key, checkpoint=checkpoint, disclose=None)


def item_history(ledger: Ledger, bundle: bytes, *, now: int,
                 policy: Policy | None = None) -> History:
    """The bundle verified as a verifier would: under ``policy`` (default: the
    ledger's own trust policy), at ``now``. Its age is not judged (a page
    states it); everything else is.

    Raises:
        The errors of :func:`provledger.verify_bundle` (QuorumError when the
        policy wants cosignatures the checkpoint lacks).
    """
    from ._verify import verify_bundle

    return verify_bundle(bundle, policy=policy or ledger.trust_policy(), now=now,
                         max_age=MAX_TIME)


def item_files(ledger: Ledger, item: str, checkpoint: SignedCheckpoint, *, now: int,
               policy: Policy | None = None) -> ItemFiles:
    """Everything published for ``item`` as of ``checkpoint``: its bundle, the
    history verified from it and its status page rendered at ``now``
    (``.files()`` gives them by relative path).

    Raises:
        NotFoundError: the checkpoint covers no certificate of ``item``.
        VerificationError: the bundle does not verify under ``policy``.
    """
    bundle = item_bundle(ledger, item, checkpoint)
    history = item_history(ledger, bundle, now=now, policy=policy)
    return ItemFiles(item, bundle, history, status_page(history, bundle_href=BUNDLE, now=now))


def history_json(history: History) -> bytes:
    """``history.json``: :meth:`History.to_json`, UTF-8, one line."""
    return json.dumps(history.to_json(), ensure_ascii=False, separators=(",", ":")).encode()


# -- the status page ----------------------------------------------------------------


def status_page(history: History, *, bundle_href: str, now: int) -> str:
    """The item's status page (:func:`provledger._status_page.render_status_page`)."""
    from ._status_page import render_status_page

    return render_status_page(history, bundle_href=bundle_href, now=now)


# -- the indexes ------------------------------------------------------------------


def items_json(*, origin: str, checkpoint: SignedCheckpoint, items: Iterable[ItemRecord],
               base_url: str | None = None) -> bytes:
    """``items.json`` (spec/tiles.md): the log, its published checkpoint and every
    item with its path, status and the checkpoint its files hold as of."""
    doc: dict[str, Any] = {
        "format": ITEMS_FORMAT, "origin": origin,
        "checkpoint": {"seq": checkpoint.seq, "size": checkpoint.size,
                       "time": checkpoint.time, "root": checkpoint.root.hex()},
    }
    if base_url is not None:
        doc["base_url"] = base_url
    doc["items"] = [r.to_json(base_url) for r in items]
    return json.dumps(doc, ensure_ascii=False, indent=1).encode() + b"\n"


def read_items_json(data: bytes) -> list[ItemRecord] | None:
    """The item records of an ``items.json`` this module wrote, or None if it
    is not one (a publish then re-makes every item)."""
    try:
        doc = json.loads(data)
        if doc.get("format") != ITEMS_FORMAT:
            return None
        return [ItemRecord(str(i["id"]), str(i["path"]), str(i["status"]),
                           int(i["checkpoint"]["size"]), int(i["checkpoint"]["time"]))
                for i in doc["items"]]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def index_html(*, origin: str, checkpoint: SignedCheckpoint,
               items: Sequence[ItemRecord]) -> bytes:
    """``index.html``: a small human index linking every item's page."""
    counts: dict[str, int] = {}
    for r in items:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {_h(s)}" for s, n in sorted(counts.items())) or "none"
    rows = "\n".join(f'<li><a href="{_h(r.path)}">{_h(r.id)}</a> <span>{_h(r.status)}</span>'
                     "</li>" for r in items)
    body = (f"<h1>{_h(origin)}</h1>"
            f"<p>Checkpoint {checkpoint.seq}: {checkpoint.size} entries, signed "
            f"{_h(rfc3339(checkpoint.time))}. {len(items)} items ({summary}).</p>"
            f'<p>Machine-readable: <a href="{ITEMS_JSON}">{ITEMS_JSON}</a>; the log: '
            '<a href="checkpoint">checkpoint</a> and its tiles (c2sp.org/tlog-tiles).</p>'
            f"<ul>\n{rows}\n</ul>")
    return _page(_h(origin), body).encode()


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>body{{font-family:sans-serif;margin:1em;"
            "overflow-wrap:anywhere}</style></head>\n"
            f"<body>{body}</body></html>\n")


def _h(text: str) -> str:
    """Untrusted text for HTML: no control or bidi character, then escaped."""
    return html.escape(safe_text(text), quote=True)

