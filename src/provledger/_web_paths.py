"""Where an item lives on the web: its path in a publish directory and on
``provledger serve`` (spec/tiles.md, "Items").

A GS1 Digital Link item ``https://<domain>/01/<gtin>/21/<serial>`` lives at
its own path, ``01/<gtin>/21/<serial>/`` (so the QR code's URL resolves on
the jeweler's domain when the directory is published there); a URN item
``urn:provledger:item:<tag>:<serial>`` at ``item/<tag>/<serial>/``. Each
item directory holds ``index.html`` (the status page) and ``bundle.cbor``
(its bundle); the log's own files are ``checkpoint`` and ``tile/...``.
"""

from __future__ import annotations

import urllib.parse
from typing import Final

from ._errors import NotFoundError
from ._itemid import SERIAL_SAFE, parse_item_id

PAGE: Final = "index.html"
BUNDLE: Final = "bundle.cbor"
HISTORY: Final = "history.json"


def item_path(item: str) -> str:
    """The item's directory below the prefix, with a trailing slash, e.g.
    ``01/09506000134352/21/RING-0001/``; its serial percent-encoded as in the
    canonical id.

    Raises:
        ItemIdError: ``item`` is not an item id.
    """
    parsed = parse_item_id(item)
    serial = urllib.parse.quote(parsed.serial, safe=SERIAL_SAFE)
    if parsed.gtin:
        return f"01/{parsed.gtin}/21/{serial}/"
    return f"item/{parsed.tag}/{serial}/"


def item_of_path(path: str, *, domain: str | None = None) -> str:
    """The canonical item id an item path names (``01/<gtin>/21/<serial>`` with
    or without the trailing slash, or ``item/<tag>/<serial>``). GS1 ids need
    the resolver ``domain`` they were issued under.

    Raises:
        NotFoundError: not an item path (a server answers 404).
    """
    from ._errors import ItemIdError

    parts = path.strip("/").split("/")
    try:
        if len(parts) == 4 and parts[0] == "01" and parts[2] == "21" and domain:
            return parse_item_id(f"https://{domain}/{'/'.join(parts)}").text
        if len(parts) == 3 and parts[0] == "item":
            return parse_item_id(f"urn:provledger:item:{parts[1]}:{parts[2]}").text
    except ItemIdError as exc:
        raise NotFoundError(f"not an item path: {exc}") from None
    raise NotFoundError(f"not an item path: {path[:200]!r}")
