#!/bin/sh
# The kiln sidecar: a resident `kiln serve`, then Argo CD's cmp-server (copied into
# /var/run/argocd by the repo-server's init container; ARGOCD_CMP_SERVER overrides the path). SIGTERM reaches both; kiln serve
# finishes the renders under way and removes its socket.
set -u
: "${KILN_SOCKET:=/tmp/kiln/kiln.sock}"
: "${KILN_CACHE_DIR:=/var/cache/kiln}"
: "${ARGOCD_CMP_SERVER:=/var/run/argocd/argocd-cmp-server}"
export KILN_SOCKET KILN_CACHE_DIR

kiln serve --socket "$KILN_SOCKET" &
kiln_pid=$!
"$ARGOCD_CMP_SERVER" "$@" &
cmp_pid=$!

stop() { kill -TERM "$cmp_pid" "$kiln_pid" 2>/dev/null; }
trap stop TERM INT
wait "$cmp_pid"
status=$?
# A signal interrupts `wait`: wait again for the cmp-server's own exit status.
if [ "$status" -gt 128 ] && kill -0 "$cmp_pid" 2>/dev/null; then
  wait "$cmp_pid"
  status=$?
fi
kill -TERM "$kiln_pid" 2>/dev/null
wait "$kiln_pid"
exit "$status"
