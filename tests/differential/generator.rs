//! A small grammar-based generator of SQL statements for the differential harness, driven by a
//! fixed-seed xorshift PRNG: WHERE clauses (real predicates, constant-true forms, NULL logic),
//! projections (plain, scalar and concatenating aggregates, window functions, subqueries),
//! CTEs (recursive too), set operations, every LIMIT/OFFSET/FETCH form, comments in every style
//! (nested, `--` ended by CR, `#`) placed where they may hide or reveal text, quoting
//! (backslashes, `E'..'`, dollar quoting), RETURNING, upserts and multi-statement strings.

/// xorshift64*: deterministic, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// The dialect whose syntax the generator writes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

pub struct Gen {
    pub rng: Rng,
    pub dialect: Dialect,
    pub max_rows: usize,
}

const TABLES: [(&str, &[&str], &str); 3] = [
    ("users", &["id", "name", "email", "ssn", "age"], "ssn"),
    ("orders", &["id", "user_id", "item", "amount"], "item"),
    ("t", &["id", "a", "b", "x", "name"], "a"),
];

impl Gen {
    pub fn new(seed: u64, dialect: Dialect, max_rows: usize) -> Gen {
        Gen {
            rng: Rng::new(seed),
            dialect,
            max_rows,
        }
    }

    fn pg(&self) -> bool {
        self.dialect == Dialect::Postgres
    }

    /// One statement string.
    pub fn statement(&mut self) -> String {
        let s = match self.rng.below(10) {
            0..=3 => self.select(),
            4..=7 => self.write(),
            8 => format!("{}; {}", self.select(), self.write()),
            _ => format!("{}; {}", self.write(), self.select()),
        };
        self.decorate(s)
    }

    fn table(&mut self) -> (&'static str, &'static [&'static str], &'static str) {
        TABLES[self.rng.below(TABLES.len())]
    }

    fn literal(&mut self) -> String {
        let n = self.rng.below(8);
        match n {
            0 => "'a\\'".into(),
            1 if self.pg() => "E'a\\''".into(),
            2 if self.pg() => "$$x$$".into(),
            3 => "'x'".into(),
            4 => "NULL".into(),
            _ => (self.rng.below(self.max_rows + 3)).to_string(),
        }
    }

    /// A WHERE condition on a table with these columns.
    fn cond(&mut self, cols: &[&'static str]) -> String {
        let c = cols[self.rng.below(cols.len())];
        let k = 1 + self.rng.below(self.max_rows + 1);
        let base = match self.rng.below(30) {
            // Real predicates that pick out fewer rows than the table.
            0 => format!("id = {k}"),
            1 => format!("id < {}", 1 + self.rng.below(self.max_rows)),
            2 => format!("id IN ({k}, {})", k % (self.max_rows + 1) + 1),
            3 => format!("{c} IS NULL"),
            4 => "id = 3 AND 1 = 1".into(),
            // Real predicates that match every marked row, but not the fixture's outliers.
            24 => "id > 0".into(),
            25 => format!("id BETWEEN 1 AND {}", 10 * self.max_rows + 10),
            26 => format!("id IN (SELECT user_id FROM orders) AND {c} IS NOT NULL"),
            27 => format!("{c} IS NOT NULL AND id > 0"),
            // Constant-true forms (22 only on its own table: another's ids differ).
            5 => format!("1 IN (1, {c})"),
            6 => "\"id\" = id".into(),
            7 => "2/2".into(),
            8 => "EXISTS (SELECT 1)".into(),
            9 => format!("id = id OR id = {k}"),
            10 => format!("{c} = {c}"),
            11 => "NULL IS NULL".into(),
            12 => "id IS NOT NULL".into(),
            13 => format!("NOT ({c} IS NULL AND {c} IS NOT NULL)"),
            14 => format!("coalesce(NULL, 1) = 1 OR id = {k}"),
            15 => format!("id = {k} OR 1 = 1"),
            16 => format!("(id = {k}) IS NOT NULL"),
            17 => "1".into(),
            18 => "id BETWEEN id AND id".into(),
            19 => format!("{c} IS NULL OR {c} IS NOT NULL"),
            20 => "'1' = 1".into(),
            21 => format!("id = {k} OR NULL IS NULL"),
            22 => format!("id IN (SELECT id FROM {})", self.table().0),
            23 => format!("CASE WHEN id = {k} THEN 1 ELSE 1 END = 1"),
            // True for every non-NULL value of the column it names.
            28 => format!("{c} IS NOT NULL"),
            29 => format!("{c} = {c} AND id + 0 = id"),
            _ => unreachable!("below(30)"),
        };
        if self.rng.chance(15) {
            format!("{base} AND ({})", self.cond(cols))
        } else if self.rng.chance(10) {
            format!("NOT NOT ({base})")
        } else {
            base
        }
    }

    fn projection(&mut self, cols: &[&'static str], secret: &str) -> String {
        let c = cols[self.rng.below(cols.len())];
        let pg = self.pg();
        match self.rng.below(20) {
            0 | 1 => "*".into(),
            2 => cols.join(", "),
            3 => "count(*)".into(),
            4 => format!("max({secret})"),
            5 => format!("count(*), min({c})"),
            6 if pg => format!("string_agg({secret}, ',')"),
            6 => format!("group_concat({secret})"),
            7 if pg => format!("array_agg({secret})"),
            7 => format!("json_group_array({secret})"),
            8 => format!("count(*) OVER (), {secret}"),
            9 => format!("row_number() OVER (ORDER BY id), {secret}"),
            10 => format!("(SELECT max({secret}) FROM users), {c}"),
            11 => "CASE WHEN count(*) > 0 THEN 'y' ELSE 'n' END".into(),
            12 if pg => format!("max({secret} || (SELECT string_agg(ssn, '') FROM users))"),
            12 => format!("max({secret} || (SELECT group_concat(ssn) FROM users))"),
            13 if pg => format!("encode(string_agg({secret}, ',')::bytea, 'hex')"),
            13 => format!("hex(group_concat({secret}))"),
            14 => format!("upper({secret})"),
            15 => format!("count(DISTINCT {c})"),
            16 => format!("{c}, {secret}"),
            17 => "1".into(),
            18 if pg => format!("to_json(array_agg({secret}))"),
            18 => format!("json_group_object(id, {secret})"),
            _ => format!("sum(id), {secret}"),
        }
    }

    fn limit(&mut self) -> String {
        let n = self.max_rows;
        let pick = [1, n, n + 1, 2 * n + 5];
        let k = pick[self.rng.below(pick.len())];
        match self.rng.below(14) {
            0..=2 => String::new(),
            3..=5 => format!(" LIMIT {k}"),
            6 => format!(" LIMIT {k} OFFSET {}", self.rng.below(3)),
            7 if self.pg() => format!(" OFFSET 0 ROWS FETCH FIRST {k} ROWS ONLY"),
            7 => format!(" LIMIT {}, {k}", self.rng.below(3)),
            8 if self.pg() => " LIMIT ALL".into(),
            8 => " LIMIT -1".into(),
            9 => format!(" LIMIT (SELECT {k})"),
            10 if self.pg() => format!(" FETCH FIRST {k} ROWS WITH TIES"),
            10 => format!(" LIMIT {k}, {}", 2 * n + 5),
            11 => format!(" LIMIT {k} /* LIMIT 1 */"),
            12 => format!(" LIMIT '{k}'"),
            _ => format!(" LIMIT {k} -- x"),
        }
    }

    fn select(&mut self) -> String {
        let (name, cols, secret) = self.table();
        let proj = self.projection(cols, secret);
        let mut s = match self.rng.below(12) {
            0 => {
                let inner = self.limit();
                format!("WITH c AS (SELECT * FROM {name}{inner}) SELECT {proj} FROM c")
            }
            1 => format!(
                "WITH RECURSIVE r(i, acc) AS (SELECT 0, '' UNION ALL SELECT r.i + 1, r.acc || \
                 (SELECT {secret} FROM {name} WHERE id = r.i + 1) FROM r WHERE r.i < {}) \
                 SELECT acc FROM r ORDER BY i DESC",
                self.max_rows + 2
            ),
            2 => format!(
                "SELECT {proj} FROM (SELECT * FROM {name}{}) s",
                self.limit()
            ),
            3 => format!(
                "SELECT {secret} FROM {name}{} UNION ALL SELECT {secret} FROM {name}",
                self.limit()
            ),
            4 => format!("SELECT (SELECT {secret} FROM {name} LIMIT 1)"),
            5 if self.pg() => format!("TABLE {name}"),
            _ => format!("SELECT {proj} FROM {name}"),
        };
        if self.rng.chance(50) {
            s.push_str(&format!(" WHERE {}", self.cond(cols)));
        }
        if self.rng.chance(10) {
            s.push_str(" GROUP BY id");
        }
        let lim = self.limit();
        s.push_str(&lim);
        s
    }

    fn write(&mut self) -> String {
        let (name, cols, secret) = self.table();
        let where_ = if self.rng.chance(85) {
            format!(" WHERE {}", self.cond(cols))
        } else {
            String::new()
        };
        let returning = if self.rng.chance(25) {
            format!(" RETURNING {}", self.rng.pick(&["*", secret, "id"]))
        } else {
            String::new()
        };
        let v = self.literal();
        let big = 1000 + self.rng.below(1000);
        match self.rng.below(9) {
            0..=2 => format!("DELETE FROM {name}{where_}{returning}"),
            3..=5 => format!("UPDATE {name} SET {secret} = {v}{where_}{returning}"),
            6 => format!("INSERT INTO {name} (id, {secret}) VALUES ({big}, {v}){returning}"),
            7 => format!(
                "INSERT INTO {name} SELECT * FROM {name}{} ON CONFLICT (id) DO UPDATE SET {secret} = {v}{returning}",
                if self.pg() { "" } else { " WHERE true" }
            ),
            _ if self.pg() => format!(
                "MERGE INTO {name} d USING {name} s ON d.id = s.id WHEN MATCHED THEN {}",
                self.rng.pick(&["DELETE", "UPDATE SET id = d.id", "DO NOTHING"])
            ),
            _ => format!(
                "INSERT OR REPLACE INTO {name} (id, {secret}) SELECT id, {v} FROM {name}{where_}"
            ),
        }
    }

    /// Wraps or prefixes the statement with comments and separators that databases and
    /// parsers may read differently.
    fn decorate(&mut self, s: String) -> String {
        let hidden = self
            .rng
            .pick(&["DELETE FROM users", "DROP TABLE orders", "SELECT * FROM t"]);
        match self.rng.below(16) {
            0 => format!("/* a /* b */ c */ {s}"),
            1 => format!("/* /* */ {hidden} */ {s}"),
            2 => format!("-- c\r{s}"),
            3 => format!("{s} -- c\r; {hidden}"),
            4 => format!("{s} /* /* */ ; {hidden} -- */"),
            5 => format!("; {s}"),
            6 => format!("{s};"),
            7 => format!("{s} -- LIMIT 1"),
            8 => format!("#c\n{s}"),
            9 => format!("{s}\n--\r; {hidden}"),
            10 if self.pg() => format!("SELECT $a$ ; $a$; {s}"),
            10 => format!("SELECT 'a\\'; {s}"),
            11 => format!("{s} /* unclosed"),
            _ => s,
        }
    }
}
