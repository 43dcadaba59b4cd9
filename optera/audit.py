"""The deployment audit trail: an intent written before anything is sent, an outcome after.

Each attempt is one row in the database's ``deployments`` table *and* two lines in a
JSON-lines file beside it (the intent, then the outcome), so the trail survives a
locked or corrupt database and a file that cannot be written alike: an attempt is
sent only if at least one of the two took its intent. Rows are keyed by a random id,
so replaying the file after a recovery merges each intent with its outcome.

Results: ``pending`` (intent written; the process ended before an outcome),
``ok`` (read back and verified), ``invalid``, ``no_limit``, ``stale``, ``noop``,
``unsafe`` (not sent), ``refused`` (the site said no), ``error`` (the request failed),
``unverified``, ``mismatch``, ``over_limit`` (sent, not verified as asked).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from .clock import utcnow
from .errors import StorageError
from .models import Allocation, format_timestamp
from .redaction import safe

NOT_SENT = ("invalid", "no_limit", "stale", "noop", "unsafe")
SENT = ("ok", "refused", "error", "unverified", "mismatch", "over_limit")
RESULTS = ("pending",) + NOT_SENT + SENT
_COLUMNS = {"id": int, "key": str, "at": str, "finished_at": str, "action": str, "site": str, "by": str,
            "requested": str, "previous": str, "result": str, "message": str, "readback": str, "source": str}
_MAX_TEXT = 2000


def create_table(db) -> None:
    """The deployments table, with the columns added since the first version."""
    table = db["deployments"]
    table.create(_COLUMNS, pk="id", if_not_exists=True)
    have = set(table.columns_dict)
    for name, kind in _COLUMNS.items():
        if name not in have:
            table.add_column(name, kind)
    table.create_index(["key"], if_not_exists=True)


def _counts(value: Allocation | Mapping[str, Any] | None) -> str | None:
    """Counts as JSON text; a mapping from a server is kept as sent (bounded), even if invalid."""
    if value is None:
        return None
    data = value.to_dict() if isinstance(value, Allocation) else dict(value)
    text = json.dumps(data, default=str)
    return safe(text, _MAX_TEXT) if len(text) > _MAX_TEXT else text


class AuditTrail:
    """Intent and outcome of every deploy, in the database and in a JSON-lines file."""

    def __init__(self, store, path: Path):
        self.store = store
        self.path = path
        self._lock = threading.Lock()

    def _append(self, line: dict[str, Any]) -> bool:
        with self._lock:
            try:
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(line) + "\n")
                return True
            except OSError:
                return False

    def begin(self, *, action: str, requested: Allocation | Mapping[str, Any], previous: Allocation | None,
              site: str = "", by: str = "", source: str = "", at: datetime | None = None) -> tuple[str, int | None]:
        """Record what is about to be sent; (key, row id or None). Raises StorageError
        when neither the file nor the database took it: then nothing may be sent."""
        row = {"key": uuid.uuid4().hex, "at": format_timestamp(at or utcnow()), "action": action,
               "site": safe(site, 200), "by": safe(by, 100), "requested": _counts(requested),
               "previous": _counts(previous), "result": "pending", "message": "", "source": source}
        in_file = self._append({"phase": "intent", **row})
        row_id = self._insert(row)
        if not in_file and row_id is None:
            raise StorageError(f"The deploy cannot be recorded: {self.path} cannot be written and the "
                               "database is locked or unwritable. Nothing was sent.")
        return row["key"], row_id

    def finish(self, key: str, row_id: int | None, *, result: str, message: str,
               readback: Allocation | Mapping[str, Any] | None = None, at: datetime | None = None) -> None:
        """Complete an attempt with its outcome; never raises (the file or the DB keeps it)."""
        update = {"finished_at": format_timestamp(at or utcnow()), "result": result,
                  "message": safe(message, _MAX_TEXT), "readback": _counts(readback)}
        self._append({"phase": "outcome", "key": key, **update})
        try:
            if row_id is not None:
                self.store.db["deployments"].update(row_id, update)
            else:
                self._update_by_key(key, update)
        except (sqlite3.Error, StorageError):
            pass  # the JSONL line holds the outcome; `optera db recover` merges it back

    def record(self, *, action: str, requested: Allocation | Mapping[str, Any], previous: Allocation | None,
               result: str, message: str, readback: Allocation | Mapping[str, Any] | None = None,
               source: str = "", at: datetime | None = None, site: str = "", by: str = "") -> int | None:
        """An attempt that ends at once (refused before sending): intent and outcome together."""
        key, row_id = self.begin(action=action, requested=requested, previous=previous, site=site, by=by,
                                 source=source, at=at)
        self.finish(key, row_id, result=result, message=message, readback=readback, at=at)
        return row_id

    def _insert(self, row: dict[str, Any]) -> int | None:
        try:
            return self.store.db["deployments"].insert(row).last_pk
        except (sqlite3.Error, StorageError):
            return None

    def _update_by_key(self, key: str, update: dict[str, Any]) -> None:
        db = self.store.db
        sets = ", ".join(f"[{k}] = ?" for k in update)
        with db.conn:
            cur = db.conn.execute(f"update deployments set {sets} where key = ?", [*update.values(), key])
            if cur.rowcount == 0:
                db.conn.execute("insert into deployments (key, " + ", ".join(f"[{k}]" for k in update) + ") values ("
                                + ", ".join("?" * (len(update) + 1)) + ")", [key, *update.values()])

    def rows(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = list(self.store.db.query("select * from deployments order by id desc limit ?", [limit]))
        for r in rows:
            for name in ("requested", "previous", "readback"):
                try:
                    r[name] = json.loads(r[name]) if r.get(name) else None
                except (TypeError, ValueError):
                    r[name] = None
        return rows

    def replay(self) -> int:
        """Merge the JSON-lines file into the (fresh) database; returns the attempts restored."""
        if not self.path.exists():
            return 0
        merged: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(item, dict):
                    continue
                key = str(item.get("key") or uuid.uuid4().hex)  # lines from before intents had no key
                if key not in merged:
                    merged[key] = {}
                    order.append(key)
                merged[key].update({k: v for k, v in item.items() if k in _COLUMNS and k != "id"})
                merged[key]["key"] = key
        rows = [merged[k] for k in order]
        if rows:
            self.store.db["deployments"].insert_all(rows, alter=False)
        return len(rows)
