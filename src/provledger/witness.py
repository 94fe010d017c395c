"""Witnessing (c2sp.org/tlog-witness): run a witness, or have a log's checkpoints cosigned.

A log's side: :func:`witness_endpoints` picks a trust policy's witnesses that
have URLs, and :meth:`provledger.Ledger.request_cosignatures` asks them and
stores what verifies (:func:`collect_cosignatures` is the exchange alone).

A witness's side: :func:`init_witness_dir` makes a witness (encrypted key,
its verifier key, the logs it serves, its state), :func:`open_witness`
opens one, and :meth:`Witness.add_checkpoint` answers a request body with
the status, body and content type the text prescribes. The HTTP routes
(``witness_routes``, ``witness_app``) need the ``witness`` extra (Starlette)
and load only when asked for. spec/witness.md is the profile.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._witness import Evidence, Recorded, Witness, WitnessAnswer, WitnessState, origin_hash
from ._witness_client import (
    WitnessEndpoint,
    WitnessOutcome,
    collect_cosignatures,
    witness_endpoints,
)
from ._witness_dir import (
    PolicyLog,
    WitnessDir,
    add_log,
    init_witness_dir,
    open_witness,
    read_witness_dir,
)
from ._witness_wire import (
    AddCheckpoint,
    format_add_checkpoint,
    parse_add_checkpoint,
)

if TYPE_CHECKING:
    from ._witness_http import witness_app, witness_routes

_HTTP = ("witness_app", "witness_routes")


def __getattr__(name: str) -> Any:
    if name in _HTTP:
        return getattr(importlib.import_module(f"{__package__}._witness_http"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AddCheckpoint",
    "Evidence",
    "PolicyLog",
    "Recorded",
    "Witness",
    "WitnessAnswer",
    "WitnessDir",
    "WitnessEndpoint",
    "WitnessOutcome",
    "WitnessState",
    "add_log",
    "collect_cosignatures",
    "format_add_checkpoint",
    "init_witness_dir",
    "open_witness",
    "origin_hash",
    "parse_add_checkpoint",
    "read_witness_dir",
    "witness_app",
    "witness_endpoints",
    "witness_routes",
]
