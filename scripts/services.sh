#!/usr/bin/env bash
# Private PostgreSQL and Redis servers for the tests: the one place that knows how to start,
# stop and reach them. scripts/test.sh starts one pair for the whole run; the Rust integration
# tests (sync-server/tests/integration/support.rs) and the Node tests
# (tests/yjs-compat/services.mjs) call this script when run on their own, and for a test that
# must stop a server under the clients' feet, a private one.
#
#   services.sh start DIR [postgres] [redis]  start them (both by default) on free 127.0.0.1
#                                             ports, data under DIR; writes DIR/env and prints it:
#                                             COLLAB_TEST_POSTGRES_URL=postgres://…/postgres
#                                             COLLAB_TEST_REDIS_URL=redis://…/
#   services.sh env DIR                       print DIR/env again
#   services.sh halt DIR postgres|redis       stop one (PostgreSQL: fast shutdown; Redis:
#                                             SIGKILL), keeping its port and data
#   services.sh resume DIR postgres|redis     start a halted one again, same port, same data
#   services.sh stop DIR                      stop everything started in DIR and remove DIR
#   services.sh database URL NAME             create the empty database NAME on the PostgreSQL
#                                             server of URL; print the new database's URL
#   services.sh psql URL SQL                  run SQL in the database of URL; print the rows,
#                                             unaligned, without headers
#
# PostgreSQL: initdb into DIR/postgres (trust authentication, user `postgres`, fsync on, no
# Unix socket); as root, initdb and postgres run as the `postgres` system user (they refuse
# root), so DIR must be reachable by that user. Redis: no persistence. A port taken between
# the probe and the bind makes the start retry with another.
set -euo pipefail

die() {
    echo "services.sh: $*" >&2
    exit 1
}

# The newest /usr/lib/postgresql/<version>/bin.
pg_bin() {
    local dir best="" best_version=-1 version
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] || continue
        version=${dir#/usr/lib/postgresql/}
        version=${version%/bin}
        if [[ $version =~ ^[0-9]+$ ]] && [ "$version" -gt "$best_version" ]; then
            best=$dir
            best_version=$version
        fi
    done
    [ -n "$best" ] || die "PostgreSQL is not installed (scripts/setup.sh installs it: ensure_postgres)"
    echo "$best"
}

as_root() { [ "$(id -u)" -eq 0 ]; }

# Runs a PostgreSQL server program, as the postgres user when we are root.
pg_run() {
    local program=$1
    shift
    if as_root; then
        runuser -u postgres -- "$(pg_bin)/$program" "$@"
    else
        "$(pg_bin)/$program" "$@"
    fi
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port in 20000–60999 that nothing listens on right now.
free_port() {
    local port
    while :; do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 41000))
        port_in_use "$port" || break
    done
    echo "$port"
}

# Where DIR's PostgreSQL lives: DIR/postgres, or the directory it links to when the
# postgres user cannot enter DIR (see start_postgres).
pg_dir() { readlink -f "$1/postgres"; }

# pg_ctl start on the port in DIR/postgres/port; waits until it accepts connections.
pg_start() {
    local dir
    dir=$(pg_dir "$1")
    pg_run pg_ctl -D "$dir/data" -l "$dir/log" -w -t 60 \
        -o "-p $(cat "$dir/port") -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=on" \
        start >/dev/null
}

start_postgres() {
    local dir=$1/postgres
    mkdir -p "$dir"
    if as_root; then
        # DIR may be private (mkdtemp makes it 0700): the postgres user only needs to enter it.
        chmod o+x "$1"
        chown postgres: "$dir"
        if ! runuser -u postgres -- test -w "$dir"; then
            # A parent of DIR is closed to it (a checkout under a private temporary directory):
            # the data goes to a directory of its own under /tmp, DIR/postgres links to it.
            rmdir "$dir"
            local outside
            outside=$(mktemp -d /tmp/collab-test-postgres.XXXXXX)
            chmod 711 "$outside"
            chown postgres: "$outside"
            ln -s "$outside" "$dir"
            dir=$outside
        fi
    fi
    pg_run initdb -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
        die "initdb failed: $(cat "$dir/initdb.log")"
    local attempt
    for attempt in 1 2 3 4 5; do
        free_port >"$dir/port"
        if pg_start "$1" 2>>"$dir/start.log"; then
            echo "COLLAB_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres" >>"$1/env"
            return 0
        fi
    done
    die "PostgreSQL did not start (attempt $attempt); see $dir/log"
}

# True if process $1 has ended (a zombie nobody reaps counts as ended).
ended() {
    [ ! -e "/proc/$1" ] || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# redis-server on the port in DIR/redis/port, in the background; waits until it answers PING.
# False if it exited first (its port was taken).
redis_start() {
    local dir=$1/redis port
    port=$(cat "$dir/port")
    command -v redis-server >/dev/null ||
        die "redis-server is not installed (scripts/setup.sh installs it: ensure_redis)"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
        --logfile "$dir/log" </dev/null >/dev/null 2>&1 &
    local pid=$!
    echo "$pid" >"$dir/pid"
    # redis-server has no ready signal for a background start: ask until it answers, or exits.
    local deadline=$((SECONDS + 30))
    until [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; do
        ended "$pid" && return 1
        [ "$SECONDS" -lt "$deadline" ] || die "redis-server did not answer PING; see $dir/log"
        sleep 0.05
    done
}

start_redis() {
    local dir=$1/redis attempt
    mkdir -p "$dir"
    for attempt in 1 2 3 4 5; do
        free_port >"$dir/port"
        if redis_start "$1"; then
            echo "COLLAB_TEST_REDIS_URL=redis://127.0.0.1:$(cat "$dir/port")/" >>"$1/env"
            return 0
        fi
    done
    die "redis-server did not start (attempt $attempt); see $dir/log"
}

redis_kill() {
    local pid_file=$1/redis/pid pid
    [ -f "$pid_file" ] || return 0
    pid=$(cat "$pid_file")
    kill -9 "$pid" 2>/dev/null || true
    # Not our child (an earlier call started it): wait until the kernel has let go of it.
    while ! ended "$pid"; do sleep 0.05; done
    rm -f "$pid_file"
}

pg_running() { [ -f "$(pg_dir "$1")/data/postmaster.pid" ]; }

# A connection URL with its database replaced by $2.
with_database() { echo "${1%/*}/$2"; }

psql_run() {
    "$(pg_bin)/psql" -d "$1" -X -A -t -q -v ON_ERROR_STOP=1 -c "$2" </dev/null
}

command=${1:-}
[ $# -ge 2 ] || die "usage: services.sh start|env|halt|resume|stop DIR …, database URL NAME, psql URL SQL"
shift
case $command in
start)
    dir=$1
    shift
    [ $# -gt 0 ] || set -- postgres redis
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    : >"$dir/env"
    for service in "$@"; do
        case $service in
        postgres) start_postgres "$dir" ;;
        redis) start_redis "$dir" ;;
        *) die "unknown service $service (postgres or redis)" ;;
        esac
    done
    cat "$dir/env"
    ;;
env)
    cat "$1/env"
    ;;
halt)
    case ${2:-} in
    postgres) pg_run pg_ctl -D "$(pg_dir "$1")/data" -w -m fast stop >/dev/null ;;
    redis) redis_kill "$1" ;;
    *) die "halt DIR postgres|redis" ;;
    esac
    ;;
resume)
    case ${2:-} in
    postgres) pg_start "$1" ;;
    redis) redis_start "$1" || die "redis-server did not start again; see $1/redis/log" ;;
    *) die "resume DIR postgres|redis" ;;
    esac
    ;;
stop)
    dir=$1
    [ -d "$dir" ] || exit 0
    if pg_running "$dir"; then
        # Immediate: the data is removed next, so nothing needs to reach the disk.
        pg_run pg_ctl -D "$(pg_dir "$dir")/data" -w -m immediate stop >/dev/null 2>&1 || true
    fi
    redis_kill "$dir"
    # The data outside DIR too, when DIR/postgres links there.
    [ -L "$dir/postgres" ] && rm -rf "$(pg_dir "$dir")"
    rm -rf "$dir"
    ;;
database)
    [ $# -eq 2 ] || die "database URL NAME"
    [[ $2 =~ ^[A-Za-z0-9_]+$ ]] || die "a database name is letters, digits and _: $2"
    psql_run "$1" "CREATE DATABASE \"$2\""
    with_database "$1" "$2"
    ;;
psql)
    [ $# -eq 2 ] || die "psql URL SQL"
    psql_run "$1" "$2"
    ;;
*)
    die "unknown command $command"
    ;;
esac
