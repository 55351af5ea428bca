#!/bin/sh
# Starts one MariaDB Galera node with the role disco-agent resolved (or,
# under seed 001's glue, the one the glue gives: the root is always new,
# the others join the root's name): the node that won the bootstrap
# starts a new cluster (--wsrep-new-cluster), every other node joins the
# announced peers (gcomm://a:4567,b:4567). A
# joiner retries while no primary component takes it yet (the bootstrapper
# is announced as soon as its server starts, before Galera listens).
#
#   galera-node new|existing PEERS NODE HOST CLUSTER
set -eu
state=$1 peers=$2 node=$3 host=$4 cluster=$5
mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
fi
# The harness's user, on every node and never replicated (a joiner's state
# transfer brings the donor's copy anyway).
cat >/run/mysqld/init.sql <<SQL
SET SESSION wsrep_on = OFF;
CREATE USER IF NOT EXISTS 'lab'@'%' IDENTIFIED BY 'lab';
GRANT ALL ON *.* TO 'lab'@'%';
CREATE DATABASE IF NOT EXISTS lab;
SQL
set -- /usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql \
  --bind-address=0.0.0.0 --skip-name-resolve \
  --binlog-format=ROW --default-storage-engine=InnoDB --innodb-autoinc-lock-mode=2 \
  --wsrep-on=ON --wsrep-provider=/usr/lib/galera/libgalera_smm.so \
  --wsrep-cluster-name="$cluster" --wsrep-node-name="$node" \
  --wsrep-node-address="$host" --wsrep-node-incoming-address="$host:3306" \
  --wsrep-sst-method=rsync --init-file=/run/mysqld/init.sql

# Forward a stop to the server, so that disco-agent's SIGTERM stops it.
pid=
trap '[ -n "$pid" ] && kill -TERM "$pid"' TERM INT
if [ "$state" = new ]; then
  "$@" --wsrep-new-cluster --wsrep-cluster-address=gcomm:// &
  pid=$!
  wait "$pid"
  exit $?
fi
tries=0
while :; do
  "$@" --wsrep-cluster-address="gcomm://$peers" &
  pid=$!
  started=$(date +%s)
  if wait "$pid"; then exit 0; fi
  code=$?
  # A server that ran for a while and then died is not a failed join.
  [ $(($(date +%s) - started)) -lt 60 ] || exit "$code"
  tries=$((tries + 1))
  [ "$tries" -lt 30 ] || exit "$code"
  echo "galera-node: $node could not join ($code); again in 2 s" >&2
  sleep 2
done
