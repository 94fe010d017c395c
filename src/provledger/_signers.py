"""Who signed: resolving a signer's key to its authority, and the refusal that
names the most precise reason. Shared by _rules and the aftercare rules
(_care, _repairs), which _rules calls, so they cannot import it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from ._errors import RevokedKeyError, UnauthorizedError, UnknownKeyError
from ._keys import format_public_key
from ._state import AuthorityState, ItemState

if TYPE_CHECKING:
    from ._rules import Context


def signer(key: bytes, ctx: Context, where: str) -> AuthorityState:
    """The authority whose current, unrevoked key is ``key``.

    Raises:
        UnknownKeyError: no authority has this key.
        RevokedKeyError: it is a former key of its authority.
    """
    auth = ctx.authority_of(key)
    if auth is None:
        raise UnknownKeyError(f"{where}: signer {format_public_key(key)} is not a known authority")
    # Rotation and revocation both move ``key`` off the authority's current key,
    # so the current key is by construction neither retired nor revoked.
    if auth.key != key:
        raise RevokedKeyError(
            f"{where}: signer {format_public_key(key)} was revoked or rotated out "
            f"(cut-off log time {auth.cutoff(key)})"
        )
    return auth


def current(key: bytes, ctx: Context) -> AuthorityState | None:
    """The authority whose current key is ``key``, or None."""
    auth = ctx.authority_of(key)
    return auth if auth is not None and auth.key == key else None


def refuse(item: ItemState, key: bytes, ctx: Context, message: str) -> NoReturn:
    """Raise the most precise error for a signer the rule did not admit.

    Raises:
        UnknownKeyError: ``key`` is neither an authority's nor the owner's.
        RevokedKeyError: it is a former key of its authority.
        UnauthorizedError: otherwise.
    """
    auth = ctx.authority_of(key)
    if auth is None and key != item.owner:
        raise UnknownKeyError(f"{message}; {format_public_key(key)} is not a known key")
    if auth is not None and auth.key != key:
        raise RevokedKeyError(f"{message}; {format_public_key(key)} was revoked or rotated "
                              f"out (cut-off log time {auth.cutoff(key)})")
    raise UnauthorizedError(message)
