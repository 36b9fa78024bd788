#!/bin/bash
# Entrypoint of kubedefis/postgres.
#
#   docker-entrypoint.sh [-c name=value ...]   prepare PGDATA for POSTGRES_ROLE, then exec postgres
#   docker-entrypoint.sh COMMAND [ARGS...]     run another command (psql, pg-backup, bash, ...) as is
#
# Environment:
#   PGDATA              data directory (default /var/lib/postgresql/data/pgdata: a sub-directory of
#                       the volume, so the volume root's lost+found does not bother initdb)
#   POSTGRES_ROLE       primary (default), replica, or auto: primary when POD_NAME equals
#                       POSTGRES_PRIMARY_POD, replica otherwise (what the replication chart uses, so
#                       that a promotion only has to change who POSTGRES_PRIMARY_POD names)
#   POSTGRES_USER       application role created on first start (default: postgres)
#   POSTGRES_PASSWORD   its password (required on first start; stored as scram-sha-256)
#   POSTGRES_DB         database created on first start, owned by POSTGRES_USER (default: POSTGRES_USER)
#   POSTGRES_HBA_CIDRS  space-separated networks allowed to log in with a password
#                       (default "0.0.0.0/0 ::/0": the pod network is not known in advance;
#                       NetworkPolicies restrict who can reach port 5432)
#   POSTGRES_INITDB_ARGS extra initdb arguments
# Replication (any of these set, or POSTGRES_ROLE other than primary, turns it on):
#   POSTGRES_REPLICATION_PASSWORD  password of the replication role (required with replication)
#   POSTGRES_REPLICATION_USER      that role (default replicator): REPLICATION, plus the grants
#                                  pg_rewind needs; created by the primary on first start
#   POSTGRES_REPLICATION_CIDRS     networks the replication role may connect from (default: the
#                                  private ranges 10/8 172.16/12 192.168/16, i.e. the pod network)
#   POSTGRES_PRIMARY_HOST, POSTGRES_PRIMARY_PORT  where a replica finds the primary (port 5432)
#   POSTGRES_PRIMARY_POD           with POSTGRES_ROLE=auto: the pod that is the primary
#   POD_NAME                       this pod (default: the host name, which is the pod name)
#   POSTGRES_SLOT_NAME             physical replication slot of this replica (default: POD_NAME
#                                  with '-' turned into '_')
#   POSTGRES_PRIMARY_WAIT_SECONDS  how long a new replica waits for the primary (default 300)
#
# Roles: each role has a prepare_<role> function that leaves a ready PGDATA behind; the
# postgres server is then started the same way for every role.
#   primary: initdb on first start (application role and database, replication role), else
#            start what is there; a data directory that was a replica (standby.signal) is
#            promoted by starting it without standby.signal.
#   replica: empty PGDATA: pg_basebackup -X stream from the primary through this replica's own
#            slot (created if missing), then standby.signal. A standby's PGDATA: start it as a
#            hot standby. A former primary's PGDATA (no standby.signal: it was failed over):
#            pg_rewind onto the new primary, or a fresh base backup if that fails.
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data/pgdata}"
: "${POSTGRES_ROLE:=primary}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_HBA_CIDRS:=0.0.0.0/0 ::/0}"
: "${POSTGRES_INITDB_ARGS:=}"
: "${POSTGRES_REPLICATION_USER:=replicator}"
: "${POSTGRES_REPLICATION_PASSWORD:=}"
: "${POSTGRES_REPLICATION_CIDRS:=10.0.0.0/8 172.16.0.0/12 192.168.0.0/16}"
: "${POSTGRES_PRIMARY_HOST:=}"
: "${POSTGRES_PRIMARY_PORT:=5432}"
: "${POSTGRES_PRIMARY_POD:=}"
: "${POSTGRES_PRIMARY_WAIT_SECONDS:=300}"
: "${POD_NAME:=$(hostname)}"
: "${POSTGRES_SLOT_NAME:=$(echo "$POD_NAME" | tr 'A-Z.-' 'a-z__' | cut -c1-63)}"
SOCKET_DIR=/var/run/postgresql
# Replication password for libpq (primary_conninfo, pg_basebackup, pg_rewind): never on a
# command line, never in the data directory (which a backup copies).
PASSFILE=$SOCKET_DIR/.kubedefis-pgpass
# Written while a node prepares (waits for the primary, base backup, rewind): the probes read
# it so that a long base backup is not mistaken for a dead server.
PREPARING=$SOCKET_DIR/kubedefis-preparing
export PGDATA

log() { echo "kubedefis-postgres: $*" >&2; }
die() { log "error: $*"; exit 1; }

# True when PGDATA already holds a cluster (PG_VERSION is written by initdb).
has_cluster() { [ -s "$PGDATA/PG_VERSION" ]; }

replication_enabled() { [ -n "$POSTGRES_REPLICATION_PASSWORD" ] || [ "$POSTGRES_ROLE" != primary ]; }

check_environment() {
    if [ "$(id -u)" = 0 ]; then
        die "do not run as root: run as the postgres user (uid 999), e.g. runAsUser: 999"
    fi
    mkdir -p "$(dirname "$PGDATA")" "$SOCKET_DIR" 2>/dev/null || true
    [ -w "$(dirname "$PGDATA")" ] || die "$(dirname "$PGDATA") is not writable by uid $(id -u)"
    [ -w "$SOCKET_DIR" ] || die "$SOCKET_DIR is not writable by uid $(id -u) (mount an emptyDir there)"
    if replication_enabled; then
        [ -n "$POSTGRES_REPLICATION_PASSWORD" ] || die "POSTGRES_REPLICATION_PASSWORD is required with replication"
        case "$POSTGRES_SLOT_NAME" in
            *[!a-z0-9_]* | "") die "POSTGRES_SLOT_NAME '$POSTGRES_SLOT_NAME': only a-z, 0-9 and _ are allowed" ;;
        esac
    fi
}

# Which role this start takes: POSTGRES_ROLE, with auto resolved against POSTGRES_PRIMARY_POD.
resolve_role() {
    case "$POSTGRES_ROLE" in
        primary | replica) echo "$POSTGRES_ROLE" ;;
        auto)
            # Empty while a failover is in progress (kubedefis db promote fences the old primary
            # that way): no node may start until the new primary is named.
            [ -n "$POSTGRES_PRIMARY_POD" ] || die "POSTGRES_ROLE=auto and no primary named (POSTGRES_PRIMARY_POD empty: a failover in progress?)"
            if [ "$POD_NAME" = "$POSTGRES_PRIMARY_POD" ]; then echo primary; else echo replica; fi
            ;;
        *) die "unknown POSTGRES_ROLE '$POSTGRES_ROLE' (supported: primary, replica, auto)" ;;
    esac
}

preparing() { echo "$$ $*" >"$PREPARING"; log "$*"; }

# Run a command against a temporary server that only listens on a private Unix socket,
# so nothing can connect before the initialisation is complete.
with_private_server() {
    local datadir=$1 sockdir
    shift
    sockdir=$(mktemp -d "$SOCKET_DIR/init.XXXXXX")
    pg_ctl -D "$datadir" -w -t 60 -l "$sockdir/server.log" \
        -o "-c listen_addresses='' -c unix_socket_directories='$sockdir'" start >/dev/null \
        || { cat "$sockdir/server.log" >&2; die "temporary server did not start"; }
    local status=0
    PGHOST=$sockdir "$@" || status=$?
    pg_ctl -D "$datadir" -w -m fast stop >/dev/null
    rm -rf "$sockdir"
    return "$status"
}

create_app_role_and_db() {
    # psql variables (:"ident", :'literal') do the quoting: any user, database or password works.
    psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres \
        -v user="$POSTGRES_USER" -v pass="$POSTGRES_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I LOGIN', :'user') WHERE :'user' <> 'postgres' \gexec
ALTER ROLE :"user" PASSWORD :'pass';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') WHERE :'db' <> 'postgres' \gexec
SQL
}

# The replication role: REPLICATION for streaming and base backups, and read access to the
# files of the data directory through the functions pg_rewind calls (a former primary is
# rewound with this role, no superuser needed).
create_replication_role() {
    psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres \
        -v user="$POSTGRES_REPLICATION_USER" -v pass="$POSTGRES_REPLICATION_PASSWORD" <<'SQL'
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I', :'user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" WITH LOGIN REPLICATION PASSWORD :'pass';
GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO :"user";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO :"user";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO :"user";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO :"user";
SQL
}

# pg_hba.conf: our lines live between two markers and are rewritten at every start, so a change
# of POSTGRES_HBA_CIDRS or POSTGRES_REPLICATION_CIDRS applies on restart. Replication
# connections only match the `replication` keyword, never `all`.
write_hba() {
    local file=$1/pg_hba.conf cidr
    sed '/^# kubedefis: begin/,/^# kubedefis: end/d' "$file" >"$file.new"
    {
        echo "# kubedefis: begin (rewritten at every start by the entrypoint)"
        if replication_enabled; then
            echo "# streaming, base backups and pg_rewind, from the pod network only"
            for cidr in $POSTGRES_REPLICATION_CIDRS; do
                printf 'host\treplication\t%s\t%s\tscram-sha-256\n' "$POSTGRES_REPLICATION_USER" "$cidr"
                printf 'host\tpostgres\t%s\t%s\tscram-sha-256\n' "$POSTGRES_REPLICATION_USER" "$cidr"
            done
            printf 'host\tall\t%s\t0.0.0.0/0\treject\n' "$POSTGRES_REPLICATION_USER"
            printf 'host\tall\t%s\t::/0\treject\n' "$POSTGRES_REPLICATION_USER"
        fi
        echo "# password (scram-sha-256) logins from the networks in POSTGRES_HBA_CIDRS"
        for cidr in $POSTGRES_HBA_CIDRS; do
            printf 'host\tall\tall\t%s\tscram-sha-256\n' "$cidr"
        done
        echo "# kubedefis: end"
    } >>"$file.new"
    mv "$file.new" "$file"
}

write_passfile() {
    local pass=${POSTGRES_REPLICATION_PASSWORD//\\/\\\\}
    pass=${pass//:/\\:}
    (umask 077 && printf '*:*:*:%s:%s\n' "$POSTGRES_REPLICATION_USER" "$pass" >"$PASSFILE")
    export PGPASSFILE=$PASSFILE
}

# Settings of a replicated node, in $PGDATA/kubedefis.conf (included by postgresql.conf and
# rewritten at every start). Server arguments (-c) still win over them.
write_replication_conf() {
    local role=$1 conf=$PGDATA/kubedefis.conf
    grep -q "^include_if_exists = 'kubedefis.conf'" "$PGDATA/postgresql.conf" \
        || printf "\n# kubedefis: role-dependent settings written by the entrypoint\ninclude_if_exists = 'kubedefis.conf'\n" \
            >>"$PGDATA/postgresql.conf"
    {
        echo "# Written by the kubedefis entrypoint at every start (role: $role). Do not edit:"
        echo "# pass -c name=value to the server instead."
        echo "wal_level = replica"
        echo "hot_standby = on"
        echo "# WAL kept for replicas that fall behind; a slot whose replica is gone for good"
        echo "# stops holding WAL past max_slot_wal_keep_size instead of filling the disk."
        echo "wal_keep_size = '64MB'"
        echo "max_slot_wal_keep_size = '256MB'"
        echo "wal_retrieve_retry_interval = '1s'"
        echo "hot_standby_feedback = on"
        if [ "$role" = replica ]; then
            printf "primary_conninfo = 'host=%s port=%s user=%s passfile=%s application_name=%s connect_timeout=5 keepalives_idle=10 keepalives_interval=5 keepalives_count=3'\n" \
                "$POSTGRES_PRIMARY_HOST" "$POSTGRES_PRIMARY_PORT" "$POSTGRES_REPLICATION_USER" "$PASSFILE" \
                "$POSTGRES_SLOT_NAME"
            echo "primary_slot_name = '$POSTGRES_SLOT_NAME'"
            echo "recovery_target_timeline = 'latest'"
        fi
    } >"$conf.new"
    mv "$conf.new" "$conf"
    # `kubedefis db promote` points running replicas straight at the new primary with ALTER
    # SYSTEM (a runtime shortcut past the write Service); at start the topology decides again.
    if [ -f "$PGDATA/postgresql.auto.conf" ]; then
        sed -i '/^primary_conninfo[[:space:]]*=/d' "$PGDATA/postgresql.auto.conf"
    fi
}

# primary: initdb on first start, then the application role and database. The work is done in
# a sibling directory renamed into place at the end, so a start that dies half-way is redone
# from scratch instead of leaving a cluster without its role.
prepare_primary() {
    if has_cluster; then
        if [ -f "$PGDATA/standby.signal" ]; then
            # A replica named primary (kubedefis db promote, or POSTGRES_PRIMARY_POD changed while
            # it was down): starting without standby.signal ends recovery on a new timeline.
            log "$PGDATA is a standby but this node is the primary now: promoting it"
            rm -f "$PGDATA/standby.signal"
        fi
        log "existing cluster in $PGDATA: starting it"
        return
    fi
    [ -n "${POSTGRES_PASSWORD:-}" ] || die "POSTGRES_PASSWORD is required to initialise $PGDATA"
    if [ -d "$PGDATA" ] && [ -n "$(ls -A "$PGDATA")" ]; then
        die "$PGDATA is not empty but holds no cluster (no PG_VERSION): refusing to touch it"
    fi
    local work="$PGDATA.initializing"
    rm -rf "$work"
    log "initialising a new cluster in $PGDATA"
    # --data-checksums also makes pg_rewind possible (it needs checksums or wal_log_hints).
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words
    initdb -D "$work" -U postgres --encoding=UTF8 --locale=C.UTF-8 --data-checksums \
        --auth-local=peer --auth-host=scram-sha-256 $POSTGRES_INITDB_ARGS >/dev/null
    write_hba "$work"
    with_private_server "$work" create_app_role_and_db
    if replication_enabled; then
        with_private_server "$work" create_replication_role
        log "created replication role '$POSTGRES_REPLICATION_USER'"
    fi
    rmdir "$PGDATA" 2>/dev/null || true
    mv "$work" "$PGDATA"
    log "created role '$POSTGRES_USER' and database '$POSTGRES_DB'"
}

# libpq connection to the primary as the replication role; `replication=true` opens a
# walsender session, where CREATE_REPLICATION_SLOT and friends are plain queries.
primary_conn() {
    echo "host=$POSTGRES_PRIMARY_HOST port=$POSTGRES_PRIMARY_PORT user=$POSTGRES_REPLICATION_USER connect_timeout=5 $*"
}

wait_for_primary() {
    local deadline=$((SECONDS + POSTGRES_PRIMARY_WAIT_SECONDS)) last=""
    preparing "waiting for the primary at $POSTGRES_PRIMARY_HOST:$POSTGRES_PRIMARY_PORT"
    # A connection as the replication role, not just pg_isready: a standby answers pg_isready
    # too, and base backups must come from the primary.
    until last=$(psql -X -At -v ON_ERROR_STOP=1 "$(primary_conn dbname=postgres)" \
        -c "SELECT CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END" 2>&1) \
        && [ "$last" = primary ]; do
        ((SECONDS < deadline)) || die "no primary at $POSTGRES_PRIMARY_HOST:$POSTGRES_PRIMARY_PORT after ${POSTGRES_PRIMARY_WAIT_SECONDS}s (last answer: ${last:-none})"
        sleep 2
    done
}

# This replica's physical slot on the primary: the primary keeps the WAL the replica has not
# received yet (up to max_slot_wal_keep_size), so a replica that was down catches up by streaming.
ensure_slot() {
    local found
    found=$(psql -X -At -v ON_ERROR_STOP=1 "$(primary_conn replication=true)" \
        -c "READ_REPLICATION_SLOT $POSTGRES_SLOT_NAME") || return 1
    if [ "${found%%|*}" != physical ]; then
        psql -X -q -At -v ON_ERROR_STOP=1 "$(primary_conn replication=true)" \
            -c "CREATE_REPLICATION_SLOT $POSTGRES_SLOT_NAME PHYSICAL RESERVE_WAL" >/dev/null || return 1
        log "created replication slot '$POSTGRES_SLOT_NAME' on the primary"
    fi
}

base_backup() {
    local work="$PGDATA.basebackup"
    rm -rf "$work"
    ensure_slot || die "cannot create replication slot '$POSTGRES_SLOT_NAME' on the primary"
    preparing "base backup from $POSTGRES_PRIMARY_HOST (slot $POSTGRES_SLOT_NAME)"
    pg_basebackup -D "$work" -h "$POSTGRES_PRIMARY_HOST" -p "$POSTGRES_PRIMARY_PORT" \
        -U "$POSTGRES_REPLICATION_USER" --no-password -X stream -S "$POSTGRES_SLOT_NAME" \
        --checkpoint=fast --label="kubedefis replica $POD_NAME" \
        || { rm -rf "$work"; die "pg_basebackup from $POSTGRES_PRIMARY_HOST failed"; }
    touch "$work/standby.signal"
    rm -rf "$PGDATA"
    mv "$work" "$PGDATA"
    log "base backup done: $(du -sh "$PGDATA" | cut -f1)"
}

# A server that died left postmaster.pid behind. postgres itself ignores a lock naming its own
# PID (1, in a container), but pg_rewind's single-user recovery runs under another PID and
# would take the entrypoint (PID 1 now) for a live server. No postgres runs in this container
# yet, and the volume is this pod's alone (ReadWriteOnce, one pod per StatefulSet identity).
remove_stale_lock() {
    local pid
    [ -f "$PGDATA/postmaster.pid" ] || return 0
    pid=$(head -n 1 "$PGDATA/postmaster.pid")
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ]; then
        die "a postgres process ($pid) still runs on $PGDATA"
    fi
    log "removing the stale postmaster.pid of a server that did not shut down (pid $pid)"
    rm -f "$PGDATA/postmaster.pid"
}

# A former primary joining the new one. pg_rewind copies back only the blocks that changed
# since the timelines forked (and runs crash recovery first when the node died uncleanly);
# when it cannot, the data directory is replaced by a fresh base backup. Either way, what
# the old primary wrote after the fork is discarded: with synchronous replication no client
# was ever told those transactions committed.
rejoin_former_primary() {
    preparing "$PGDATA was a primary and $POD_NAME is a replica now: pg_rewind onto $POSTGRES_PRIMARY_HOST"
    remove_stale_lock
    if pg_rewind --target-pgdata="$PGDATA" --source-server="$(primary_conn dbname=postgres)" --progress; then
        touch "$PGDATA/standby.signal"
        log "pg_rewind done"
    else
        log "pg_rewind failed: replacing $PGDATA with a fresh base backup"
        base_backup
    fi
}

prepare_replica() {
    [ -n "$POSTGRES_PRIMARY_HOST" ] || die "a replica needs POSTGRES_PRIMARY_HOST"
    write_passfile
    if has_cluster && [ -f "$PGDATA/standby.signal" ]; then
        log "existing standby in $PGDATA: starting it"
        # Best effort: the primary may be down, or a new one without our slot (after a failover).
        ensure_slot 2>/dev/null || log "could not check slot '$POSTGRES_SLOT_NAME' on the primary (will stream once it is there)"
        return
    fi
    wait_for_primary
    if has_cluster; then
        rejoin_former_primary
    else
        if [ -d "$PGDATA" ] && [ -n "$(ls -A "$PGDATA")" ]; then
            die "$PGDATA is not empty but holds no cluster (no PG_VERSION): refusing to touch it"
        fi
        base_backup
    fi
}

main() {
    # Anything that is not a server option is a command to run instead of the server.
    if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
        exec "$@"
    fi
    check_environment
    local role
    role=$(resolve_role)
    rm -f "$PREPARING"
    case "$role" in
        primary) prepare_primary ;;
        replica) prepare_replica ;;
    esac
    if replication_enabled; then
        write_passfile
        write_hba "$PGDATA"
        write_replication_conf "$role"
    fi
    rm -f "$PREPARING"
    # Volumes mounted with an fsGroup get group bits added; postgres wants 0700 (or 0750).
    chmod 0700 "$PGDATA"
    log "starting postgres (role $role${POSTGRES_ROLE:+, POSTGRES_ROLE=$POSTGRES_ROLE})"
    # jit=off: the image ships without LLVM. Options given as arguments come after and win.
    exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories="$SOCKET_DIR" \
        -c jit=off "$@"
}

main "$@"
