"""Run a bench module with modnorm_op imported from another checkout, for A/B timings in one session.

    git archive <rev> modnorm_op | tar -x -C scratch/<rev>      # on the development machine
    python bench/ab.py scratch/<rev> bench.tune --what fwd       # the old kernels, this checkout's bench/

Kernel timings move from session to session and machine to machine (bench/NOTES.md), so a change is
judged against its predecessor run in the same session, not against an older table.
"""
import os
import runpy
import sys


def main():
    package_dir, module = sys.argv[1], sys.argv[2]
    # the other package first, then this checkout (for bench/); not the script's own directory
    sys.path[:1] = [os.path.abspath(package_dir), os.getcwd()]
    sys.argv = [module] + sys.argv[3:]
    import modnorm_op
    print(f"modnorm_op from {os.path.dirname(modnorm_op.__file__)}", flush=True)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
