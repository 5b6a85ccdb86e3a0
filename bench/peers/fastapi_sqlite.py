"""Minimal FastAPI + SQLite service doing the same durable insert as POST /api/v1/runs.

Peer baseline for bench/submit.sh; not part of agentd. One uvicorn worker, SQLite in WAL mode
with synchronous=FULL, one commit per request (what a straightforward service does).
Run: /usr/bin/python3 -m uvicorn fastapi_sqlite:app --port 8181 --workers 1 --log-level warning
"""
import json
import os
import sqlite3
import threading
import time
import uuid

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

DB_PATH = os.environ.get("PEER_DB", "/tmp/fastapi-peer.db")
app = FastAPI()
_local = threading.local()


def db():
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DB_PATH, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, agent TEXT NOT NULL,"
            " input TEXT NOT NULL, phase TEXT NOT NULL, created_at INTEGER NOT NULL)")
        _local.conn = conn
    return conn


@app.post("/api/v1/runs", status_code=201)
async def submit(request: Request):
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise HTTPException(status_code=400, detail="malformed JSON")
    if not isinstance(body, dict) or not isinstance(body.get("agent"), str):
        raise HTTPException(status_code=400, detail="agent must be a string")
    run_id = "run-" + uuid.uuid4().hex
    created = int(time.time() * 1000)
    conn = db()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO runs VALUES (?, ?, ?, 'Queued', ?)",
                 (run_id, body["agent"], str(body.get("input", "")), created))
    conn.execute("COMMIT")
    return JSONResponse({"id": run_id, "agent": body["agent"], "phase": "Queued"}, status_code=201)
