# persistent-forward sweep: programs per SM (FWD_PPS, 0 = one program per tile) and loop stages
export PYTHONPATH=$PWD
S=dit_xl,flux,lumina2,z_image
run() { pkg=$1; shift; echo "== $pkg $*"; env "$@" python3 bench/ab.py $pkg bench.tune --what fwd --shapes $S 2>&1 | grep -E "fwd heuristic|WRONG|Error|rror:" | cut -c1-70; }
run scratch/main
run scratch/persist FWD_PPS=0
for p in 4 6 8 9 12 16 24 32; do run scratch/persist FWD_PPS=$p; done
run scratch/persist FWD_PPS=8 FWD_STAGES=2
run scratch/persist FWD_PPS=16 FWD_STAGES=2
run scratch/main
