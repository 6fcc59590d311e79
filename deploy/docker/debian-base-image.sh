#!/usr/bin/env bash
# Makes sure the image `debian:bookworm-slim` exists in the local Docker engine,
# so that frontend/Dockerfile and backend/Dockerfile build unchanged.
#
#   deploy/docker/debian-base-image.sh [--force]
#
# 1. If the engine already has the image, nothing is done (unless --force).
# 2. Otherwise it is pulled from the engine's registry, as on any normal install.
# 3. When that fails (an air-gapped machine, a CI without a container registry),
#    an equivalent image is built here: `debootstrap --variant=minbase bookworm`
#    from the Debian mirror that this machine's apt is already configured to use
#    (read from /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list;
#    override with DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR), slimmed the way
#    the official slim image is (no docs, man pages or locales; apt caches
#    cleaned), and imported with `docker import` under the same tag.
#
# The image's apt sources point at that same mirror, so `apt-get install` in the
# Dockerfiles works exactly as it would from the official image.
set -euo pipefail

TAG=${TANDEM_BASE_IMAGE:-debian:bookworm-slim}
SUITE=bookworm
PULL_TIMEOUT=${TANDEM_PULL_TIMEOUT:-120}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

say() { echo "debian-base-image: $*" >&2; }

if [ "$FORCE" = 0 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  say "$TAG is already in the engine"
  exit 0
fi

if [ "$FORCE" = 0 ]; then
  say "pulling $TAG"
  if timeout "$PULL_TIMEOUT" docker pull -q "$TAG" >/dev/null 2>&1; then
    say "pulled $TAG"
    exit 0
  fi
  say "cannot pull $TAG (no registry reachable?): building it with debootstrap"
fi

# --- the mirror, from apt's own configuration --------------------------------------

# Prints "URI SUITE" for every deb source of this machine, deb822 and one-line style.
apt_sources() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # deb822: stanzas separated by blank lines; Types, URIs and Suites fields.
    awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no")
          for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print uris[i], suites[j]
        types = ""; nu = 0; ns = 0; enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      {
        key = tolower($1); sub(/:$/, "", key); $1 = ""
        if (key == "types") types = $0
        else if (key == "uris") nu = split($0, uris, " ")
        else if (key == "suites") ns = split($0, suites, " ")
        else if (key == "enabled") { enabled = tolower($0); gsub(/ /, "", enabled) }
      }
      END { flush() }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    # deb [options] URI SUITE COMPONENTS...
    awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                       print $i, $(i + 1) }' "$f"
  done
}

MIRROR=${DEBIAN_MIRROR:-$(apt_sources | awk -v s="$SUITE" '$2 == s { print $1; exit }')}
SECURITY=${DEBIAN_SECURITY_MIRROR:-$(apt_sources | awk -v s="$SUITE-security" '$2 == s { print $1; exit }')}
if [ -z "$MIRROR" ]; then
  say "no Debian $SUITE mirror in this machine's apt sources; set DEBIAN_MIRROR=URI"
  exit 1
fi
say "mirror: $MIRROR${SECURITY:+ (security: $SECURITY)}"

if ! command -v debootstrap >/dev/null; then
  say "debootstrap is missing: apt-get install debootstrap"
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  say "debootstrap needs root: run this script as root (or through sudo)"
  exit 1
fi

# --- the root file system ---------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/tandem-rootfs.XXXXXX")
ROOT=$WORK/rootfs
cleanup() {
  # debootstrap mounts /proc and /sys in the chroot while it runs; a failed run may leave them.
  for m in proc sys dev/pts dev; do umount -l "$ROOT/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

say "debootstrap --variant=minbase $SUITE (a few minutes)"
if ! debootstrap --variant=minbase --arch="$(dpkg --print-architecture)" "$SUITE" "$ROOT" "$MIRROR" \
     >"$WORK/debootstrap.log" 2>&1; then
  tail -n 30 "$WORK/debootstrap.log" >&2
  [ -f "$ROOT/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOT/debootstrap/debootstrap.log" >&2
  say "debootstrap failed"
  exit 1
fi

# apt sources: the same layout as the official image, with this machine's mirror.
rm -f "$ROOT/etc/apt/sources.list"
{
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$MIRROR" "$SUITE" "$SUITE"
  printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
  if [ -n "$SECURITY" ]; then
    printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$SECURITY" "$SUITE"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
  fi
} >"$ROOT/etc/apt/sources.list.d/debian.sources"

# What the official slim image does (debuerreotype's slimify and minimizing config):
# dpkg leaves out documentation, man pages and translations from now on...
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
# ...apt keeps no package caches or translated indexes...
cat >"$ROOT/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' >"$ROOT/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' >"$ROOT/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$ROOT/etc/apt/apt.conf.d/docker-autoremove-suggests"
# ...no service starts when a package is installed in a container...
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
# ...and what is already there goes too.
find "$ROOT/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$ROOT/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$ROOT"/usr/share/{man,info,groff,linda,lintian/overrides,locale}/* \
       "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb \
       "$ROOT"/var/log/*.log "$ROOT"/var/log/apt/* "$ROOT/debootstrap"
# The engine provides these per container.
: >"$ROOT/etc/resolv.conf"
: >"$ROOT/etc/hostname"
: >"$ROOT/etc/machine-id"

say "importing as $TAG"
tar --numeric-owner --xattrs -C "$ROOT" -c . |
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --change "LABEL org.opencontainers.image.description=\"Debian $SUITE minbase built locally with debootstrap\"" \
    --message "debootstrap --variant=minbase $SUITE" \
    - "$TAG" >/dev/null
say "built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
