# Sourced: find_mirror prints the Debian mirror this machine's apt uses.
# --- the mirror this machine uses -------------------------------------------
# deb822 (.sources) first, then the one-line format. The first stanza whose
# suites are not '-security' names the main archive.
find_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      /^[[:space:]]*$/ { if (uri != "" && suites !~ /security/) { print uri; exit } uri=""; suites=""; next }
      /^URIs:/ { uri=$2 }
      /^Suites:/ { suites=$0 }
      END { if (uri != "" && suites !~ /security/) print uri }
    ' "$f" | head -n1
  done | head -n1
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1=="deb" && $0 !~ /security/ { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f"
  done | head -n1
}

