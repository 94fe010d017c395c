"""The PostgreSQL schema of a ledger: _store's SQLite schema 3, same rules.

The database itself refuses what the ledger never does: UPDATE, DELETE and
TRUNCATE of entries, keys, checkpoints, cosignatures, head-map tiles and meta;
an entry whose index is not the next one; a tile changed other than by
growing a partial one. Tables live in the connection's current schema (the
first of ``search_path``), so one database may hold several ledgers, one per
schema.
"""

from __future__ import annotations

from ._storage import FULL_TILE_BYTES

#: The tables every ledger has (as SQLite's schema 3).
TABLES = ("meta", "entries", "keys", "tiles", "checkpoints", "map_tiles", "cosignatures")
#: Schema 2's, which kept the head map a row per node (_legacy_map).
TABLES_2 = ("meta", "entries", "keys", "tiles", "checkpoints", "map_nodes", "cosignatures")

#: Tables whose rows are never updated or deleted (tiles have their own rule).
_APPEND_ONLY = ("meta", "entries", "keys", "checkpoints", "map_tiles", "cosignatures")

#: The head map, a row per tile (_smt_tiles) and version.
_MAP_TILES_TABLE = """
CREATE TABLE map_tiles (
    level   INTEGER NOT NULL,
    prefix  BYTEA NOT NULL,
    version BIGINT NOT NULL,
    data    BYTEA NOT NULL,
    PRIMARY KEY (level, prefix, version)
);
"""

_TABLES_SQL = f"""
CREATE TABLE meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE entries (
    idx     BIGINT PRIMARY KEY,   -- log index, dense from 0
    time    BIGINT NOT NULL,
    entry   BYTEA NOT NULL,       -- the Merkle leaf
    hash    BYTEA NOT NULL,       -- SHA-256 of the statement (not indexed, as in SQLite)
    subject TEXT NOT NULL,
    type    TEXT NOT NULL,
    signer  BYTEA NOT NULL,
    state   BYTEA NOT NULL
);
CREATE INDEX entries_by_subject ON entries (subject, idx);
CREATE INDEX entries_revocations ON entries (idx) WHERE type = 'key.revoked';
CREATE TABLE keys (
    key     BYTEA PRIMARY KEY,
    subject TEXT NOT NULL,
    idx     BIGINT NOT NULL
);
CREATE TABLE checkpoints (
    seq     BIGINT PRIMARY KEY,
    size    BIGINT NOT NULL,
    time    BIGINT NOT NULL,
    note    TEXT NOT NULL
);
{_MAP_TILES_TABLE}CREATE TABLE tiles (
    level   INTEGER NOT NULL,
    idx     BIGINT NOT NULL,
    hashes  BYTEA NOT NULL,
    nodes   BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE cosignatures (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- storing order
    seq     BIGINT NOT NULL REFERENCES checkpoints (seq),
    vkey    TEXT NOT NULL,
    line    TEXT NOT NULL,
    UNIQUE (seq, vkey)
);
CREATE FUNCTION provledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'provledger: the ledger is append-only';
END $$;
-- Row-level BEFORE triggers see the rows a statement inserted before this
-- one, so a multi-row INSERT or COPY is checked row by row, like SQLite's.
CREATE FUNCTION provledger_entries_dense() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.idx IS DISTINCT FROM (SELECT COALESCE(MAX(idx), -1) + 1 FROM entries) THEN
        RAISE EXCEPTION 'provledger: log indices must be dense';
    END IF;
    RETURN NEW;
END $$;
CREATE FUNCTION provledger_tiles_grow_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (NEW.level = OLD.level AND NEW.idx = OLD.idx
            AND octet_length(OLD.hashes) < {FULL_TILE_BYTES}
            AND octet_length(NEW.hashes) >= octet_length(OLD.hashes)
            AND octet_length(NEW.nodes) >= octet_length(OLD.nodes)
            AND substring(NEW.hashes FROM 1 FOR octet_length(OLD.hashes)) = OLD.hashes
            AND substring(NEW.nodes FROM 1 FOR octet_length(OLD.nodes)) = OLD.nodes) THEN
        RAISE EXCEPTION 'provledger: full tiles never change, partial ones only grow';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER entries_dense BEFORE INSERT ON entries
    FOR EACH ROW EXECUTE FUNCTION provledger_entries_dense();
CREATE TRIGGER tiles_grow_only BEFORE UPDATE ON tiles
    FOR EACH ROW EXECUTE FUNCTION provledger_tiles_grow_only();
CREATE TRIGGER tiles_no_delete BEFORE DELETE ON tiles
    FOR EACH ROW EXECUTE FUNCTION provledger_append_only();
CREATE TRIGGER tiles_no_truncate BEFORE TRUNCATE ON tiles
    FOR EACH STATEMENT EXECUTE FUNCTION provledger_append_only();
"""

_APPEND_ONLY_SQL = """
CREATE TRIGGER {t}_no_update BEFORE UPDATE OR DELETE ON {t}
    FOR EACH ROW EXECUTE FUNCTION provledger_append_only();
CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t}
    FOR EACH STATEMENT EXECUTE FUNCTION provledger_append_only();
"""

#: Schema 2 -> 3 (_pgmap.convert): the head map's tiles, append-only as the rest.
MAP_TILES = _MAP_TILES_TABLE + _APPEND_ONLY_SQL.format(t="map_tiles")

#: The one erasable table: the clear text of committed fields (spec/disclosure.md),
#: never published, deleted on request. Made by writers of ledgers older than it.
DISCLOSURES = """
CREATE TABLE IF NOT EXISTS disclosures (
    digest    BYTEA NOT NULL,
    statement BYTEA NOT NULL,
    idx       BIGINT NOT NULL,
    subject   TEXT NOT NULL,
    path      TEXT NOT NULL,
    data      BYTEA NOT NULL,
    -- Per statement: two statements may commit to the same disclosure bytes.
    PRIMARY KEY (statement, digest)
);
CREATE INDEX IF NOT EXISTS disclosures_subject ON disclosures (subject, idx);
CREATE INDEX IF NOT EXISTS disclosures_idx ON disclosures (idx);
"""

#: Every statement that makes a ledger's tables in an empty schema.
SCHEMA = (_TABLES_SQL + "".join(_APPEND_ONLY_SQL.format(t=t) for t in _APPEND_ONLY)
          + DISCLOSURES)

#: Undoes SCHEMA (a copy that did not audit is removed).
DROP = ("DROP TABLE IF EXISTS disclosures, " + ", ".join(reversed(TABLES))
        + " CASCADE; DROP FUNCTION IF EXISTS provledger_append_only(), "
        "provledger_entries_dense(), provledger_tiles_grow_only();")

#: The scratch tables of head-map work (as _staging's), private to a
#: connection. Made when it opens, since a read-only transaction (a snapshot,
#: an audit) may fill them but cannot create them.
SCRATCH = """
CREATE TEMP TABLE IF NOT EXISTS map_arrivals (ord BIGINT NOT NULL, key BYTEA NOT NULL,
                                              value BYTEA NOT NULL);
CREATE TEMP TABLE IF NOT EXISTS map_changes (key BYTEA PRIMARY KEY, value BYTEA NOT NULL);
CREATE TEMP TABLE IF NOT EXISTS tile_check (level INTEGER, prefix BYTEA, data BYTEA,
                                            PRIMARY KEY (level, prefix));
"""
SCRATCH_TABLES = ("map_arrivals", "map_changes", "tile_check")
