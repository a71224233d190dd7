"""SQLite-only schema: the tags of every flow run, one row each, kept by triggers.

PostgreSQL answers "runs with this tag" from the JSONB column itself. SQLite cannot index
the members of a JSON list, so there a tag filter would read every run of the workspace:
about a millisecond per ten thousand runs, on every request that filters by tag. The table
``flow_run_tag (run_id, tag)``, indexed by tag, turns that into one index lookup per tag.

Triggers on ``flow_run`` keep it exact whoever writes the runs (the API, the ORM, another
process, a raw statement), so no code path can forget it. It is not part of the ORM or of
the Alembic revisions (Alembic does not see it, see ``HIDDEN_FROM_ALEMBIC``): it is created,
and filled from the runs already stored, by :func:`sync_sqlite_schema` after migrations, at
server start and by ``create_all``, and dropped again with ``flow_run`` on a downgrade.
"""

from __future__ import annotations

import sqlalchemy as sa

TAG_TABLE = "flow_run_tag"
TAG_INDEX = "ix_flow_run_tag__tag"
HIDDEN_FROM_ALEMBIC = frozenset({TAG_TABLE, TAG_INDEX})

# The table for filters to select from (a lightweight description, no metadata).
flow_run_tag = sa.table(TAG_TABLE, sa.column("run_id", sa.Uuid), sa.column("tag", sa.String))

_NEW_TAGS = (
    "SELECT NEW.id, value FROM json_each("
    "CASE WHEN json_valid(NEW.tags) THEN NEW.tags ELSE '[]' END) WHERE type = 'text'"
)
_TRIGGERS = {
    "flow_run_tag_insert": f"""
        CREATE TRIGGER flow_run_tag_insert AFTER INSERT ON flow_run BEGIN
            INSERT OR IGNORE INTO {TAG_TABLE} (run_id, tag) {_NEW_TAGS};
        END""",
    "flow_run_tag_update": f"""
        CREATE TRIGGER flow_run_tag_update AFTER UPDATE OF tags ON flow_run BEGIN
            DELETE FROM {TAG_TABLE} WHERE run_id = OLD.id;
            INSERT OR IGNORE INTO {TAG_TABLE} (run_id, tag) {_NEW_TAGS};
        END""",
    "flow_run_tag_delete": f"""
        CREATE TRIGGER flow_run_tag_delete AFTER DELETE ON flow_run BEGIN
            DELETE FROM {TAG_TABLE} WHERE run_id = OLD.id;
        END""",
}
_TABLE = f"""
    CREATE TABLE {TAG_TABLE} (
        run_id CHAR(32) NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (run_id, tag)
    ) WITHOUT ROWID"""
_INDEX = f"CREATE INDEX {TAG_INDEX} ON {TAG_TABLE} (tag, run_id)"
_BACKFILL = f"""
    INSERT OR IGNORE INTO {TAG_TABLE} (run_id, tag)
    SELECT flow_run.id, tags.value
    FROM flow_run, json_each(
        CASE WHEN json_valid(flow_run.tags) THEN flow_run.tags ELSE '[]' END
    ) AS tags
    WHERE tags.type = 'text'"""


def sync_sqlite_schema(connection: sa.Connection) -> None:
    """Create what is missing (filling a new tag table from the stored runs), or drop the
    tag table when ``flow_run`` is gone. Does nothing on other dialects, and nothing but
    one read of ``sqlite_master`` when everything is in place."""
    if connection.dialect.name != "sqlite":
        return
    existing = {
        name for (name,) in connection.exec_driver_sql("SELECT name FROM sqlite_master")
    }
    if "flow_run" not in existing:
        if TAG_TABLE in existing:
            connection.exec_driver_sql(f"DROP TABLE {TAG_TABLE}")
        return
    if TAG_TABLE not in existing:
        connection.exec_driver_sql(_TABLE)
        connection.exec_driver_sql(_BACKFILL)
    if TAG_INDEX not in existing:
        connection.exec_driver_sql(_INDEX)
    for name, ddl in _TRIGGERS.items():
        if name not in existing:
            connection.exec_driver_sql(ddl)
