"""Runs the jobs on every core: one long-lived process per core, each with its own compiled
engine (worker.start), fed one job at a time over a pipe. A process that dies (a crash, the OOM
killer) fails only the job it held, which becomes an error entry; a new process takes its place.
concurrent.futures cannot say which job killed a broken pool, so this small pool does it itself."""

import multiprocessing
import os
import signal
from collections import deque
from multiprocessing.connection import wait

from calirules.fleet import worker


def default_jobs():
    return os.cpu_count() or 1


def run_jobs(jobs, processes, rules_dirs, progress=None):
    """[(job, result)] for `jobs` and the cluster nodes they expand into (worker.run's results)."""
    progress = progress or (lambda done, total, current: None)
    if processes <= 1 or len(jobs) <= 1:
        return _serial(jobs, rules_dirs, progress)
    return _parallel(jobs, processes, rules_dirs, progress)


def _serial(jobs, rules_dirs, progress):
    worker.start(rules_dirs)
    queue, results, total = deque(jobs), [], len(jobs)
    while queue:
        job = queue.popleft()
        progress(len(results), total, job.label)
        result = worker.run(job)
        if "expand" in result:
            queue.extendleft(reversed(result["expand"]))
            total += len(result["expand"]) - 1
            continue
        results.append((job, result))
    progress(len(results), total, None)
    return results


class _Process:
    def __init__(self, context, rules_dirs):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, tuple(rules_dirs)), daemon=True)
        self.process.start()
        child.close()
        self.job = None

    def give(self, job):
        self.job = job
        self.conn.send(job)

    def stop(self):
        try:
            self.conn.send(None)
        except OSError:
            pass

    def kill(self):
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


def _serve(conn, rules_dirs):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops us
    worker.start(rules_dirs)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        conn.send(worker.run(job))


def _context():
    # fork starts a process in milliseconds with the modules already imported; spawn elsewhere.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _parallel(jobs, processes, rules_dirs, progress):
    context = _context()
    queue, results, total = deque(jobs), [], len(jobs)
    pool = [_Process(context, rules_dirs) for _ in range(min(processes, len(jobs)))]
    try:
        while queue or any(p.job for p in pool):
            for proc in pool:
                if proc.job is None and queue:
                    proc.give(queue.popleft())
            busy = [p for p in pool if p.job]
            progress(len(results), total, busy[0].job.label if busy else None)
            ready = set(wait([p.conn for p in busy] + [p.process.sentinel for p in busy]))
            for index, proc in enumerate(pool):
                if proc.job is None or not (proc.conn in ready or proc.process.sentinel in ready):
                    continue
                job, result = proc.job, _receive(proc)
                proc.job = None
                if result is None:  # the process died holding this job
                    proc.kill()
                    result = {"error": f"the diagnosis process died ({_how(proc.process.exitcode)})"}
                    pool[index] = _Process(context, rules_dirs)
                if "expand" in result:
                    queue.extendleft(reversed(result["expand"]))
                    total += len(result["expand"]) - 1
                    continue
                results.append((job, result))
    except BaseException:  # Ctrl-C or a bug here: the workers' jobs are moot, stop them now
        for proc in pool:
            proc.kill()
        raise
    for proc in pool:
        proc.stop()
    for proc in pool:
        proc.process.join(timeout=5)
        proc.kill()
    progress(len(results), total, None)
    return results


def _receive(proc):
    try:
        if proc.conn.poll():
            return proc.conn.recv()
    except (EOFError, OSError):
        pass
    return None


def _how(exitcode):
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"
