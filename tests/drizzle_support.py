"""A migration set written as `drizzle-kit generate` writes it, for the real-migrator tests.

Four migrations (an enum and a table, a table with a foreign key and an index, a column with a
unique constraint, a table and a second foreign key), each `<idx>_<adjective>_<hero>.sql` with
drizzle-kit's statement breakpoints, listed in `meta/_journal.json`, with a snapshot per migration.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# drizzle-kit joins a migration's statements with "--> statement-breakpoint\n" (so a one-line
# statement ends ";--> statement-breakpoint") and ends the file without a newline.
DRIZZLE_KIT_SET: list[tuple[str, int, list[str]]] = [
    (
        "0000_silent_wolverine",
        1748001234567,
        [
            "CREATE TYPE \"public\".\"widget_kind\" AS ENUM('gear', 'spring');",
            'CREATE TABLE "widgets" (\n'
            '\t"id" serial PRIMARY KEY NOT NULL,\n'
            '\t"name" text NOT NULL,\n'
            '\t"kind" "widget_kind" DEFAULT \'gear\' NOT NULL,\n'
            '\t"created_at" timestamp with time zone DEFAULT now() NOT NULL\n'
            ");\n",
        ],
    ),
    (
        "0001_curvy_storm",
        1748087634021,
        [
            'CREATE TABLE "orders" (\n'
            '\t"id" serial PRIMARY KEY NOT NULL,\n'
            '\t"widget_id" integer NOT NULL,\n'
            '\t"quantity" integer DEFAULT 1 NOT NULL\n'
            ");\n",
            'ALTER TABLE "orders" ADD CONSTRAINT "orders_widget_id_widgets_id_fk" FOREIGN KEY ("widget_id") '
            'REFERENCES "public"."widgets"("id") ON DELETE cascade ON UPDATE no action;',
            'CREATE INDEX "orders_widget_id_idx" ON "orders" USING btree ("widget_id");',
        ],
    ),
    (
        "0002_fancy_jubilee",
        1748260401888,
        [
            'ALTER TABLE "widgets" ADD COLUMN "sku" text;',
            'ALTER TABLE "widgets" ADD CONSTRAINT "widgets_sku_unique" UNIQUE("sku");',
        ],
    ),
    (
        "0003_tidy_nova",
        1748433199305,
        [
            'CREATE TABLE "customers" (\n'
            '\t"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,\n'
            '\t"email" text NOT NULL,\n'
            '\tCONSTRAINT "customers_email_unique" UNIQUE("email")\n'
            ");\n",
            'ALTER TABLE "orders" ADD COLUMN "customer_id" uuid;',
            'ALTER TABLE "orders" ADD CONSTRAINT "orders_customer_id_customers_id_fk" FOREIGN KEY '
            '("customer_id") REFERENCES "public"."customers"("id") ON DELETE set null ON UPDATE no action;',
        ],
    ),
]
DRIZZLE_KIT_TAGS = [tag for tag, _, _ in DRIZZLE_KIT_SET]
DRIZZLE_KIT_WHEN = [when for _, when, _ in DRIZZLE_KIT_SET]
DRIZZLE_KIT_RELATIONS = ["widgets", "orders", "orders_widget_id_idx", "widgets_sku_unique", "customers"]


def _snapshot(index: int) -> dict[str, Any]:
    """A schema snapshot's frame (drizzle-kit diffs these; the migrator never reads them)."""
    own = f"00000000-0000-4000-8000-{index:012d}"
    previous = (
        f"00000000-0000-4000-8000-{index - 1:012d}" if index else "00000000-0000-0000-0000-000000000000"
    )
    frame: dict[str, Any] = {"id": own, "prevId": previous, "version": "7", "dialect": "postgresql"}
    for section in ("tables", "enums", "schemas", "sequences", "roles", "policies", "views"):
        frame[section] = {}
    frame["_meta"] = {"columns": {}, "schemas": {}, "tables": {}}
    return frame


def write_drizzle_kit_set(root: Path, count: int = len(DRIZZLE_KIT_SET)) -> Path:
    """The first `count` migrations in drizzle-kit's layout: <tag>.sql, meta/_journal.json, snapshots.

    Calling it again with a larger count adds the later migrations, as `drizzle-kit generate` does.
    """
    folder = root / "drizzle"
    (folder / "meta").mkdir(parents=True, exist_ok=True)
    entries = []
    for index, (tag, when, statements) in enumerate(DRIZZLE_KIT_SET[:count]):
        (folder / f"{tag}.sql").write_text("--> statement-breakpoint\n".join(statements), encoding="utf-8")
        (folder / "meta" / f"{index:04d}_snapshot.json").write_text(
            json.dumps(_snapshot(index), indent=2), encoding="utf-8"
        )
        entries.append({"idx": index, "version": "7", "when": when, "tag": tag, "breakpoints": True})
    journal = {"version": "7", "dialect": "postgresql", "entries": entries}
    (folder / "meta" / "_journal.json").write_text(json.dumps(journal, indent=2), encoding="utf-8")
    return folder
