"""Alembic's environment for vmsam. ``vmsam.server.store`` runs it with a connection already open in
a transaction (``config.attributes["connection"]``); there is no alembic.ini."""

from __future__ import annotations

from alembic import context

from vmsam.server.store._models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the migrations through vmsam.server.store (vmsam db upgrade)")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite changes a table by copying it: later migrations need batch mode
    render_as_batch=connection.dialect.name == "sqlite",
    # the store opened a transaction (BEGIN IMMEDIATE on SQLite): all or nothing
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
