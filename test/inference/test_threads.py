"""ONNX Runtime on the CPU: a small network's thread count is chosen by timing real calls."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from ladderseg_ros.inference import Segmenter, backends
from ladderseg_ros.inference.backends import (
    GATE_CALLS,
    ONE_THREAD_TRIAL_S,
    TRIAL_CALLS,
    OnnxRuntimeBackend,
)
from ladderseg_ros.inference.segmenter import SegmentationResult
from ladderseg_ros.model import build_model
from ladderseg_ros.weights import WeightsMetadata, save_weights

FRAMES = 1 + GATE_CALLS + 2 * TRIAL_CALLS + 3  # untimed, the gate, the alternation, after


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("ldn_tiny")
    metadata = WeightsMetadata.for_label_set(model.config, "cityscapes")
    return save_weights(tmp_path_factory.mktemp("w") / "tiny.safetensors", model, metadata)


@pytest.fixture(autouse=True)
def _two_cores(tmp_path, monkeypatch):
    """Every machine looks like two cores (CI may give one); a private cache."""
    monkeypatch.setenv("LADDERSEG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(backends, "cpu_threads_default", lambda: 2)


def _frames(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (90, 200, 3), np.uint8) for _ in range(count)]


def _reference(weights, frames):
    fixed = Segmenter.from_weights(weights, backend="onnxruntime", device="cpu", threads=2)
    return [fixed(frame) for frame in frames]


def _labels_as_fixed_threads(weights, caplog) -> Segmenter:
    """A default Segmenter run over ``FRAMES`` frames (warnings captured), each frame's labels
    asserted equal to those of a fixed two-thread one; returns it."""
    segmenter = Segmenter.from_weights(weights, backend="onnxruntime", device="cpu")
    frames = _frames(FRAMES)
    reference = _reference(weights, frames)
    with caplog.at_level("WARNING"):
        for frame, want in zip(frames, reference, strict=True):
            np.testing.assert_array_equal(segmenter(frame).labels, want.labels)
    return segmenter


def _scripted(monkeypatch, seconds_by_threads: dict[int, float]) -> list[int]:
    """Calls run for real; their time is scripted by the session's thread count."""
    timed: list[int] = []
    real = OnnxRuntimeBackend._timed_run

    def timed_run(self, session, names, feed):
        outputs, _ = real(self, session, names, feed)
        threads = session.get_session_options().intra_op_num_threads
        timed.append(threads)
        return outputs, seconds_by_threads[threads]

    monkeypatch.setattr(OnnxRuntimeBackend, "_timed_run", timed_run)
    return timed


@pytest.mark.parametrize(("one", "every", "kept"), [(0.001, 0.002, 1), (0.002, 0.001, 2)])
def test_a_small_network_keeps_the_faster_thread_count_and_the_same_outputs(
    weights, monkeypatch, one: float, every: float, kept: int
) -> None:
    frames = _frames(FRAMES)
    reference = _reference(weights, frames)
    timed = _scripted(monkeypatch, {1: one, 2: every})
    segmenter = Segmenter.from_weights(weights, backend="onnxruntime", device="cpu")
    results = [segmenter(frame) for frame in frames]
    assert list(segmenter.backend.session_threads().values()) == [kept]
    # the gate on every core, then every core and one thread in turn until each has its count
    assert timed == [2] * GATE_CALLS + [2, 1] * TRIAL_CALLS
    for got, want in zip(results, reference, strict=True):
        np.testing.assert_array_equal(got.labels, want.labels)
        np.testing.assert_allclose(got.confidence, want.confidence, rtol=1e-5, atol=1e-6)


def test_a_network_slower_than_the_bound_never_gets_a_one_thread_session(
    weights, monkeypatch
) -> None:
    timed = _scripted(monkeypatch, {1: 0.0, 2: ONE_THREAD_TRIAL_S})
    built: list[int | None] = []
    real = OnnxRuntimeBackend._new_session

    def new_session(self, key, threads=None):
        built.append(threads)
        return real(self, key, threads)

    monkeypatch.setattr(OnnxRuntimeBackend, "_new_session", new_session)
    segmenter = Segmenter.from_weights(weights, backend="onnxruntime", device="cpu")
    for frame in _frames(FRAMES):
        segmenter(frame)
    assert 1 not in built
    assert timed == [2] * GATE_CALLS  # the gate only
    assert list(segmenter.backend.session_threads().values()) == [2]


def test_a_one_thread_session_that_cannot_be_built_leaves_every_core_tried_once(
    weights, monkeypatch, caplog
) -> None:
    _scripted(monkeypatch, {1: 0.001, 2: 0.002})
    tries: list[int] = []
    real = OnnxRuntimeBackend._new_session

    def new_session(self, key, threads=None):
        if threads == 1:
            tries.append(1)
            raise RuntimeError("out of memory")
        return real(self, key, threads)

    monkeypatch.setattr(OnnxRuntimeBackend, "_new_session", new_session)
    segmenter = _labels_as_fixed_threads(weights, caplog)
    assert tries == [1]
    assert list(segmenter.backend.session_threads().values()) == [2]
    assert "no one-thread session" in caplog.text
    assert "out of memory" in caplog.text


def test_one_call_over_four_times_the_bound_closes_the_gate_at_once(weights, monkeypatch) -> None:
    timed = _scripted(monkeypatch, {1: 0.0, 2: 4 * ONE_THREAD_TRIAL_S})
    segmenter = Segmenter.from_weights(weights, backend="onnxruntime", device="cpu")
    for frame in _frames(4):
        segmenter(frame)
    assert timed == [2]
    assert not segmenter.backend.trying_threads


def test_a_one_thread_session_that_fails_to_run_ends_the_trial_and_no_frame(
    weights, monkeypatch, caplog
) -> None:
    _scripted(monkeypatch, {1: 0.001, 2: 0.002})
    real = OnnxRuntimeBackend._new_session
    runs: list[str] = []  # the one-thread session's calls: its first succeeds, later ones fail
    failures: list[int] = []

    def new_session(self, key, threads=None):
        session = real(self, key, threads)
        if threads == 1:
            run = session.run

            def failing_run(names, feed):
                runs.append("run")
                if len(runs) > 1:
                    failures.append(1)
                    raise RuntimeError("failed to allocate memory")
                return run(names, feed)

            session.run = failing_run
        return session

    monkeypatch.setattr(OnnxRuntimeBackend, "_new_session", new_session)
    segmenter = _labels_as_fixed_threads(weights, caplog)
    assert failures == [1]  # tried once, then every core
    assert list(segmenter.backend.session_threads().values()) == [2]
    assert "failed to allocate memory" in caplog.text


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_given_are_kept_untimed(weights, monkeypatch, threads: int) -> None:
    timed = _scripted(monkeypatch, {1: 0.001, 2: 0.002})
    segmenter = Segmenter.from_weights(
        weights, backend="onnxruntime", device="cpu", threads=threads
    )
    for frame in _frames(FRAMES):
        segmenter(frame)
    assert timed == []
    assert list(segmenter.backend.session_threads().values()) == [threads]


def test_the_trial_with_real_time_gives_the_outputs_of_a_fixed_thread_count(weights) -> None:
    frames = _frames(FRAMES)
    reference = _reference(weights, frames)
    segmenter = Segmenter.from_weights(weights, backend="onnxruntime", device="cpu")
    for frame, want in zip(frames, reference, strict=True):
        got = segmenter(frame)
        np.testing.assert_array_equal(got.labels, want.labels)
        np.testing.assert_allclose(got.confidence, want.confidence, rtol=1e-5, atol=1e-6)
    assert list(segmenter.backend.session_threads().values()) in ([1], [2])


def test_confidence_given_at_the_network_size_is_resized_bilinear_when_read() -> None:
    labels = np.zeros((90, 200), np.uint8)
    small = np.random.default_rng(0).random((16, 32)).astype(np.float32)
    result = SegmentationResult(labels, small)
    confidence = result.confidence
    np.testing.assert_array_equal(
        confidence, cv2.resize(small, (200, 90), interpolation=cv2.INTER_LINEAR)
    )
    assert result.confidence is confidence  # resized once
    full = np.ones((90, 200), np.float32)
    assert SegmentationResult(labels, full).confidence is full
    assert SegmentationResult(labels, None).confidence is None


def test_each_session_built_is_one_info_line(weights, caplog) -> None:
    """Building a session is said once (on a GPU it is a TensorRT engine build, minutes the
    first time): its input and network size and whether it computes confidence; frames of
    a size already built say nothing."""
    segmenter = Segmenter.from_weights(weights, backend="onnxruntime", device="cpu", threads=1)
    frame = _frames(1)[0]
    with caplog.at_level("INFO", logger="ladderseg_ros.inference.backends"):
        for _ in range(3):
            segmenter(frame)
        segmenter(frame, return_confidence=False)
    lines = [r.getMessage() for r in caplog.records if "building a session" in r.getMessage()]
    width, height = segmenter.network_size(200, 90)
    size = f"images of {width}x{height}, network {width}x{height}"  # resized before it
    assert lines == [
        f"onnxruntime:CPUExecutionProvider: building a session for {size}, confidence",
        f"onnxruntime:CPUExecutionProvider: building a session for {size}",
    ]
