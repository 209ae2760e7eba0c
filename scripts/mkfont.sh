#!/usr/bin/env bash
# Regenerates kernel/src/font.rs: an 8x16 bitmap of printable ASCII
# (0x20..=0x7e), drawn from DejaVu Sans Mono Bold (Bitstream Vera licence,
# fonts-dejavu-core) with ImageMagick and cut to one bit per pixel.
#
#   scripts/mkfont.sh > kernel/src/font.rs
set -euo pipefail
FONT=${FONT:-/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf}
cat <<'HEAD'
//! An 8x16 bitmap font for printable ASCII, for the framebuffer screen
//! (`scripts/mkfont.sh` made it from DejaVu Sans Mono Bold). Row 0 is the
//! top; bit 7 of a row is the leftmost pixel.

/// Glyphs for 0x20 (space) through 0x7e (`~`).
pub static GLYPHS: [[u8; 16]; 95] = [
HEAD
for code in $(seq 32 126); do
    ch=$(printf "\\$(printf '%03o' "$code")")
    rows=$(convert -size 8x16 xc:black -font "$FONT" -pointsize 13 -fill white \
        -gravity center -annotate +0+0 "$ch" -threshold 45% -negate -compress none pbm:- |
        { tail -n +3 | tr -d ' \n' | fold -w8; echo; } |
        while read -r bits; do printf '0x%02x, ' "$((2#$bits))"; done)
    printf '    [%s], // 0x%02x\n' "${rows%, }" "$code"
done
echo '];'
