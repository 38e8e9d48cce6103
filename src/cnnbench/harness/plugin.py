"""pytest options and hooks of the benchmark harness (``pytest bench --benchmark-only``).

The harness process itself imports no framework: every case runs in a worker process of its own
(``cnnbench.worker``), which this process starts, steps and ends (``cnnbench.harness.harness``).
"""
from __future__ import annotations

import os
import sys

import pytest

from cnnbench.harness import cases as cases_mod
from cnnbench.harness import machine
from cnnbench.harness.harness import WORKER_CLOCK
from cnnbench.core.signals import SIGNAL_EXIT, stop_like_ctrl_c
from cnnbench.harness.journal import Journal
from cnnbench.harness.progress import Progress
from cnnbench.harness.state import HarnessState
# option parsing shared with `cnnbench ab` (pytest-free, in cases.py); names kept for the harness
from cnnbench.harness.cases import delay_for, parse_delay  # noqa: F401
from cnnbench.harness.cases import positive_int as _positive_int

STATE = pytest.StashKey[HarnessState]()
PROGRESS = pytest.StashKey[Progress]()


def pytest_addoption(parser):
    g = parser.getgroup("cnnbench", "cnnbench benchmark selection")
    g.addoption("--models", default=None, help="comma-separated names or wildcards (default: the profile's)")
    g.addoption("--frameworks", default=None, help="torch,tf (default: both; tf = the Keras models)")
    g.addoption("--keras-backends", default=None, metavar="tensorflow,jax,torch",
                help="Keras backends that run the Keras models (default: tensorflow); each case runs in a worker "
                     "process with KERAS_BACKEND set")
    g.addoption("--runtimes", default=None, metavar="torch,keras-tf,ort-from-torch,...",
                help="the runtimes to measure, in place of --frameworks/--keras-backends: "
                     + ", ".join(cases_mod.RUNTIMES) + ", or all (the export runtimes are inference only; docs/deploy.md)")
    g.addoption("--modes", default=None, help="inference,train (default: both)")
    g.addoption("--batch-sizes", default=None, help="comma-separated batch sizes (default: the profile's)")
    g.addoption("--device", default="auto", help="cpu, cuda or auto (cuda when present)")
    g.addoption("--input-size", default=None, help="square input size (default: the profile's)")
    g.addoption("--bench-profile", default="default",
                help="smoke (CI, minutes), default (every model), full (batch sweeps)")
    g.addoption("--precision", default="fp32",
                help="fp32, or bf16/fp16 via torch.autocast and Keras mixed-precision policies")
    g.addoption("--layout", default="nchw",
                help="PyTorch memory format: nchw, or nhwc (channels_last); Keras models are NHWC")
    g.addoption("--tf-jit", action="store_true", help="compile TensorFlow steps with XLA (jit_compile=True)")
    g.addoption("--torch-compile", action="store_true",
                help="torch.compile the PyTorch models (and Keras models on the torch backend)")
    s = parser.getgroup("cnnbench-settings", "cnnbench: settings applied equally to every framework")
    s.addoption("--math", default="tf32",
                help="GPU float32 math of convolutions AND matmuls in every framework (default tf32)")
    s.addoption("--no-autotune", action="store_true",
                help="turn algorithm autotuning off in every framework (default on: cudnn.benchmark, TF, XLA)")
    s.addoption("--threads", default=None, metavar="N",
                help="intra-op threads in every framework (default: the cores this process may use)")
    s.addoption("--interop-threads", default=None, metavar="N", help="inter-op threads (default: --threads)")
    s.addoption("--onednn", default="on",
                help="TensorFlow's oneDNN CPU kernels (TF_ENABLE_ONEDNN_OPTS; default on, as PyTorch uses oneDNN)")
    r = parser.getgroup("cnnbench-run", "cnnbench: run control")
    r.addoption("--world-sizes", default=None, metavar="1,2,...",
                help="data-parallel training with this many workers (PyTorch DDP, tf.distribute); default: off")
    r.addoption("--nnodes", default="1", help="hosts of a data-parallel job (default 1); each runs this command")
    r.addoption("--node-rank", default="0", help="this host's number, 0 .. nnodes-1 (node 0 records the results)")
    r.addoption("--master-addr", default=None, help="node 0's address (default: MASTER_ADDR, else 127.0.0.1)")
    r.addoption("--master-port", default=None,
                help="port base on node 0 for the rendezvous (default: MASTER_PORT; one host: free ports)")
    r.addoption("--rendezvous-timeout", default="120", metavar="SECONDS",
                help="give up on a data-parallel job whose workers have not all joined after this long")
    r.addoption("--no-time-to-accuracy", action="store_true",
                help="skip the LeNet-5 time-to-accuracy cases (run whenever LeNet-5 training is selected)")
    r.addoption("--no-memory-check", action="store_true",
                help="run CPU cases even when their analytic lower bound exceeds free memory")
    r.addoption("--worker-timeout", default="1800", metavar="SECONDS",
                help="end a case whose worker has not answered for this long (default 1800)")
    r.addoption("--processes", default=None, metavar="N",
                help="worker processes per case, measured in interleaved passes (default 2; "
                     "docs/benchmarks.md#several-processes-per-case)")
    r.addoption("--max-processes", default=None, metavar="N",
                help="at most this many per case, counting those that re-measure a busy, disagreeing or "
                     "implausible case (default: --processes + 2)")
    r.addoption("--busy-cores", default=None, metavar="CORES",
                help="a worker process whose rounds ran while other processes and the hypervisor took more than "
                     "this many cores counts as timed on a busy machine and is measured again (default 0.2; "
                     "docs/benchmarks.md#several-processes-per-case)")
    r.addoption("--fast", action="store_true",
                help="one worker process per case: quicker, and the verdict says it cannot tell a slow process "
                     "from a slow model")
    r.addoption("--rigorous", action="store_true", help="4 worker processes per case, up to 8 with re-measurements")
    r.addoption("--no-fork-server", action="store_true",
                help="start every worker as a fresh interpreter (default: fork it from a server that has imported "
                     "its framework; docs/benchmarks.md#start-up-from-a-fork-server)")
    r.addoption("--instructions", action="store_true",
                help="also count each case's instructions a step under Callgrind, after the run (one Valgrind "
                     "worker per runtime, one thread; extra_info instructions; docs/instructions.md)")
    r.addoption("--inject-delay", default=None, metavar="MODEL=SECONDS|PCT%",
                help="TEST ONLY: slow MODEL's (or a case id's) timed step by SECONDS or by PCT%% of its own step time "
                     "(proves the regression detector)")
    from cnnbench.harness.loadgen import add_options as add_loadgen_options

    add_loadgen_options(parser.getgroup("cnnbench-loadgen", "cnnbench: LoadGen scenarios (docs/loadgen.md)"))


def _resolve_device(requested: str) -> tuple[str, str]:
    if requested == "cpu":
        return "cpu", "--device cpu"
    has_gpu = machine.cuda_available()
    if requested == "cuda":
        if not has_gpu:
            raise pytest.UsageError("--device cuda: no CUDA GPU found (nvidia-smi sees none); use --device cpu")
        return "cuda", "--device cuda"
    return ("cuda", "auto: CUDA GPU found") if has_gpu else ("cpu", "auto: no GPU found, running on the CPU")


def _check_writable_output(path, what: str) -> None:
    """Refuse, before anything is measured, an output file that could not be written at the end."""
    from pathlib import Path

    from cnnbench.core.atomic import output_file_problem

    problem = output_file_problem(Path(path), what)
    if problem:
        raise pytest.UsageError(problem)


_CHOICES = (("--device", "device", cases_mod.DEVICES), ("--bench-profile", "bench_profile", tuple(cases_mod.PROFILES)),
            ("--precision", "precision", cases_mod.PRECISIONS), ("--layout", "layout", cases_mod.LAYOUTS),
            ("--math", "math", ("tf32", "fp32")), ("--onednn", "onednn", ("on", "off")))


def _storage_root(opt):
    """Where a saved run goes (--benchmark-save/--benchmark-autosave into a ``file://PATH`` or plain-path
    --benchmark-storage): the nearest directory of that path that exists (the rest is created); None when
    nothing is saved there (--benchmark-json only, or elasticsearch)."""
    from pathlib import Path

    if not (getattr(opt, "benchmark_save", None) or getattr(opt, "benchmark_autosave", None)):
        return None
    storage = str(getattr(opt, "benchmark_storage", "") or "")
    if storage.startswith("file://"):
        storage = storage[len("file://"):]
    elif "://" in storage:
        return None
    root = Path(storage or ".")
    while not root.exists() and root != root.parent:
        root = root.parent
    return root


def _check_space(opt, cases: int) -> None:
    """Refuse, before anything is measured, a run whose journal and final files the disk cannot hold."""
    from pathlib import Path

    from cnnbench.harness.journal import space_problem

    places = []
    if getattr(opt, "benchmark_json", None):
        places.append((Path(opt.benchmark_json).parent, "--benchmark-json"))
    root = _storage_root(opt)
    if root is not None:
        places.append((root, "--benchmark-storage"))
    for directory, what in places:
        problem = space_problem(directory, cases, what)
        if problem:
            raise pytest.UsageError(problem)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if not hasattr(config.option, "bench_profile"):
        return
    opt = config.option
    if hasattr(opt, "benchmark_save_data"):
        from pytest_benchmark.utils import get_tag

        # keep every round's raw timing, and save every run under pytest-benchmark's usual name
        opt.benchmark_save_data = True
        if not (opt.benchmark_save or opt.benchmark_json or opt.benchmark_autosave):
            opt.benchmark_autosave = get_tag()
        if opt.benchmark_json:
            _check_writable_output(opt.benchmark_json, "--benchmark-json")
        root = _storage_root(opt)
        if root is not None and not os.access(root, os.W_OK | os.X_OK):
            raise pytest.UsageError(f"--benchmark-storage {opt.benchmark_storage}: not writable; give a directory "
                                    "you can write (or --benchmark-json PATH)")
    from cnnbench.core.errors import CnnbenchError
    from cnnbench.core.settings import Settings, cores_available

    try:  # every value checked here, in one line each (not by argparse's choices: pytest prints its usage block)
        for name, value, allowed in _CHOICES:
            cases_mod.one_of(name, getattr(opt, value), allowed)
        input_size = _positive_int("--input-size", opt.input_size)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    device, why = _resolve_device(opt.device)
    try:
        threads = _positive_int("--threads", opt.threads)
        interop = _positive_int("--interop-threads", opt.interop_threads)
        if threads and threads > cores_available():
            raise ValueError(f"--threads {threads}: this process may use {cores_available()} core(s); "
                             f"give at most {cores_available()}")
        timeout = cases_mod.seconds("--worker-timeout", opt.worker_timeout)
        from cnnbench.harness.distributed import rendezvous_options, threads_per_worker

        rendezvous = rendezvous_options(opt)
        world_sizes = cases_mod.parse_world_sizes(opt.world_sizes, machine.max_world_size(device) * rendezvous["nnodes"])
        selected = cases_mod.build_cases(
            profile=opt.bench_profile, models=opt.models, frameworks=opt.frameworks, modes=opt.modes,
            batch_sizes=opt.batch_sizes, device=device, input_size=input_size,
            precision=opt.precision, layout=opt.layout, tf_jit=opt.tf_jit, torch_compile=opt.torch_compile,
            keras_backends=opt.keras_backends, world_sizes=world_sizes, runtimes=opt.runtimes,
        )
        delays = parse_delay(opt.inject_delay)
        wanted, most = process_counts(opt)
        from cnnbench.harness.replication import BUSY_CORES

        busy = BUSY_CORES if opt.busy_cores is None else cases_mod.cores("--busy-cores", opt.busy_cores)
        from cnnbench.harness import loadgen

        loadgen_options = loadgen.options_from(opt)  # --scenarios: the scenario cases replace the step cases
        scenario_cases = loadgen.scenario_cases(selected, loadgen_options) if loadgen_options else []
        selected = [] if loadgen_options else selected
    except (CnnbenchError, ValueError) as exc:
        raise pytest.UsageError(str(exc)) from None
    _check_space(opt, len(selected) + len(scenario_cases)
                 + len(cases_mod.tta_cases(selected, enabled=not opt.no_time_to_accuracy)))
    settings = Settings(math=opt.math, autotune=not opt.no_autotune, threads=threads, interop_threads=interop,
                        onednn=opt.onednn == "on")
    state = HarnessState(
        cases=selected, tta_cases=cases_mod.tta_cases(selected, enabled=not opt.no_time_to_accuracy),
        profile=cases_mod.PROFILES[opt.bench_profile], settings=settings, device=device, device_note=why,
        worker_timeout=timeout, rendezvous=rendezvous, no_memory_check=opt.no_memory_check, delay=delays,
        threads_per_worker=threads_per_worker(world_sizes or [1], rendezvous["nnodes"], settings.threads),
        processes_wanted=wanted, max_processes=most, busy_cores=busy, fork_workers=not opt.no_fork_server,
        scenario_cases=scenario_cases, loadgen=loadgen_options,
    )
    config.stash[STATE] = state
    config.stash[PROGRESS] = Progress(state, quiet=config.option.verbose < 0)
    _on_sigterm_stop_like_ctrl_c(state)


def process_counts(opt) -> tuple[int, int]:
    """(worker processes per case, at most with re-measurements) from --processes, --max-processes,
    --fast and --rigorous; ValueError with one line for values that mean nothing together."""
    from cnnbench.harness.replication import DEFAULT_PROCESSES, FAST_PROCESSES, RIGOROUS_PROCESSES

    modes = [name for name, on in (("--fast", opt.fast), ("--rigorous", opt.rigorous),
                                   ("--processes", opt.processes is not None)) if on]
    if len(modes) > 1:
        raise ValueError(f"{' and '.join(modes)} both set the processes per case; give one of them")
    wanted = (FAST_PROCESSES if opt.fast else RIGOROUS_PROCESSES if opt.rigorous
              else _positive_int("--processes", opt.processes) or DEFAULT_PROCESSES)
    most = _positive_int("--max-processes", opt.max_processes)
    if most is None:
        most = wanted if opt.fast else 2 * wanted if opt.rigorous else wanted + 2
    if most < wanted:
        raise ValueError(f"--max-processes {most}: fewer than the {wanted} processes per case asked for; give "
                         f"at least {wanted}")
    return wanted, most


def _on_sigterm_stop_like_ctrl_c(state: HarnessState) -> None:
    """SIGTERM (a CI cancel, `timeout`, a batch scheduler) ends the run the way Ctrl-C does: the cases
    measured so far are saved at the end of the session, the journal keeps them on disk meanwhile,
    and the summary lists what did not run; the exit status is then the signal's (130, 143)."""
    def record(name: str) -> None:
        if state.interrupted is None:
            state.interrupted = name

    stop_like_ctrl_c(record)


def pytest_report_header(config):
    state = config.stash.get(STATE, None)
    if not state:
        return None
    prof = state.profile
    s = state.settings.resolved()
    lines = [
        f"cnnbench: profile {prof.name} ({prof.note}); {len(state.cases) + len(state.tta_cases)} cases "
        f"on {state.device} ({state.device_note}); " + (
            f"each case in {state.processes_wanted} fresh worker processes, interleaved (up to {state.max_processes} "
            "when one was busy, disagrees or looks implausible)" if state.processes_wanted > 1 else
            "each case in ONE fresh worker process (--fast): a slow process cannot be told from a slow model"),
        f"cnnbench: settings for every framework: math {s.math if state.device == 'cuda' else 'fp32 (CPU)'}, "
        f"autotune {'on' if s.autotune else 'off'}, threads {s.threads} intra-op / {s.interop_threads} inter-op, "
        f"TensorFlow oneDNN {'on' if s.onednn else 'off'}",
    ]
    if state.device == "cpu":
        lines.append(f"cnnbench: CPU {machine.cpu_model()}, {os.cpu_count()} logical cores")
    if state.delay:
        what = ", ".join(f"{t} +{a:g} s" if u == "s" else f"{t} +{100 * a:g}% of its step" for t, a, u in state.delay)
        lines.append(f"cnnbench: TEST ONLY: injected delays: {what}")
    return lines


_PARAMS = ("model", "framework", "runtime", "mode", "batch", "device", "input_size", "precision", "layout",
           "compile", "options")


def case_params(case) -> tuple:
    """Plain values for pytest-benchmark's ``params`` (``--group-by param:framework`` works on them)."""
    return (case.model, case.framework, case.runtime, case.mode, case.batch, case.device, case.input_size,
            case.precision, case.layout, case.compiled, case.options_text)


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash[STATE]
    chosen = {"test_time_to_accuracy": state.tta_cases, "test_loadgen_scenario": state.scenario_cases}.get(
        metafunc.function.__name__, state.cases)
    if not chosen and (state.loadgen is not None or metafunc.function.__name__ == "test_loadgen_scenario"):
        return  # --scenarios: only the scenario cases; without it, none (deselected at collection)
    metafunc.parametrize(list(_PARAMS), [case_params(c) for c in chosen], ids=[c.id for c in chosen])


def _param_fixture(name: str):
    @pytest.fixture(name=name)
    def fixture(request):
        return request.param

    fixture.__doc__ = f"the case's {name} (a plain pytest-benchmark param)"
    return fixture


# one fixture per param name, so that the `case` fixture below can depend on them and pytest-benchmark
# records them as plain `params`
for _name in _PARAMS:
    globals()[f"_param_{_name}"] = _param_fixture(_name)


@pytest.fixture(scope="session")
def bench_state(request):
    return request.config.stash[STATE]


@pytest.fixture
def case(request, bench_state, model, framework, runtime, mode, batch, device, input_size, precision, layout,
         compile, options):
    """The Case of the running test, looked up by its id."""
    return bench_state.by_id[request.node.callspec.id]


def pytest_benchmark_update_machine_info(config, machine_info):
    state = config.stash.get(STATE, None)
    machine_info.update(machine.describe())
    if state:
        machine_info["cnnbench_device"] = state.device
        machine_info["gemm_peak_flops"] = dict(state.gemm_peak)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    state = config.stash.get(STATE, None)
    if not state:
        return
    from cnnbench.harness.harness import finalize_rows
    from cnnbench.core.flops import FLOPS_RULE

    finalize_rows(output_json["benchmarks"], state)
    if config.getoption("instructions") and output_json["benchmarks"]:  # docs/instructions.md
        from cnnbench.harness.instructions import annotate_rows, single_threaded

        why = annotate_rows(output_json["benchmarks"], state.by_id, single_threaded(state.settings),
                            cache=_SESSION.setdefault("instructions", {}))
        if why:
            print(f"--instructions: skipped: {why}", file=sys.stderr)
    output_json["cnnbench"] = {
        "profile": state.profile.name,
        "device": state.device,
        "device_note": state.device_note,
        "flops_rule": FLOPS_RULE,
        "settings": state.settings.to_dict(),
        "skipped": state.skipped,  # out-of-memory, missing-framework, too-small-input cases, with reasons
        "unfinished": state.unfinished,
        "interrupted": state.interrupted,
        "complete": state.complete,
        "injected_delay": [list(d) for d in state.delay] or None,
        "processes_per_case": state.processes_wanted,
        "max_processes": state.max_processes,
        "busy_cores": state.busy_cores,
        "process_noise": state.process_noise,
        "workers": "forked from a fork server per runtime" if state.fork_workers else "fresh interpreters",
        "fork_servers": {rt: {"import_s": srv.info.get("import_s"), "threads_at_fork": srv.info.get("threads"),
                              "resident_file_bytes": srv.info.get("resident_file_bytes"),
                              "imports_left_out": srv.info.get("imports_left_out")}
                         for rt, srv in state.fork_servers.items()} or None,
        "fork_servers_failed": state.fork_servers_failed or None,
    }
    if state.loadgen is not None:
        from cnnbench.harness.loadgen import summary_block

        output_json["cnnbench"]["loadgen"] = summary_block(state.loadgen)


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.skipped):
        progress = _SESSION.get("progress")
        if progress:
            progress.case_done(report)
            _stop_if_a_write_failed()


_SESSION: dict = {}  # the running session's Progress and Journal: pytest_runtest_log* hooks have no config argument


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    state = session.config.stash.get(STATE, None)
    if state:
        progress = session.config.stash[PROGRESS]
        ids = [c.id for c in (*state.cases, *state.tta_cases)]
        progress.journal = journal = Journal(
            session.config, pending=lambda: [i for i in (progress.order or ids) if i not in progress.done])
        _SESSION.update(progress=progress, journal=journal, session=session, state=state)
        bs = journal.bs
        if bs is not None and not bs.disabled:  # pytest-benchmark's final writes, made atomic (journal.py)
            bs.save_json = journal.save_json
            if hasattr(bs.storage, "_next_num"):  # file storage (not elasticsearch)
                bs.storage.save = journal.save_numbered


def _stop_if_a_write_failed() -> None:
    """A journal write failed (a full disk): no further case is measured, the run ends as interrupted."""
    journal, session, state = _SESSION.get("journal"), _SESSION.get("session"), _SESSION.get("state")
    if journal is None or not journal.failed:
        return
    if state is not None and state.interrupted is None:
        state.interrupted = "a failed write"
    if session is not None:
        session.shouldstop = f"cnnbench: {journal.failed}"


def pytest_collection_modifyitems(session, config, items):
    progress = config.stash.get(PROGRESS, None)
    state = config.stash.get(STATE, None)
    if state is not None:  # a test left unparametrized (the step test under --scenarios, the scenario test
        left = [i for i in items if "case" in getattr(i, "fixturenames", ()) and not hasattr(i, "callspec")]
        if left:  # without it): deselected, rather than an "empty parameter set" skip
            config.hook.pytest_deselected(items=left)
            items[:] = [i for i in items if i not in left]
    for item in items:
        if "case" in getattr(item, "fixturenames", ()):  # pytest-benchmark's timer: the worker's own clock
            item.add_marker(pytest.mark.benchmark(timer=WORKER_CLOCK), append=False)
    if progress:
        progress.start([i.callspec.id for i in items if hasattr(i, "callspec")],
                       config.pluginmanager.get_plugin("terminalreporter"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtestloop(session):
    """After pytest has run every case once (each case's first worker process), the later passes and the
    re-measurements (cnnbench.harness.replication); an interrupt there ends the session as one in the
    first pass does, and every process measured so far is in the saved rows."""
    outcome = yield
    state = session.config.stash.get(STATE, None)
    if (state is None or outcome.excinfo is not None or session.shouldfail or session.shouldstop
            or session.config.option.collectonly or not state.rows):
        return
    from cnnbench.harness.harness import replicate

    progress = session.config.stash[PROGRESS]
    replicate(state, progress, progress.journal)


def pytest_runtest_logstart(nodeid, location):
    journal = _SESSION.get("journal")
    if journal and "[" in nodeid:
        journal.write(running=nodeid[nodeid.find("[") + 1:-1])
        _stop_if_a_write_failed()
        if journal.failed:  # not measured: it could not be kept
            raise _SESSION["session"].Interrupted(f"cnnbench: {journal.failed}")


@pytest.hookimpl(hookwrapper=True)
def pytest_sessionfinish(session, exitstatus):
    """Mark what never ran; save a run in which every case was skipped (pytest-benchmark saves nothing
    then, which would lose the record of why); drop the journal once the final file is written."""
    state = session.config.stash.get(STATE, None)
    if state and session.config.option.collectonly:
        return (yield)  # nothing was to run: no case is "unfinished", and there is no run to save
    if state:
        session.config.stash[PROGRESS].mark_not_run()
        from cnnbench.harness.harness import close_fork_servers

        close_fork_servers(state)
    yield
    config = session.config
    bs = getattr(config, "_benchmarksession", None)
    if not state or bs is None:
        return
    if not bs.benchmarks and not bs.disabled and (state.skipped or state.unfinished):
        save = bs.save or bs.autosave
        if save or bs.json:
            hook = config.hook
            machine_info = bs.get_machine_info()
            commit_info = hook.pytest_benchmark_generate_commit_info(config=config)
            hook.pytest_benchmark_update_commit_info(config=config, commit_info=commit_info)
            output_json = hook.pytest_benchmark_generate_json(
                config=config, benchmarks=[], include_data=True, machine_info=machine_info, commit_info=commit_info)
            hook.pytest_benchmark_update_json(config=config, benchmarks=[], output_json=output_json)
            if bs.json:
                bs.save_json(output_json)
            if save:
                bs.storage.save(output_json, save)
    journal = session.config.stash[PROGRESS].journal
    journal.finish()
    if journal.failed or journal.final_failed:
        session.exitstatus = 2  # pytest's "interrupted": the run stopped at a failed write (docs/reliability.md)
    elif state.interrupted in SIGNAL_EXIT:
        session.exitstatus = SIGNAL_EXIT[state.interrupted]


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state = config.stash.get(STATE, None)
    if state:
        from cnnbench.harness.run_summary import write_summary

        write_summary(terminalreporter, config, state, config.stash[PROGRESS].journal)
