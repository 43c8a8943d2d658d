"""Alembic's entry point: migrations run on the connection the grader hands over (store.Database.upgrade)."""

from alembic import context

from grader.serve.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the course's migrations run through grader course commands, which pass a connection")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
