# order_layout.py (its docstring says what it asks) with this checkout's forward, then scratch/inter's (built
# as fwd_order.sh says; carry it), then this checkout's again.
export PYTHONUNBUFFERED=1
for p in . scratch/inter .; do
  PYTHONPATH=$(realpath $p):$PWD timeout 150 python3 bench/results/h100-v29/order_layout.py 2>&1 | grep -v -i warn
done > $OUT/${LOG:-order_layout.log} 2>&1
cat $OUT/${LOG:-order_layout.log}
