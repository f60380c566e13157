"""The free-core thread chooser, with a fake ``/proc/stat``, clock and process CPU time."""

from __future__ import annotations

import pytest

from q_store.sim.threads import FreeCores, busy_seconds, procs_running

# cpuN user nice system idle iowait irq softirq steal guest guest_nice (ticks of 1/100 s)
STAT = """cpu  400 0 100 900 50 0 0 0 0 0
cpu0 300 0 50 400 20 0 0 0 0 0
cpu1 100 0 50 500 30 0 0 0 0 0
intr 12345
ctxt 678
procs_running 3
"""


def test_busy_seconds_reads_the_cpu_lines():
    assert busy_seconds(STAT) == pytest.approx(5.0)  # (350 + 150) ticks
    assert busy_seconds(STAT, cpus={1}) == pytest.approx(1.5)
    assert busy_seconds(STAT, cpus={7}) is None
    assert busy_seconds("intr 1\n") is None
    assert busy_seconds(STAT, ticks_per_second=50) == pytest.approx(10.0)
    assert procs_running(STAT) == 3
    assert procs_running("cpu0 1 2 3 4\n") is None


class FakeMachine:
    """Two CPUs; ``run(seconds, foreign=, own=)`` advances the clock with that load in cores."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.busy = 0.0  # busy seconds of all CPUs
        self.own = 0.0
        self.reads = 0
        self.readable = True
        self.running = 1  # runnable tasks right now, the reader included
        self.pid = 100

    def run(self, seconds: float, foreign: float = 0.0, own: float = 0.0) -> None:
        self.now += seconds
        self.busy += seconds * (foreign + own)
        self.own += seconds * own

    def stat(self) -> str | None:
        self.reads += 1
        if not self.readable:
            return None
        half = round(self.busy * 100 / 2)  # ticks, split over the two CPUs
        return (f"cpu0 {half} 0 0 0 0 0 0 0 0 0\ncpu1 {half} 0 0 0 0 0 0 0 0 0\n"
                f"procs_running {self.running}\n")

    def chooser(self, refresh: float = 0.1, stale: float = 1.0) -> FreeCores:
        return FreeCores(read_stat=self.stat, clock=lambda: self.now, own_cpu=lambda: self.own,
                         cpus={0, 1}, refresh=refresh, stale=stale, ticks_per_second=100,
                         pid=lambda: self.pid)


def test_idle_machine_gives_the_cap():
    m = FakeMachine()
    cores = m.chooser()
    m.run(0.5, own=2.0)  # our own threads do not count as load
    assert cores.threads(2) == 2
    assert cores.threads(1) == 1


def test_one_busy_core_gives_one_thread():
    m = FakeMachine()
    cores = m.chooser()
    m.run(0.5, foreign=1.0, own=1.0)
    assert cores.free() == 1
    assert cores.threads(2) == 1


@pytest.mark.parametrize(("foreign", "free"), [(0.3, 2), (0.6, 1), (1.4, 1), (5.0, 1)])
def test_a_core_is_free_when_at_least_half_idle(foreign, free):
    m = FakeMachine()
    cores = m.chooser()
    m.run(1.0, foreign=foreign)
    assert cores.free() == free
    assert 1 <= cores.threads(2) <= 2


def test_the_decision_is_kept_for_the_refresh_interval():
    m = FakeMachine()
    cores = m.chooser(refresh=0.2)
    m.run(0.3, foreign=1.0)
    assert cores.threads(2) == 1
    reads = m.reads
    m.run(0.1)  # load gone, but within the refresh interval: the same answer, no reading
    assert cores.threads(2) == 1
    assert m.reads == reads
    m.run(0.2)  # a new window, idle on average since the last reading
    assert cores.threads(2) == 2
    assert m.reads == reads + 1


def test_after_a_pause_the_runnable_tasks_count_instead_of_the_stale_window():
    m = FakeMachine()
    cores = m.chooser(stale=1.0)
    m.run(30.0)  # idle for a long time ...
    m.running = 2  # ... and now another process runs besides the caller
    assert cores.threads(2) == 1
    m.run(0.2, foreign=0.1)  # a fresh, short window: measured from the counters again
    assert cores.threads(2) == 2


def test_a_forked_child_starts_its_own_window():
    m = FakeMachine()
    cores = m.chooser()
    m.run(0.5, foreign=1.0)
    assert cores.threads(2) == 1
    m.pid, m.own = 101, 0.0  # the child's CPU time starts from zero
    m.run(0.5)
    assert cores.threads(2) == 1  # the last decision, while the child's window starts
    m.run(0.5)
    assert cores.threads(2) == 2


def test_no_window_yet_or_no_proc_stat_gives_the_cap():
    m = FakeMachine()
    cores = m.chooser()
    assert cores.threads(2) == 2  # no window of refresh seconds has passed yet
    m.readable = False
    blind = m.chooser()
    m.run(1.0, foreign=2.0)
    assert blind.free() is None
    assert blind.threads(2) == 2


def test_the_threading_layer_is_chosen_once_and_explained():
    import numba

    from q_store.circuit import Circuit
    from q_store.sim import StatevectorSimulator
    from q_store.sim.threads import configure_threading

    StatevectorSimulator().state(Circuit(2).h(0))
    layer = configure_threading()
    assert layer is configure_threading()
    assert layer.name == numba.threading_layer()
    assert layer.reason
