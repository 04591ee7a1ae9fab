# NOTES v30 item 2: the forward's tiles again, with GROUP_GRID landed (a305589). One call, about 200 s.
# Lumina2's 4-warp tile was 0.6 us faster in v19 and v27 (not taken: fitted to one shape, still 87%); the
# chunks that pad no columns (Lumina2 9 x 256, Z-Image 15 x 256, DiT-XL 9 x 128) have not been timed with
# the current kernel. Every tile at every shape, compiled in parallel first, then timed in one process.
SHAPES=dit_xl,flux,lumina2,z_image \
SWEEP_ARGS="--what fwd --fwd-configs 1:128:1:1,1:256:1:1,1:256:2:1,1:512:1:1,1:512:2:1,1:512:4:1,1:1024:2:1,1:1024:4:1,1:512:2:2" \
PACK_NAME=tile_sweep bash bench/gpu_session.sh sweep
