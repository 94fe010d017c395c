"""The offline verifier stands alone (issue 12): importing it, or running
`provledger verify`, loads no storage, worker or write-path code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "spec" / "vectors" / "bundle"
STORE_BACKED = ("sqlite3", "sqlite_utils", "provledger._store", "provledger._ledger",
                "provledger._view", "provledger._audit", "provledger._workers",
                "provledger._parallel", "provledger._export", "provledger._tlog",
                "provledger._report", "provledger._treecheck")


def _loaded(code: str) -> set[str]:
    script = code + "\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                         text=True).stdout
    return set(out.split())


def test_importing_the_verifier_loads_nothing_store_backed() -> None:
    loaded = _loaded("import provledger.verify")
    assert "provledger._verify" in loaded
    assert loaded.isdisjoint(STORE_BACKED), sorted(loaded & set(STORE_BACKED))


def test_verifying_from_a_url_loads_nothing_store_backed() -> None:
    """`verify --from` reads tiles and bundles over HTTP: no database either."""
    loaded = _loaded("import provledger._tile_client")
    assert "provledger._tiles" in loaded
    assert loaded.isdisjoint(STORE_BACKED), sorted(loaded & set(STORE_BACKED))


def test_the_package_loads_storage_only_when_a_ledger_is_used() -> None:
    assert _loaded("import provledger").isdisjoint(STORE_BACKED)
    assert "provledger._ledger" in _loaded("import provledger\nprovledger.Ledger")


def test_provledger_verify_runs_without_storage_code() -> None:
    """`python -X importtime` lists every module the command imported."""
    manifest = VECTORS / "manifest.json"
    assert manifest.exists()
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c",
         "import sys; from provledger_cli.main import main; sys.exit(main())", "verify",
         str(VECTORS / "valid.bundle"), "--policy", str(VECTORS / "policy.txt")],
        capture_output=True, text=True, check=False)
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "provledger._verify" in imported
    assert imported.isdisjoint(STORE_BACKED), sorted(imported & set(STORE_BACKED))


def test_the_top_level_api_is_small_and_the_rest_lives_in_public_submodules() -> None:
    import provledger
    from provledger import errors, events, verify

    assert len(provledger.__all__) <= 45
    assert {"Ledger", "SigningKey", "verify_bundle", "ProvLedgerError", "errors", "events",
            "verify"} <= set(provledger.__all__)
    for module in (errors, events, verify):
        for name in module.__all__:
            assert getattr(module, name) is not None
    assert set(errors.__all__) >= {"UnauthorizedError", "RevokedKeyError", "WrongItemError"}
    assert events.EVENT_TYPES["cert.reaffirmed"] is events.CertificateReaffirmed
