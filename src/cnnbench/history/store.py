"""The results store: one SQLite file holding every added run, its raw JSON, and what its series need.

Why SQLite (stdlib ``sqlite3``) and not DuckDB (installed too): a store is written by one run at a time
and read by small queries, which is SQLite's case; it needs no extra package; and several writers are
its normal case: each ``history add`` is one transaction (``BEGIN IMMEDIATE``: the write lock is taken
before anything is read, so two writers queue instead of deadlocking), a writer that finds the lock
held waits up to ``BUSY_TIMEOUT_S`` (the busy timeout), and in WAL mode readers never block a writer
nor see half a transaction. A process killed mid-write (SIGKILL, power loss) leaves frames that no
commit record closes, which SQLite ignores on the next open: the store keeps its old content
(tests/test_history_store.py kills a writer mid-transaction). DuckDB takes a process-exclusive lock
on its file, so a second writer, or a reader while one writes, fails at once and would need retries.

pytest-benchmark JSON stays the interchange format: each run's file text is kept, byte for byte, in
``runs.raw`` (``cnnbench history export`` writes it back), and the measurements table holds only
what the series are drawn from. A run is identified by the digest of its parsed JSON (key order
and whitespace do not matter), so adding the same run twice stores it once.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cnnbench.core.errors import CnnbenchError
from cnnbench.reports.load import Run, incomplete_reason
from cnnbench.reports.rows import case_id, problems

DEFAULT_STORE = ".cnnbench-history.sqlite"
STORE_ENV = "CNNBENCH_HISTORY"
SCHEMA_VERSION = "1"
BUSY_TIMEOUT_S = 60.0  # a second writer waits this long for the first one's transaction
# the metrics a series is drawn for: the step time (lower is better) and the measured peak memory
METRICS = {"median_s": "median step time (s)", "peak_memory_bytes": "measured peak memory (bytes)",
           "instructions": "instructions a step under Callgrind (pytest bench --instructions; docs/instructions.md)"}
VERSION_KEYS = ("python_version", "torch_version", "tf_version", "keras_version", "jax_version", "cuda_version",
                "cudnn_version")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series (
    name TEXT PRIMARY KEY, machine_id TEXT NOT NULL, machine TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE, series TEXT REFERENCES series(name),
    source TEXT NOT NULL, added TEXT NOT NULL, datetime TEXT, commit_id TEXT, commit_time TEXT, branch TEXT,
    dirty INTEGER, commit_from TEXT NOT NULL, machine_id TEXT NOT NULL, machine TEXT NOT NULL, node TEXT,
    profile TEXT, settings TEXT NOT NULL, versions TEXT NOT NULL, cases INTEGER NOT NULL, raw TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS measurements (
    run_id INTEGER NOT NULL REFERENCES runs(id), case_id TEXT NOT NULL, input_size INTEGER NOT NULL,
    metric TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (run_id, case_id, input_size, metric));
CREATE INDEX IF NOT EXISTS runs_order ON runs (machine_id, commit_time, datetime);
"""


class HistoryError(CnnbenchError):
    """Bad input to the store (a file, a series, a ref, the store itself): one line, exit 2."""


def store_path(value: str | None) -> Path:
    """--store PATH, else $CNNBENCH_HISTORY, else .cnnbench-history.sqlite in the current directory."""
    return Path(value or os.environ.get(STORE_ENV) or DEFAULT_STORE)


@dataclass(frozen=True)
class Record:
    """What the store keeps of one run, computed before the store is opened."""

    digest: str
    source: str
    datetime: str
    commit_id: str | None
    commit_time: str | None
    branch: str | None
    dirty: bool | None
    commit_from: str  # "run": the run's own commit_info; "--commit REF": given when it was added
    machine_id: str
    machine: str
    node: str | None
    profile: str | None
    settings: dict
    versions: dict
    raw: str
    measurements: tuple[tuple[str, int, str, float], ...]  # (case id, input size, metric, value)
    incomplete: str | None = None  # why the run is not a whole record (reports.load.incomplete_reason)


def utc(stamp: str | None) -> str | None:
    """An ISO time in UTC (git's commit times carry the committer's offset), so that the store's order by
    time is the order in time; a stamp that is not an ISO time is kept as it is."""
    if not stamp:
        return stamp
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    return moment.astimezone(timezone.utc).isoformat() if moment.tzinfo else stamp


def digest_of(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def measurements_of(run: Run) -> tuple[tuple[str, int, str, float], ...]:
    """(case id, input size, metric, value) of each usable figure: a row whose timing is unusable
    (cnnbench.reports.rows.problems) gives no step time, a NaN/inf memory figure no memory point."""
    out = {}
    for bench in run.data["benchmarks"]:
        info = bench.get("extra_info") or {}
        cid, size = case_id(bench), int(info.get("input_size") or 0)
        _, timing_bad = problems(bench)
        median = bench["stats"].get("median")
        if not timing_bad and isinstance(median, (int, float)) and math.isfinite(median) and median > 0:
            out[(cid, size, "median_s")] = float(median)
        memory = info.get("peak_memory_bytes")
        if isinstance(memory, (int, float)) and not isinstance(memory, bool) and math.isfinite(memory) and memory > 0:
            out[(cid, size, "peak_memory_bytes")] = float(memory)
        counted = info.get("instructions")
        if isinstance(counted, (int, float)) and not isinstance(counted, bool) and math.isfinite(counted) and counted > 0:
            out[(cid, size, "instructions")] = float(counted)
    return tuple((c, s, m, v) for (c, s, m), v in out.items())


def record_of(run: Run, *, commit: tuple[str, str | None, str] | None = None) -> Record:
    """The store's record of a validated run; ``commit``: (sha, commit time, REF) given with --commit."""
    from cnnbench.reports.tidy import machine_id, machine_label  # the reports' fingerprint (pandas: loaded here)

    mi, ci, meta = run.data["machine_info"], run.data.get("commit_info") or {}, run.cnnbench
    versions = {k: mi[k] for k in VERSION_KEYS if mi.get(k)}
    versions["pytest_benchmark"] = run.data.get("version")
    commit_id, commit_time, commit_from = ci.get("id"), ci.get("time"), "run"
    if commit is not None:
        commit_id, commit_time, commit_from = commit[0], commit[1], f"--commit {commit[2]}"
    return Record(
        digest=digest_of(run.data), source=str(run.path), datetime=utc(run.datetime), commit_id=commit_id,
        commit_time=utc(commit_time), branch=ci.get("branch"), dirty=ci.get("dirty"), commit_from=commit_from,
        machine_id=machine_id(mi), machine=machine_label(mi), node=mi.get("node"), profile=meta.get("profile"),
        settings={"device": meta.get("device"), **(meta.get("settings") or {})}, versions=versions,
        raw=run.path.read_text(encoding="utf-8"), measurements=measurements_of(run), incomplete=run.incomplete)


def connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """The store at ``path`` (created only if ``create``), its schema checked; one line on any problem."""
    if path.is_dir():
        raise HistoryError(f"{path}: is a directory; give the store's file with --store PATH")
    if not path.exists() and not create:
        raise HistoryError(f"{path}: no history store here; add runs first (cnnbench history add RUN.json) "
                           f"or give --store PATH (or ${STORE_ENV})")
    if create and not path.parent.is_dir():
        raise HistoryError(f"{path}: its directory {path.parent}/ does not exist; create it first")
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # a commit that returned is on disk
        conn.execute("PRAGMA foreign_keys=ON")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise HistoryError(f"{path}: cannot be opened as a cnnbench history store ({exc}); give another --store PATH"
                           ) from None
    _check_intact(conn, path)
    if tables and "meta" not in tables:
        conn.close()
        raise HistoryError(f"{path}: an SQLite file, but not a cnnbench history store; give another --store PATH")
    if not tables:
        if not create:
            conn.close()
            raise HistoryError(f"{path}: an empty file, not a history store; add runs with cnnbench history add")
        _create(conn)
    version = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    if version is None or version[0] != SCHEMA_VERSION:
        conn.close()
        raise HistoryError(f"{path}: a history store of schema {version[0] if version else '?'}; this cnnbench "
                           f"reads schema {SCHEMA_VERSION}")
    return conn


def damaged(path: Path, exc: sqlite3.DatabaseError) -> HistoryError:
    """The one line for a store SQLite cannot read: what it said, that nothing changed, how to recover."""
    said = " ".join(str(exc).replace("***", "").split())  # quick_check's answer spans lines
    return HistoryError(f"{path}: the store is damaged (SQLite: {said}); nothing was read or changed; "
                        f"recover what it holds with `sqlite3 {path} .recover > recovered.sql`, or give another "
                        "--store PATH")


def _check_intact(conn: sqlite3.Connection, path: Path) -> None:
    """PRAGMA quick_check (every page, without the slower index cross-checks): a store with a damaged
    page is refused before a command reads from it or adds to it."""
    try:
        found = [r[0] for r in conn.execute("PRAGMA quick_check(1)")]
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise damaged(path, exc) from None
    if found != ["ok"]:
        conn.close()
        raise damaged(path, sqlite3.DatabaseError(found[0] if found else "quick_check gave no answer"))


@contextmanager
def reading(path: Path):
    """An open store for reading (``with reading(path) as conn``), closed after; an SQLite error while
    reading (a page damaged since it was opened) is the one-line HistoryError of a damaged store."""
    conn = connect(path, create=False)
    try:
        yield conn
    except sqlite3.DatabaseError as exc:
        raise damaged(path, exc) from None
    finally:
        conn.close()


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


@dataclass(frozen=True)
class Added:
    record: Record
    run_id: int
    new: bool  # False: the same run was stored already (by an earlier add, or twice in this one)


def add_records(path: Path, records: list[Record], *, series: str | None = None) -> list[Added]:
    """Store ``records`` in one transaction: all of them or, on any error, none.

    ``series``: a named series is bound to the machine of its first run; a run of another machine
    added to it is bad input (its timings would be drawn as one line with the first machine's)."""
    if series is not None:
        machines = {r.machine_id: r for r in records}
        if len(machines) > 1:
            a, b = list(machines.values())[:2]
            raise HistoryError(f"--series {series}: the runs come from {len(machines)} machines ({a.source}: "
                               f"{a.machine} [{a.machine_id}]; {b.source}: {b.machine} [{b.machine_id}]); a series "
                               "holds one machine's runs")
    conn = connect(path, create=True)
    try:
        conn.execute("BEGIN IMMEDIATE")  # the write lock first: a concurrent writer waits (busy timeout)
        try:
            out = _insert(conn, records, series)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError as exc:  # "database is locked" after the busy timeout, a read-only file, a full disk
        raise HistoryError(f"{path}: cannot write the store ({exc}); nothing was added") from None
    except sqlite3.DatabaseError as exc:  # a page found damaged while writing: the transaction was rolled back
        raise damaged(path, exc) from None
    finally:
        conn.close()
    return out


def _insert(conn: sqlite3.Connection, records: list[Record], series: str | None) -> list[Added]:
    if series is not None and records:
        bound = conn.execute("SELECT machine_id, machine FROM series WHERE name=?", (series,)).fetchone()
        if bound is None:
            conn.execute("INSERT INTO series VALUES (?, ?, ?, ?)",
                         (series, records[0].machine_id, records[0].machine, _now()))
        elif bound[0] != records[0].machine_id:
            r = records[0]
            raise HistoryError(f"{r.source}: a run of another machine ({r.machine} [{r.machine_id}]); series "
                               f"{series!r} holds runs of {bound[1]} [{bound[0]}]; give another --series")
    out = []
    for r in records:
        found = conn.execute("SELECT id FROM runs WHERE digest=?", (r.digest,)).fetchone()
        if found is not None:
            out.append(Added(r, found[0], False))
            continue
        run_id = insert_run(conn, r, series)
        conn.executemany("INSERT INTO measurements VALUES (?, ?, ?, ?, ?)",
                         [(run_id, *m) for m in r.measurements])
        out.append(Added(r, run_id, True))
    return out


def insert_run(conn: sqlite3.Connection, r: Record, series: str | None) -> int:
    """One row of ``runs`` (a function of its own so that the tests can stop a writer right after it)."""
    cur = conn.execute(
        "INSERT INTO runs (digest, series, source, added, datetime, commit_id, commit_time, branch, dirty, "
        "commit_from, machine_id, machine, node, profile, settings, versions, cases, raw) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (r.digest, series, r.source, _now(), r.datetime, r.commit_id, r.commit_time, r.branch,
         None if r.dirty is None else int(r.dirty), r.commit_from, r.machine_id, r.machine, r.node, r.profile,
         json.dumps(r.settings, sort_keys=True), json.dumps(r.versions, sort_keys=True),
         len({(c, s) for c, s, _, _ in r.measurements}), r.raw))
    return cur.lastrowid


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# runs in the order a history is read: by commit time (the order of the commits measured), then by when
# the run was made; a run without a commit time falls back to its own date
RUN_ORDER = "COALESCE(commit_time, datetime), datetime, id"


def runs(conn: sqlite3.Connection) -> list[dict]:
    """Every stored run (without its raw JSON), oldest commit first."""
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(f"SELECT id, series, source, added, datetime, commit_id, commit_time, branch, dirty, "
                            f"commit_from, machine_id, machine, node, profile, settings, versions, cases, "
                            f"json_extract(raw, '$.cnnbench') AS meta FROM runs ORDER BY {RUN_ORDER}").fetchall()
    finally:
        conn.row_factory = None
    out = []
    for row in rows:
        d = dict(row)
        d["settings"], d["versions"] = json.loads(d["settings"]), json.loads(d["versions"])
        d["incomplete"] = incomplete_reason(json.loads(d.pop("meta") or "{}"))  # kept in the raw JSON: no new column
        out.append(d)
    return out


def remove_run(path: Path, run_id: int) -> dict:
    """Take run ``run_id`` and its measurements out of the store, in one transaction; the removed run's row.
    A named series keeps its machine (it was bound by its first run, which may be this one)."""
    conn = connect(path, create=False)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = conn.execute("SELECT source, commit_id FROM runs WHERE id=?", (run_id,)).fetchone()
            if found is None:
                raise HistoryError(f"run {run_id}: no such run in {path} (cnnbench history list)")
            conn.execute("DELETE FROM measurements WHERE run_id=?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id=?", (run_id,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError as exc:
        raise HistoryError(f"{path}: cannot write the store ({exc}); nothing was removed") from None
    except sqlite3.DatabaseError as exc:
        raise damaged(path, exc) from None
    finally:
        conn.close()
    return {"id": run_id, "source": found[0], "commit_id": found[1]}


def raw_run(conn: sqlite3.Connection, run_id: int) -> str | None:
    found = conn.execute("SELECT raw FROM runs WHERE id=?", (run_id,)).fetchone()
    return found[0] if found else None


def points(conn: sqlite3.Connection, metric: str | None = None) -> list[tuple]:
    """(series, machine id, machine, profile, case id, input size, metric, value, commit id, commit time,
    datetime, run id) of every measurement, in run order."""
    where, args = ("WHERE m.metric=?", (metric,)) if metric else ("", ())
    return conn.execute(
        "SELECT COALESCE(r.series, ''), r.machine_id, r.machine, COALESCE(r.profile, ''), m.case_id, m.input_size, "
        "m.metric, m.value, r.commit_id, r.commit_time, r.datetime, r.id FROM measurements m JOIN runs r "
        f"ON r.id = m.run_id {where} ORDER BY COALESCE(r.commit_time, r.datetime), r.datetime, r.id", args).fetchall()


def content(conn: sqlite3.Connection) -> list:
    """Everything the store holds, as plain rows (the tests compare it before and after a failed add)."""
    return [conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in ("meta", "series", "runs")] + [
        conn.execute("SELECT * FROM measurements ORDER BY 1, 2, 3, 4").fetchall()]
