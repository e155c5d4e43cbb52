"""Database triggers that make the audit tables append-only, on PostgreSQL and SQLite.

UPDATE is always refused; DELETE (and on PostgreSQL TRUNCATE) too, except for entries that have been written
to an archive (an ArchiveBatch row covers their id) and are older than the retention period, and then the
subject rows of entries so deleted. Installed by
migration 0002; the test suite lifts them only to empty the database between tests that commit.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

RETENTION_DAYS = 180
APPEND_ONLY_TABLES = (
    "audit_auditentry", "audit_auditsubject", "audit_auditleaf", "audit_merklenode", "audit_treehead",
    "audit_signingkeyrecord", "audit_archivebatch",
)
ARCHIVED = "(SELECT COALESCE(MAX(last_entry_id), 0) FROM audit_archivebatch)"
# A subject row may go only after its entry went (archived and past retention).
SUBJECT_OF_DELETED_ENTRY = (f"OLD.entry_id <= {ARCHIVED} AND "  # noqa: S608 (constants only)
                            "NOT EXISTS (SELECT 1 FROM audit_auditentry WHERE id = OLD.entry_id)")


def _sqlite_statements() -> list[str]:
    statements = []
    for table in APPEND_ONLY_TABLES:
        statements.append(
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'the audit table {table} is append-only: UPDATE refused'); END"
        )
        if table == "audit_auditentry":
            allowed = (f"OLD.id <= {ARCHIVED} AND "
                       f"OLD.occurred_at < strftime('%Y-%m-%d %H:%M:%f', 'now', '-{RETENTION_DAYS} days')")
        elif table == "audit_auditsubject":
            allowed = SUBJECT_OF_DELETED_ENTRY
        else:
            allowed = "0"
        statements.append(
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} WHEN NOT ({allowed}) "
            f"BEGIN SELECT RAISE(ABORT, 'the audit table {table} is append-only: DELETE refused'); END"
        )
    return statements


_POSTGRES_REFUSE = """CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$"""


def _postgres_guard(function: str, allowed: str) -> str:
    """A DELETE guard that lets through only the rows `allowed` says may go."""
    return f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF {allowed} THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'the audit table % is append-only: DELETE refused', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END $$"""


_POSTGRES_DELETE_GUARDS = {
    "audit_auditentry": ("audit_guard_entry_delete",
                         f"OLD.id <= {ARCHIVED} AND OLD.occurred_at < now() - interval '{RETENTION_DAYS} days'"),
    "audit_auditsubject": ("audit_guard_subject_delete", SUBJECT_OF_DELETED_ENTRY),
}


def _postgres_statements() -> list[str]:
    statements = [_POSTGRES_REFUSE]
    statements += [_postgres_guard(function, allowed) for function, allowed in _POSTGRES_DELETE_GUARDS.values()]
    for table in APPEND_ONLY_TABLES:
        delete_function = _POSTGRES_DELETE_GUARDS.get(table, ("audit_refuse_change", ""))[0]
        statements += [
            f"CREATE OR REPLACE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
            f"CREATE OR REPLACE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {delete_function}()",
            f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
        ]
    return statements


def install(connection: BaseDatabaseWrapper) -> None:
    statements = _postgres_statements() if connection.vendor == "postgresql" else _sqlite_statements()
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def remove(connection: BaseDatabaseWrapper) -> None:
    """Only for emptying a test database; production code never calls this."""
    with connection.cursor() as cursor:
        for table in APPEND_ONLY_TABLES:
            for kind in ("no_update", "no_delete", "no_truncate"):
                suffix = f" ON {table}" if connection.vendor == "postgresql" else ""
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_{kind}{suffix}")
