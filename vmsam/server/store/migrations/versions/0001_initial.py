"""The initial schema: sites, endpoints, memberships, results, series, dead letters,
downtimes.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vmsam.server.store._models import MAX_KEY_BYTES, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Key = sa.String(MAX_KEY_BYTES)


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _Key, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.UniqueConstraint("name", name=op.f("uq_sites_name")),
    )
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hostname", _Key, nullable=False),
        sa.Column("service_type", _Key, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoints")),
        sa.UniqueConstraint(
            "hostname", "service_type", name=op.f("uq_endpoints_hostname_service_type")
        ),
    )
    op.create_table(
        "memberships",
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("vo", _Key, nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name=op.f("fk_memberships_endpoint_id_endpoints")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_memberships_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("endpoint_id", "site_id", "vo", name=op.f("pk_memberships")),
    )
    op.create_table(
        "results",
        sa.Column("id", _BigId, nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("metric", _Key, nullable=False),
        sa.Column("vo", _Key, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.Column("gathered_at", _Key, nullable=False),
        sa.Column("vm_uuid", _Key, nullable=False),
        sa.Column("machinetype", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("perf_data", sa.Text(), nullable=True),
        sa.Column("probe_duration", sa.Text(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name=op.f("fk_results_endpoint_id_endpoints")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_results_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_results")),
        sa.UniqueConstraint(
            "endpoint_id",
            "metric",
            "timestamp",
            "gathered_at",
            "vm_uuid",
            name=op.f("uq_results_endpoint_id_metric_timestamp_gathered_at_vm_uuid"),
        ),
    )
    op.create_index(op.f("ix_results_timestamp"), "results", ["timestamp"])
    op.create_index(op.f("ix_results_site_id_timestamp"), "results", ["site_id", "timestamp"])
    op.create_index(
        op.f("ix_results_endpoint_id_timestamp"), "results", ["endpoint_id", "timestamp"]
    )
    op.create_table(
        "series",
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("metric", _Key, nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name=op.f("fk_series_endpoint_id_endpoints")
        ),
        sa.PrimaryKeyConstraint("endpoint_id", "metric", name=op.f("pk_series")),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", _BigId, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_table(
        "downtimes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("scheduled", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name=op.f("fk_downtimes_endpoint_id_endpoints")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_downtimes")),
    )
    op.create_index(op.f("ix_downtimes_endpoint_id_start"), "downtimes", ["endpoint_id", "start"])


def downgrade() -> None:
    op.drop_table("downtimes")
    op.drop_table("dead_letters")
    op.drop_table("series")
    op.drop_table("results")
    op.drop_table("memberships")
    op.drop_table("endpoints")
    op.drop_table("sites")
