"""The rules of authority chains (protocol.md 6.3): who may grant and revoke
roles, rotate and revoke keys, and what a revocation does to a key's
succession. _rules.apply calls :func:`decide` after the checks every
statement passes, with the signer already resolved to its authority.

One rule governs every chain: it is controlled by the authority that created
it, and by its own current key only to rotate. The root's chain has no
creator, so only the root's own key touches it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from . import _transfer_rules
from ._errors import PolicyError, StateError, UnauthorizedError
from ._events import KeyRevoked, KeyRotated, RoleGranted, RoleRevoked, RulesPublished
from ._keys import format_public_key
from ._state import AuthorityState, Grant, Outcome, RevokedKey
from ._statement import UnverifiedStatement, authority_subject

if TYPE_CHECKING:
    from ._rules import Context


def decide(stmt: UnverifiedStatement, auth: AuthorityState | None, signer: AuthorityState, *,
           log_time: int, ctx: Context, where: str) -> Outcome:
    """Decide an authority event on a chain whose state is ``auth`` (None: no
    entries yet), signed by the active key of ``signer``.

    Raises:
        UnauthorizedError: the signer does not control this chain for this event.
        StateError, PolicyError: the chain's state forbids it.
    """
    ev = stmt.event
    if isinstance(ev, RoleGranted):
        return _grant(stmt, ev, auth, signer, ctx=ctx, log_time=log_time, where=where)
    if auth is None:
        raise StateError(f"{where}: no authority has this chain yet (grant it a role first)")
    if isinstance(ev, RoleRevoked):
        _require_creator(auth, signer, where, "revoke its roles")
        grant = Grant(ev.role, signer.subject)
        if grant not in auth.roles:
            raise StateError(f"{where}: the signer did not grant this authority the role "
                             f"{ev.role!r}")
        roles = tuple(g for g in auth.roles if g != grant)
        # With no grant left to name the creator, the state keeps it explicitly.
        return Outcome(msgspec.structs.replace(
            auth, roles=roles, created_by=auth.created_by or ("" if roles else auth.creator)))
    if isinstance(ev, KeyRotated):
        if signer.subject != auth.subject:
            raise UnauthorizedError(f"{where}: only the authority itself may rotate its key")
        if ctx.authority_of(ev.new_key) is not None:
            raise PolicyError(f"{where}: new key {format_public_key(ev.new_key)} is already in use")
        assert auth.key is not None
        retired = (*auth.retired, RevokedKey(auth.key, log_time))
        return Outcome(msgspec.structs.replace(auth, key=ev.new_key, retired=retired),
                       new_keys=(ev.new_key,))
    if isinstance(ev, KeyRevoked):
        return _revoke_key(ev, auth, signer, log_time=log_time, where=where)
    if isinstance(ev, RulesPublished):
        return _transfer_rules.publish(ev, auth, signer, log_time=log_time, where=where)
    raise PolicyError(f"{where}: event type not allowed on an authority")  # pragma: no cover


def _require_creator(auth: AuthorityState, signer: AuthorityState, where: str,
                     what: str) -> None:
    """Refuse anyone but the authority that created ``auth``'s chain."""
    creator = auth.creator
    if not creator:
        raise UnauthorizedError(f"{where}: no one may {what} on the root's chain; only the "
                                "root's own key controls it")
    if signer.subject != creator:
        raise UnauthorizedError(f"{where}: only {creator}, which created this authority, "
                                f"may {what}; {signer.subject} did not")


def _grant(
    stmt: UnverifiedStatement,
    ev: RoleGranted,
    auth: AuthorityState | None,
    signer: AuthorityState,
    *,
    ctx: Context,
    log_time: int,
    where: str,
) -> Outcome:
    needed = "root" if ev.role == "issuer" else "issuer"
    if not signer.has_role(needed):
        raise UnauthorizedError(f"{where}: only a{'n' if needed == 'issuer' else ''} "
                                f"{needed} may grant the role {ev.role!r}")
    owner = ctx.authority_of(ev.key)
    new_keys: tuple[bytes, ...] = ()
    rekeying = auth is not None and auth.key is None
    if auth is None:
        if stmt.subject != authority_subject(ev.key):
            raise PolicyError(f"{where}: a new authority's chain id must be "
                              f"{authority_subject(ev.key)}")
        if owner is not None:
            raise PolicyError(f"{where}: key {format_public_key(ev.key)} already belongs to "
                              f"{owner.subject}")
        auth = AuthorityState(subject=stmt.subject, key=ev.key, name=ev.name)
        new_keys = (ev.key,)
    else:
        _require_creator(auth, signer, where, "grant it roles")
        if auth.key is None:
            # Re-keying an authority whose key was revoked: its creator vouches
            # for the new key, which starts a new succession (see _revoke_key).
            if owner is not None:
                raise PolicyError(f"{where}: key {format_public_key(ev.key)} is already in use")
            auth = msgspec.structs.replace(
                auth, key=ev.key, rekeyed=(*auth.rekeyed, RevokedKey(ev.key, log_time)))
            new_keys = (ev.key,)
        elif ev.key != auth.key:
            raise PolicyError(f"{where}: key must be the authority's current key "
                              f"{format_public_key(auth.key)}")
    grant = Grant(ev.role, signer.subject)
    roles = auth.roles
    if grant not in roles:
        roles = (*roles, grant)
    elif not rekeying:  # only a re-keying grant may repeat a role the authority holds
        raise StateError(f"{where}: the role {ev.role!r} was already granted by this signer")
    return Outcome(msgspec.structs.replace(auth, name=ev.name, roles=roles,
                                           **_scope(ev, auth, where)),
                   new_keys=new_keys)


def _scope(ev: RoleGranted, auth: AuthorityState, where: str) -> dict[str, tuple[str, ...]]:
    """The issuer scope a grant leaves: an issuer grant replaces it (protocol.md
    4.3); other roles carry none and keep the authority's."""
    if ev.role == "issuer":
        return {"gs1_prefixes": tuple(ev.gs1_prefixes), "domains": tuple(ev.domains)}
    if ev.gs1_prefixes or ev.domains:
        raise PolicyError(f"{where}: gs1_prefixes and domains belong to role issuer only, "
                          f"not {ev.role!r}")
    return {"gs1_prefixes": auth.gs1_prefixes, "domains": auth.domains}


def _revoke_key(
    ev: KeyRevoked, auth: AuthorityState, signer: AuthorityState, *, log_time: int, where: str
) -> Outcome:
    creator = auth.creator
    by_creator = bool(creator) and signer.subject == creator
    by_root_itself = not creator and signer.subject == auth.subject
    if not (by_creator or by_root_itself):
        who = creator or "the root's own current key"
        raise UnauthorizedError(f"{where}: only {who} may revoke this authority's keys; "
                                f"{signer.subject} may not")
    position = next((n for n, r in enumerate(auth.retired) if r.key == ev.key), None)
    if ev.key != auth.key and position is None:
        raise PolicyError(f"{where}: key {format_public_key(ev.key)} is not this authority's")
    if any(r.key == ev.key for r in auth.revoked):
        raise StateError(f"{where}: key {format_public_key(ev.key)} is already revoked")
    if by_root_itself and ev.key == auth.key:
        raise StateError(f"{where}: the root may not revoke its current key (no one could "
                         "replace it); rotate to a new key, then revoke this one")
    cutoff = min(ev.compromised_since, log_time)
    revoked = {r.key: r.cutoff for r in auth.revoked}
    revoked[ev.key] = cutoff
    retired, key = auth.retired, auth.key
    if ev.key == auth.key:
        retired, key = (*retired, RevokedKey(ev.key, log_time)), None
    elif by_creator and position is not None and retired[position].cutoff >= cutoff:
        # The rotation away from ev.key came at or after its compromise: the
        # creator does not vouch for it, so every key of that succession is void
        # from its introduction and the authority has no key until re-keyed.
        for successor, introduced in _succession(auth, position):
            revoked[successor] = min(revoked.get(successor, introduced), introduced)
        if key is not None:
            retired = (*retired, RevokedKey(key, log_time))
        key = None
    return Outcome(msgspec.structs.replace(
        auth, key=key, retired=retired,
        revoked=tuple(RevokedKey(k, c) for k, c in revoked.items())))


def _succession(auth: AuthorityState, position: int) -> list[tuple[bytes, int]]:
    """Keys that took over by rotation from ``auth.retired[position]``, each with
    the log time it was introduced; a key the creator installed ends the run."""
    installed = {r.key for r in auth.rekeyed}
    former = [*auth.retired, *([RevokedKey(auth.key, 0)] if auth.key is not None else [])]
    result = []
    introduced = former[position].cutoff
    for record in former[position + 1:]:
        if record.key in installed:
            break
        result.append((record.key, introduced))
        introduced = record.cutoff
    return result
