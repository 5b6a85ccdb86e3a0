// Minimal Express + SQLite (better-sqlite3) service doing the same durable insert as
// POST /api/v1/runs. Peer baseline for bench/submit.sh; not part of agentd.
// SQLite in WAL mode with synchronous=FULL, one commit per request.
// Run: node express_sqlite.js   (PORT, PEER_DB)
const crypto = require('crypto');
const express = require('express');
const Database = require('better-sqlite3');

const db = new Database(process.env.PEER_DB || '/tmp/express-peer.db');
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec(`CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, agent TEXT NOT NULL,
         input TEXT NOT NULL, phase TEXT NOT NULL, created_at INTEGER NOT NULL)`);
const insert = db.prepare("INSERT INTO runs VALUES (?, ?, ?, 'Queued', ?)");

const app = express();
app.use(express.json({limit: '1mb'}));
app.post('/api/v1/runs', (req, res) => {
  const body = req.body;
  if (!body || typeof body.agent !== 'string') {
    return res.status(400).json({detail: 'agent must be a string'});
  }
  const id = 'run-' + crypto.randomUUID().replace(/-/g, '');
  insert.run(id, body.agent, String(body.input || ''), Date.now());
  res.status(201).json({id, agent: body.agent, phase: 'Queued'});
});
app.listen(Number(process.env.PORT || 8182), '127.0.0.1');
