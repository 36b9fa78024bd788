#!/bin/bash
# Entrypoint of kubedefis/redis: a password-protected, memory-bounded, non-persistent cache.
#
#   redis-entrypoint.sh [--option value ...]   start redis-server (extra options win)
#   redis-entrypoint.sh COMMAND [ARGS...]      run another command (redis-cli, bash, ...) as is
#
# Environment:
#   REDIS_PASSWORD          required (requirepass); passed on stdin, never on the command line
#   REDIS_PORT              default 6379
#   REDIS_MAXMEMORY         memory for data, default 48mb; past it keys are evicted
#   REDIS_MAXMEMORY_POLICY  default allkeys-lru (evict the least recently used key)
set -Eeuo pipefail

: "${REDIS_PORT:=6379}"
: "${REDIS_MAXMEMORY:=48mb}"
: "${REDIS_MAXMEMORY_POLICY:=allkeys-lru}"

die() { echo "kubedefis-redis: error: $*" >&2; exit 1; }

if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
    exec "$@"
fi
[ "$(id -u)" != 0 ] || die "do not run as root: run as uid 999 (runAsUser: 999)"
[ -n "${REDIS_PASSWORD:-}" ] || die "REDIS_PASSWORD is required"
case "$REDIS_PASSWORD" in
    *[[:space:]\"\']*) die "REDIS_PASSWORD must not contain spaces or quotes" ;;
esac

echo "kubedefis-redis: port $REDIS_PORT, maxmemory $REDIS_MAXMEMORY, policy $REDIS_MAXMEMORY_POLICY" >&2
# `redis-server -` reads its configuration from stdin (a pipe: the here-string is small).
exec redis-server - "$@" <<<"
bind * -::*
port $REDIS_PORT
protected-mode no
dir /data
save \"\"
appendonly no
maxmemory $REDIS_MAXMEMORY
maxmemory-policy $REDIS_MAXMEMORY_POLICY
requirepass $REDIS_PASSWORD
"
