#!/usr/bin/env bash
# The layering rule, checked (like C tor's .may_include): each src/ layer may
# include only itself and the layers listed for it. Protocol layers (no I/O)
# never include the runtime or the front ends.
set -euo pipefail
cd "$(dirname "$0")/../src"
declare -A allowed=(
  [util]="util"
  [crypto]="util crypto"
  [cell]="util crypto cell"
  [proto]="util crypto cell proto"
  [netdoc]="util crypto netdoc"
  [path]="util crypto netdoc path"
  [socks]="util socks"
  [control]="util control"
  [daemon]="util daemon"
  [runtime]="util crypto cell proto netdoc path control runtime"
  [capi]="util crypto cell proto netdoc path socks control daemon runtime capi"  # arti_socks_*: the SOCKS parser for the VPP plugin
  [app]="util crypto cell proto netdoc path socks control daemon runtime app"
)
bad=0
for layer in */; do
  layer=${layer%/}
  ok=" ${allowed[$layer]:-} "
  if [ "$ok" = "  " ]; then echo "check-layers: no rule for src/$layer" >&2; bad=1; continue; fi
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include "([^/"]+)\/.*/\1/' <<<"$line")
    if [[ "$ok" != *" $inc "* ]]; then
      echo "check-layers: $file includes $inc/, which src/$layer may not use" >&2
      bad=1
    fi
  done < <(grep -rHE '^#include "[^/"]+/' "$layer" || true)
done
[ $bad -eq 0 ] && echo "check-layers: every include follows the layering"
exit $bad
