//! Budgets and the audit log in SQLite (WAL, `synchronous=FULL`): an answer is committed — the key's
//! count raised and one audit row per record written, in one transaction — before it is sent, so a
//! restart, or a kill -9, neither resets a budget nor loses an answered query's record.
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::Mutex;

/// The budget table and audit log.
pub struct Store {
    conn: Mutex<Connection>,
}

/// One answered record, as logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub key: String,
    /// Seconds since the Unix epoch, with microseconds.
    pub time: String,
    /// HMAC-SHA256(secret, the record's canonical bytes), hex: identifies repeats without revealing the input.
    pub input_hash: String,
    pub answer: String,
}

/// A request that would take a key past its budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverBudget {
    pub used: u64,
    pub budget: u64,
}

fn db_error(e: rusqlite::Error) -> crate::Error {
    crate::Error::Option(format!("the budget database: {e}"))
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> crate::Result<Store> {
        let conn = Connection::open(path).map_err(|e| crate::Error::Option(format!("cannot open the budget database {}: {e}", path.display())))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db_error)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(db_error)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS budget (key TEXT PRIMARY KEY, used INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, key TEXT NOT NULL, time TEXT NOT NULL,
                                               input_hash TEXT NOT NULL, answer TEXT NOT NULL);",
        )
        .map_err(db_error)?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    /// Records answered so far for `key`.
    pub fn used(&self, key: &str) -> crate::Result<u64> {
        let conn = self.conn.lock().expect("no panics while holding the database");
        let used: Option<i64> = conn.query_row("SELECT used FROM budget WHERE key = ?1", params![key], |r| r.get(0)).optional().map_err(db_error)?;
        Ok(used.unwrap_or(0) as u64)
    }

    /// Charges `entries.len()` records to `key` and logs them, atomically and durably; refuses (and
    /// changes nothing) when that would exceed `budget`.
    pub fn charge(&self, key: &str, budget: Option<u64>, entries: &[AuditEntry]) -> crate::Result<Result<u64, OverBudget>> {
        Ok(self.charge_all(&[(key, budget, entries)])?.remove(0))
    }

    /// [`charge`](Self::charge) for several requests in one transaction (one disk sync for a whole
    /// batch of answers), in order: each is charged or refused on its own.
    pub fn charge_all(&self, requests: &[(&str, Option<u64>, &[AuditEntry])]) -> crate::Result<Vec<Result<u64, OverBudget>>> {
        let mut conn = self.conn.lock().expect("no panics while holding the database");
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
        let mut out = Vec::with_capacity(requests.len());
        for &(key, budget, entries) in requests {
            let used: i64 = tx.query_row("SELECT used FROM budget WHERE key = ?1", params![key], |r| r.get(0)).optional().map_err(db_error)?.unwrap_or(0);
            let after = used as u64 + entries.len() as u64;
            if let Some(b) = budget.filter(|&b| after > b) {
                out.push(Err(OverBudget { used: used as u64, budget: b }));
                continue;
            }
            tx.execute("INSERT INTO budget (key, used) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET used = ?2", params![key, after as i64]).map_err(db_error)?;
            let mut stmt = tx.prepare_cached("INSERT INTO audit (key, time, input_hash, answer) VALUES (?1, ?2, ?3, ?4)").map_err(db_error)?;
            for e in entries {
                stmt.execute(params![e.key, e.time, e.input_hash, e.answer]).map_err(db_error)?;
            }
            out.push(Ok(after));
        }
        tx.commit().map_err(db_error)?;
        Ok(out)
    }

    /// The audit log, oldest first.
    pub fn audit(&self) -> crate::Result<Vec<AuditEntry>> {
        let conn = self.conn.lock().expect("no panics while holding the database");
        let mut stmt = conn.prepare("SELECT key, time, input_hash, answer FROM audit ORDER BY id").map_err(db_error)?;
        let rows = stmt.query_map([], |r| Ok(AuditEntry { key: r.get(0)?, time: r.get(1)?, input_hash: r.get(2)?, answer: r.get(3)? })).map_err(db_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
    }
}

/// Now, as seconds since the Unix epoch with microseconds.
pub fn now() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(k: &str, a: &str) -> AuditEntry {
        AuditEntry { key: k.into(), time: now(), input_hash: "ab".into(), answer: a.into() }
    }

    #[test]
    fn budgets_hold_across_reopening_and_refusals_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.sqlite");
        {
            let s = Store::open(&p).unwrap();
            assert_eq!(s.charge("a", Some(3), &[entry("a", "0"), entry("a", "1")]).unwrap(), Ok(2));
            assert_eq!(s.charge("a", Some(3), &[entry("a", "0"), entry("a", "1")]).unwrap(), Err(OverBudget { used: 2, budget: 3 }));
            assert_eq!(s.charge("b", None, &[entry("b", "abstain")]).unwrap(), Ok(1));
        }
        let s = Store::open(&p).unwrap();
        assert_eq!((s.used("a").unwrap(), s.used("b").unwrap(), s.used("c").unwrap()), (2, 1, 0));
        let log = s.audit().unwrap();
        assert_eq!(log.iter().map(|e| e.answer.as_str()).collect::<Vec<_>>(), ["0", "1", "abstain"]);
    }
}
