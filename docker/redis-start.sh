#!/bin/sh
# The compose file's Redis: what a killed Redis left is mended, a backup put in the
# volume is restored, then Redis starts (append-only, fsync always, no snapshots).
set -eu
cd /data

# An unfinished transaction at the end of the append-only file (Redis killed while
# writing one, an upload) is cut off: Redis 7.0 keeps it, and at the restart after next
# it drops the writes acknowledged since (README, "Durability").
m=/data/appendonlydir/appendonly.aof.manifest
if [ -f "$m" ]; then
  out=$(redis-check-aof "$m" 2>&1) || true
  case "$out" in *"not valid"*)
    case "$out" in *"Expected to read"*|*"Reached EOF before reading EXEC"*)
      echo "loop: cutting an unfinished transaction off the append-only file" >&2
      echo y | redis-check-aof --fix "$m" >&2;;
    esac;;
  esac
fi

# A backup (`loop backup`, README "Backups") copied to /data/restore.rdb is loaded and
# written out as the append-only file, which is what Redis loads with appendonly on (a
# snapshot beside it is ignored). Only into an empty volume: one with data stops here,
# with the reason, and nothing changes. Done in /data/restoring, moved in at the end:
# a restore cut short is started again from the backup at the next start.
r=/data/restore.rdb
if [ -f "$r" ]; then
  if [ -e /data/appendonlydir ]; then
    echo "loop: not restoring $r: this volume holds data already (/data/appendonlydir)." \
      "Restore onto an empty volume (docker compose down -v deletes this one's data:" \
      "back it up first), or start on the data as it is: docker compose run --rm" \
      "--no-deps --entrypoint rm redis $r" >&2
    exit 1
  fi
  rm -rf /data/restoring
  mkdir /data/restoring
  ln "$r" /data/restoring/restore.rdb
  s=/data/restoring/redis.sock
  redis-server --dir /data/restoring --dbfilename restore.rdb --appendonly no --save "" \
    --port 0 --unixsocket "$s" --logfile /data/restoring/redis.log &
  pid=$!
  cli() { REDISCLI_AUTH="" redis-cli -s "$s" "$@"; }
  until [ "$(cli ping 2>/dev/null)" = PONG ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      cat /data/restoring/redis.log >&2
      echo "loop: $r could not be loaded: it is cut short, damaged or not a loop backup" \
        "(Redis's reason above); nothing was restored. Remove it (docker compose run --rm" \
        "--no-deps --entrypoint rm redis $r), then copy a whole backup there" >&2
      exit 1
    fi
    sleep 0.2
  done
  cli config set appendonly yes >/dev/null
  while :; do  # until written, or a write failed (Redis tries again and again)
    info=$(cli info persistence)
    case "$info" in
      *"aof_last_bgrewrite_status:err"*) break;;
      *"aof_enabled:1"*"aof_rewrite_in_progress:0"*"aof_rewrite_scheduled:0"*) break;;
    esac
    sleep 0.2
  done
  case "$info" in *"aof_last_bgrewrite_status:ok"*) ;; *)
    cat /data/restoring/redis.log >&2
    cli shutdown nosave >/dev/null 2>&1 || true
    echo "loop: writing the append-only file from $r failed (is the volume's disk full?);" \
      "nothing was restored: make room and start again, or go on without restoring" \
      "(docker compose run --rm --no-deps --entrypoint rm redis $r)" >&2
    exit 1;;
  esac
  n=$(cli dbsize)
  cli shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" || true
  mv /data/restoring/appendonlydir /data/appendonlydir
  rm -rf /data/restoring "$r"
  echo "loop: restored $n keys from $r" >&2
fi

# `loop backup` fetches a snapshot as a replica does, at once (Redis waits 5 s for
# more replicas by default)
exec docker-entrypoint.sh redis-server --appendonly yes --appendfsync always \
  --save "" --repl-diskless-sync yes --repl-diskless-sync-delay 0 --maxmemory "${LOOP_REDIS_MAXMEMORY:-0}" --maxmemory-policy noeviction \
  --requirepass "$REDISCLI_AUTH"
