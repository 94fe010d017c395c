"""Item ids (protocol.md 4.3): one canonical spelling per piece, certified only
by the issuer whose tag, GS1 company prefix and domain it carries.

Issue 11, finding 5 ("one piece, several item ids"): a thief who had another
issuer certify spellings of a stolen ring's id got certificates that verified
as active with the thief as owner.
"""

from __future__ import annotations

import json
import re
import string
import urllib.parse
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import given, strategies as st

import provledger as pl
from provledger import _rules
from provledger._state import AuthorityState, Grant, RevokedKey, decode_state, encode_state
from provledger_cli.main import cli

from .conftest import World, grant, key, snapshot

DOMAIN = "id.maison.example"
GTIN = "09506000134352"  # under the victim's GS1 company prefix 9506000
SERIAL = "RING-0001"
RING = f"https://{DOMAIN}/01/{GTIN}/21/{SERIAL}"


def issued(serial: str, *, owner: pl.SigningKey, gtin: str = "") -> pl.CertificateIssued:
    return pl.CertificateIssued(kind="ring", serial=serial, gtin=gtin, owner=owner.public_key)


def refused(w: World, error: type[pl.ProvLedgerError], signer: pl.SigningKey, subject: str,
            event: pl.Event, match: str | None = None) -> pl.ProvLedgerError:
    """Appending must raise exactly ``error`` and leave the database as it was."""
    before = snapshot(w.path)
    with pytest.raises(error, match=match) as info:
        w.ledger.append(w.sign(signer, subject, event))
    assert type(info.value) is error, info.value
    assert snapshot(w.path) == before
    return info.value


@pytest.fixture
def victim(world: World) -> pl.SigningKey:
    """A jeweler with its own GS1 scope, whose ring was certified and then stolen."""
    maison = key("maison")
    grant(world, world.root, maison, "issuer", "Maison", gs1_prefixes=("9506000",),
          domains=(DOMAIN,))
    world.add(maison, RING, issued(SERIAL, owner=world.owner, gtin=GTIN))
    world.add(maison, RING, pl.StolenReported(reference="PP-1"))
    assert world.ledger.item(RING).status == "stolen"
    return maison


@pytest.fixture
def rogue(world: World) -> pl.SigningKey:
    """Another issuer, with a scope of its own."""
    other = key("rogue")
    grant(world, world.root, other, "issuer", "Rogue", gs1_prefixes=("4012345",),
          domains=("rogue.example",))
    return other


# -- the attack -------------------------------------------------------------------------


@pytest.mark.parametrize(("variant", "canonical"), [
    (f"https://ID.Maison.example/01/{GTIN}/21/{SERIAL}", RING),
    (f"https://{DOMAIN}:443/01/{GTIN}/21/{SERIAL}", RING),
    (f"https://{DOMAIN}./01/{GTIN}/21/{SERIAL}", RING),
    (f"https://{DOMAIN}/01/{GTIN}/21/RING%2D0001", RING),
    (f"https://{DOMAIN}/01/{GTIN}/21/{SERIAL}/", RING),
    (f"https://{DOMAIN}/01/{GTIN[1:]}/21/{SERIAL}", RING),
    (f"https://{DOMAIN}/01/{GTIN}/21/A%2f1", f"https://{DOMAIN}/01/{GTIN}/21/A%2F1"),
])
@pytest.mark.usefixtures("victim")
def test_another_spelling_of_a_stolen_rings_id_is_refused(
        world: World, rogue: pl.SigningKey, variant: str, canonical: str) -> None:
    serial = urllib.parse.unquote(variant.rstrip("/").rsplit("/", 1)[-1])
    err = refused(world, pl.NonCanonicalItemIdError, rogue, variant,
                  issued(serial, owner=rogue, gtin=GTIN))
    assert f"is not canonical; use {canonical}" in str(err)


@pytest.mark.parametrize("variant", [
    f"https://{DOMAIN}:8443/01/{GTIN}/21/{SERIAL}",
    f"https://user@{DOMAIN}/01/{GTIN}/21/{SERIAL}",
    f"https://{DOMAIN}/01/{GTIN}/21/{SERIAL}?x=1",
    f"https://{DOMAIN}/01/{GTIN}/21/{SERIAL}#frag",
    f"https://{DOMAIN}/shop/01/{GTIN}/21/{SERIAL}",
    "urn:example:ring:RING-0001",
    "urn:x-test:item-9",
    "https://192.168.0.1/01/09506000134352/21/R1",
])
@pytest.mark.usefixtures("victim")
def test_ids_of_neither_canonical_form_are_refused(world: World, rogue: pl.SigningKey,
                                                   variant: str) -> None:
    refused(world, pl.NonCanonicalItemIdError, rogue, variant,
            issued(SERIAL, owner=rogue, gtin=GTIN))


def test_the_canonical_id_or_the_victims_urn_is_out_of_the_rogues_scope(
        world: World, victim: pl.SigningKey, rogue: pl.SigningKey) -> None:
    refused(world, pl.OutOfScopeError, rogue, pl.gs1_item_id(DOMAIN, GTIN, "RING-0002"),
            issued("RING-0002", owner=rogue, gtin=GTIN), match=f"domain {DOMAIN}")
    urn = pl.serial_item_id(victim.public_key, "RING-0001")
    tag = pl.serial_item_id(rogue.public_key, "x").split(":")[3]
    refused(world, pl.OutOfScopeError, rogue, urn, issued("RING-0001", owner=rogue),
            match=f"certifies under tag {tag}")
    # Its own URN it may use, but not with the victim's GTIN in the certificate.
    own = pl.serial_item_id(rogue.public_key, "RING-0001")
    refused(world, pl.OutOfScopeError, rogue, own,
            issued("RING-0001", owner=rogue, gtin=GTIN), match="company prefixes")
    world.add(rogue, own, issued("RING-0001", owner=rogue))


def test_the_cli_refuses_the_variants_and_prints_the_canonical_spelling(
        world: World, victim: pl.SigningKey, rogue: pl.SigningKey, tmp_path: Path) -> None:
    passphrase = "correct horse"
    pl.write_signing_key(tmp_path / "rogue.key", rogue, passphrase=passphrase.encode())
    pl.write_public_key(tmp_path / "rogue.pub", rogue.public_key)
    env = {"PROVLEDGER_DB": str(world.path), "PROVLEDGER_PASSPHRASE": passphrase}
    before = snapshot(world.path)
    world.ledger.close()
    for variant in (f"https://ID.Maison.example/01/{GTIN}/21/{SERIAL}",
                    f"https://{DOMAIN}:443/01/{GTIN}/21/{SERIAL}",
                    f"https://{DOMAIN}./01/{GTIN}/21/{SERIAL}",
                    f"https://{DOMAIN}/01/{GTIN}/21/RING%2D0001",
                    pl.serial_item_id(victim.public_key, SERIAL)):
        result = CliRunner().invoke(cli, [
            "issue", "--key", str(tmp_path / "rogue.key"), "--item", variant, "--kind", "ring",
            "--gtin", GTIN, "--owner", str(tmp_path / "rogue.pub")], env=env,
            prog_name="provledger")
        # Every spelling of the stolen ring's id is that id, already certified; the
        # victim's URN is out of the rogue's scope.
        assert result.exit_code == 3, (result.stdout, result.stderr)
        assert (f"cert.issued for {RING}:" in result.stderr if variant.startswith("https")
                else "certifies under tag" in result.stderr), result.stderr
        assert snapshot(world.path) == before


# -- scope ------------------------------------------------------------------------------


def test_scope_prefix_domain_and_none(world: World, victim: pl.SigningKey,
                                      rogue: pl.SigningKey) -> None:
    # Under its own domain, but the victim's company prefix.
    refused(world, pl.OutOfScopeError, rogue, pl.gs1_item_id("rogue.example", GTIN, "X1"),
            issued("X1", owner=rogue, gtin=GTIN), match="9506000")
    # Under its own prefix, but the victim's domain.
    own_gtin = "04012345000009"
    assert pl.gtin_is_valid(own_gtin)
    refused(world, pl.OutOfScopeError, rogue, pl.gs1_item_id(DOMAIN, own_gtin, "X2"),
            issued("X2", owner=rogue, gtin=own_gtin), match=DOMAIN)
    # Within both: fine.
    mine = pl.gs1_item_id("rogue.example", own_gtin, "X3")
    world.add(rogue, mine, issued("X3", owner=rogue, gtin=own_gtin))
    # A subdomain is another name.
    refused(world, pl.OutOfScopeError, rogue, pl.gs1_item_id("a.rogue.example", own_gtin, "X4"),
            issued("X4", owner=rogue, gtin=own_gtin))
    # An issuer without scope certifies URNs only.
    plain = key("plain")
    grant(world, world.root, plain, "issuer", "Plain")
    refused(world, pl.OutOfScopeError, plain, pl.gs1_item_id("plain.example", own_gtin, "X5"),
            issued("X5", owner=plain, gtin=own_gtin), match="URN ids only")
    world.add(plain, pl.serial_item_id(plain.public_key, "X5"), issued("X5", owner=plain))


def test_the_prefix_is_matched_after_the_indicator_digit() -> None:
    from provledger._itemid import gtin_in_scope

    assert gtin_in_scope("9506000134352", ("9506000",))        # GTIN-13
    assert gtin_in_scope("19506000134359", ("9506000",))       # GTIN-14, indicator 1
    assert gtin_in_scope("036000291452", ("0036000",))         # GTIN-12: one added zero
    assert not gtin_in_scope("09506000134352", ("0950600",))


def test_scope_belongs_to_role_issuer_only(world: World) -> None:
    shop = key("other-shop")
    refused(world, pl.PolicyError, world.jeweler, pl.authority_subject(shop.public_key),
            pl.RoleGranted(key=shop.public_key, name="Shop", role="service",
                           domains=["shop.example"]), match="issuer only")


def test_urn_tag_is_the_first_keys_and_survives_rotation(world: World) -> None:
    first = world.jeweler.public_key
    world.add(world.jeweler, pl.authority_subject(first),
              pl.KeyRotated(new_key=key("jeweler-2").public_key))
    new = key("jeweler-2")
    refused(world, pl.OutOfScopeError, new, pl.serial_item_id(new.public_key, "R7"),
            issued("R7", owner=world.owner))
    world.add(new, pl.serial_item_id(first, "R7"), issued("R7", owner=world.owner))


def test_the_urn_serial_is_the_certificates(world: World) -> None:
    refused(world, pl.PolicyError, world.jeweler, pl.serial_item_id(world.jeweler.public_key, "A"),
            issued("B", owner=world.owner), match="serial")


# -- stored states ----------------------------------------------------------------------


class _OldAuthorityState(msgspec.Struct, frozen=True, tag="authority"):
    """AuthorityState exactly as it was before issuer scopes."""

    subject: str
    key: bytes | None
    name: str = ""
    roles: tuple[Grant, ...] = ()
    retired: tuple[RevokedKey, ...] = ()
    revoked: tuple[RevokedKey, ...] = ()


def test_a_state_without_scope_encodes_as_before() -> None:
    fields = {"subject": pl.authority_subject(bytes(32)), "key": bytes(32), "name": "Maison",
              "roles": (Grant("issuer", "provledger:authority:" + "00" * 32),),
              "retired": (RevokedKey(b"\x01" * 32, 5),), "revoked": ()}
    old = msgspec.msgpack.encode(_OldAuthorityState(**fields))  # type: ignore[arg-type]
    assert encode_state(AuthorityState(**fields)) == old  # type: ignore[arg-type]
    assert decode_state(old) == AuthorityState(**fields)  # type: ignore[arg-type]
    scoped = AuthorityState(**fields, gs1_prefixes=("9506000",),  # type: ignore[arg-type]
                            domains=("shop.example",))
    assert decode_state(encode_state(scoped)) == scoped


# -- canonical_item_id ------------------------------------------------------------------


def test_canonical_item_id_normalises_sloppy_spellings() -> None:
    tag = pl.serial_item_id(bytes(32), "x").split(":")[3]
    assert pl.canonical_item_id(f" HTTP://ID.Maison.example.:443/01/{GTIN[1:]}/21/RING%2d0001/"
                                "?linkType=all#top ") == RING
    assert pl.canonical_item_id(f"URN:ProvLedger:ITEM:{tag.upper()}:R%2D1") == \
        f"urn:provledger:item:{tag}:R-1"
    assert pl.canonical_item_id(f"https://{DOMAIN}/01/{GTIN}/21/a\"b<c>d?") == \
        f"https://{DOMAIN}/01/{GTIN}/21/a%22b%3Cc%3Ed"
    assert pl.gs1_item_id(DOMAIN, GTIN, "!&'()*+,:;=%/\"<>?") == \
        f"https://{DOMAIN}/01/{GTIN}/21/!&'()*+,:;=%25%2F%22%3C%3E%3F"


@pytest.mark.parametrize("text", [
    "provledger:authority:" + "00" * 32, "urn:example:x:y", "ftp://x.example/01/1/21/2",
    f"https://{DOMAIN}:8443/01/{GTIN}/21/S", f"https://u@{DOMAIN}/01/{GTIN}/21/S",
    f"https://{DOMAIN}/01/09506000134353/21/S", f"https://{DOMAIN}/01/{GTIN}/21/a%ZZ",
    f"https://{DOMAIN}/01/{GTIN}/21/{'x' * 21}", f"https://{DOMAIN}/01/{GTIN}/21/a b",
    f"https://{DOMAIN}/01/{GTIN}/21/%C3%A9", "https://\u212aelvin.example/01/09506000134352/21/S",
    "https://localhost/01/09506000134352/21/S", "urn:provledger:item:abc:R1",
    "urn:provledger:item:" + "0" * 16 + ":R:1",
])
def test_canonical_item_id_refuses_unfixable_input(text: str) -> None:
    with pytest.raises(pl.ItemIdError):
        pl.canonical_item_id(text)
    with pytest.raises(ValueError):  # noqa: PT011 - ItemIdError is a ValueError too
        pl.canonical_item_id(text)


_SERIAL_82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_GTINS = ["09506000134352", "9506000134352", "036000291452", "12345670", "09506000134376"]


@st.composite
def spellings(draw: st.DrawFn) -> str:
    """An item id of either kind, spelled more or less sloppily, or any text."""
    kind = draw(st.sampled_from(["gs1", "urn", "text"]))
    if kind == "text":
        return draw(st.text(alphabet=string.printable, max_size=80))
    if kind == "urn":
        tag = draw(st.text(alphabet="0123456789abcdefABCDEF", min_size=15, max_size=17))
        serial = draw(st.text(alphabet=string.ascii_letters + string.digits + "._~-:%",
                              min_size=0, max_size=66))
        scheme = draw(st.sampled_from(["urn", "URN", "Urn"]))
        return f"{scheme}:{draw(st.sampled_from(['provledger', 'ProvLedger']))}:item:{tag}:{serial}"
    serial = draw(st.text(alphabet=_SERIAL_82, min_size=1, max_size=21))
    encoded = "".join(
        f"%{ord(c):02{draw(st.sampled_from('xX'))}}" if draw(st.booleans()) or c in "%/?#"
        else c for c in serial)
    host = draw(st.sampled_from(["id.example.com", "ID.Example.COM", "a-b.example",
                                 "x.example.", "bad_host.example", "example"]))
    port = draw(st.sampled_from(["", ":443", ":", ":8080"]))
    tail = draw(st.sampled_from(["", "/", "?q=1", "#f", "/?x"]))
    scheme = draw(st.sampled_from(["https", "HTTPS", "http"]))
    return f"{scheme}://{host}{port}/01/{draw(st.sampled_from(_GTINS))}/21/{encoded}{tail}"


@given(spellings())
def test_canonical_item_id_is_idempotent_and_the_rule_admits_only_it(text: str) -> None:
    try:
        canonical = pl.canonical_item_id(text)
    except pl.ItemIdError:
        with pytest.raises(pl.NonCanonicalItemIdError):
            _rules._item_id_of(text, "test")
        return
    assert pl.canonical_item_id(canonical) == canonical
    assert _rules._item_id_of(canonical, "test").text == canonical
    if text != canonical:
        with pytest.raises(pl.NonCanonicalItemIdError, match=re.escape(f"use {canonical}")):
            _rules._item_id_of(text, "test")


# -- verify --item ----------------------------------------------------------------------


def test_verify_refuses_a_bundle_about_another_item(tmp_path: Path) -> None:
    from .test_bundle_cli import Shop, error_line, ok, run, write_policy

    shop = Shop(tmp_path)
    try:
        other = shop.w.issue("R-2002")
        shop.checkpoint()
        bundle = shop.export("ring.bundle")
        policy = write_policy(shop)
        trust, data = pl.read_policy(policy), bundle.read_bytes()
        with pytest.raises(pl.WrongItemError, match=f"not {other}"):
            pl.verify_bundle(data, policy=trust, now=shop.now, item=other)
        sloppy = shop.item.upper()  # any spelling of the right id will do
        assert pl.verify_bundle(data, policy=trust, now=shop.now, item=sloppy).item == shop.item
        with pytest.raises(pl.ItemIdError):
            pl.verify_bundle(data, policy=trust, now=shop.now, item="urn:example:x")

        args = ("verify", bundle, "--policy", policy, "--at", str(shop.now))
        line = error_line(run(*args, "--item", other), 1)
        assert "WrongItemError" in line
        assert other in line
        checked = ok(*args, "--item", sloppy, "--json")
        assert json.loads(checked.stdout)["item"] == shop.item
        assert checked.stderr == ""
        unchecked = ok(*args)
        assert unchecked.stderr.startswith("warning: no --item given")
        assert run(*args, "--item", "urn:example:x").exit_code == 2
    finally:
        shop.w.ledger.close()
