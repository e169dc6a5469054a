//! Where SQL is looked for, unbounded reads, `--max-rows`, and LIMIT BY.

use super::*;

/// Where SQL is looked for, and when a string counts as SQL at all.
#[test]
fn finds_sql_in_any_string_of_the_arguments() {
    let statement_keywords = [
        "SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "DROP", "TRUNCATE",
        "ALTER", "COPY", "ATTACH", "GRANT",
    ];
    let mut cases = vec![
        // Any key, any depth.
        args(
            "unrelated key",
            json!({"foo": "SELECT * FROM users"}),
            UNBOUNDED,
            "/foo",
        ),
        args(
            "nested objects",
            json!({"options": {"inner": {"sql": "SELECT * FROM users"}}, "x": "hello"}),
            UNBOUNDED,
            "/options/inner/sql",
        ),
        args(
            "array of objects",
            json!({"batch": [{"sql": "SELECT 1"}, {"sql": "SELECT * FROM users"}]}),
            UNBOUNDED,
            "/batch/1/sql",
        ),
        args(
            "array of strings",
            json!({"statements": ["SELECT 1", "INSERT INTO t VALUES (1)", "DROP TABLE users"]}),
            DESTROYS,
            "/statements/2",
        ),
        args(
            "nested arrays",
            json!({"a": [[1, true, null, ["TRUNCATE users"]]]}),
            DESTROYS,
            "/a/0/3/0",
        ),
        args(
            "pointer escapes slash",
            json!({"a/b": "DROP TABLE users"}),
            DESTROYS,
            "/a~1b",
        ),
        args(
            "pointer escapes tilde",
            json!({"m~n": "DROP TABLE users"}),
            DESTROYS,
            "/m~0n",
        ),
        args(
            "harmless strings around harmless sql",
            json!({"title": "report", "sql": "SELECT id FROM users LIMIT 10", "n": 3}),
            Allow,
            "",
        ),
        args(
            "every string of a batch harmless",
            json!({"batch": [{"sql": "SELECT 1"}, {"sql": "SELECT * FROM t LIMIT 2"}]}),
            Allow,
            "",
        ),
        // Natural language passes where no SQL runs: a search tool's query, a prose-named
        // argument of a SQL tool (judged only if it parses).
        tool_args(
            "prose under a search tool's query",
            "web_search",
            json!({"query": "best pizza in town"}),
            Allow,
            "",
        ),
        tool_args(
            "statement keywords under a search tool's query",
            "brave_web_search",
            json!({"query": "drop shipping suppliers in europe"}),
            Allow,
            "",
        ),
        tool_args(
            "a to-do titled like a statement",
            "add_todo",
            json!({"title": "Delete from drafts"}),
            Allow,
            "",
        ),
        tool_args(
            "show under a search tool",
            "web_search",
            json!({"query": "show me the best pizza near the station"}),
            Allow,
            "",
        ),
        // Under a tool that runs SQL, prose is unverifiable SQL, whatever its first word.
        sql("prose under query", "best pizza in town", UNPARSED),
        args(
            "prose with select under text",
            json!({"text": "select the best option for me"}),
            Allow,
            "",
        ),
        sql(
            "prose mentioning sql later",
            "how do I delete all rows from a table?",
            UNPARSED,
        ),
        sql(
            "prose show",
            "show me the best pizza near the station",
            BlockAny(&[UNPARSEABLE, UNRECOGNISED]),
        ),
        sql(
            "prose explain",
            "explain quantum physics like I am five",
            UNPARSED,
        ),
        sql("empty query", "", Allow),
        sql("whitespace query", "   \n\t ", Allow),
        sql("only a comment", "-- SELECT * FROM users", Allow),
        sql("only a block comment", "/* DROP TABLE users */", Allow),
        // Unparseable statements under SQL-named keys fail closed.
        sql(
            "prose with select under query",
            "select the best option for me",
            UNPARSED,
        ),
        args(
            "unparseable under sql",
            json!({"sql": "SELECT * FROM users WHERE"}),
            UNPARSED,
            "/sql",
        ),
        args(
            "unparseable under statement",
            json!({"statement": "SELECT * FROM users WHERE"}),
            UNPARSED,
            "/statement",
        ),
        args(
            "unparseable under stmt",
            json!({"stmt": "SELECT * FROM users WHERE"}),
            UNPARSED,
            "/stmt",
        ),
        args(
            "unparseable under SQL uppercase key",
            json!({"SQL": "SELECT * FROM users WHERE"}),
            UNPARSED,
            "/SQL",
        ),
        args(
            "unparseable under Query mixed-case key",
            json!({"Query": "DELETE FROM users WHERE"}),
            UNPARSED,
            "/Query",
        ),
        args(
            "unparseable under nested sql key",
            json!({"jobs": [{"stmt": "UPDATE SET SET"}]}),
            UNPARSED,
            "/jobs/0/stmt",
        ),
        sql(
            "unparseable after comments and parens",
            "  /* note */ -- line\n ((select )))",
            UNPARSED,
        ),
        sql(
            "unparseable lowercase",
            "select * from users where",
            UNPARSED,
        ),
        // ... but not under other keys.
        args(
            "unparseable under text",
            json!({"text": "SELECT * FROM users WHERE"}),
            Allow,
            "",
        ),
        args(
            "unparseable under sql_text key",
            json!({"sql_text": "DELETE FROM users WHERE"}),
            UNPARSED,
            "/sql_text",
        ),
        sql(
            "prose update under query",
            "update me on the news",
            UNPARSED,
        ),
        sql("prose insert under query", "Insert a coin", UNPARSED),
        // Natural language starting with a statement keyword passes under other keys.
        args(
            "prose sentences under text",
            json!({"text": [
                "update me on the news",
                "Replace the tire",
                "Copy that",
                "Grant access to Bob",
                "Alter the plan",
                "Merge these two docs",
                "Insert a coin",
                "Attach the file",
                "Truncate the text",
                "Drop it",
                "With love from Paris",
                "Select a restaurant near me",
            ]}),
            Allow,
            "",
        ),
        // A string that parses as SQL is analysed, whatever it starts with (SQLite and
        // PostgreSQL run `;SELECT ...` as the SELECT).
        sql(
            "leading semicolon select",
            ";SELECT * FROM users",
            UNBOUNDED,
        ),
        sql("leading semicolons drop", " ;; DROP TABLE users", DESTROYS),
        args(
            "leading semicolon under text",
            json!({"text": "/* x */ ;DELETE FROM users"}),
            DESTROYS,
            "/text",
        ),
        sql(
            "leading semicolon bounded",
            ";SELECT * FROM users LIMIT 5",
            Allow,
        ),
        sql(
            "case statement with unbounded select",
            "CASE WHEN 1=1 THEN SELECT * FROM users; END CASE",
            UNBOUNDED,
        ),
        sql(
            "if statement with drop",
            "IF 1=1 THEN DROP TABLE users; END IF",
            DESTROYS,
        ),
        sql(
            "case statement with drop",
            "CASE WHEN 1=1 THEN DROP TABLE users; END CASE",
            DESTROYS,
        ),
        // LIMIT in comments or literals does not count.
        sql(
            "limit in line comment",
            "SELECT * FROM t -- LIMIT 5",
            UNBOUNDED,
        ),
        sql(
            "limit in block comment",
            "SELECT * FROM t /* LIMIT 5 */",
            UNBOUNDED,
        ),
        sql(
            "limit in string literal",
            "SELECT * FROM t WHERE a = 'LIMIT 5'",
            UNBOUNDED,
        ),
        sql(
            "limit in quoted identifier",
            "SELECT \"LIMIT 5\" FROM t",
            UNBOUNDED,
        ),
        sql(
            "sql after leading comment",
            "-- fetch users\nSELECT * FROM users",
            UNBOUNDED,
        ),
        sql(
            "sql after leading parens",
            "((SELECT * FROM users))",
            UNBOUNDED,
        ),
    ];
    for kw in statement_keywords {
        cases.push(sql(
            &format!("unparseable {kw} under query"),
            &format!("{kw} ))) (((garbage"),
            UNPARSED,
        ));
        cases.push(args(
            &format!("unparseable {kw} under note"),
            json!({ "note": format!("{kw} ))) (((garbage") }),
            Allow,
            "",
        ));
    }
    check("detection", &[], 1000, &cases);
}

/// Rule 1 with the default settings (generic dialect, --max-rows 1000).
#[test]
fn unbounded_reads_are_blocked() {
    let cases = [
        sql("plain select", "SELECT * FROM users", UNBOUNDED),
        sql(
            "select with where",
            "SELECT * FROM users WHERE id > 5",
            UNBOUNDED,
        ),
        sql(
            "select distinct",
            "SELECT DISTINCT name FROM users",
            UNBOUNDED,
        ),
        sql(
            "order by only",
            "SELECT * FROM users ORDER BY id",
            UNBOUNDED,
        ),
        sql("limit 10", "SELECT * FROM users LIMIT 10", Allow),
        sql("limit lowercase", "select * from users limit 10", Allow),
        sql(
            "limit trailing semicolon",
            "SELECT * FROM users LIMIT 10;",
            Allow,
        ),
        sql("limit 0", "SELECT * FROM users LIMIT 0", Allow),
        sql("limit at max", "SELECT * FROM users LIMIT 1000", Allow),
        sql(
            "limit above max",
            "SELECT * FROM users LIMIT 1001",
            UNBOUNDED,
        ),
        sql(
            "limit huge",
            "SELECT * FROM users LIMIT 99999999999999999999999",
            UNBOUNDED,
        ),
        sql("limit all", "SELECT * FROM users LIMIT ALL", UNBOUNDED),
        sql("limit -1", "SELECT * FROM users LIMIT -1", UNBOUNDED),
        sql("limit ?", "SELECT * FROM users LIMIT ?", UNBOUNDED),
        sql("limit $1", "SELECT * FROM users LIMIT $1", UNBOUNDED),
        sql("limit :n", "SELECT * FROM users LIMIT :n", UNBOUNDED),
        sql("limit 10+1", "SELECT * FROM users LIMIT 10+1", UNBOUNDED),
        sql("limit 1.5", "SELECT * FROM users LIMIT 1.5", UNBOUNDED),
        sql(
            "limit subquery",
            "SELECT * FROM users LIMIT (SELECT 5)",
            UNBOUNDED,
        ),
        sql(
            "limit with offset",
            "SELECT * FROM users LIMIT 10 OFFSET 5000",
            Allow,
        ),
        sql("offset alone", "SELECT * FROM users OFFSET 10", UNBOUNDED),
        sql(
            "offset rows alone",
            "SELECT * FROM users OFFSET 10 ROWS",
            UNBOUNDED,
        ),
        sql(
            "limit offset,count small count",
            "SELECT * FROM users LIMIT 5000, 10",
            Allow,
        ),
        sql(
            "limit offset,count large count",
            "SELECT * FROM users LIMIT 10, 5000",
            UNBOUNDED,
        ),
        sql(
            "fetch first",
            "SELECT * FROM users FETCH FIRST 10 ROWS ONLY",
            Allow,
        ),
        sql(
            "fetch next",
            "SELECT * FROM users FETCH NEXT 10 ROWS ONLY",
            Allow,
        ),
        sql(
            "offset fetch",
            "SELECT * FROM users ORDER BY id OFFSET 5 ROWS FETCH NEXT 10 ROWS ONLY",
            Allow,
        ),
        sql(
            "fetch first above max",
            "SELECT * FROM users FETCH FIRST 5000 ROWS ONLY",
            UNBOUNDED,
        ),
        sql(
            "fetch first row only",
            "SELECT * FROM users FETCH FIRST ROW ONLY",
            Allow,
        ),
        sql(
            "fetch percent",
            "SELECT * FROM users FETCH FIRST 10 PERCENT ROWS ONLY",
            UNBOUNDED,
        ),
        sql(
            "fetch with ties",
            "SELECT * FROM users FETCH FIRST 10 ROWS WITH TIES",
            UNBOUNDED,
        ),
        sql(
            "fetch first placeholder",
            "SELECT * FROM users FETCH FIRST ? ROWS ONLY",
            UNBOUNDED,
        ),
        sql(
            "join with limit",
            "SELECT * FROM a JOIN b ON a.id = b.id ORDER BY a.id LIMIT 10",
            Allow,
        ),
        sql(
            "join without limit",
            "SELECT * FROM a JOIN b ON a.id = b.id",
            UNBOUNDED,
        ),
        // No FROM.
        sql("select 1", "SELECT 1", Allow),
        sql("select now()", "SELECT now()", Allow),
        sql("select expression", "SELECT 1 + 1 AS two, 'x' AS s", Allow),
        // Aggregate-only projections.
        sql("count star", "SELECT count(*) FROM users", Allow),
        sql(
            "count uppercase",
            "SELECT COUNT(*) FROM users WHERE age > 3",
            Allow,
        ),
        sql(
            "several aggregates",
            "SELECT count(*), min(age), max(age), sum(age), avg(age) FROM users",
            Allow,
        ),
        sql(
            "aggregate arithmetic",
            "SELECT count(*) + 1 FROM users",
            Allow,
        ),
        sql(
            "aggregate in function",
            "SELECT round(avg(age), 2) FROM users",
            Allow,
        ),
        sql("aggregate alias", "SELECT count(*) AS n FROM users", Allow),
        sql(
            "aggregate with group by",
            "SELECT count(*) FROM users GROUP BY city",
            UNBOUNDED,
        ),
        sql(
            "column and aggregate with group by",
            "SELECT city, count(*) FROM users GROUP BY city",
            UNBOUNDED,
        ),
        sql(
            "group by with limit",
            "SELECT city, count(*) FROM users GROUP BY city LIMIT 10",
            Allow,
        ),
        sql(
            "column and aggregate",
            "SELECT name, count(*) FROM users",
            UNBOUNDED,
        ),
        sql(
            "window beside aggregate",
            "SELECT max(x) OVER (), max(x) FROM users",
            UNBOUNDED,
        ),
        sql(
            "count distinct",
            "SELECT count(DISTINCT city) FROM users",
            Allow,
        ),
        sql(
            "count with having",
            "SELECT count(*) FROM users HAVING count(*) > 1",
            Allow,
        ),
        sql("constant from table", "SELECT 1 FROM users", UNBOUNDED),
        sql(
            "window count",
            "SELECT count(*) OVER () FROM users",
            UNBOUNDED,
        ),
        sql(
            "window sum",
            "SELECT sum(age) OVER (PARTITION BY city) FROM users",
            UNBOUNDED,
        ),
        sql(
            "window with limit",
            "SELECT count(*) OVER () FROM users LIMIT 10",
            Allow,
        ),
        // Row-concatenating aggregates.
        sql(
            "mysql json_arrayagg",
            "SELECT json_arrayagg(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "spark collect_list",
            "SELECT collect_list(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "ARRAY of a subquery without FROM",
            "SELECT ARRAY(SELECT ssn FROM users)",
            UNBOUNDED,
        ),
        sql(
            "group_concat with limit",
            "SELECT group_concat(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "group_concat",
            "SELECT group_concat(ssn) FROM users",
            UNBOUNDED,
        ),
        sql(
            "GROUP_CONCAT uppercase",
            "SELECT GROUP_CONCAT(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "string_agg",
            "SELECT string_agg(ssn, ',') FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "array_agg",
            "SELECT array_agg(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "json_agg",
            "SELECT json_agg(u) FROM users u LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "jsonb_agg",
            "SELECT jsonb_agg(u) FROM users u LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "json_group_array",
            "SELECT json_group_array(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "json_group_object",
            "SELECT json_group_object(id, ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "json_object_agg",
            "SELECT json_object_agg(id, ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "listagg",
            "SELECT listagg(ssn, ',') FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql("xmlagg", "SELECT xmlagg(ssn) FROM users LIMIT 1", UNBOUNDED),
        sql(
            "row concat beside a count",
            "SELECT count(*), group_concat(ssn) FROM users",
            UNBOUNDED,
        ),
        sql(
            "row concat per group with limit",
            "SELECT city, group_concat(ssn) FROM users GROUP BY city LIMIT 5",
            UNBOUNDED,
        ),
        sql(
            "row concat in scalar subquery",
            "SELECT (SELECT group_concat(ssn) FROM users)",
            UNBOUNDED,
        ),
        sql(
            "row concat in cte output",
            "WITH c AS (SELECT group_concat(ssn) AS s FROM users) SELECT s FROM c LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "row concat in derived table output",
            "SELECT s FROM (SELECT group_concat(ssn) AS s FROM users) x LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "row concat subquery beside columns",
            "SELECT *, (SELECT group_concat(ssn) FROM users) FROM t LIMIT 1",
            UNBOUNDED,
        ),
        sql(
            "row concat in scalar subquery with limit",
            "SELECT (SELECT group_concat(ssn) FROM users) AS x LIMIT 1",
            UNBOUNDED,
        ),
        // Set operations.
        sql(
            "union unbounded",
            "SELECT a FROM t UNION SELECT b FROM u",
            UNBOUNDED,
        ),
        sql(
            "union with outer limit",
            "SELECT a FROM t UNION SELECT b FROM u LIMIT 5",
            Allow,
        ),
        sql(
            "union all with outer limit",
            "SELECT a FROM t UNION ALL SELECT b FROM u LIMIT 5",
            Allow,
        ),
        sql(
            "union of bounded branches",
            "(SELECT a FROM t LIMIT 5) UNION (SELECT b FROM u LIMIT 5)",
            Allow,
        ),
        sql(
            "union all of bounded branches",
            "(SELECT a FROM t LIMIT 5) UNION ALL (SELECT b FROM u LIMIT 5)",
            Allow,
        ),
        sql(
            "union second branch unbounded",
            "(SELECT a FROM t LIMIT 5) UNION (SELECT b FROM u)",
            UNBOUNDED,
        ),
        sql(
            "union first branch unbounded",
            "(SELECT a FROM t) UNION (SELECT b FROM u LIMIT 5)",
            UNBOUNDED,
        ),
        sql(
            "union of three, last unbounded",
            "(SELECT a FROM t LIMIT 5) UNION (SELECT b FROM u LIMIT 5) UNION SELECT c FROM v",
            UNBOUNDED,
        ),
        sql(
            "union branch limit above max",
            "(SELECT a FROM t LIMIT 5) UNION (SELECT b FROM u LIMIT 5000)",
            UNBOUNDED,
        ),
        sql(
            "unparenthesised limit before union",
            "SELECT a FROM t LIMIT 5 UNION SELECT b FROM u",
            BlockAny(&[UNBOUNDED_READ, UNPARSEABLE]),
        ),
        sql(
            "intersect of bounded branches",
            "(SELECT a FROM t LIMIT 5) INTERSECT (SELECT b FROM u LIMIT 5)",
            Allow,
        ),
        sql(
            "intersect unbounded",
            "SELECT a FROM t INTERSECT SELECT b FROM u",
            UNBOUNDED,
        ),
        sql(
            "except with outer limit",
            "SELECT a FROM t EXCEPT SELECT b FROM u LIMIT 5",
            Allow,
        ),
        sql(
            "except unbounded",
            "SELECT a FROM t EXCEPT SELECT b FROM u",
            UNBOUNDED,
        ),
        sql("union without from", "SELECT 1 UNION SELECT 2", Allow),
        sql(
            "union of counts",
            "SELECT count(*) FROM t UNION ALL SELECT count(*) FROM u",
            Allow,
        ),
        // Limits inside subqueries and CTEs do not bound the outer query.
        sql(
            "limit in derived table",
            "SELECT * FROM (SELECT * FROM t LIMIT 5) s",
            UNBOUNDED,
        ),
        sql(
            "limit in cte",
            "WITH c AS (SELECT * FROM t LIMIT 5) SELECT * FROM c",
            UNBOUNDED,
        ),
        sql(
            "limit in IN subquery",
            "SELECT * FROM t WHERE id IN (SELECT id FROM u LIMIT 5)",
            UNBOUNDED,
        ),
        sql(
            "cte with outer limit",
            "WITH c AS (SELECT * FROM t) SELECT * FROM c LIMIT 5",
            Allow,
        ),
        sql(
            "derived table with outer limit",
            "SELECT * FROM (SELECT * FROM t) s LIMIT 5",
            Allow,
        ),
        sql(
            "count over cte",
            "WITH c AS (SELECT * FROM t) SELECT count(*) FROM c",
            Allow,
        ),
        sql(
            "parenthesised query with limit",
            "(SELECT * FROM t LIMIT 5)",
            Allow,
        ),
        sql(
            "limit after parenthesised query",
            "(SELECT * FROM t) LIMIT 5",
            Allow,
        ),
        // Every statement of a multi-statement string.
        sql(
            "second statement unbounded",
            "SELECT 1; SELECT * FROM users",
            UNBOUNDED,
        ),
        sql(
            "first statement unbounded",
            "SELECT * FROM users; SELECT 1",
            UNBOUNDED,
        ),
        sql(
            "insert then unbounded read",
            "INSERT INTO t VALUES (1); SELECT * FROM t",
            UNBOUNDED,
        ),
        sql(
            "bounded read then drop",
            "SELECT * FROM users LIMIT 5; DROP TABLE users",
            DESTROYS,
        ),
        sql(
            "two bounded statements",
            "SELECT 1; SELECT * FROM t LIMIT 3;",
            Allow,
        ),
        // Not reads.
        sql("insert select", "INSERT INTO t2 SELECT * FROM t", Allow),
        sql(
            "create table as select",
            "CREATE TABLE t2 AS SELECT * FROM t",
            Allow,
        ),
    ];
    check("reads", &[], 1000, &cases);
}

/// `--max-rows` moves the bound and the hint follows it.
#[test]
fn max_rows_option_sets_the_bound() {
    let cases = [
        sql("limit 10 under 50", "SELECT * FROM users LIMIT 10", Allow),
        sql("limit at 50", "SELECT * FROM users LIMIT 50", Allow),
        sql("limit 51", "SELECT * FROM users LIMIT 51", UNBOUNDED),
        sql("limit 1000", "SELECT * FROM users LIMIT 1000", UNBOUNDED),
        sql("no limit", "SELECT * FROM users", UNBOUNDED),
        sql(
            "fetch first 51",
            "SELECT * FROM users FETCH FIRST 51 ROWS ONLY",
            UNBOUNDED,
        ),
        sql(
            "fetch first 50",
            "SELECT * FROM users FETCH FIRST 50 ROWS ONLY",
            Allow,
        ),
        sql(
            "limit offset,count 51",
            "SELECT * FROM users LIMIT 1, 51",
            UNBOUNDED,
        ),
        sql(
            "limit offset,count 50",
            "SELECT * FROM users LIMIT 100, 50",
            Allow,
        ),
        sql(
            "row concat hint",
            "SELECT group_concat(ssn) FROM users LIMIT 1",
            UNBOUNDED,
        ),
        sql("count still fine", "SELECT count(*) FROM users", Allow),
    ];
    check("max-rows-50", &["--max-rows", "50"], 50, &cases);

    let cases = [
        sql("limit 0 under 0", "SELECT * FROM users LIMIT 0", Allow),
        sql("limit 1 over 0", "SELECT * FROM users LIMIT 1", UNBOUNDED),
        sql("select 1 under 0", "SELECT 1", Allow),
        sql("count under 0", "SELECT count(*) FROM users", Allow),
    ];
    check("max-rows-0", &["--max-rows", "0"], 0, &cases);
}

/// ClickHouse's `LIMIT n BY col` limits rows per group, so it bounds nothing.
#[test]
fn clickhouse_limit_by_bounds_nothing() {
    let cases = [
        sql("limit by", "SELECT * FROM t LIMIT 5 BY category", UNBOUNDED),
        sql(
            "limit by two columns",
            "SELECT * FROM t ORDER BY x LIMIT 1 BY a, b",
            UNBOUNDED,
        ),
        sql("plain limit", "SELECT * FROM t LIMIT 5", Allow),
    ];
    check(
        "clickhouse-limit-by",
        &["--dialect", "clickhouse"],
        1000,
        &cases,
    );
}
