#!/usr/bin/env bash
# Installs the Debian packages the test suite drives as real peers:
#   dovecot-imapd (a real IMAP server), swaks (a real SMTP client), chromium (the portal's browser tests),
#   slapd + ldap-utils (a real OpenLDAP server for `okno directory sync-ldap`).
# Runs as part of `make test`; a no-op when everything is already there.
set -euo pipefail
need=()
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
command -v swaks >/dev/null 2>&1 || need+=(swaks)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -x /usr/sbin/slapd ] || need+=(slapd)
command -v ldapadd >/dev/null 2>&1 || need+=(ldap-utils)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "setup-system-deps: need root to install ${need[*]}; tests that need them will skip" >&2
    exit 0
  fi
else SUDO=""; fi
echo "setup-system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || {
  echo "setup-system-deps: could not install ${need[*]}; tests that need them will skip" >&2
}
# Dovecot's mail processes must not run as root: the tests' throwaway server uses this user.
id vmail >/dev/null 2>&1 || $SUDO useradd -r -M -s /usr/sbin/nologin vmail || true
