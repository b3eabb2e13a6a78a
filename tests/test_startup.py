"""The start-up policy (twin.startup): heavy imports with the cyclic collector paused, then frozen once."""

import subprocess
import sys

CHECK = r"""
import gc
from twin.startup import imports_paused, settle

assert gc.isenabled() and gc.get_freeze_count() == 0 and gc.get_threshold()[0] == 700
with imports_paused():
    assert not gc.isenabled()
    import json  # noqa: F401  (any import)
    junk = [[i] for i in range(1000)]
first = gc.get_freeze_count()
assert gc.isenabled() and first > len(junk)  # what existed at the end of the block is frozen
with imports_paused():
    more = [[i] for i in range(1000)]
second = gc.get_freeze_count()
assert second >= first + len(more) and gc.isenabled()  # before settle(): every use freezes
settle()
with imports_paused():
    late = [[i] for i in range(1000)]
assert gc.get_freeze_count() == second and gc.isenabled()  # after: only pauses
assert gc.get_threshold()[0] == 700  # a sweep worker keeps Python's thresholds
from twin.startup import one_run_process
one_run_process()
assert gc.get_threshold()[0] == 10_000  # a one-run process: young collections less often
gc.disable()
with imports_paused():
    pass
assert not gc.isenabled()  # the previous state comes back
print("ok")
"""


def test_imports_paused_freezes_until_settled_and_restores_the_collector():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_a_run_freezes_its_imports(tmp_path):
    """twin.run's simulation starts with the imported modules frozen, so later full collections skip them."""
    code = ("import gc, twin.run as R; from twin.scenario.loading import load_scenario; "
            "c = load_scenario('quickstart', ['fl.rounds=1', 'fl.train=false']); "
            f"R.simulate_with_threads(c, base_dir={str(tmp_path)!r}); print(gc.get_freeze_count(), gc.isenabled())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    count, enabled = out.stdout.split()
    assert int(count) > 10_000 and enabled == "True"


def test_the_command_line_modules_load_frozen():
    """Importing twin.run (pandas, pyarrow, the pydantic schema) happens with the collector off, then frozen."""
    code = "import gc, twin.run; import pandas, pydantic; print(gc.get_freeze_count(), gc.isenabled())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    count, enabled = out.stdout.split()
    assert int(count) > 10_000 and enabled == "True"


ROUND = r"""
import gc, sys
import twin.run as R, twin.startup as S
from twin.scenario.loading import load_scenario
if sys.argv[1] == "one":
    S.one_run_process()
seen = []
def on_round(round_, row):  # after round_done: the count right after the first round
    seen.append(gc.get_freeze_count())
c = load_scenario("quickstart", ["fl.rounds=3", "fl.train=false"])
settle, at_settle = S.settle, []
S.settle = lambda: (at_settle.append(gc.get_freeze_count()), settle())  # the count as the simulation starts
R.simulate_with_threads(c, base_dir=sys.argv[2], on_round=on_round)
junk = [[i] for i in range(5000)]
S.round_done()
print(len(seen), seen[0] > at_settle[0] + 1000, max(seen) == seen[0], gc.get_freeze_count() < seen[0] + len(junk))
"""


def test_a_one_run_process_freezes_once_after_its_first_round(tmp_path):
    """twin.startup.round_done: a one-run process freezes what exists after its first round, once; a sweep worker
    (no one_run_process) never freezes there. The caller's on_round still sees every round. (Frozen objects can
    still be freed by reference counting, so the count may only shrink after the freeze.)"""
    for kind, froze in (("one", "True"), ("sweep", "False")):
        out = subprocess.run([sys.executable, "-c", ROUND, kind, str(tmp_path)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["3", froze, "True", "True"], kind


EXIT = r"""
import atexit, sys
from twin.cli import exit_now

atexit.register(lambda: print("atexit ran", file=sys.stderr))
atexit.register(lambda: sys.stdout.write(", then a handler's words"))  # runs first (last registered)
import threading, time
threading.Thread(target=lambda: (time.sleep(0.3), sys.stdout.write("buffered"))).start()  # not a daemon: waited for
from concurrent.futures import ThreadPoolExecutor
pool = ThreadPoolExecutor(2)  # left open: its idle workers stop at exit, as in a normal exit
pool.submit(time.sleep, 0.1)
exit_now(int(sys.argv[1]))
print("never")
"""


def test_exit_now_flushes_runs_atexit_and_keeps_the_status():
    for status in (0, 3):
        out = subprocess.run([sys.executable, "-c", EXIT, str(status)], capture_output=True, text=True, timeout=120)
        assert out.returncode == status
        assert out.stdout == "buffered, then a handler's words"  # no newline: still buffered at exit_now
        assert out.stderr.strip() == "atexit ran"


def test_a_command_line_run_ends_without_teardown_and_writes_everything(tmp_path):
    """``python -m twin.run`` ends through exit_now: every file is complete and the path is printed."""
    out = subprocess.run([sys.executable, "-m", "twin.run", "quickstart", "--quiet", "--out", str(tmp_path / "r"),
                          "--set", "fl.rounds=1", "--set", "fl.train=false"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "r")
    from twin.recording.run_folder import is_complete

    assert is_complete(tmp_path / "r")


def test_under_a_profiler_a_command_exits_the_normal_way(tmp_path):
    """``python -m cProfile -o F -m twin.run ...`` still gets its profile written (exit_now leaves the teardown to
    the interpreter when a profiler or tracer is active)."""
    prof = tmp_path / "run.prof"
    out = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "twin.run", "quickstart", "--quiet",
                          "--out", str(tmp_path / "r"), "--set", "fl.rounds=1", "--set", "fl.train=false"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    import pstats

    assert pstats.Stats(str(prof)).total_calls > 0
    code = "import sys\nfrom twin.cli import exit_now\nsys.settrace(lambda *a: None)\nexit_now(4)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 4 and "Traceback" not in out.stderr
