# Sourced by the set-up scripts: apt_install_missing [--update] PACKAGE...
# installs those of the Debian packages that are not installed yet (as
# root, or through sudo), and nothing when all are; --update refreshes the
# package lists first.
apt_install_missing() {
  local update=false
  if [ "${1:-}" = "--update" ]; then
    update=true
    shift
  fi
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if $update; then $sudo apt-get update -qq; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
