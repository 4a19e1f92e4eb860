"""The migrations are the schema: they must match the models exactly (alembic check)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import creditbank.models  # noqa: F401 - registers the tables
from creditbank.db import metadata


def test_models_and_migrations_agree(db_url):
    engine = create_engine(db_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    engine.dispose()
    assert diff == []


def test_openapi_documents_every_route(client):
    spec = client.get("/openapi.json").json()
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    for route in client.app.routes:
        for method in getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}:
            if route.path.startswith("/api/") or route.path == "/healthz":
                assert (route.path, method) in documented
                assert spec["paths"][route.path][method.lower()].get("summary"), route.path
