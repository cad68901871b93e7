//! Statements prepared by hand on a `rusqlite` connection, so that text and blob parameters
//! are bound without a copy (`SQLITE_STATIC`): `rusqlite` binds every text and blob as
//! `SQLITE_TRANSIENT`, which has SQLite allocate, copy and later free each one. An append binds
//! four of them per event (the run and workspace ids, the kind, the payload) and four per job;
//! those copies were about a tenth of an SQLite append's instructions.
//!
//! The bound data is borrowed for the execution only: [`RawStatement::execute`] binds, steps,
//! resets and clears the bindings before it returns (also when binding or stepping fails, and
//! when the binding closure panics), so SQLite never holds a pointer past the borrow.

// The module is the FFI: every `unsafe` block below is a call into SQLite on a statement this
// module prepared and owns.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_int};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use rusqlite::ffi;

/// A prepared statement, finalized when dropped; it must be dropped before its connection
/// closes (a connection with statements left open does not close).
pub(crate) struct RawStatement {
    stmt: NonNull<ffi::sqlite3_stmt>,
    db: NonNull<ffi::sqlite3>,
}

// SAFETY: a statement is used only together with its connection (`&mut` to the holder of
// both), never from two threads at once; SQLite's connections are opened serialized or
// multi-thread, where a statement may move between threads.
unsafe impl Send for RawStatement {}

impl RawStatement {
    /// Prepares `sql` (one statement) on `conn`, to be kept (`SQLITE_PREPARE_PERSISTENT`).
    pub(crate) fn prepare(conn: &rusqlite::Connection, sql: &str) -> rusqlite::Result<Self> {
        // SAFETY: the handle of an open connection; used only for calls that take it.
        let db = unsafe { conn.handle() };
        let db = NonNull::new(db).ok_or_else(|| failure(ffi::SQLITE_MISUSE, None))?;
        let len = c_int::try_from(sql.len()).map_err(|_| failure(ffi::SQLITE_TOOBIG, None))?;
        let mut stmt = ptr::null_mut();
        // SAFETY: `sql` is valid for `len` bytes; SQLite writes the new statement to `stmt`.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db.as_ptr(),
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT as _,
                &mut stmt,
                ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(error(db, rc));
        }
        let stmt = NonNull::new(stmt)
            .ok_or_else(|| failure(ffi::SQLITE_MISUSE, Some("an empty statement".into())))?;
        Ok(Self { stmt, db })
    }

    /// Binds the parameters with `bind`, runs the statement (which answers no rows) and
    /// clears the bindings.
    pub(crate) fn execute<'d>(
        &mut self,
        bind: impl FnOnce(&mut Binds<'d>),
    ) -> rusqlite::Result<()> {
        let mut binds = Binds {
            stmt: self.stmt,
            failed: ffi::SQLITE_OK,
            data: PhantomData,
        };
        bind(&mut binds);
        if binds.failed != ffi::SQLITE_OK {
            return Err(error(self.db, binds.failed));
        }
        // SAFETY: a prepared statement; the bindings' data outlives this call ('d).
        let rc = unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) };
        match rc {
            ffi::SQLITE_DONE => Ok(()),
            ffi::SQLITE_ROW => Err(rusqlite::Error::ExecuteReturnedResults),
            _ => Err(error(self.db, rc)),
        }
        // `binds` is dropped here (before the borrow 'd ends): reset, bindings cleared.
    }
}

impl Drop for RawStatement {
    fn drop(&mut self) {
        // SAFETY: the statement is not used after this.
        unsafe { ffi::sqlite3_finalize(self.stmt.as_ptr()) };
    }
}

/// The parameters of one execution, bound from data that lives at least as long as `'d`.
/// Dropping it resets the statement and clears its bindings.
pub(crate) struct Binds<'d> {
    /// The statement of the [`RawStatement::execute`] that made it (and holds it).
    stmt: NonNull<ffi::sqlite3_stmt>,
    /// The first failed binding's code.
    failed: c_int,
    data: PhantomData<&'d [u8]>,
}

impl<'d> Binds<'d> {
    fn record(&mut self, rc: c_int) {
        if self.failed == ffi::SQLITE_OK {
            self.failed = rc;
        }
    }

    fn stmt(&self) -> *mut ffi::sqlite3_stmt {
        self.stmt.as_ptr()
    }

    /// Binds an integer to parameter `at` (1-based).
    pub(crate) fn int(&mut self, at: usize, value: i64) {
        // SAFETY: a prepared statement; SQLite checks `at`.
        let rc = unsafe { ffi::sqlite3_bind_int64(self.stmt(), at as c_int, value) };
        self.record(rc);
    }

    /// Binds an integer, or NULL.
    pub(crate) fn opt_int(&mut self, at: usize, value: Option<i64>) {
        match value {
            Some(v) => self.int(at, v),
            None => {
                // SAFETY: as in `int`.
                let rc = unsafe { ffi::sqlite3_bind_null(self.stmt(), at as c_int) };
                self.record(rc);
            }
        }
    }

    /// Binds a text without copying it.
    pub(crate) fn text(&mut self, at: usize, value: &'d str) {
        self.bytes(at, value.as_bytes(), true);
    }

    /// Binds a blob without copying it.
    pub(crate) fn blob(&mut self, at: usize, value: &'d [u8]) {
        self.bytes(at, value, false);
    }

    /// Binds `value` as a text (valid UTF-8) or a blob, without copying it.
    fn bytes(&mut self, at: usize, value: &'d [u8], text: bool) {
        let Ok(len) = c_int::try_from(value.len()) else {
            return self.record(ffi::SQLITE_TOOBIG);
        };
        let (stmt, at, data) = (self.stmt(), at as c_int, value.as_ptr());
        // SAFETY: `value` is valid for `len` bytes (UTF-8 where it is bound as a text, which
        // only `text` asks for) and outlives the execution ('d); the bindings are cleared
        // before it ends.
        let rc = unsafe {
            if text {
                ffi::sqlite3_bind_text(stmt, at, data.cast(), len, ffi::SQLITE_STATIC())
            } else {
                ffi::sqlite3_bind_blob(stmt, at, data.cast(), len, ffi::SQLITE_STATIC())
            }
        };
        self.record(rc);
    }
}

impl Drop for Binds<'_> {
    fn drop(&mut self) {
        // SAFETY: a prepared statement; after this SQLite holds no pointer to bound data.
        unsafe {
            ffi::sqlite3_reset(self.stmt());
            ffi::sqlite3_clear_bindings(self.stmt());
        }
    }
}

/// The connection's error for `rc`, as `rusqlite` reports it.
fn error(db: NonNull<ffi::sqlite3>, rc: c_int) -> rusqlite::Error {
    // SAFETY: an open connection; the message is copied before any other call on it.
    let message = unsafe {
        let text = ffi::sqlite3_errmsg(db.as_ptr());
        (!text.is_null()).then(|| CStr::from_ptr(text).to_string_lossy().into_owned())
    };
    failure(rc, message)
}

fn failure(rc: c_int, message: Option<String>) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), message)
}

#[cfg(test)]
mod tests {
    use super::RawStatement;

    fn connection() -> rusqlite::Connection {
        let c = rusqlite::Connection::open_in_memory().expect("open");
        c.execute_batch(
            "CREATE TABLE t (k INTEGER NOT NULL UNIQUE, s TEXT NOT NULL, b BLOB NOT NULL)",
        )
        .expect("table");
        c
    }

    /// Texts and blobs bound without a copy are stored as they were, from data that is gone
    /// once the execution has returned.
    #[test]
    fn bound_data_is_stored() {
        let c = connection();
        let mut insert = RawStatement::prepare(&c, "INSERT INTO t VALUES (?, ?, ?), (?, ?, ?)")
            .expect("prepare");
        for round in 0..3i64 {
            let texts = [format!("first {round}"), format!("second é {round}")];
            let blobs = [vec![round as u8; 3], Vec::new()];
            insert
                .execute(|b| {
                    for (i, (text, blob)) in texts.iter().zip(&blobs).enumerate() {
                        b.int(i * 3 + 1, round * 2 + i as i64);
                        b.text(i * 3 + 2, text);
                        b.blob(i * 3 + 3, blob);
                    }
                })
                .expect("insert");
        }
        let rows: Vec<(i64, String, Vec<u8>)> = c
            .prepare("SELECT k, s, b FROM t ORDER BY k")
            .expect("select")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[4], (4, "first 2".to_owned(), vec![2, 2, 2]));
        assert_eq!(rows[5], (5, "second é 2".to_owned(), Vec::new()));
    }

    /// A failed execution reports SQLite's error, and every execution ends with its bindings
    /// cleared: a statement executed with nothing bound finds every parameter NULL (not the
    /// previous execution's data, which may be gone), and it runs again after an error.
    #[test]
    fn executions_end_with_nothing_bound() {
        let c = connection();
        let mut insert =
            RawStatement::prepare(&c, "INSERT INTO t VALUES (?, ?, ?)").expect("prepare");
        let text = String::from("kept");
        insert
            .execute(|b| {
                b.int(1, 1);
                b.text(2, &text);
                b.blob(3, b"x");
            })
            .expect("insert");
        drop(text);
        let nothing_bound = insert.execute(|_| {}).expect_err("NULLs");
        assert!(
            nothing_bound.to_string().contains("NOT NULL"),
            "{nothing_bound}"
        );
        let taken = insert
            .execute(|b| {
                b.int(1, 1);
                b.text(2, "again");
                b.blob(3, b"y");
            })
            .expect_err("the key is taken");
        assert!(taken.to_string().contains("UNIQUE"), "{taken}");
        insert
            .execute(|b| {
                b.int(1, 2);
                b.text(2, "after");
                b.blob(3, b"z");
            })
            .expect("insert after the errors");
        let count: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(count, 2);
        let bad_index = insert
            .execute(|b| b.int(9, 1))
            .expect_err("no such parameter");
        assert!(
            matches!(bad_index, rusqlite::Error::SqliteFailure(..)),
            "{bad_index}"
        );
    }
}
