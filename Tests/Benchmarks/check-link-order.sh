#!/usr/bin/env bash
# Fails when the release link's symbol order (Link/hot-functions.order) names functions the binary
# no longer has: lld skips them silently, and the code a running agent uses spreads over more
# pages (more resident memory) without anyone noticing.
#   check-link-order.sh UNSTRIPPED_BINARY ORDER_FILE
set -euo pipefail
binary=$1 order=$2
missing=$(comm -23 <(sort -u "$order") <(nm --defined-only "$binary" | awk '{print $3}' | sort -u))
[ -z "$missing" ] && exit 0
echo "error: $(wc -l <<< "$missing") of $(wc -l < "$order") functions in $order are not in $binary," >&2
echo "so the release link no longer puts the hot code together. Regenerate the order: make link-order" >&2
head -5 <<< "$missing" | sed 's/^/  /' >&2
exit 1
