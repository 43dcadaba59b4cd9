"""SQLite storage (sqlite-utils): the one place that touches the database.

About 450 lines, on purpose: every table and every sqlite error is handled here and
nowhere else.

One connection per thread (SQLite connections must not be shared across threads,
and Streamlit runs each session in its own thread), WAL so readers never block the
sync writer, and a busy timeout so a second writer waits instead of failing. Every
sqlite error leaves as a :class:`~optera.errors.StorageError` branch: locked,
corrupt (``PRAGMA quick_check`` is read, not only run) or an unusable path.

The deployment audit trail lives in :mod:`optera.audit` (the table here and a
JSON-lines file beside the DB), so a corrupt database never loses it:
:func:`recover` moves the bad file aside, builds a fresh one and replays the trail.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from . import audit
from .clock import utcnow
from .errors import DatabaseCorruptError, DatabaseLockedError, DatabasePathError, StorageError
from .models import MACHINE_TYPES, Allocation, Inventory, MachineSpec, Prices, SiteStatus, format_timestamp
from .redaction import redact, safe
from .vocabulary import PRICE_COLUMNS

if TYPE_CHECKING:
    import pandas as pd
    import sqlite_utils

BUSY_TIMEOUT_S = 10.0
# one row per autopilot decision (optera.autopilot); target and current are JSON counts
_DECISION_COLUMNS = {"id": int, "at": str, "price_at": str, "mode": str, "action": str, "target": str,
                     "current": str, "expected_gain_per_period": float, "reason": str, "outcome": str,
                     "message": str, "audit_id": int}
StoreError = StorageError  # the name the app and tests have always used
RECOVER_HINT = ("Run `optera db recover` (or use 'Recover database' in the app) to move it aside and rebuild it "
                "from the data source; the deployment audit trail is kept.")


def translate(error: sqlite3.Error, path: Path) -> StorageError:
    """A sqlite error as the error tree's storage branch, with what to do about it."""
    text = str(error)
    if isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return DatabaseLockedError(f"The database {path} is locked by another program ({text}); try again.")
    if isinstance(error, sqlite3.OperationalError) and ("readonly" in text or "read-only" in text
                                                         or "unable to open" in text):
        return DatabasePathError(f"The database {path} cannot be written ({text}): check that its folder "
                                 "exists and is writable, or set OPTERA_DB to another file.")
    if isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.OperationalError) \
            or "malformed" in text or "not a database" in text:
        return DatabaseCorruptError(f"The database {path} cannot be read ({text}). {RECOVER_HINT}")
    return StorageError(f"The database {path} failed: {text}")


def _storage_errors(method):
    """Turn sqlite errors raised by a Store method into StorageError branches."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as e:
            raise translate(e, self.path) from None
        except OverflowError as e:  # an integer beyond SQLite's 64 bits, e.g. from a hostile server
            raise StorageError(f"A value is too large to store in {self.path.name}: {e}") from None

    return wrapper


def check_path(path: Path) -> None:
    """A database path whose folder is missing, a file, or read-only gets a message that says so."""
    parent = path.parent
    for folder in (parent, *parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise DatabasePathError(f"The database {path} cannot be created: {folder} is a file, not a folder. "
                                        "Set OPTERA_DB to a path in a folder.")
            break
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatabasePathError(f"The database folder {parent} cannot be created ({e.strerror or e}). "
                                "Set OPTERA_DB to a writable place.") from None
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
        raise DatabasePathError(f"The database {path} is not writable (check the permissions of {parent}), "
                                "or set OPTERA_DB to a writable place.")


def _inventory_of(rows: Iterable[Mapping[str, Any]]) -> Inventory | None:
    """The machine specs from the inventory table's rows; None unless every type is there."""
    rows = {r["name"]: r for r in rows}
    if set(rows) != set(MACHINE_TYPES):
        return None
    return Inventory({n: MachineSpec(n, r["category"], r["kind"], r["power"], r["hashrate"] or 0.0,
                                     r["tokens"] or 0.0) for n, r in rows.items()})


def stored_inventory(path: str | Path) -> Inventory | None:
    """The machine specs stored in the database at ``path``, read with sqlite3 alone: for a command
    that needs nothing else from it (`optera optimize` with explicit prices). Opening a Store would
    import sqlite-utils, which imports pandas (about 1 s), and check and migrate the whole file.
    None when there is no database or no full inventory in it; unreadable files raise as a Store does."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S)
        try:
            conn.row_factory = sqlite3.Row
            return _inventory_of(conn.execute("select * from inventory").fetchall())
        finally:
            conn.close()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):  # a database from before the inventory was stored
            return None
        raise translate(e, path) from None
    except sqlite3.Error as e:
        raise translate(e, path) from None


def _translated(cls):
    """Every public method of the class raises StorageError branches, never sqlite3 errors."""
    for name, fn in list(vars(cls).items()):
        if callable(fn) and not name.startswith("_") and name not in ("close",):
            setattr(cls, name, _storage_errors(fn))
    return cls


@_translated
class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.audit_path = self.path.with_name(self.path.stem + "_audit.jsonl")
        self.audit = audit.AuditTrail(self, self.audit_path)
        self._local = threading.local()
        check_path(self.path)
        try:
            self._migrate()
        except sqlite3.Error as e:
            raise translate(e, self.path) from None

    # -- connections -------------------------------------------------------
    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            import sqlite_utils

            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
            db = sqlite_utils.Database(conn)
            self._local.db = db
        return db

    def check(self) -> list[str]:
        """What ``PRAGMA quick_check`` finds wrong; empty when the file is sound."""
        rows = [r[0] for r in self.db.execute("PRAGMA quick_check").fetchall()]
        return [] if rows == ["ok"] else [str(r) for r in rows[:20]]

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None

    def _migrate(self) -> None:
        db = self.db
        problems = self.check()
        if problems:
            raise DatabaseCorruptError(f"The database {self.path} is damaged ({'; '.join(problems[:3])}). "
                                       + RECOVER_HINT)
        if db.journal_mode != "wal":
            db.enable_wal()
        db["prices"].create(
            {"timestamp": str, "energy_price": float, "hash_price": float, "token_price": float},
            pk="timestamp", if_not_exists=True,
        )
        db["snapshots"].create(
            {
                "id": int, "fetched_at": str, "updated_at": str,
                **{n: int for n in MACHINE_TYPES},
                **{f"power_{n}": float for n in MACHINE_TYPES},
                **{f"revenue_{n}": float for n in MACHINE_TYPES},
                "total_power_used": float, "total_power_cost": float, "total_revenue": float,
            },
            pk="id", if_not_exists=True,
        )
        db["inventory"].create(
            {"name": str, "category": str, "kind": str, "power": float, "hashrate": float, "tokens": float},
            pk="name", if_not_exists=True,
        )
        db["site"].create({"id": int, "name": str, "power": float, "updated_at": str},
                          pk="id", if_not_exists=True)
        audit.create_table(db)
        db["sync_log"].create({"id": int, "at": str, "ok": int, "new_prices": int, "message": str},
                              pk="id", if_not_exists=True)
        db["chat"].create({"id": int, "at": str, "role": str, "content": str, "tools": str},
                          pk="id", if_not_exists=True)
        db["btc_daily"].create({"date": str, "open": float, "high": float, "low": float, "close": float,
                                "volume": float}, pk="date", if_not_exists=True)
        db["btc_intraday"].create({"timestamp": str, "open": float, "high": float, "low": float,
                                   "close": float, "volume": float}, pk="timestamp", if_not_exists=True)
        db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
        db["autopilot_decisions"].create(_DECISION_COLUMNS, pk="id", if_not_exists=True)
        db["snapshots"].create_index(["fetched_at"], if_not_exists=True)

    # -- prices ------------------------------------------------------------
    def upsert_prices(self, prices: Iterable[Prices]) -> int:
        """Insert or update price points by timestamp; returns how many were new."""
        rows = [p.to_dict() for p in prices]
        if not rows:
            return 0
        db = self.db
        # BEGIN IMMEDIATE takes the write lock before counting, so concurrent writers
        # cannot both count the same rows as new.
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            before = db.execute("select count(*) from prices").fetchone()[0]
            db["prices"].upsert_all(rows, pk="timestamp", batch_size=5000)
            after = db.execute("select count(*) from prices").fetchone()[0]
            db.conn.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise
        return after - before

    def price_count(self) -> int:
        return self.db.execute("select count(*) from prices").fetchone()[0]

    def latest_prices(self, n: int = 2) -> list[Prices]:
        """The n newest price points, newest first."""
        rows = self.db.execute(
            "select timestamp, energy_price, hash_price, token_price from prices "
            "order by timestamp desc limit ?", [n]).fetchall()
        return [Prices(datetime.fromisoformat(r[0]), r[1], r[2], r[3]) for r in rows]

    def price_history(self, start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
        """Prices in [start, end], oldest first, indexed by timestamp."""
        import pandas as pd

        sql = "select timestamp, energy_price, hash_price, token_price from prices"
        clauses, params = [], []
        if start is not None:
            clauses.append("timestamp >= ?")
            params.append(format_timestamp(start))
        if end is not None:
            clauses.append("timestamp <= ?")
            params.append(format_timestamp(end))
        if clauses:
            sql += " where " + " and ".join(clauses)
        sql += " order by timestamp"
        rows = self.db.execute(sql, params).fetchall()
        frame = pd.DataFrame(rows, columns=["timestamp", *PRICE_COLUMNS])
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="ISO8601")
        return frame.set_index("timestamp")

    def price_range(self) -> tuple[datetime, datetime] | None:
        row = self.db.execute("select min(timestamp), max(timestamp) from prices").fetchone()
        if not row or row[0] is None:
            return None
        return datetime.fromisoformat(row[0]), datetime.fromisoformat(row[1])

    # -- site, inventory, snapshots ---------------------------------------
    def set_site(self, name: str, power: float) -> None:
        self.db["site"].upsert({"id": 1, "name": safe(name, 200), "power": power,
                                "updated_at": format_timestamp(utcnow())}, pk="id")

    def site(self) -> dict[str, Any] | None:
        rows = list(self.db["site"].rows_where("id = 1"))
        return rows[0] if rows else None

    def set_inventory(self, inventory: Inventory) -> None:
        rows = [{"name": s.name, "category": s.category, "kind": s.kind, "power": s.power,
                 "hashrate": s.hashrate, "tokens": s.tokens} for s in inventory.specs.values()]
        self.db["inventory"].upsert_all(rows, pk="name")

    def inventory(self) -> Inventory | None:
        return _inventory_of(self.db["inventory"].rows)

    def add_snapshot(self, status: SiteStatus, fetched_at: datetime | None = None) -> None:
        row: dict[str, Any] = {
            "fetched_at": format_timestamp(fetched_at or utcnow()),
            "updated_at": format_timestamp(status.updated_at) if status.updated_at else None,
            **status.allocation.to_dict(),
            **{f"power_{n}": status.power[n] for n in MACHINE_TYPES},
            **{f"revenue_{n}": status.revenue[n] for n in MACHINE_TYPES},
            "total_power_used": status.total_power_used,
            "total_power_cost": status.total_power_cost,
            "total_revenue": status.total_revenue,
        }
        self.db["snapshots"].insert(row)

    def snapshot_count(self) -> int:
        return self.db.execute("select count(*) from snapshots").fetchone()[0]

    def latest_snapshot(self) -> tuple[SiteStatus, datetime] | None:
        rows = list(self.db.query("select * from snapshots order by fetched_at desc, id desc limit 1"))
        if not rows:
            return None
        r = rows[0]
        status = SiteStatus(
            allocation=Allocation.from_api(r),
            power={n: r[f"power_{n}"] for n in MACHINE_TYPES},
            revenue={n: r[f"revenue_{n}"] for n in MACHINE_TYPES},
            total_power_used=r["total_power_used"],
            total_power_cost=r["total_power_cost"],
            total_revenue=r["total_revenue"],
            updated_at=datetime.fromisoformat(r["updated_at"]) if r["updated_at"] else None,
        )
        return status, datetime.fromisoformat(r["fetched_at"])

    def snapshot_history(self, start: datetime | None = None) -> pd.DataFrame:
        import pandas as pd

        sql = "select * from snapshots"
        params: list[Any] = []
        if start is not None:
            sql += " where fetched_at >= ?"
            params.append(format_timestamp(start))
        frame = pd.DataFrame(list(self.db.query(sql + " order by fetched_at, id", params)))
        if not frame.empty:
            frame["fetched_at"] = pd.to_datetime(frame["fetched_at"])
        return frame

    # -- sync log / meta ---------------------------------------------------
    def log_sync(self, ok: bool, new_prices: int, message: str = "") -> None:
        self.db["sync_log"].insert({"at": format_timestamp(utcnow()), "ok": int(ok),
                                    "new_prices": new_prices, "message": safe(message, 2000)})

    def last_sync(self, ok_only: bool = False) -> dict[str, Any] | None:
        where = " where ok = 1" if ok_only else ""
        rows = list(self.db.query(f"select * from sync_log{where} order by id desc limit 1"))
        return rows[0] if rows else None

    def set_meta(self, key: str, value: Any) -> None:
        self.db["meta"].upsert({"key": key, "value": json.dumps(value)}, pk="key")

    def get_meta(self, key: str, default: Any = None) -> Any:
        rows = list(self.db["meta"].rows_where("key = ?", [key]))
        return json.loads(rows[0]["value"]) if rows else default

    def delete_meta(self, key: str) -> None:
        with self.db.conn:
            self.db.conn.execute("delete from meta where key = ?", [key])

    # -- autopilot decisions ----------------------------------------------
    def add_autopilot_decision(self, row: dict[str, Any]) -> int:
        """One decision of the autopilot; texts are redacted and cut, counts stored as JSON."""
        clean = {k: v for k, v in row.items() if k in _DECISION_COLUMNS and k != "id"}
        for name in ("target", "current"):
            if isinstance(clean.get(name), Allocation):
                clean[name] = json.dumps(clean[name].to_dict())
        for name in ("reason", "message"):
            clean[name] = safe(clean.get(name) or "", 2000)
        for name in ("at", "price_at"):
            if isinstance(clean.get(name), datetime):
                clean[name] = format_timestamp(clean[name])
        return self.db["autopilot_decisions"].insert(clean).last_pk

    def autopilot_decisions(self, limit: int = 200) -> list[dict[str, Any]]:
        """The autopilot's decisions, newest first; target and current as count mappings."""
        rows = list(self.db.query("select * from autopilot_decisions order by id desc limit ?", [limit]))
        for r in rows:
            for name in ("target", "current"):
                try:
                    r[name] = json.loads(r[name]) if r.get(name) else None
                except ValueError:
                    r[name] = None
        return rows

    # -- deployments (audit trail) ----------------------------------------
    def record_deployment(self, *, action: str, requested: Allocation, previous: Allocation | None,
                          result: str, message: str, readback: Allocation | None = None,
                          source: str = "", at: datetime | None = None) -> int | None:
        """An attempt that ended before anything was sent (or a test's fixture row)."""
        return self.audit.record(action=action, requested=requested, previous=previous, result=result,
                                 message=message, readback=readback, source=source, at=at)

    def deployments(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.audit.rows(limit)

    # -- chat history ------------------------------------------------------
    def add_chat(self, role: str, content: str, tools: list[dict[str, Any]] | None = None) -> None:
        """One chat message; keys are masked before anything reaches the database or its WAL."""
        self.db["chat"].insert({"at": format_timestamp(utcnow()), "role": role, "content": redact(content),
                                "tools": redact(json.dumps(tools or [], default=str))})

    def chat_history(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = list(self.db.query("select * from (select * from chat order by id desc limit ?) order by id",
                                  [limit]))
        for r in rows:
            try:
                tools = json.loads(r["tools"]) if r["tools"] else []
            except ValueError:
                tools = []
            r["tools"] = [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []
        return rows

    def clear_chat(self) -> None:
        self.db.execute("delete from chat")
        self.db.conn.commit()

    # -- bitcoin cache -----------------------------------------------------
    def upsert_btc(self, table: str, frame: pd.DataFrame) -> None:
        """Store OHLCV bars; `table` is 'btc_daily' (key: date) or 'btc_intraday' (key: timestamp)."""
        key = "date" if table == "btc_daily" else "timestamp"
        rows = []
        for idx, r in frame.iterrows():
            stamp = idx.strftime("%Y-%m-%d") if key == "date" else format_timestamp(idx.to_pydatetime())
            rows.append({key: stamp, "open": float(r["Open"]), "high": float(r["High"]), "low": float(r["Low"]),
                         "close": float(r["Close"]), "volume": float(r.get("Volume", 0.0) or 0.0)})
        if rows:
            self.db[table].upsert_all(rows, pk=key, batch_size=2000)

    def btc_frame(self, table: str) -> pd.DataFrame:
        import pandas as pd

        key = "date" if table == "btc_daily" else "timestamp"
        rows = self.db.execute(f"select {key}, open, high, low, close, volume from {table} order by {key}").fetchall()
        frame = pd.DataFrame(rows, columns=[key, "Open", "High", "Low", "Close", "Volume"])
        frame[key] = pd.to_datetime(frame[key], format="ISO8601")
        return frame.set_index(key).rename_axis("Date")


def recover(path: str | Path) -> tuple[Store, Path | None]:
    """Move an unreadable DB aside, build a new one, replay the audit trail into it."""
    path = Path(path)
    moved: Path | None = None
    if path.exists():
        stamp = utcnow().strftime("%Y%m%dT%H%M%S")
        moved = path.with_name(f"{path.name}.corrupt-{stamp}")
        path.rename(moved)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.rename(moved.with_name(moved.name + suffix))
    store = Store(path)
    store.audit.replay()
    return store, moved


def since(hours: float) -> datetime:
    return utcnow() - timedelta(hours=hours)
