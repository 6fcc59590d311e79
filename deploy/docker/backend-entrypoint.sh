#!/bin/sh
# The backend image's entrypoint: `python3 -m tandem` with the container's
# environment (TANDEM_APP, TANDEM_BACKEND_SOCKET, ...; see `--help`).
#
# Generation: unless TANDEM_GENERATION is set (and not empty), the backend
# announces the time its image was built (/etc/tandem-generation, written by the
# Dockerfile's last step). All replicas of one image share it, so
# `--scale backend=3` gives three backends that serve together, and an image
# built from newer code has a newer generation, so its backends take over from
# the running ones (README, "Running with Docker Compose").
set -e
if [ -z "${TANDEM_GENERATION:-}" ] && [ -r /etc/tandem-generation ]; then
  TANDEM_GENERATION=$(cat /etc/tandem-generation)
  export TANDEM_GENERATION
fi
exec python3 -m tandem "$@"
