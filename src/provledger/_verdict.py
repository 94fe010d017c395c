"""The JSON verdict on a bundle: what ``provledger verify --json`` prints and
``provledger serve``'s POST /verify answers, built in one place.

A verified bundle gives its :meth:`History.to_json` document plus the
checkpoint's ``age`` and the ``checks`` that ran (spec/history.schema.json);
a failed one gives ``{"verified": false, "error": {...}, "checks": [...]}``
(spec/errors.md section 3). Nothing here reads storage.
"""

from __future__ import annotations

from typing import Any

from ._errors import ProvLedgerError, RequirementError
from ._model import History
from ._verify import VERIFICATION_CHECKS


def verified_document(report: History, *, now: int, item_given: bool) -> dict[str, Any]:
    """The verdict on a bundle that verified at ``now`` into ``report``;
    ``item_given`` says whether the caller named the item (the "item" check ran).

    Raises:
        ValueError: ``report`` carries no checkpoint (it was not read from a bundle).
    """
    if report.checkpoint is None:
        raise ValueError("a verdict is on a bundle's history, which holds as of a checkpoint")
    document = report.to_json()
    document["checkpoint"]["age"] = now - report.checkpoint.time
    document["checks"] = checks(None, item_given=item_given)
    return document


def failed_document(error: ProvLedgerError, *, item_given: bool) -> dict[str, Any]:
    """The verdict on a bundle whose verification raised ``error``; an unmet
    requirement also lists what is ``missing``."""
    described: dict[str, Any] = {"code": error.code, "class": type(error).__name__,
                                 "message": str(error)}
    if isinstance(error, RequirementError):
        described["missing"] = list(error.missing)
    return {"verified": False, "error": described,
            "checks": checks(error.check, item_given=item_given)}


def checks(failed: str | None, *, item_given: bool) -> list[dict[str, Any]]:
    """The checks that ran (spec/errors.md): all passed up to ``failed``, which did not."""
    ran = [c for c in VERIFICATION_CHECKS if item_given or c != "item"]
    if failed is not None:
        ran = ran[:ran.index(failed) + 1] if failed in ran else []
    return [{"check": c, "passed": c != failed} for c in ran]
