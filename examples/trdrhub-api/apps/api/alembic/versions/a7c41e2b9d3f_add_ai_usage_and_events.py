"""add ai_usage_records and ai_assist_events

Revision ID: a7c41e2b9d3f
Revises: 3f2a9c1d7b10
Create Date: 2025-11-16 10:12:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "a7c41e2b9d3f"
down_revision: str | Sequence[str] | None = "3f2a9c1d7b10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    op.create_table(
        "ai_usage_records",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("tenant_id", UUID, sa.ForeignKey("companies.id"), nullable=False),
        sa.Column("user_id", UUID, sa.ForeignKey("users.id")),
        sa.Column("validation_session_id", UUID, sa.ForeignKey("validation_sessions.id")),
        sa.Column("feature", sa.String(length=50), nullable=False),
        sa.Column("tokens_in", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tokens_out", sa.Integer(), server_default="0", nullable=False),
        sa.Column("estimated_cost_usd", sa.String(length=20)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_index("ix_ai_usage_records_tenant_id", "ai_usage_records", ["tenant_id"])
    op.create_index("ix_ai_usage_records_user_id", "ai_usage_records", ["user_id"])
    op.create_index(
        "ix_ai_usage_records_validation_session_id", "ai_usage_records", ["validation_session_id"]
    )

    op.create_table(
        "ai_assist_events",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("session_id", UUID, sa.ForeignKey("validation_sessions.id"), nullable=False),
        sa.Column("user_id", UUID, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("company_id", UUID, sa.ForeignKey("companies.id"), nullable=False),
        sa.Column("output_type", sa.String(length=50), nullable=False),
        sa.Column("confidence_level", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("model_version", sa.String(length=50), nullable=False),
        sa.Column("input_data", postgresql.JSONB(), nullable=False),
        sa.Column("ai_output", sa.Text(), nullable=False),
        sa.Column("fallback_used", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("tokens_in", sa.Integer()),
        sa.Column("tokens_out", sa.Integer()),
        sa.Column("estimated_cost_usd", sa.String(length=20)),
        sa.Column("lc_session_id", UUID, sa.ForeignKey("validation_sessions.id")),
        sa.Column("rule_references", postgresql.JSONB()),
        sa.Column("prompt_template_id", sa.String(length=100), nullable=False),
        sa.Column("processing_time_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_index("ix_ai_assist_events_session_id", "ai_assist_events", ["session_id"])
    op.create_index("ix_ai_assist_events_user_id", "ai_assist_events", ["user_id"])
    op.create_index("ix_ai_assist_events_company_id", "ai_assist_events", ["company_id"])


def downgrade() -> None:
    op.drop_table("ai_assist_events")
    op.drop_table("ai_usage_records")
