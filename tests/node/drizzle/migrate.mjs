// The real drizzle-orm migrator, run the way an app runs it, for oncall's interop tests.
//
//   DATABASE_URL=postgres://... node migrate.mjs migrate <migrationsFolder>
//   DATABASE_URL=postgres://... node migrate.mjs ledger
//
// `migrate` calls drizzle-orm's node-postgres `migrate(db, { migrationsFolder })` (the logic
// `drizzle-kit migrate` runs) and prints one JSON line: the ledger rows it added ("applied", each
// named by its journal tag) and the whole ledger after the run. `ledger` only reads
// drizzle.__drizzle_migrations (nothing is created). The URL comes from the environment so it never
// shows in a process list or in this script's output.
import fs from "node:fs";
import path from "node:path";

import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";

const LEDGER = "drizzle.__drizzle_migrations";

async function ledgerRows(client) {
  const exists = await client.query("SELECT to_regclass($1) IS NOT NULL AS present", [LEDGER]);
  if (!exists.rows[0].present) {
    return [];
  }
  // created_at is bigint: read it as text so no value is rounded through a JS number.
  const result = await client.query(
    `SELECT id, hash, created_at::text AS created_at FROM ${LEDGER} ORDER BY id`,
  );
  return result.rows.map((row) => ({ id: row.id, hash: row.hash, created_at: Number(row.created_at) }));
}

function tagsByWhen(folder) {
  const journal = JSON.parse(fs.readFileSync(path.join(folder, "meta", "_journal.json"), "utf8"));
  return new Map(journal.entries.map((entry) => [entry.when, entry.tag]));
}

async function runMigrate(client, folder) {
  const before = new Set((await ledgerRows(client)).map((row) => row.id));
  await migrate(drizzle(client), { migrationsFolder: folder });
  const ledger = await ledgerRows(client);
  const tags = tagsByWhen(folder);
  const applied = ledger
    .filter((row) => !before.has(row.id))
    .map((row) => ({ ...row, tag: tags.get(row.created_at) ?? null }));
  return { applied, ledger };
}

async function main(argv) {
  const [mode, folder] = argv;
  const url = process.env.DATABASE_URL;
  if (!url || !["migrate", "ledger"].includes(mode) || (mode === "migrate" && !folder)) {
    process.stderr.write("usage: DATABASE_URL=... node migrate.mjs migrate <folder> | ledger\n");
    return 2;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const report = mode === "migrate" ? await runMigrate(client, path.resolve(folder)) : { ledger: await ledgerRows(client) };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  } finally {
    await client.end();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    // drizzle's message (its "Failed query: ..." or "Can't find meta/_journal.json") and the server's
    // error under it; never the connection string.
    const cause = error.cause?.message ? ` (${error.cause.message})` : "";
    process.stderr.write(`drizzle migrate failed: ${error.message}${cause}\n`);
    process.exitCode = 1;
  },
);
