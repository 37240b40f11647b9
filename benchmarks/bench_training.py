"""Training throughput and model FLOP utilisation (MFU) of each stage's ``train_step``.

Peak: the measured dense matmul throughput of this machine in the same run — ``torch.mm`` of
two 2048 x 2048 float32 matrices, FLOP = ``2 n^3``, best of all rounds (one call per case and
round, interleaved with the steps), with the thread count the training uses (``torch.get_num_threads()`` after the config's
``threads``; ``cpu-demo`` leaves torch's default). On a GPU with ``amp`` (bf16 autocast, as the
training loop uses it) the peak is the bf16 matmul instead.

Cases: structure, segmenter, translator, multimodal and pix2pix at the ``cpu-demo`` preset, plus
the multimodal stage at 128 px with ``base_channels = d_base_channels = 64`` ("paper-like width",
otherwise ``cpu-demo``), all on a small synthetic 4-modality dataset built in a temporary
workspace at 128 px (with ``--quick`` the structure, segmenter, translator and pix2pix cases run
at 64 px; the multimodal cases are always 128 px). The multimodal stage's frozen helper runs
(structure, segmenter, translator) are made first at ``cpu-demo`` sizes, untrained (a run whose
one step does nothing: the networks' shapes are what matter here). Each
stage object is built as the training loop builds it, and its *main* phase is measured
(structure: VAE+GAN after the mask phase; multimodal: adversarial after pre-training).

Per case: FLOPs of one ``train_step`` are counted with ``torch.utils.flop_counter.FlopCounterMode``
around the call (it counts the matmul/convolution-like ops it sees — forward *and* backward,
including frozen helpers' forward passes and the backward through them; element-wise ops, norms
and the optimizer are not counted, as usual for MFU). That step is also the warm-up (plus one
more untimed step without ``--quick``). Then the
cases and the matmul peak are timed in interleaved rounds (one step of every case, one matmul,
repeat; a cheap step is repeated up to 5 times within about a second) and each keeps its best
step, so the ratio is taken under the same machine load. Rounds:
2 to 5 (``--quick``: 1 to 3), no new round once the run has taken 540 s (110 s), so a loaded
machine gets fewer rounds rather than a run past its time.

Row: ``value`` = images/s of ``train_step`` (images = the stage's batch size, as the loop's
``images_per_sec``; the multimodal stage generates every modality of each), ``reference`` = the
images/s the same step would reach at the measured matmul peak, ``ratio`` = value / reference =
MFU = (FLOPs per step) / (seconds per step) / peak. Batches are loaded before timing (pix2pix
reads its own lesion batch inside ``train_step``, which is included). The note also gives the
best time of the same step on one thread (cases under 100 GFLOP/step, one such step per round):
on a 2-core machine shared with other work, several threads per step can be many times slower
than one (each of the step's many small parallel regions waits for a descheduled thread).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Row

MODALITIES = ("t1", "t1ce", "t2", "flair")
LABELS = {0: "background", 1: "core", 2: "edema", 3: "enhancing"}
TARGET_MFU = 0.5
#: cases cheaper than this also get a 1-thread step per round (a diagnostic for an oversubscribed machine)
ONE_THREAD_MAX_FLOPS = 100e9


_T0 = time.perf_counter()


def _log(msg: str) -> None:
    print(f"[training {time.perf_counter() - _T0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def make_dataset(ws, name: str, size: int, cases: int = 6, slices: int = 6, seed: int = 0):
    """A seeded 4-modality MRI-like dataset (disc organ, three-class lesions, texture)."""
    from synth_core.dataset import Dataset, DatasetSpec, DatasetWriter
    from synth_core.structure import StructureParams

    rng = np.random.default_rng(seed)
    spec = DatasetSpec(name=name, layout="demo", kind="mri", modalities=MODALITIES, label_names=dict(LABELS),
                       size=size, structure=StructureParams(median=1))
    yy, xx = np.mgrid[:size, :size]
    with DatasetWriter(ws.path("datasets", name), spec) as w:
        for c in range(cases):
            imgs = np.zeros((slices, len(MODALITIES), size, size), np.float32)
            masks = np.zeros((slices, size, size), np.uint8)
            labels = np.zeros((slices, size, size), np.uint8)
            for s in range(slices):
                organ = np.hypot(yy - size / 2, xx - size / 2) < size * (0.35 + 0.05 * rng.random())
                inner = np.hypot(yy - size / 2, xx - size / 2) < size * 0.12  # a "ventricle"
                cy, cx = size / 2 + rng.integers(-size // 8, size // 8 + 1, 2)
                d = np.hypot(yy - cy, xx - cx)
                core, enh, edema = d < size * 0.05, d < size * 0.08, d < size * 0.14
                labels[s][edema] = 2
                labels[s][enh] = 3
                labels[s][core] = 1
                masks[s] = organ
                texture = rng.normal(0, 0.03, (size, size))
                for k in range(len(MODALITIES)):
                    img = organ * (0.3 + 0.15 * k) - inner * 0.15 + core * (0.4 - 0.1 * k) + (edema & ~enh) * 0.2
                    imgs[s, k] = np.clip(img + organ * texture, 0, 1)
            w.add_case(f"case{c}", imgs, masks, labels, list(range(slices)), (1.0, 1.0, 1.0), f"case{c}")
    return Dataset(ws.path("datasets", name))


class Case:
    """One stage object, its pre-loaded batches and a step function for its main phase."""

    def __init__(self, label: str, stage_name: str, ws, ds, overrides: dict, device):
        self.size = ds.spec.size
        import torch

        from synth_core.runs.config import build_config
        from training.data import SliceBatches
        from synth_core.distributed import DistInfo
        from training.loop import autocast_for, init_seed
        from training.stages import get_stage

        cls = get_stage(stage_name)
        cfg = build_config(cls.config_cls, stage_name, "cpu-demo", {"dataset": ds.name, **overrides})
        cls.check_dataset(cfg, ds)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(init_seed(cfg.seed))
        self.label, self.cfg, self.device = label, cfg, device
        self.stage = cls(cfg, ds, DistInfo(device=device), ws)
        self.first = int(getattr(cfg, "mask_steps", 0) or 0) + int(getattr(cfg, "pretrain_steps", 0) or 0)
        self.bs = self.stage.batch_size(self.first)
        batches = SliceBatches(ds, split="train", batch_size=self.bs, seed=cfg.seed)
        self.batches = [batches.batch(self.first + k, device) for k in range(3)]
        self.autocast = lambda: autocast_for(device, cfg.amp)
        self.k = 0
        self.flops = 0
        self.best = self.best_1 = float("inf")
        self.timed = 0

    def step(self) -> float:
        import torch

        k, self.k = self.k, self.k + 1
        step = self.first + k
        torch.manual_seed(step)
        rng = np.random.default_rng(step)
        batch = self.batches[k % len(self.batches)]
        _sync(self.device)
        t0 = time.perf_counter()
        with self.autocast():
            self.stage.train_step(step, batch, rng)
        _sync(self.device)
        return time.perf_counter() - t0

    def count_flops(self) -> None:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as fc:
            self.step()
        self.flops = int(fc.get_total_flops())


def _loadavg() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return 0.0


def _sync(device) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


class Peak:
    def __init__(self, n: int, device, dtype):
        import torch

        gen = torch.Generator(device="cpu").manual_seed(0)
        self.a = torch.randn(n, n, generator=gen).to(device, dtype)
        self.b = torch.randn(n, n, generator=gen).to(device, dtype)
        self.n, self.device, self.best, self.calls = n, device, float("inf"), 0
        self.time()  # warm-up

    def time(self) -> float:
        import torch

        _sync(self.device)
        t0 = time.perf_counter()
        torch.mm(self.a, self.b)
        _sync(self.device)
        dt = time.perf_counter() - t0
        self.best, self.calls = min(self.best, dt), self.calls + 1
        return dt

    @property
    def flops_per_s(self) -> float:
        return 2.0 * self.n**3 / self.best


def _make_helpers(ws, ds) -> dict[str, str]:
    """Structure, segmenter and translator runs at cpu-demo sizes (frozen helpers of the
    multimodal stage), with untrained weights."""
    from synth_core.runs.config import build_config
    from training.loop import Trainer
    from training.stages import get_stage

    runs = {}
    for name in ("structure", "segmenter", "translator"):
        base = get_stage(name)
        # the same stage with a no-op step and no validation or sample grid: a finished run whose
        # networks keep their initial weights (only their shapes matter for FLOPs and timing)
        cls = type(f"Bench{base.__name__}", (base,), {
            "train_step": lambda self, step, batch, rng: {}, "validate": lambda self: {},
            "sample_grid": lambda self: np.zeros((8, 8, 3), np.uint8)})
        extra = {"dataset": ds.name, "steps": 1, "sample_every": 0, "batch_size": 1}
        if name == "structure":
            extra["mask_steps"] = 0
        cfg = build_config(cls.config_cls, name, "cpu-demo", extra)
        run = Trainer(cls, cfg, ws, run_id=f"bench-{ds.name}-{name}", progress=False).run()
        runs[f"{name}_run"] = run.run_id
    return runs


def run(quick: bool) -> list[Row]:
    import torch

    from synth_core.workspace import Workspace
    from synth_core.distributed import resolve_device

    device = resolve_device("auto")
    amp_bf16 = device.type == "cuda"  # cpu-demo keeps amp=true; the loop autocasts to bf16 on CUDA only
    demo_size = 64 if quick else 128
    # rounds of timing: at least min_rounds, at most max_rounds, no new round after budget_s of the run
    min_rounds, max_rounds, budget_s = (1, 3, 110.0) if quick else (2, 5, 540.0)
    n_peak = 2048  # the same in both modes, so quick and full MFU compare
    rows: list[Row] = []
    t_start = time.perf_counter()
    load_start = _loadavg()
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        ws = Workspace.open(Path(tmp) / "ws")
        datasets = {size: make_dataset(ws, f"synth{size}", size) for size in sorted({demo_size, 128})}
        _log("datasets built")
        helpers = _make_helpers(ws, datasets[128])  # both multimodal cases run at 128 px
        _log("helper runs made")

        specs = [
            ("structure (VAE+GAN phase)", "structure", demo_size, {}),
            ("segmenter", "segmenter", demo_size, {}),
            ("translator", "translator", demo_size, {}),
            ("multimodal (adversarial phase)", "multimodal", 128, helpers),
            ("pix2pix", "pix2pix", demo_size, {}),
            ("multimodal base 64 (adversarial phase)", "multimodal", 128,
             {**helpers, "base_channels": 64, "d_base_channels": 64}),
        ]
        cases = []
        for label, stage, size, extra in specs:
            case = Case(label, stage, ws, datasets[size], extra, device)
            case.count_flops()  # also the warm-up step
            if not quick:
                case.step()  # a second warm-up
            cases.append(case)
            _log(f"{label} {size}px: {case.flops / 1e9:.2f} GFLOP/step counted")
        threads = torch.get_num_threads()  # as the stages left it (cpu-demo: threads=0, torch's default)
        peak = Peak(n_peak, device, torch.bfloat16 if amp_bf16 else torch.float32)
        rounds_done = 0
        for r in range(max_rounds):  # interleaved: every case and the peak once per round, best step kept
            if r >= min_rounds and time.perf_counter() - t_start > budget_s:
                break
            for case in cases:
                t_case = time.perf_counter()
                for _ in range(5):  # cheap steps are repeated (up to 5 within ~1 s): more chances at a quiet moment
                    case.best = min(case.best, case.step())
                    case.timed += 1
                    if time.perf_counter() - t_case > 1.0:
                        break
                if case.flops < ONE_THREAD_MAX_FLOPS and threads > 1:  # diagnostic: the same step on 1 thread
                    torch.set_num_threads(1)
                    try:
                        case.best_1 = min(case.best_1, case.step())
                    finally:
                        torch.set_num_threads(threads)
                peak.time()
            rounds_done = r + 1
            _log(f"round {rounds_done} timed")
        pk = peak.flops_per_s
        dev = f"{threads} threads" if device.type == "cpu" else torch.cuda.get_device_name(device)
        dtype = "bf16" if amp_bf16 else "fp32"
        print(f"training: measured peak {pk / 1e9:.1f} GFLOP/s ({dtype} torch.mm {n_peak}^2, {dev}, best of "
              f"{peak.calls})", flush=True)
        busy = f"; 1-min load before the run {load_start:.1f} on {os.cpu_count()} cores" if device.type == "cpu" else ""
        checked = [c for c in cases if c.best_1 < float("inf")]
        slower = [c for c in checked if c.best_1 < c.best]
        if slower:
            busy += (f"; {len(slower)} of {len(checked)} steps ran faster on 1 thread than on {threads}: the CPU is "
                     "oversubscribed (another multi-threaded process?), so these figures are lower bounds")
        rows.append(Row("training", f"peak: {dtype} torch.mm {n_peak}^2 ({dev})", pk / 1e9, "GFLOP/s",
                        note=f"best of {peak.calls}, interleaved with the steps below; FLOP = 2n^3{busy}"))
        for case in cases:
            per_s = case.flops / case.best
            value = case.bs / case.best
            ref = case.bs * pk / case.flops if case.flops else None
            mfu = per_s / pk
            is_target = case is cases[-1]
            rows.append(Row(
                "training", f"{case.label} {case.size}px bs {case.bs}", value, "img/s", ref,
                mfu if case.flops else None,
                target=f">= {TARGET_MFU:.0%} MFU" if is_target else "",
                ok=(mfu >= TARGET_MFU) if is_target else None,
                note=f"MFU {mfu:.1%}: {case.flops / 1e9:.2f} GFLOP/step at {per_s / 1e9:.1f} GFLOP/s, "
                     f"{case.best * 1e3:.0f} ms/step (best of {case.timed} in {rounds_done} rounds)"
                     + (f"; on 1 thread {case.best_1 * 1e3:.0f} ms/step" if case.best_1 < float("inf") else "")
                     + "; reference = img/s at the matmul peak"))
    return rows
