#!/usr/bin/env bash
# Check PostgreSQL, Redis and RabbitMQ on 127.0.0.1 (standard ports) and start any that is down,
# with the commands this kind of machine uses (python-svc: Debian's packages, no systemd).
#
#   bash deploy/ensure-services.sh                 # all three
#   bash deploy/ensure-services.sh postgresql redis
#
# Prints one line per service (up / started / DOWN and why); exits 1 if any asked for is still down.
# On a server with systemd, start them with systemctl instead (docs/deployment.md).
set -uo pipefail

wait_for() {  # wait_for NAME CHECK-FUNCTION: up to 60 s
    local i
    for i in $(seq 1 60); do "$2" && return 0; sleep 1; done
    return 1
}

tcp_open() { timeout 2 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
pg_start() {
    command -v pg_ctlcluster >/dev/null || { echo "pg_ctlcluster not found (PostgreSQL not installed)"; return 1; }
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    [ -n "$version" ] || { echo "no cluster under /etc/postgresql"; return 1; }
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
}

redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }
redis_start() {
    command -v redis-server >/dev/null || { echo "redis-server not found"; return 1; }
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

rabbitmq_up() { tcp_open 5672; }
rabbitmq_start() {
    command -v rabbitmq-server >/dev/null || { echo "rabbitmq-server not found"; return 1; }
    rabbitmq-server -detached
}

ensure() {  # ensure NAME UP-FUNCTION START-FUNCTION
    local name=$1 up=$2 start=$3 why
    if "$up"; then echo "$name: up"; return 0; fi
    echo "$name: down, starting it"
    why=$("$start" 2>&1) || { echo "$name: DOWN: could not start: ${why:-no output}"; return 1; }
    if wait_for "$name" "$up"; then echo "$name: started"; return 0; fi
    echo "$name: DOWN: started but not answering after 60 s ${why:+($why)}"
    return 1
}

status=0
for service in "${@:-postgresql redis rabbitmq}"; do
    for s in $service; do
        case "$s" in
            postgresql) ensure postgresql pg_up pg_start || status=1 ;;
            redis) ensure redis redis_up redis_start || status=1 ;;
            rabbitmq) ensure rabbitmq rabbitmq_up rabbitmq_start || status=1 ;;
            *) echo "unknown service $s (postgresql, redis, rabbitmq)"; status=1 ;;
        esac
    done
done
exit $status
