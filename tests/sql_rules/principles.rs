//! The guard's principles, case by case: SQL read as each database reads it (nested comments,
//! carriage returns, backslashes, dollar quoting), only what is proven harmless allowed
//! (`sql.unrecognised` for the rest), destruction whatever the keyword, real WHEREs only,
//! whole-table reads however they are spelt, and prose left alone where no SQL runs.

use super::*;

const UNRECOGNISED_: Expect = Block(UNRECOGNISED);

#[test]
fn text_is_read_as_every_database_reads_it() {
    let cases = vec![
        sql(
            "nested block comment hides a drop from non-nesting readers",
            "/* a /* b */ c */ DROP TABLE users",
            DESTROYS,
        ),
        sql(
            "carriage return ends a comment for postgres",
            "-- note\rDROP TABLE users",
            DESTROYS,
        ),
        sql(
            "a limit inside a postgres comment ended by CR",
            "SELECT * FROM users --\r LIMIT 5",
            UNBOUNDED,
        ),
        // `--x` is two minus signs for MySQL, which then refuses the statement: unverifiable.
        sql(
            "a limit that is a comment for mysql only",
            "SELECT * FROM users --x\n LIMIT 5",
            UNPARSED,
        ),
        sql(
            "mysql reads a backslash-escaped quote",
            r"SELECT * FROM users WHERE name = 'x\' LIMIT 5 -- '",
            BlockAny(&[UNBOUNDED_READ, UNPARSEABLE]),
        ),
        sql(
            "mysql hash comment hides the limit",
            "SELECT * FROM users # \n",
            UNBOUNDED,
        ),
        sql(
            "executable comment runs for mysql",
            "SELECT 1 /*! UNION SELECT ssn FROM users */",
            UNBOUNDED,
        ),
        // A string for PostgreSQL, two parameters around a DROP for SQLite.
        sql(
            "dollar quotes hold a semicolon",
            "SELECT $q$;DROP TABLE users;$q$ AS note",
            DESTROYS,
        ),
        sql(
            "leading semicolons hide nothing",
            "; ; VACUUM INTO '/tmp/copy.db'",
            EXPORTS,
        ),
        sql(
            "an unparseable tail exempts nothing before it",
            "SHOW x; COMMIT; DROP TABLE users; FROBNICATE EVERYTHING NOW",
            DESTROYS,
        ),
        sql(
            "an unparseable tail alone is unverifiable",
            "SELECT 1; FROBNICATE EVERYTHING NOW",
            UNPARSED,
        ),
        sql(
            "an unclosed string",
            "SELECT * FROM users WHERE a = 'x LIMIT 5",
            UNPARSED,
        ),
        sql(
            "crlf line ends are fine",
            "-- list them\r\nSELECT id FROM users LIMIT 5",
            Allow,
        ),
    ];
    check("principles-lexing", &[], 1000, &cases);
}

#[test]
fn the_target_database_decides_the_reading() {
    // Known to be SQLite: `--` ends only at LF, so the DROP is inside the comment.
    check(
        "principles-sqlite",
        &["--dialect", "sqlite"],
        1000,
        &[
            sql("cr is not a line end", "-- note\rDROP TABLE users", Allow),
            sql(
                "a double-quoted name that is no column is a string",
                "DELETE FROM users WHERE \"yes\" = 'yes'",
                DESTROYS,
            ),
            sql(
                "a double-quoted column compared with itself",
                "DELETE FROM users WHERE \"id\" = id",
                DESTROYS,
            ),
            sql(
                "nested comments do not nest",
                "/* a /* b */ SELECT 1 */ LIMIT 1",
                UNPARSED,
            ),
        ],
    );
    check(
        "principles-postgres",
        &["--dialect", "postgres"],
        1000,
        &[sql(
            "cr is a line end",
            "-- note\rDROP TABLE users",
            DESTROYS,
        )],
    );
}

#[test]
fn destruction_whatever_the_keyword() {
    let cases = vec![
        sql(
            "merge delete",
            "MERGE INTO users u USING banned b ON u.id = b.id WHEN MATCHED THEN DELETE",
            DESTROYS,
        ),
        sql(
            "upsert from a whole table",
            "INSERT INTO users SELECT * FROM staging ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            DESTROYS,
        ),
        sql(
            "insert or replace from a select",
            "INSERT OR REPLACE INTO users SELECT * FROM staging",
            DESTROYS,
        ),
        sql(
            "upsert of values is targeted",
            "INSERT INTO users (id, name) VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET name = 'a'",
            Allow,
        ),
        sql(
            "create or replace table",
            "CREATE OR REPLACE TABLE users (id INT)",
            DESTROYS,
        ),
        sql(
            "alter table drop column",
            "ALTER TABLE users DROP COLUMN ssn",
            DESTROYS,
        ),
        sql(
            "alter table add column",
            "ALTER TABLE users ADD COLUMN nickname TEXT",
            Allow,
        ),
        sql(
            "explain analyze delete",
            "EXPLAIN ANALYZE DELETE FROM users",
            DESTROYS,
        ),
        sql(
            "explain (analyze) delete",
            "EXPLAIN (ANALYZE) DELETE FROM users",
            DESTROYS,
        ),
        sql(
            "explain analyse delete",
            "EXPLAIN ANALYSE DELETE FROM users",
            BlockAny(&[DESTRUCTIVE, UNPARSEABLE]),
        ),
        sql("explain delete only plans", "EXPLAIN DELETE FROM users", Allow),
        sql(
            "explain analyze of a read",
            "EXPLAIN ANALYZE SELECT * FROM users",
            Allow,
        ),
        sql(
            "a do block",
            "DO $$ BEGIN DELETE FROM users; END $$",
            BlockAny(&[UNRECOGNISED, UNPARSEABLE]),
        ),
        sql(
            "a function body",
            "CREATE FUNCTION f() RETURNS void AS $$ DELETE FROM users $$ LANGUAGE sql",
            BlockAny(&[UNRECOGNISED, UNPARSEABLE]),
        ),
        sql(
            "exec of a string",
            "EXEC('DROP TABLE users')",
            BlockAny(&[UNRECOGNISED, UNPARSEABLE]),
        ),
        sql(
            "prepare from a string",
            "PREPARE s FROM 'DROP TABLE users'",
            BlockAny(&[UNRECOGNISED, UNPARSEABLE]),
        ),
        sql("set a session setting", "SET session_replication_role = replica", UNRECOGNISED_),
        sql("grant", "GRANT ALL ON users TO public", UNRECOGNISED_),
        sql("a writable-schema pragma", "PRAGMA writable_schema = 1", UNRECOGNISED_),
        sql("a read-only pragma", "PRAGMA table_info('users')", Allow),
        sql(
            "a reaching-out function",
            "SELECT pg_read_file('/etc/passwd')",
            EXPORTS,
        ),
        sql("transactions", "BEGIN; INSERT INTO t VALUES (1); COMMIT", Allow),
        sql("create index", "CREATE INDEX i ON users (email)", Allow),
    ];
    check("principles-destruction", &[], 1000, &cases);
}

#[test]
fn a_where_must_filter_rows() {
    let cases = vec![
        sql("2/2", "DELETE FROM users WHERE 2/2", DESTROYS),
        sql(
            "1 in (1, id)",
            "DELETE FROM users WHERE 1 IN (1, id)",
            DESTROYS,
        ),
        sql(
            "quoted self",
            "DELETE FROM users WHERE \"id\" = id",
            DESTROYS,
        ),
        sql(
            "exists of a constant",
            "DELETE FROM users WHERE EXISTS (SELECT 1)",
            DESTROYS,
        ),
        sql(
            "x or not x",
            "UPDATE users SET a = 1 WHERE active OR NOT active",
            DESTROYS,
        ),
        sql(
            "null test pair",
            "DELETE FROM users WHERE email IS NULL OR email IS NOT NULL",
            DESTROYS,
        ),
        sql(
            "random names no column",
            "DELETE FROM users WHERE random() < 0.5",
            DESTROYS,
        ),
        sql(
            "a subquery naming no column of the table",
            "DELETE FROM users WHERE (SELECT count(*) FROM orders) > 0",
            DESTROYS,
        ),
        sql(
            "empty-pattern like",
            "DELETE FROM users WHERE name LIKE '%'",
            DESTROYS,
        ),
        sql("plus zero", "DELETE FROM users WHERE id + 0 = id", DESTROYS),
        sql(
            "coalesce",
            "DELETE FROM users WHERE coalesce(1, id) = 1",
            DESTROYS,
        ),
        sql(
            "a comparison is never null",
            "DELETE FROM users WHERE (id = 2) IS NOT NULL",
            DESTROYS,
        ),
        sql(
            "any of an array holding the constant",
            "DELETE FROM users WHERE 1 = ANY(ARRAY[1, id])",
            BlockAny(&[DESTRUCTIVE, UNPARSEABLE]),
        ),
        sql(
            "every row's own id",
            "DELETE FROM users WHERE id IN (SELECT id FROM users)",
            DESTROYS,
        ),
        sql(
            "a case whose branches agree",
            "DELETE FROM users WHERE CASE WHEN id = 3 THEN 1 ELSE 1 END = 1",
            DESTROYS,
        ),
        sql(
            "a case that depends on the row",
            "DELETE FROM users WHERE CASE WHEN id = 3 THEN 1 ELSE 0 END = 1",
            Allow,
        ),
        sql(
            "a merge whose ON matches every row",
            "MERGE INTO users u USING (SELECT 1 AS k) s ON true WHEN MATCHED THEN UPDATE SET name = 'x'",
            DESTROYS,
        ),
        sql("a real filter", "DELETE FROM users WHERE id = 7", Allow),
        sql("all but one", "DELETE FROM users WHERE id <> 5", Allow),
        sql("below a bound", "DELETE FROM users WHERE id > -100", Allow),
        sql("the nulls", "DELETE FROM users WHERE email IS NULL", Allow),
        sql(
            "a correlated filter",
            "DELETE FROM users WHERE EXISTS (SELECT 1 FROM banned b WHERE b.id = users.id)",
            Allow,
        ),
        sql(
            "an aliased target",
            "DELETE FROM users AS u WHERE u.id = 3",
            Allow,
        ),
        sql(
            "a column in a list",
            "DELETE FROM users WHERE id IN (1, 2)",
            Allow,
        ),
    ];
    check("principles-where", &[], 1000, &cases);
}

#[test]
fn whole_table_reads_however_spelt() {
    let cases = vec![
        sql(
            "returning on a delete",
            "DELETE FROM users WHERE id > 0 RETURNING *",
            UNBOUNDED,
        ),
        sql(
            "returning on an update",
            "UPDATE users SET a = 1 WHERE id > 0 RETURNING ssn",
            UNBOUNDED,
        ),
        sql(
            "returning on an insert of values",
            "INSERT INTO users (id) VALUES (1) RETURNING id",
            Allow,
        ),
        sql(
            "a recursive cte accumulating",
            "WITH RECURSIVE r(i, acc) AS (SELECT 0, '' UNION ALL SELECT i + 1, acc || (SELECT ssn FROM users LIMIT 1 OFFSET i) FROM r WHERE i < 1000) SELECT acc FROM r ORDER BY i DESC LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "a self-referencing cte without RECURSIVE",
            "WITH r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT i FROM r LIMIT 5",
            UNBOUNDED,
        ),
        sql(
            "a set-returning function without FROM",
            "SELECT generate_series(1, 100000000)",
            UNBOUNDED,
        ),
        sql(
            "an unknown aggregate",
            "SELECT my_concat(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "a union of bounded parts over the maximum",
            "(SELECT * FROM users LIMIT 600) UNION ALL (SELECT * FROM users LIMIT 600)",
            UNBOUNDED,
        ),
        sql(
            "a union of bounded parts within the maximum",
            "(SELECT * FROM users LIMIT 5) UNION ALL (SELECT * FROM users LIMIT 5)",
            Allow,
        ),
        sql(
            "a known scalar function",
            "SELECT lower(email) FROM users LIMIT 10",
            Allow,
        ),
        sql(
            "catalog introspection, sqlite",
            "SELECT name FROM sqlite_master WHERE type = 'table'",
            Allow,
        ),
        sql(
            "catalog introspection, information_schema",
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
            Allow,
        ),
        sql(
            "a credential catalog is data",
            "SELECT rolname, rolpassword FROM pg_authid LIMIT 5",
            EXPORTS,
        ),
        sql(
            "a catalog joined with a table is data",
            "SELECT c.relname, u.ssn FROM pg_class c JOIN users u ON u.id = c.oid",
            UNBOUNDED,
        ),
        sql(
            "a bare name like a catalog view is a table",
            "SELECT * FROM tables",
            UNBOUNDED,
        ),
        sql(
            "one-row aggregate with a constant",
            "SELECT COUNT(*) AS n, 1 AS one FROM users",
            Allow,
        ),
        sql(
            "case over an aggregate",
            "SELECT CASE WHEN count(*) > 0 THEN 'yes' ELSE 'no' END FROM orders",
            Allow,
        ),
        sql(
            "an ordered-set aggregate",
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) FROM orders",
            Allow,
        ),
    ];
    check("principles-reads", &[], 1000, &cases);
}
