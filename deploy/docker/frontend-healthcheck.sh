#!/bin/bash
# Exit 0 when tandem-frontend answers HTTP on its port, else 1. Needs nothing but
# bash (its /dev/tcp), so the runtime image stays without curl.
#
# It sends `HEAD TANDEM_HEALTH_PATH` to the port of TANDEM_LISTEN and wants a
# status below 500 within TANDEM_HEALTH_TIMEOUT seconds (default 3). The path
# defaults to the first static mount (TANDEM_STATIC=/static=/srv/static gives
# /static/): the frontend answers it itself, so the check says whether the frontend
# is alive, whether or not a backend is attached (that is the backend's check).
set -u

listen=${TANDEM_LISTEN:-127.0.0.1:8080}
port=${listen##*:}
host=${listen%:*}
host=${host#[}
host=${host%]}
case $host in
  "" | 0.0.0.0 | "*") host=127.0.0.1 ;;
  "::") host=::1 ;;
esac

path=${TANDEM_HEALTH_PATH:-}
if [ -z "$path" ] && [ -n "${TANDEM_STATIC:-}" ]; then
  first=${TANDEM_STATIC%%,*}
  path=${first%%=*}
  path=${path%/}/
fi
path=${path:-/}
timeout=${TANDEM_HEALTH_TIMEOUT:-3}

if ! { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
  echo "frontend-healthcheck: nothing listens on $host:$port" >&2
  exit 1
fi
printf 'HEAD %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: tandem-healthcheck\r\nConnection: close\r\n\r\n' \
  "$path" >&3
if ! read -r -t "$timeout" _version status _reason <&3; then
  echo "frontend-healthcheck: no answer from $host:$port within ${timeout}s" >&2
  exit 1
fi
exec 3<&-
case $status in
  [1234][0-9][0-9]) exit 0 ;;
esac
echo "frontend-healthcheck: HEAD $path answered ${status:-nothing}" >&2
exit 1
