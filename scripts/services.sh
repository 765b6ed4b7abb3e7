#!/usr/bin/env bash
# Make sure the real PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) the
# tests talk to are running; start them when they are down, fail loudly otherwise.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
    echo "==> starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! redis_up; then
    echo "==> starting Redis" >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
fi
for _ in $(seq 1 30); do
    if pg_up && redis_up; then
        exit 0
    fi
    sleep 1
done
pg_up || echo "FATAL: PostgreSQL is not reachable on 127.0.0.1:5432" >&2
redis_up || echo "FATAL: Redis is not reachable on 127.0.0.1:6379" >&2
exit 1
