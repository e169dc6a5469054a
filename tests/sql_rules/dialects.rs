//! The dialects: SQLite, PostgreSQL, MySQL, MS SQL, and unknown dialect names.

use super::*;

#[test]
fn sqlite_dialect() {
    let cases = [
        sql("sqlite limit -1", "SELECT * FROM t LIMIT -1", UNBOUNDED),
        sql(
            "sqlite limit -1 offset",
            "SELECT * FROM t LIMIT -1 OFFSET 5",
            UNBOUNDED,
        ),
        sql("sqlite limit 10", "SELECT * FROM t LIMIT 10", Allow),
        sql(
            "sqlite limit 10 offset",
            "SELECT * FROM t LIMIT 10 OFFSET 5",
            Allow,
        ),
        sql(
            "sqlite offset,count small",
            "SELECT * FROM t LIMIT 5000, 10",
            Allow,
        ),
        sql(
            "sqlite offset,count large",
            "SELECT * FROM t LIMIT 10, 5000",
            UNBOUNDED,
        ),
        sql("sqlite no limit", "SELECT * FROM t", UNBOUNDED),
        sql(
            "sqlite group_concat",
            "SELECT group_concat(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "sqlite json_group_array",
            "SELECT json_group_array(ssn) FROM users",
            UNBOUNDED,
        ),
        sql("sqlite count", "SELECT count(*) FROM t", Allow),
        sql("sqlite delete all", "DELETE FROM t", DESTROYS),
        sql("sqlite drop", "DROP TABLE t", DESTROYS),
    ];
    check("sqlite", &["--dialect", "sqlite"], 1000, &cases);
}

#[test]
fn postgres_dialect() {
    let cases = [
        sql(
            "pg fetch first",
            "SELECT * FROM t FETCH FIRST 10 ROWS ONLY",
            Allow,
        ),
        sql(
            "pg fetch first above max",
            "SELECT * FROM t FETCH FIRST 1001 ROWS ONLY",
            UNBOUNDED,
        ),
        sql("pg limit", "SELECT * FROM t LIMIT 10", Allow),
        sql("pg limit all", "SELECT * FROM t LIMIT ALL", UNBOUNDED),
        sql("pg limit $1", "SELECT * FROM t LIMIT $1", UNBOUNDED),
        sql("pg offset alone", "SELECT * FROM t OFFSET 10", UNBOUNDED),
        sql("pg no limit", "SELECT * FROM t", UNBOUNDED),
        sql(
            "pg string_agg",
            "SELECT string_agg(name, ',') FROM users",
            UNBOUNDED,
        ),
        sql(
            "pg json_agg",
            "SELECT json_agg(u) FROM users u LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "pg limit in cte",
            "WITH c AS (SELECT * FROM t LIMIT 5) SELECT * FROM c",
            UNBOUNDED,
        ),
        sql("pg truncate", "TRUNCATE users", DESTROYS),
        sql(
            "pg update where true",
            "UPDATE t SET a = 1 WHERE TRUE",
            DESTROYS,
        ),
    ];
    check("postgres", &["--dialect", "postgres"], 1000, &cases);
}

#[test]
fn mysql_dialect() {
    let cases = [
        sql("mysql limit", "SELECT * FROM t LIMIT 10", Allow),
        sql(
            "mysql offset,count small",
            "SELECT * FROM t LIMIT 5000, 10",
            Allow,
        ),
        sql(
            "mysql offset,count large",
            "SELECT * FROM t LIMIT 10, 5000",
            UNBOUNDED,
        ),
        sql(
            "mysql all-rows idiom",
            "SELECT * FROM t LIMIT 18446744073709551615 OFFSET 5",
            UNBOUNDED,
        ),
        sql("mysql no limit", "SELECT * FROM t", UNBOUNDED),
        sql(
            "mysql group_concat",
            "SELECT group_concat(ssn SEPARATOR ',') FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql("mysql delete all", "DELETE FROM t", DESTROYS),
    ];
    check("mysql", &["--dialect", "mysql"], 1000, &cases);
}

#[test]
fn mssql_dialect() {
    let cases = [
        sql("mssql top 10", "SELECT TOP 10 * FROM users", Allow),
        sql("mssql top (10)", "SELECT TOP (10) * FROM users", Allow),
        sql("mssql top at max", "SELECT TOP 1000 * FROM users", Allow),
        sql(
            "mssql top above max",
            "SELECT TOP 5000 * FROM users",
            UNBOUNDED,
        ),
        sql(
            "mssql top percent",
            "SELECT TOP 10 PERCENT * FROM users",
            UNBOUNDED,
        ),
        sql(
            "mssql top placeholder",
            "SELECT TOP (@n) * FROM users",
            UNBOUNDED,
        ),
        sql("mssql no top", "SELECT * FROM users", UNBOUNDED),
        sql(
            "mssql top in subquery only",
            "SELECT * FROM (SELECT TOP 5 * FROM users) s",
            UNBOUNDED,
        ),
        sql(
            "mssql offset fetch",
            "SELECT * FROM users ORDER BY id OFFSET 0 ROWS FETCH NEXT 10 ROWS ONLY",
            Allow,
        ),
        sql("mssql count", "SELECT count(*) FROM users", Allow),
        // T-SQL IF parses as SQL, so its statements are analysed.
        sql(
            "mssql if with unbounded select",
            "IF 1=1 SELECT * FROM users",
            UNBOUNDED,
        ),
        sql("mssql if with drop", "IF 1=1 DROP TABLE users", DESTROYS),
        sql(
            "mssql if block with drop",
            "IF 1=1 BEGIN DROP TABLE users END",
            DESTROYS,
        ),
        sql(
            "mssql while with unbounded select",
            "WHILE 1=1 SELECT * FROM users;",
            UNBOUNDED,
        ),
        sql(
            "mssql if with bounded select",
            "IF 1=1 SELECT TOP 10 * FROM users",
            Allow,
        ),
        sql("mssql delete all", "DELETE FROM users", DESTROYS),
    ];
    check("mssql", &["--dialect", "mssql"], 1000, &cases);
}

#[test]
fn unknown_dialect_is_a_usage_error() {
    let run = sentinel("bogus", &["--dialect", "bogus"], Vec::new());
    let code = run.status.code();
    let _ = std::fs::remove_dir_all(&run.dir);
    assert_eq!(code, Some(2), "exit status; stderr: {}", run.stderr);
    let stderr = run.stderr.trim_end();
    assert_eq!(
        stderr.lines().count(),
        1,
        "stderr must be one line: {stderr:?}"
    );
    assert!(
        stderr.contains("--dialect"),
        "stderr must name --dialect: {stderr:?}"
    );
    assert!(run.stdout.is_empty(), "stdout: {:?}", run.stdout);
}
