# Sourced: $cache is where clusterlab keeps what it fetches and builds (the
# etcd and Consul servers, the Debian base images' tags, its recipes):
# $CLUSTERLAB_CACHE, else $XDG_CACHE_HOME/clusterlab, else
# ~/.cache/clusterlab. The same rule as the binary's
# (harness/provision/src/cache.rs), so the scripts and an installed
# `clusterlab` share one cache, outside any checkout.
cache=${CLUSTERLAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clusterlab}
